"""Pull-request previews: who may get one, the one PR comment that tracks it, and its removal.

A preview is a deployment in the slot ``pr-<n>``. Its pull request gets exactly one comment
per project, created on the first report and edited on every later one; the comment always
shows the preview as it is now (the newest deployment of the pull request), so reports that
arrive late or out of order never show a stale state. When the pull request closes, the
``teardown_preview`` job stops the preview's containers and says so in that comment.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from redis import Redis
from redis.exceptions import LockError
from sqlalchemy import select
from sqlalchemy.orm import Session

from deployer.base import ended_events
from slipway import lease_events
from slipway.buildlog import SecretMasker
from slipway.db import session_scope
from slipway.errors import AppError, render
from slipway.github.client import GitHubClient, GitHubError
from slipway.interfaces import Target
from slipway.models import Deployment, Project, PullRequestPreview, utcnow
from slipway.proxy import sync_routes
from slipway.settings import Settings, get_settings
from slipway.states import State, transition

log = logging.getLogger(__name__)

# Which pull-request authors' forks build under "collaborators": people with a role in the repository.
TRUSTED_ASSOCIATIONS = frozenset({"OWNER", "MEMBER", "COLLABORATOR"})
FORK_POLICIES = ("never", "collaborators", "always")
OPEN, CLOSED = "open", "closed"

TEARDOWN_JOB = "slipway.github.previews.teardown_preview"
REPORT_JOB = "slipway.github.previews.report_preview"

# Long enough to outlast GitHub's retries; a reporter waits at most BLOCK_S before giving up.
LOCK_TIMEOUT_S = 180
LOCK_BLOCK_S = 60

_STATE_LABELS = {
    State.QUEUED: "⏳ Queued",
    State.CLONING: "🔨 Building",
    State.BUILDING: "🔨 Building",
    State.PUSHING: "🔨 Building",
    State.DEPLOYING: "🔨 Building",
    State.LIVE: "✅ Ready",
    State.FAILED: "❌ Failed",
    State.CANCELLED: "🚫 Cancelled",
    State.SUPERSEDED: "💤 Replaced",
}


def slot_for(pr_number: int) -> str:
    return f"pr-{pr_number}"


def fork_allowed(policy: str, author_association: str) -> bool:
    """Whether a fork's pull request may build: by the project's policy and the author's role.

    An unknown policy value allows nothing: a fork's code never builds by mistake.
    """
    if policy == "always":
        return True
    if policy == "collaborators":
        return author_association.upper() in TRUSTED_ASSOCIATIONS
    return False


def preview_allowed(project: Project, preview: PullRequestPreview) -> bool:
    return not preview.from_fork or fork_allowed(project.fork_previews, preview.author_association)


def get_preview(session: Session, project_id: int, pr_number: int) -> PullRequestPreview | None:
    return session.scalar(select(PullRequestPreview).where(
        PullRequestPreview.project_id == project_id, PullRequestPreview.pr_number == pr_number))


def preview_deployments(session: Session, project_id: int, pr_number: int) -> list[Deployment]:
    """The pull request's deployments, newest first."""
    return list(session.scalars(select(Deployment).where(
        Deployment.project_id == project_id, Deployment.pr_number == pr_number).order_by(Deployment.id.desc())))


# -- the comment ------------------------------------------------------------------

@dataclass(frozen=True)
class CommentView:
    """Everything the comment shows, as plain values read under the lock."""

    project: str
    pr_number: int
    preview_state: str
    allowed: bool
    from_fork: bool
    head_repo: str
    head_sha: str
    author_association: str
    fork_policy: str
    deployment_id: int | None = None
    deployment_sha: str = ""
    deployment_state: State | None = None
    url: str | None = None
    error_message: str | None = None
    previous_url: str | None = None


