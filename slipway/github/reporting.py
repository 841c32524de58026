"""Reporting deployments to GitHub: commit statuses and GitHub Deployments.

``GitHubReporter`` is a ``slipway.interfaces.Reporter``: the pipeline calls it after every state
change and once more when a job ends. Each call reports the deployment's CURRENT state,
so calling it twice is harmless, and what was last posted is remembered in Redis so the
same status is not posted again. What is posted is decided by two pure functions,
``commit_status`` and ``deployment_status``, from a ``Snapshot`` of the deployment.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import select

from slipway.buildlog import SecretMasker
from slipway.db import session_scope
from slipway.errors import AppError
from slipway.github.client import AppCredentials, GitHubApp, GitHubClient, GitHubError, redact, truncate
from slipway.models import Deployment
from slipway.settings import Settings
from slipway.states import State

log = logging.getLogger(__name__)

# Reporting must not stall a worker when GitHub is down: two tries, short waits.
REPORT_MAX_ATTEMPTS = 2
REPORT_BACKOFF_S = 1.0
REPORT_MAX_WAIT_S = 5.0
REPORT_TIMEOUT_S = 10.0
# How long what was posted is remembered (deployments are not reported after they end).
MEMORY_TTL_S = 7 * 86400

PENDING_TEXT = {
    State.QUEUED: "Queued…",
    State.CLONING: "Fetching the code…",
    State.BUILDING: "Building…",
    State.PUSHING: "Pushing the image…",
    State.DEPLOYING: "Starting the new version…",
}


@dataclass(frozen=True)
class Snapshot:
    """What reporting needs to know about one deployment, as plain values."""

    id: int
    project: str
    sha: str
    state: State
    pr_number: int | None = None
    url: str | None = None
    error_id: str | None = None
    error_message: str | None = None
    started: bool = False
    # The deployment that replaced this one, if one did: "deployment 12 (abc1234)".
    replaced_by: str | None = None
    # The environment's stable URL (production or the pull request's preview, through the proxy);
    # ``url`` is this deployment's own.
    environment_url: str | None = None

    @property
    def user_fault(self) -> bool:
        return bool(self.error_id) and ":user:" in self.error_id

    @property
    def superseded(self) -> bool:
        return (self.state == State.SUPERSEDED and self.error_id != AppError.PR_CLOSED) or \
            (self.state == State.CANCELLED and self.error_id == AppError.SUPERSEDED)


def status_context(snap: Snapshot) -> str:
    """The commit status context: production and previews of one project never clobber each other."""
    return f"slipway/{snap.project}" if snap.pr_number is None else f"slipway/{snap.project}/preview"


def environment_name(snap: Snapshot) -> str:
    return "Production" if snap.pr_number is None else f"Preview (PR #{snap.pr_number})"


def _reason(snap: Snapshot, fallback: str) -> str:
    lines = (snap.error_message or "").strip().splitlines()
    return lines[0].strip() if lines and lines[0].strip() else fallback


def _superseded_text(snap: Snapshot) -> str:
    return f"Superseded by {snap.replaced_by}" if snap.replaced_by else "Superseded by a newer deployment"


def commit_status(snap: Snapshot) -> tuple[str, str]:
    """(commit status state, description) for the deployment's current state."""
    if snap.state in PENDING_TEXT:
        return "pending", PENDING_TEXT[snap.state]
    if snap.state in (State.LIVE, State.SUPERSEDED):
        # A deployment replaced later still deployed this commit: its status stays success.
        return "success", f"Deployed to {snap.url}" if snap.url else "Deployed"
    if snap.state == State.CANCELLED:
        return "error", _superseded_text(snap) if snap.superseded else _reason(snap, "Cancelled")
    # Failed: the user's fault is a "failure" with the reason; ours is an "error".
    if snap.user_fault:
        return "failure", _reason(snap, "The deployment failed")
    return "error", _reason(snap, "Slipway failed to deploy this commit")


