"""What every deploy target offers the pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol

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


class Target(Protocol):
    name: str

    def deploy(self, release: Release, log: Log, should_stop: Callable[[], bool] = never) -> Running:
        """Start ``release`` beside the version already running; return once it answers.

        Raises UserError when the release itself is at fault (it never became
        healthy), and Stopped when ``should_stop`` says so while waiting; either
        way the new release is removed and the previous version keeps running.
        """

    def retire(self, release: Release, keep: Running, log: Log) -> None:
        """Stop every other version in the release's slot (called once it is live)."""

    def stop(self, ref: dict, log: Log) -> None:
        """Stop a release started earlier (``Running.ref``)."""

    def teardown(self, project: str, slot: str, log: Log) -> None:
        """Stop whatever runs in a project's slot (a closed pull request's preview)."""

    def remove_all(self, project: str, log: Log) -> None:
        """Stop everything of a project, in every slot (the project is being deleted)."""

    def deployments(self) -> set[int]:
        """The ids of the deployments this installation runs something for on this target."""

    def remove_deployment(self, deployment_id: int, log: Log) -> None:
        """Stop whatever one deployment started (it ended without going live, or its worker died)."""