def _code(text: str) -> str:
    """Inline code that user-controlled text (a fork's name) cannot break out of."""
    return "`" + text.replace("`", "'").replace("|", "/").replace("\n", " ") + "`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_comment(view: CommentView, public_url: str, now: datetime, mask: SecretMasker) -> str:
    """The comment's markdown: a one-row table in the manner of Vercel's bot."""
    base = public_url.rstrip("/")
    updated = now.strftime("%b %d, %Y %H:%M UTC")
    lines = [f"<!-- slipway:preview project={view.project} pr={view.pr_number} -->", "**Slipway preview**", ""]
    if view.preview_state == CLOSED:
        lines.append(f"The preview of **{view.project}** was removed: this pull request was closed. "
                     f"Reopen it to deploy a new one. _Updated {updated}_")
        return mask("\n".join(lines))
    if not view.allowed:
        lines += [
            (f"**{view.project}** did not build commit `{view.head_sha[:7]}`: it comes from the fork "
             f"{_code(view.head_repo or 'a deleted repository')}. Pull requests from forks are not built "
             "unless a maintainer allows it, so code from outside never runs with the project's secrets "
             f"(the project's fork previews setting is `{view.fork_policy}`; the author's role is "
             f"`{view.author_association}`)."),
            "",
            ("A maintainer can allow it by setting the project's **fork previews** to `always` "
             "(or to `collaborators` and giving the author a role in the repository), "
             "then closing and reopening this pull request or pushing a new commit."),
            "",
            f"_Updated {updated}_",
        ]
        return mask("\n".join(lines))
    state = view.deployment_state
    label = _STATE_LABELS.get(state, str(state)) if state else "⏳ Queued"
    if state == State.LIVE and view.url:
        preview = f"[Visit preview]({view.url})"
    elif view.previous_url:
        preview = f"[Previous preview]({view.previous_url})"
    else:
        preview = "—"
    inspect = f"[Inspect]({base}/deployments/{view.deployment_id})" if view.deployment_id else "—"
    lines += [
        "| Project | Status | Preview | Build log | Commit | Updated |",
        "| :--- | :--- | :--- | :--- | :--- | :--- |",
        f"| **{view.project}** | {label} | {preview} | {inspect} | `{view.deployment_sha[:7]}` | {updated} |",
    ]
    if state == State.FAILED and view.error_message:
        lines += ["", f"> {_cell(view.error_message)}"]
    if view.previous_url and state != State.LIVE:
        lines += ["", "The previous preview keeps serving until this one is ready."]
    if view.from_fork:
        why = ("the project builds every fork" if view.fork_policy == "always"
               else f"its author is a repository {view.author_association.lower()}")
        fork = _code(view.head_repo or "a deleted repository")
        lines += ["", f"This pull request comes from the fork {fork}; it was built because {why}."]
    return mask("\n".join(lines))


def _view(session: Session, project: Project, preview: PullRequestPreview) -> CommentView | None:
    common = dict(project=project.name, pr_number=preview.pr_number, preview_state=preview.state,
                  allowed=preview_allowed(project, preview), from_fork=preview.from_fork,
                  head_repo=preview.head_repo, head_sha=preview.head_sha,
                  author_association=preview.author_association, fork_policy=project.fork_previews)
    if preview.state == CLOSED or not common["allowed"]:
        return CommentView(**common)
    deployments = preview_deployments(session, project.id, preview.pr_number)
    if not deployments:
        return None  # nothing to say yet
    newest = deployments[0]
    # The pull request's stable preview URL through the proxy, else the deployment's own.
    previous = next((d.slot_url or d.url for d in deployments[1:] if d.state == State.LIVE.value), None)
    return CommentView(**common, deployment_id=newest.id, deployment_sha=newest.sha,
                       deployment_state=newest.state_enum, url=newest.slot_url or newest.url,
                       error_message=newest.error_message, previous_url=previous)


class PreviewCommentReporter:
    """Keeps one comment per project on each pull request that has a preview (see the Reporter protocol)."""

    def __init__(self, settings: Settings, github: GitHubClient, redis: Redis):
        self.settings = settings
        self.github = github
        self.redis = redis
        self._mask = SecretMasker(settings.secret_values())

    def report(self, deployment_id: int) -> None:
        with session_scope(self.settings) as session:
            dep = session.get(Deployment, deployment_id)
            if dep is None or dep.pr_number is None:
                return
            project_id, pr_number = dep.project_id, dep.pr_number
        self.update(project_id, pr_number)

    def update(self, project_id: int, pr_number: int, *, removed: bool = False) -> None:
        """Create or edit the pull request's comment to show the preview as it is now.

        Once the pull request is closed only ``removed=True`` (the teardown job) writes, so a
        late report of a cancelled build never replaces the removal notice.
        """
        try:
            with self._locked(project_id, pr_number):
                self._update(project_id, pr_number, removed)
        except LockError:
            log.warning("preview comment of project %s PR #%s: lock not acquired, skipped", project_id, pr_number)
        except GitHubError as exc:
            log.warning("preview comment of project %s PR #%s: %s", project_id, pr_number, exc)

    def _update(self, project_id: int, pr_number: int, removed: bool) -> None:
        with session_scope(self.settings) as session:
            project = session.get(Project, project_id)
            preview = get_preview(session, project_id, pr_number)
            if project is None or preview is None or not project.github_repo or project.installation_id is None \
                    or project.disconnected_reason:
                return  # no App installation reaches the repository
            if preview.state == CLOSED and not removed:
                return
            view = _view(session, project, preview)
            if view is None or (removed and preview.comment_id is None):
                return  # no build yet; or removed before anything was ever said
            installation_id, repo, comment_id = project.installation_id, project.github_repo, preview.comment_id
        body = render_comment(view, self.settings.public_url, utcnow(), self._mask)
        if comment_id is not None:
            try:
                self.github.update_issue_comment(installation_id, repo, comment_id, body)
                return
            except GitHubError as exc:
                if exc.status != 404:
                    raise
                log.info("preview comment %s of %s#%s was deleted; writing a new one", comment_id, repo, pr_number)
        created = self.github.create_issue_comment(installation_id, repo, pr_number, body)
        with session_scope(self.settings) as session:
            preview = get_preview(session, project_id, pr_number)
            if preview is not None:
                preview.comment_id = int(created["id"])

    @contextmanager
    def _locked(self, project_id: int, pr_number: int) -> Iterator[None]:
        # Two reports at once must not both see "no comment yet" and both create one.
        name = f"{self.settings.queue_name}:preview-comment:{project_id}:{pr_number}"
        with self.redis.lock(name, timeout=LOCK_TIMEOUT_S, blocking_timeout=LOCK_BLOCK_S):
            yield


