"""The values deploy targets take and give back; their Protocol is ``slipway.interfaces.Target``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

Log = Callable[[str], None]


@dataclass(frozen=True)
class Release:
    """One version of a project to run: everything a target needs, as plain values."""

    project: str
    deployment_id: int
    image: str
    health_path: str = "/"
    env: dict[str, str] = field(default_factory=dict)
    # Which running copy this release replaces: "production", or "pr-<n>" for a preview.
    slot: str = "production"
    # The slot's live release when this one starts (its deployment id and stored target reference):
    # a target may update it in place instead of starting beside it (Akash keeps the lease). The
    # reference it then returns names the deployment it takes over as ``adopts``; the job clears that
    # deployment's reference as it supersedes it, so nothing stops the shared release from there.
    previous_id: int | None = None
    previous_ref: dict | None = None
    # The project's own Akash settings (``slipway.akash_settings``: cpu, memory, storage, gpu,
    # gpu_model, max_price_uact, budget_uact, budget_monthly, providers, attributes, auditors), plain
    # values; what is missing is the installation's setting. Other targets ignore it.
    akash: dict = field(default_factory=dict)
    # The repository's own SDL (its deploy.yaml, as text) when it has one: the Akash target runs it,
    # with the built image and the registry login in its ``image: slipway`` service.
    sdl: str = ""


@dataclass(frozen=True)
class Running:
    """Where a release runs once it is live, and how the target finds it again."""

    url: str
    ref: dict
    # What happened to the lease on the way, for its history (``slipway.lease_events``): dicts with
    # a ``kind`` (created, leased, updated, moved, topped-up, closed) and plain values.
    events: tuple[dict, ...] = ()


@dataclass(frozen=True)
class Ended:
    """What ``stop``, ``retire``, ``teardown`` or ``remove_all`` ended: whether anything was still
    running (its truth value, so ``if target.stop(...)`` reads as before), and the lease events on the
    way (``closed``), for the history the caller writes."""

    stopped: bool = False
    events: tuple[dict, ...] = ()

    def __bool__(self) -> bool:
        return self.stopped


def ended_events(result: object) -> tuple[dict, ...]:
    """The lease events a target's stop/retire/teardown/remove_all returned (none from a bool or None)."""
    return tuple(getattr(result, "events", ()) or ())


def attach_events(failure: BaseException, events: list[dict] | tuple[dict, ...]) -> None:
    """Give a failure of ``wait_ready`` the lease events on the way (a deployment created, then
    closed because it did not go live), for the job to record as it records a live release's."""
    failure.lease_events = (*failure_events(failure), *events)  # type: ignore[attr-defined]


def failure_events(failure: BaseException) -> tuple[dict, ...]:
    """The lease events a target attached to a failure (``attach_events``); none from most."""
    return tuple(getattr(failure, "lease_events", ()) or ())


class Stopped(Exception):
    """The deployment was cancelled while its release was starting; the release was removed."""


def never() -> bool:
    return False


# The detail of a "closed" lease event when Slipway closed it at the project's budget: such a
# release is not moved elsewhere by a failover (it would spend what the budget forbids).
CLOSED_AT_BUDGET = "the project's budget is spent"
# Details of "closed" events that count against the provider (its uptime, ``slipway.lease_events``):
# the lease closed under Slipway, or Slipway moved the app away because the provider stopped answering.
CLOSED_UNDER_IT = "closed on chain, not by Slipway"
MOVED_AWAY = "moved to provider"


@dataclass(frozen=True)
class Health:
    """What a periodic check found: whether the release answers, and if not, why."""

    ok: bool
    detail: str = ""
    # What a target holds for this release is gone for good (an Akash lease closed under it):
    # waiting will not bring it back, only a failover can.
    gone: bool = False
    events: tuple[dict, ...] = ()


def deploy(target, release: Release, log: Log, should_stop: Callable[[], bool] = never) -> Running:
    """Both phases at once, for callers with nowhere to keep the reference (tests, benchmarks);
    ``target`` is a ``slipway.interfaces.Target``."""
    return target.wait_ready(release, target.start(release, log), log, should_stop)
