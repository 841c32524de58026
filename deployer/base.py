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


@dataclass(frozen=True)
class Health:
    """What a periodic check found: whether the release answers, and if not, why."""

    ok: bool
    detail: str = ""


class Target(Protocol):
    """A place releases run, in two phases so that nothing started is ever forgotten.

    ``start`` returns the release's reference (a container id; an Akash dseq) as soon as the
    release exists, and the job stores it on the deployment before ``wait_ready``: whoever finds
    the deployment ended later (the reconciler, after a worker died mid-start) stops it from there.
    """

    name: str

    def start(self, release: Release, log: Log) -> dict:
        """Start ``release`` beside the version already running; return its reference at once.

        Raises UserError when the release cannot start (its image is gone); nothing is left running.
        """

    def wait_ready(self, release: Release, ref: dict, log: Log, should_stop: Callable[[], bool] = never) -> Running:
        """Return once the started release answers.

        Raises UserError when the release itself is at fault (it never became healthy), and
        Stopped when ``should_stop`` says so while waiting; either way the release is removed
        and the previous version keeps running.
        """

    def check(self, ref: dict) -> Health:
        """Whether a release started earlier still runs and answers (periodic health checks)."""

    def retire(self, release: Release, keep: Running, log: Log) -> None:
        """Stop every other version in the release's slot (called once it is live)."""

    def stop(self, ref: dict, log: Log) -> bool:
        """Stop a release started earlier, from its reference; False if it was gone already."""

    def teardown(self, project: str, slot: str, log: Log) -> None:
        """Stop whatever runs in a project's slot (a closed pull request's preview)."""

    def remove_all(self, project: str, log: Log) -> None:
        """Stop everything of a project, in every slot (the project is being deleted)."""

    def deployments(self) -> set[int]:
        """The ids of the deployments this installation runs something for on this target."""

    def remove_deployment(self, deployment_id: int, log: Log) -> None:
        """Stop whatever one deployment started that has no stored reference (found by its labels)."""


def deploy(target: Target, release: Release, log: Log, should_stop: Callable[[], bool] = never) -> Running:
    """Both phases at once, for callers with nowhere to keep the reference (tests, benchmarks)."""
    return target.wait_ready(release, target.start(release, log), log, should_stop)
