"""The work of one deployment: fetch the commit, build and push its image, start the release and
wait for it to answer.

The job (``slipway.jobs``) drives the director step by step and records every state in between;
the director never writes a deployment's state (it touches no database) and talks to the world
only through ``slipway.interfaces``, so it is unit-tested with stand-ins. Cancellation reaches it
as ``should_stop`` and leaves it as ``Stopped``.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from builder.git import fetch_commit
from builder.images import BuildStopped, inside_checkout
from builder.plan import BaseImages, Plan, make_plan
from deployer.base import Stopped, ended_events, never
from slipway.errors import AppError, UserError
from slipway.github.client import GitHubError
from slipway.interfaces import GitCredentials, GitSource, ImageBuilder, Log, Masker, Release, Running, Target

log = logging.getLogger(__name__)

__all__ = ["Director", "Source", "Stopped"]

# A repository's own Akash SDL, at its root: the first of these names found is used.
SDL_FILES = ("deploy.yaml", "deploy.yml", "sdl.yaml")
SDL_MAX_BYTES = 64 * 1024


@dataclass(frozen=True)
class Source:
    """Where a commit is fetched from, and with which credentials."""

    repo_url: str
    sha: str
    branch: str
    # Fetch as this GitHub App installation (its token is asked for right before use).
    installation_id: int | None = None
    # Credentials known up front (the built-in git remote's fetch token), as git environment.
    env: dict[str, str] = field(default_factory=dict)


class Director:
    def __init__(self, images: ImageBuilder, say: Log, masker: Masker, fetch: GitSource = fetch_commit,
                 credentials: GitCredentials | None = None, should_stop: Callable[[], bool] = never,
                 build_timeout_s: int = 900, plan_images: BaseImages | None = None):
        self.images = images
        self.say = say
        self.masker = masker
        self._fetch = fetch
        self.credentials = credentials
        self.should_stop = should_stop
        self.build_timeout_s = build_timeout_s
        self.plan_images = plan_images or BaseImages()

    # -- build -----------------------------------------------------------
    def fetch(self, source: Source, dest: Path) -> Path:
        """Fetch the commit, as the GitHub App's installation when the project has one."""
        if source.env or source.installation_id is None or self.credentials is None:
            self.masker.add(*credentials_in(source.env))
            return self._fetch(source.repo_url, source.sha, dest, self.say, branch=source.branch,
                               env=source.env or None, mask=self.masker)
        try:
            return self._fetch(source.repo_url, source.sha, dest, self.say, branch=source.branch,
                               env=self._git_env(source), mask=self.masker)
        except UserError as exc:
            if exc.message_id != UserError.BUILD_CLONE_FAILED:
                raise
        # GitHub may drop a token before the expiry we cached (revoked, or clocks differ): renew once.
        self.say("fetching again with a new installation token")
        self.credentials.invalidate(source.installation_id)
        shutil.rmtree(dest, ignore_errors=True)
        return self._fetch(source.repo_url, source.sha, dest, self.say, branch=source.branch,
                           env=self._git_env(source), mask=self.masker)

    def _git_env(self, source: Source) -> dict[str, str]:
        """The installation's git credentials (asked for right before use, so never stale)."""
        try:
            env = self.credentials.git_env(source.installation_id, source.repo_url)
        except GitHubError as exc:
            if exc.status in (401, 403, 404):
                raise UserError(UserError.BUILD_GITHUB_ACCESS, repo=source.repo_url, detail=exc.message) from None
            raise AppError(AppError.GITHUB, detail=exc.message) from exc
        self.masker.add(*credentials_in(env))
        return env

    def plan(self, checkout: Path, dockerfile: str, context: str, sha: str, build_args: tuple[str, ...] = ()) -> Plan:
        """What to build: the repository's Dockerfile, or one generated from what it holds (builder.plan);
        printed first, so the log shows what ran."""
        plan = make_plan(checkout, dockerfile=dockerfile, context=context, images=self.plan_images,
                         build_args=build_args, sha=sha)
        for line in plan.describe().splitlines():
            self.say(line)
        return plan

    def build(self, checkout: Path, plan: Plan, tag: str, sha: str, build_args: dict[str, str] | None = None,
              cache_from: str | None = None) -> None:
        """Build the plan's image; ``build_args`` (the project's build-time variables) reach its build stages
        only, and ``cache_from`` (the project's previous image) is a cache for a build host that never built it."""
        if plan.generated:
            ignore_generated_dockerfile(checkout, plan.context, sha)
        try:
            self.images.build(checkout, plan.dockerfile_path or "Dockerfile", plan.context, tag, self.say,
                              self.build_timeout_s, sha=sha, should_stop=self.should_stop,
                              build_args=build_args or None, cache_from=cache_from, dockerfile_text=plan.dockerfile)
        except BuildStopped:
            raise Stopped() from None

    def repository_sdl(self, checkout: Path, sha: str) -> str:
        """The text of the repository's own SDL (``deploy.yaml``, ``deploy.yml`` or ``sdl.yaml`` at its
        root), checked: valid, and with exactly one ``image: slipway`` service; "" when it has none."""
        import yaml

        from deployer.akash.sdl import SDLError, built_service, load_yaml, validate_sdl

        for name in SDL_FILES:
            if not (checkout / name).is_file():
                continue
            path = inside_checkout(checkout, name, sha)
            raw = path.read_bytes()[:SDL_MAX_BYTES + 1]
            try:
                if len(raw) > SDL_MAX_BYTES:
                    raise SDLError([f"larger than {SDL_MAX_BYTES // 1024} KiB"])
                text = raw.decode()
                # An untrusted file: aliases could make a small file expand without bound.
                if any(isinstance(token, yaml.AliasToken) for token in yaml.scan(text)):
                    raise SDLError(["YAML aliases (*name) are not allowed"])
                data = validate_sdl(load_yaml(text))
            except UnicodeDecodeError:
                raise UserError(UserError.AKASH_REPOSITORY_SDL, path=name, sha=sha[:7], detail="not UTF-8 text") from None
            except (SDLError, yaml.YAMLError) as exc:
                problems = exc.problems if isinstance(exc, SDLError) else [f"not valid YAML: {exc}"]
                raise UserError(UserError.AKASH_REPOSITORY_SDL, path=name, sha=sha[:7],
                                detail="; ".join(problems)[:1000]) from None
            try:
                service = built_service(data)
            except SDLError:
                raise UserError(UserError.AKASH_SDL_NO_SERVICE, path=name, sha=sha[:7],
                                services=", ".join(data.get("services") or {}) or "none") from None
            self.say(f"using the repository's {name}: Slipway's image runs as its service {service!r}")
            return text
        return ""

    def push(self, tag: str) -> str:
        """Push the built image; returns its digest reference."""
        return self.images.push(tag, self.say)

    # -- deploy ----------------------------------------------------------
    def deploy(self, target: Target, release: Release, started: Callable[[dict], None]) -> Running:
        """Start the release, hand its reference to ``started`` (to be stored), then wait until it answers."""
        ref = target.start(release, self.say)
        started(ref)
        return target.wait_ready(release, ref, self.say, should_stop=self.should_stop)

    def retire(self, target: Target, release: Release, running: Running) -> tuple[dict, ...]:
        """Stop the slot's previous versions; the new one is live, so a failure here only warns.

        Returns the lease events of what closed, for the job to record."""
        try:
            return ended_events(target.retire(release, running, self.say))
        except Exception:  # noqa: BLE001 - the new version is live; an old one left running is the operator's
            log.exception("deployment %s: could not stop the previous version", release.deployment_id)
            self.say("warning: the previous version could not be stopped; the operator has been told")
            return ()

    def prune(self, repository: str, keep: int) -> None:
        try:
            self.images.prune(repository, keep, self.say)
        except Exception:  # noqa: BLE001 - disk hygiene never fails a deployment that is live
            log.warning("could not prune old images of %s", repository, exc_info=True)

    def tidy(self, budget: int, repositories: set[str], keep: set[str], grace_s: float) -> None:
        """Keep the build host's images within ``budget`` bytes (see ``ImageBuilder.tidy``)."""
        try:
            self.images.tidy(budget, repositories, keep, self.say, grace_s=grace_s)
        except Exception:  # noqa: BLE001 - disk hygiene never fails a deployment that is live
            log.warning("could not tidy the build host's images", exc_info=True)


