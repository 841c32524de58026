"""The deploy targets, by name: every implementation Slipway has, and the ones this installation offers.

``SLIPWAY_TARGETS`` names the offered ones (``local`` by default). Each name maps to a function
that builds its target from the settings, here and nowhere else; everything that needs targets
(the job, the reconciler, previews, project deletion) asks ``targets_from_settings``.
"""

from __future__ import annotations

from typing import Callable

from slipway.interfaces import Target
from slipway.settings import KNOWN_TARGETS, Settings


def _local(settings: Settings) -> Target:
    from builder.images import RegistryAuth
    from deployer.local import AppLimits, LocalTarget

    auth = RegistryAuth(settings.registry, settings.registry_username, settings.registry_password)
    limits = AppLimits(memory=settings.app_memory, cpus=float(settings.app_cpus), pids=int(settings.app_pids))
    return LocalTarget(settings.docker_host, auth, host=settings.local_host, health_timeout_s=settings.health_timeout_s,
                       limits=limits, public_host=settings.local_public_host, instance=settings.queue_name)


def _akash(settings: Settings) -> Target:
    from deployer.akash.factory import target_from_settings

    return target_from_settings(settings)


# Every implementation, by the name projects and SLIPWAY_TARGETS use.
IMPLEMENTATIONS: dict[str, Callable[[Settings], Target]] = {"local": _local, "akash": _akash}

# Settings checks SLIPWAY_TARGETS against its own list of names (it imports nothing of ours): keep them one.
if set(IMPLEMENTATIONS) != set(KNOWN_TARGETS):
    raise ImportError(f"slipway.settings.KNOWN_TARGETS {sorted(KNOWN_TARGETS)} differs from the targets "
                      f"implemented here {sorted(IMPLEMENTATIONS)}")

# Planned targets: named here so that choosing one says what to do meanwhile.
PLANNED: dict[str, str] = {}


def offered(settings: Settings) -> list[str]:
    """The names in SLIPWAY_TARGETS; ValueError if one is no target Slipway has (Settings refuses those too)."""
    names = settings.target_names
    unknown = [n for n in names if n not in IMPLEMENTATIONS]
    if unknown:
        raise ValueError(f"SLIPWAY_TARGETS names {', '.join(map(repr, unknown))}, which Slipway does not have: "
                         f"choose from {', '.join(IMPLEMENTATIONS)}")
    return names


def targets_from_settings(settings: Settings) -> dict[str, Target]:
    """The deploy targets this installation offers, by name."""
    return {name: IMPLEMENTATIONS[name](settings) for name in offered(settings)}


def target_problem(name: str, settings: Settings) -> str | None:
    """What is wrong with a project's choice of target, or None."""
    if name in PLANNED:
        return PLANNED[name]
    names = offered(settings)
    if name not in names:
        return f"target {name!r} must be one of {', '.join(names)}"
    return None
