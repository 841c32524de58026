"""Every boundary the deployment road crosses, as a Protocol: git sources, image builders, the
registry, deploy targets, reporters and credentials.

The implementations live beside the systems they talk to (``builder``, ``deployer``,
``slipway.github``); the job and the director are written against these, and tests pass their own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Mapping, Protocol

from builder.registry import Registry
from deployer.base import Health, Log, Release, Running, Target

__all__ = ["GitCredentials", "GitSource", "Health", "ImageBuilder", "Log", "Masker", "Registry", "Release",
           "Reporter", "Running", "Target"]


class GitSource(Protocol):
    """Fetches one commit into a directory (``builder.git.fetch_commit``)."""

    def __call__(self, repo_url: str, sha: str, dest: Path, log: Log, branch: str | None = None,
                 env: Mapping[str, str] | None = None, mask: Callable[[str], str] = ...) -> Path: ...


class ImageBuilder(Protocol):
    """Builds and pushes images (``builder.images.DockerImageBuilder``)."""

    def build(self, checkout: Path, dockerfile: str, context: str, tag: str, log: Log,
              timeout_s: int, sha: str = "", should_stop: Callable[[], bool] | None = None) -> str: ...

    def push(self, tag: str, log: Log) -> str: ...

    def prune(self, repository: str, keep: int, log: Log) -> int: ...


class GitCredentials(Protocol):
    """Installation tokens for fetching private repositories (``slipway.github.GitHubApp``)."""

    def git_env(self, installation_id: int, clone_url: str) -> dict[str, str]: ...

    def invalidate(self, installation_id: int) -> None: ...


class Masker(Protocol):
    """Hides secrets in log lines; learns new ones as they appear (``slipway.buildlog.SecretMasker``)."""

    def add(self, *secrets: str) -> None: ...

    def __call__(self, text: str) -> str: ...


class Reporter(Protocol):
    """Tells the outside world (GitHub statuses, PR comments ...) about a deployment's state.

    Called after every state change and once more when the job ends; must be idempotent,
    load what it needs by id, and never raise (a reporter failure never fails a deployment).
    """

    def report(self, deployment_id: int) -> None: ...
