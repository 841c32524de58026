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


@dataclass(frozen=True)
class Running:
    """Where a release runs once it is live, and how the target finds it again."""

    url: str
    ref: dict


class Stopped(Exception):
    """The deployment was cancelled while its release was starting; the release was removed."""


def never() -> bool:
    return False


@dataclass(frozen=True)
class Health:
    """What a periodic check found: whether the release answers, and if not, why."""

    ok: bool
    detail: str = ""
