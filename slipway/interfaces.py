"""Every boundary the deployment road crosses, as a Protocol: git sources, image builders, the
registry (and its garbage collector), deploy targets, the reverse proxy, reporters and credentials.

The implementations live beside the systems they talk to (``builder``, ``deployer``,
``slipway.github``) and import nothing from here; the job, the director and the reconciler are
written against these, and tests pass their own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Collection, Mapping, Protocol

from deployer.base import Ended, Health, Log, Release, Running, never
from deployer.caddy import RouteTable

__all__ = ["BlobCollector", "GitCredentials", "GitSource", "Health", "ImageBuilder", "Log", "Masker", "Proxy",
           "Registry", "Release", "RouteTable", "Reporter", "Running", "Target"]


class GitSource(Protocol):
    """Fetches one commit into a directory (``builder.git.fetch_commit``)."""

    def __call__(self, repo_url: str, sha: str, dest: Path, log: Log, branch: str | None = None,
                 env: Mapping[str, str] | None = None, mask: Callable[[str], str] = ...) -> Path: ...


class ImageBuilder(Protocol):
    """Builds and pushes images (``builder.images.DockerImageBuilder``)."""

    def build(self, checkout: Path, dockerfile: str, context: str, tag: str, log: Log,
              timeout_s: int, sha: str = "", should_stop: Callable[[], bool] | None = None,
              build_args: Mapping[str, str] | None = None, cache_from: str | None = None,
              dockerfile_text: str = "") -> str: ...

    def push(self, tag: str, log: Log) -> str: ...

    def prune(self, repository: str, keep: int, log: Log) -> int: ...

    def tidy(self, budget: int, repositories: Collection[str], keep: Collection[str], log: Log,
             grace_s: float = ..., untagged: bool = ...) -> int: ...


class GitCredentials(Protocol):
    """Installation tokens for fetching private repositories (``slipway.github.client.GitHubApp``)."""

    def git_env(self, installation_id: int, clone_url: str) -> dict[str, str]: ...

    def invalidate(self, installation_id: int) -> None: ...


class Masker(Protocol):
    """Hides secrets in log lines; learns new ones as they appear (``slipway.buildlog.SecretMasker``)."""

    def add(self, *secrets: str) -> None: ...

    def __call__(self, text: str) -> str: ...


class Registry(Protocol):
    """What clean-up needs from the registry (``builder.registry.RegistryClient``; tests may pass their own)."""

    def tags(self, repository: str) -> list[str]: ...

    def repositories(self) -> list[str]: ...

    def digest(self, repository: str, reference: str) -> str | None: ...

    def delete(self, repository: str, digest: str) -> bool: ...

    def tag(self, repository: str, digest: str, tag: str) -> None: ...


class BlobCollector(Protocol):
    """Frees the layers no manifest uses any more (``slipway.registry_gc.ServicesScript``)."""

    def collect(self, say: Log) -> None: ...


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

    def retire(self, release: Release, keep: Running, log: Log) -> Ended | None:
        """Stop every other version in the release's slot (called once it is live); ``Ended.events``
        say which leases closed (targets without leases may return None)."""

    def stop(self, ref: dict, log: Log) -> bool | Ended:
        """Stop a release started earlier, from its reference; false if it was gone already (an
        ``Ended`` also carries the lease events of what it closed)."""

    def teardown(self, project: str, slot: str, log: Log) -> Ended | None:
        """Stop whatever runs in a project's slot (a closed pull request's preview)."""

    def remove_all(self, project: str, log: Log) -> Ended | None:
        """Stop everything of a project, in every slot (the project is being deleted, or
        `slipway akash close`)."""

    def deployments(self) -> set[int]:
        """The ids of the deployments this installation runs something for on this target."""

    def remove_deployment(self, deployment_id: int, log: Log) -> None:
        """Stop whatever one deployment started that has no stored reference (found by its labels)."""


class Reporter(Protocol):
    """Tells the outside world (GitHub statuses, PR comments ...) about a deployment's state.

    Called after every state change and once more when the job ends; must be idempotent,
    load what it needs by id, and never raise (a reporter failure never fails a deployment).
    """

    def report(self, deployment_id: int) -> None: ...


class Proxy(Protocol):
    """The reverse proxy in front of the apps (``deployer.caddy.CaddyProxy``), given its whole route table."""

    name: str

    def apply(self, table: RouteTable) -> None:
        """Serve exactly ``table`` from now on; requests in flight finish. Raises ``ProxyError``."""

    def drain(self, upstreams: set[str], timeout_s: float, say: Log) -> bool:
        """Wait until no request to ``upstreams`` is in flight (True), or ``timeout_s`` passed (False)."""