def preview_reporters(settings: Settings) -> list:
    """The PR comment reporter when a GitHub App is configured; none otherwise."""
    from slipway.github.reporting import reporting_client
    from slipway.queue import redis_connection

    # The reporting client: bounded retries (a GitHub outage never stalls a worker), shared tokens.
    client = reporting_client(settings)
    if client is None:
        return []
    return [PreviewCommentReporter(settings, client, redis_connection(settings))]


def _comment_reporter(settings: Settings) -> PreviewCommentReporter | None:
    return next((r for r in preview_reporters(settings) if isinstance(r, PreviewCommentReporter)), None)


# -- jobs ---------------------------------------------------------------------------

def enqueue_teardown(project_id: int, pr_number: int, settings: Settings | None = None) -> str:
    """Queue the removal of a closed pull request's preview; the job carries only ids."""
    from slipway.queue import get_queue

    settings = settings or get_settings()
    job = get_queue(settings).enqueue_call(TEARDOWN_JOB, args=(project_id, pr_number), timeout=600,
                                           result_ttl=86400, failure_ttl=7 * 86400,
                                           description=f"remove preview of project {project_id} PR #{pr_number}")
    return job.id


def enqueue_report(project_id: int, pr_number: int, settings: Settings | None = None) -> str:
    """Queue a refresh of the pull request's comment (say why a fork was not built)."""
    from slipway.queue import get_queue

    settings = settings or get_settings()
    job = get_queue(settings).enqueue_call(REPORT_JOB, args=(project_id, pr_number), result_ttl=86400,
                                           failure_ttl=7 * 86400,
                                           description=f"comment on project {project_id} PR #{pr_number}")
    return job.id


def report_preview(project_id: int, pr_number: int) -> None:
    """rq job: bring the pull request's comment up to date."""
    reporter = _comment_reporter(get_settings())
    if reporter is not None:
        reporter.update(project_id, pr_number)


def teardown_preview(project_id: int, pr_number: int) -> None:
    """rq job: stop a closed pull request's preview containers, then say so in its comment."""
    from slipway.github.reporting import github_reporters
    from slipway.targets import targets_from_settings

    settings = get_settings()
    # GitHub's own reporters, as slipway.reporters.default_reporters lists them: importing that
    # list from here would make a circle (it names this module's comment reporter).
    reporters = [*github_reporters(settings), *preview_reporters(settings)]
    remove_preview(settings, project_id, pr_number, targets_from_settings(settings), reporters)


def remove_preview(settings: Settings, project_id: int, pr_number: int, targets: Mapping[str, Target],
                   reporters: Sequence[object]) -> bool:
    """Stop the preview's containers through its target; True if it was removed.

    Does nothing if the pull request was reopened meanwhile: its new preview is wanted.
    """
    slot = slot_for(pr_number)
    with session_scope(settings) as session:
        project = session.get(Project, project_id)
        preview = get_preview(session, project_id, pr_number)
        if project is None or preview is None or preview.state != CLOSED:
            log.info("preview of project %s PR #%s is not closed (or gone); nothing to remove", project_id, pr_number)
            return False
        name, target_name = project.name, project.target
        # Only what existed when it closed: a reopened pull request's newer preview is not ours to stop.
        newest = max((d.id for d in preview_deployments(session, project_id, pr_number)), default=0)
    target = targets.get(target_name)
    if target is None:
        raise RuntimeError(f"the {target_name!r} target is not configured; preview {slot} of {name} "
                           "could not be removed")
    ended = target.teardown(name, slot, lambda line: log.info("%s %s: %s", name, slot, line))
    # Its live deployments no longer run: the history must not call them live.
    with session_scope(settings) as session:
        lease_events.record_where_held(session, project_id, ended_events(ended))
        stopped = [d for d in preview_deployments(session, project_id, pr_number)
                   if d.state == State.LIVE.value and d.id <= newest]
        for dep in stopped:
            # Not replaced by a newer version: its pull request closed (reporting says so).
            transition(dep, State.SUPERSEDED, AppError.PR_CLOSED, render(AppError.PR_CLOSED, number=pr_number))
        stopped_ids = [d.id for d in stopped]
    sync_routes(settings)  # its preview and deployment URLs answer no more
    comments = [r for r in reporters if isinstance(r, PreviewCommentReporter)]
    for dep_id in stopped_ids:
        for reporter in reporters:
            if reporter in comments:
                continue  # the removal notice below is the comment's last word
            try:
                reporter.report(dep_id)
            except Exception:
                log.exception("reporter %s failed for deployment %s", type(reporter).__name__, dep_id)
    for reporter in comments:
        reporter.update(project_id, pr_number, removed=True)
    return True