def deployment_status(snap: Snapshot) -> tuple[str, str]:
    """(GitHub deployment status state, description) for the deployment's current state."""
    if snap.state == State.QUEUED:
        return "queued", PENDING_TEXT[State.QUEUED]
    if snap.state in PENDING_TEXT:
        return "in_progress", PENDING_TEXT[snap.state]
    if snap.state == State.LIVE:
        return "success", f"Deployed to {snap.url}" if snap.url else "Deployed"
    if snap.superseded:
        return "inactive", _superseded_text(snap)
    if snap.state == State.SUPERSEDED:  # not replaced: taken down with its pull request
        return "inactive", _reason(snap, "Removed")
    if snap.state == State.CANCELLED:
        return "error", _reason(snap, "Cancelled")
    if snap.user_fault:
        return "failure", _reason(snap, "The deployment failed")
    return "error", _reason(snap, "Slipway failed to deploy this commit")


@dataclass(frozen=True)
class Target:
    """Where a deployment is reported: its GitHub repository through an installation."""

    repo: str
    installation_id: int
    github_deployment_id: int | None


class ReportMemory:
    """What was last posted for each deployment, in Redis; forgetful (never failing) without it."""

    def __init__(self, redis: Redis | None, namespace: str):
        self._redis = redis
        self._namespace = namespace

    def _key(self, snap: Snapshot) -> str:
        # The sha too: a database reset reuses ids, and must not inherit another's memory.
        return f"slipway:{self._namespace}:github-report:{snap.id}:{snap.sha}"

    def posted(self, snap: Snapshot, kind: str, fingerprint: str) -> bool:
        if self._redis is None:
            return False
        try:
            value = self._redis.hget(self._key(snap), kind)
        except RedisError:
            return False
        return value is not None and value.decode() == fingerprint

    def remember(self, snap: Snapshot, kind: str, fingerprint: str) -> None:
        if self._redis is None:
            return
        try:
            key = self._key(snap)
            with self._redis.pipeline() as pipe:
                pipe.hset(key, kind, fingerprint)
                pipe.expire(key, MEMORY_TTL_S)
                pipe.execute()
        except RedisError:
            log.warning("could not remember the GitHub report of deployment %s", snap.id)

    def lock(self, snap: Snapshot):
        """Serialises reports of one deployment (create the GitHub Deployment once)."""
        if self._redis is None:
            return _NoLock()
        return _BestEffortLock(self._redis.lock(self._key(snap) + ":lock", timeout=60, blocking_timeout=30))


class _NoLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


class _BestEffortLock:
    def __init__(self, lock: Any):
        self._lock = lock
        self._held = False

    def __enter__(self) -> None:
        try:
            self._held = bool(self._lock.acquire())
        except RedisError:
            self._held = False

    def __exit__(self, *exc: object) -> None:
        if self._held:
            try:
                self._lock.release()
            except RedisError:
                pass