# What a generated plan's `COPY . .` leaves out when the repository has no .dockerignore of its own.
DEFAULT_DOCKERIGNORE = (".git", "node_modules", ".venv", "venv", "__pycache__", "*.pyc", ".next")


def ignore_generated_dockerfile(checkout: Path, context: str, sha: str) -> None:
    """Keep the plan's Dockerfile (sent in the context under a random name, ``.dockerfile.*``) out of
    the image, so the source layer stays the same between builds of the same tree.

    Written into the build's own copy of the checkout: a repository without a .dockerignore gets
    Slipway's default one; one with its own gets a line added at its end.
    """
    path = inside_checkout(checkout, str(Path(context) / ".dockerignore"), sha)
    if os.path.lexists(path):
        with path.open("a") as fh:
            fh.write("\n.dockerfile.*\n")
    else:
        path.write_text("\n".join(DEFAULT_DOCKERIGNORE + (".dockerfile.*",)) + "\n")


def credentials_in(env: dict[str, str]) -> list[str]:
    """The secrets inside a ``git_auth_env`` environment: the header's value and the token in it."""
    found = []
    for key, value in env.items():
        _, _, encoded = value.partition(": basic ")
        if key.startswith("GIT_CONFIG_VALUE_") and encoded:
            found.append(encoded)
            try:
                found.append(base64.b64decode(encoded).decode().partition(":")[2])
            except (binascii.Error, UnicodeDecodeError):
                pass
    return found