class GitHubReporter:
    """Reports a deployment as a commit status and a GitHub Deployment with its statuses."""

    def __init__(self, settings: Settings, client: GitHubClient, redis: Redis | None = None):
        self.settings = settings
        self.client = client
        self.memory = ReportMemory(redis, settings.queue_name)
        self._masker = SecretMasker(settings.secret_values())

    def report(self, deployment_id: int) -> None:
        try:
            loaded = self._load(deployment_id)
            if loaded is None:
                return  # not connected through the GitHub App: nothing to report
            snap, target = loaded
            with self.memory.lock(snap):
                self._post_commit_status(snap, target)
                self._post_deployment(snap, target)
        except Exception as exc:  # noqa: BLE001 - reporting never fails a deployment
            log.warning("github: reporting deployment %s failed: %s: %s", deployment_id, type(exc).__name__,
                        self._masker(redact(str(exc))))

    # -- what to post ------------------------------------------------------
    def _describe(self, text: str) -> str:
        """A safe description: one line, no secret, within GitHub's limit."""
        return truncate(" ".join(redact(self._masker(text)).split()))

    def _post_commit_status(self, snap: Snapshot, target: Target) -> None:
        state, text = commit_status(snap)
        description = self._describe(text)
        fingerprint = f"{state}|{description}"
        if self.memory.posted(snap, "commit", fingerprint):
            return
        try:
            self.client.create_commit_status(target.installation_id, target.repo, snap.sha, state,
                                             target_url=self.settings.deployment_url(snap.id), description=description,
                                             context=status_context(snap))
        except (GitHubError, ValueError) as exc:
            self._failed("commit status", snap, exc)
            return
        self.memory.remember(snap, "commit", fingerprint)

    def _post_deployment(self, snap: Snapshot, target: Target) -> None:
        state, text = deployment_status(snap)
        description = self._describe(text)
        fingerprint = f"{state}|{description}"
        if self.memory.posted(snap, "deployment", fingerprint):
            return
        github_id = target.github_deployment_id
        if github_id is None:
            if snap.state == State.QUEUED or (snap.state == State.CANCELLED and not snap.started):
                return  # not started (yet): nothing deployed to show in an environment; the status says queued
            github_id = self._create_deployment(snap, target)
            if github_id is None:
                return
        try:
            self.client.create_deployment_status(
                target.installation_id, target.repo, github_id, state,
                environment_url=snap.environment_url if state == "success" else None,
                log_url=self.settings.deployment_url(snap.id), description=description,
            )
        except (GitHubError, ValueError) as exc:
            self._failed("deployment status", snap, exc)
            return
        self.memory.remember(snap, "deployment", fingerprint)

    def _create_deployment(self, snap: Snapshot, target: Target) -> int | None:
        preview = snap.pr_number is not None
        try:
            created = self.client.create_deployment(
                target.installation_id, target.repo, snap.sha, environment_name(snap),
                self._describe(f"Slipway deployment {snap.id} of {snap.project}"),
                transient_environment=preview, production_environment=not preview,
                auto_merge=False, required_contexts=[],
            )
        except (GitHubError, ValueError) as exc:
            self._failed("deployment", snap, exc)
            return None
        github_id = int(created["id"])
        with session_scope(self.settings) as session:
            dep = session.get(Deployment, snap.id)
            if dep is not None:
                dep.github_deployment_id = github_id
        return github_id

    def _failed(self, what: str, snap: Snapshot, exc: Exception) -> None:
        # GitHubError's text is already scrubbed of tokens; mask configured secrets as well.
        log.warning("github: could not post the %s of deployment %s: %s", what, snap.id, self._masker(str(exc)))

    # -- loading -------------------------------------------------------------
    def _load(self, deployment_id: int) -> tuple[Snapshot, Target] | None:
        with session_scope(self.settings) as session:
            dep = session.get(Deployment, deployment_id)
            if dep is None:
                return None
            project = dep.project
            if not project.github_repo or project.installation_id is None:
                return None
            replaced_by = None
            if dep.state_enum in (State.CANCELLED, State.SUPERSEDED):
                newer = session.execute(
                    select(Deployment.id, Deployment.sha).where(
                        Deployment.project_id == dep.project_id, Deployment.id > dep.id,
                        Deployment.pr_number.is_(None) if dep.pr_number is None
                        else Deployment.pr_number == dep.pr_number,
                    ).order_by(Deployment.id).limit(1)
                ).first()
                replaced_by = f"deployment {newer.id} ({newer.sha[:7]})" if newer else None
            snap = Snapshot(
                id=dep.id, project=project.name, sha=dep.sha, state=dep.state_enum, pr_number=dep.pr_number,
                url=dep.url, environment_url=dep.slot_url or dep.url, error_id=dep.error_id, error_message=dep.error_message,
                started=dep.started_at is not None, replaced_by=replaced_by,
            )
            return snap, Target(project.github_repo, int(project.installation_id), dep.github_deployment_id)


def reporting_client(settings: Settings) -> GitHubApp | None:
    """The App's client for reporting, with small retry bounds; None without an App."""
    from slipway.github.app import app_credentials

    creds = app_credentials(settings)
    if creds is None:
        return None
    # One client per process and App: its installation tokens are reused across webhooks and jobs.
    client = _clients.get(creds)
    if client is None:
        client = _clients.setdefault(creds, GitHubApp(
            creds, max_attempts=REPORT_MAX_ATTEMPTS, backoff_s=REPORT_BACKOFF_S,
            max_wait_s=REPORT_MAX_WAIT_S, timeout_s=REPORT_TIMEOUT_S))
    return client


_clients: dict[AppCredentials, GitHubApp] = {}


def github_reporters(settings: Settings) -> list:
    """The reporters to run for this configuration: none without a GitHub App."""
    from slipway.queue import redis_connection

    client = reporting_client(settings)
    if client is None:
        return []
    return [GitHubReporter(settings, client, redis_connection(settings))]
