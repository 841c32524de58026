"""``pull_request``: previews of pull requests.

opened / synchronize / reopened build the head commit into the slot ``pr-<n>`` of every
project connected to the base repository that has previews on; closed (merged or not)
removes it. The head commit is fetched from the project's own repository, never the
fork's: GitHub keeps every pull request's head there too (``refs/pull/<n>/head``).
Draft pull requests build like any other, as on Vercel: a draft is where a preview helps.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from slipway.deployments import PushedCommit, end_early, request_deployment
from slipway.errors import AppError
from slipway.github.events.outcome import Outcome
from slipway.github.events.push import is_sha
from slipway.github.installations import split_connected
from slipway.github.previews import CLOSED, OPEN, enqueue_report, enqueue_teardown, fork_allowed, get_preview
from slipway.models import Deployment, Project, PullRequestPreview
from slipway.states import FINAL_STATES
from slipway.validation import INT32_MAX, is_int_id

log = logging.getLogger(__name__)

BUILD_ACTIONS = frozenset({"opened", "synchronize", "reopened"})
CLOSE_ACTION = "closed"


@dataclass(frozen=True)
class PullRequestEvent:
    """The parts of a ``pull_request`` delivery a preview needs, checked."""

    action: str
    number: int
    repository: str  # the base repository, "owner/name"
    head_sha: str
    head_ref: str
    head_repo: str | None  # None when the fork was deleted
    author_association: str
    draft: bool

    @property
    def from_fork(self) -> bool:
        return self.head_repo is None or self.head_repo.lower() != self.repository.lower()


def handle(session: Session, payload: dict) -> Outcome:
    action = payload.get("action")
    if not isinstance(action, str):
        return Outcome(400, "pull_request payload needs 'action'")
    if action not in BUILD_ACTIONS and action != CLOSE_ACTION:
        return Outcome(202, f"pull_request action {action!r} does not change a preview; ignored")
    pr, problem = parse(payload)
    if problem:
        return Outcome(400, problem)
    if action == CLOSE_ACTION:
        return _close(session, pr)
    return _build(session, pr)


def parse(payload: dict) -> tuple[PullRequestEvent | None, str | None]:
    pull = payload.get("pull_request")
    repo = payload.get("repository")
    if not isinstance(pull, dict) or not isinstance(repo, dict):
        return None, "pull_request payload needs 'pull_request' and 'repository' objects"
    number = pull.get("number", payload.get("number"))
    if not is_int_id(number, INT32_MAX):
        return None, "pull_request payload 'pull_request.number' must be a positive integer below 2^31"
    full_name = repo.get("full_name")
    if not isinstance(full_name, str) or full_name.count("/") != 1:
        return None, "pull_request payload needs 'repository.full_name' as owner/name"
    head = pull.get("head")
    if not isinstance(head, dict):
        return None, "pull_request payload needs 'pull_request.head'"
    sha, ref, head_repo = head.get("sha"), head.get("ref"), head.get("repo")
    if not is_sha(sha):
        return None, "pull_request payload 'pull_request.head.sha' must be a 40-character commit sha"
    if not isinstance(ref, str) or not ref:
        return None, "pull_request payload needs 'pull_request.head.ref'"
    if head_repo is not None and not (isinstance(head_repo, dict) and isinstance(head_repo.get("full_name"), str)):
        return None, "pull_request payload 'pull_request.head.repo' must be null or have a 'full_name'"
    association = pull.get("author_association", "NONE")
    if not isinstance(association, str):
        return None, "pull_request payload 'pull_request.author_association' must be a string"
    return PullRequestEvent(
        action=payload["action"], number=number, repository=full_name, head_sha=sha, head_ref=ref[:255],
        head_repo=head_repo["full_name"][:200] if head_repo else None,
        author_association=(association or "NONE").upper()[:40], draft=pull.get("draft") is True,
    ), None


def connected_projects(session: Session, full_name: str) -> list[Project]:
    """Projects connected to the repository (GitHub names are case-insensitive)."""
    return list(session.scalars(
        select(Project).where(func.lower(Project.github_repo) == full_name.lower()).order_by(Project.id)))


def _build(session: Session, pr: PullRequestEvent) -> Outcome:
    projects = connected_projects(session, pr.repository)
    if not projects:
        return Outcome(202, f"no project is connected to {pr.repository}")
    enabled = [p for p in projects if p.previews_enabled]
    if not enabled:
        return Outcome(202, f"previews are turned off for {', '.join(p.name for p in projects)}")
    enabled, disconnected = split_connected(enabled)
    if not enabled:
        return Outcome(202, "not deployed: " + "; ".join(f"{p.name}: {p.disconnected_reason}" for p in disconnected))
    ids: list[int] = []
    replaced: list[int] = []
    jobs: list[Callable[[], object]] = []
    built: list[str] = []
    refused: list[str] = []
    for project in enabled:
        _upsert_preview(session, project, pr)
        if pr.from_fork and not fork_allowed(project.fork_previews, pr.author_association):
            # Not built at all: nothing of the fork runs with the project's settings.
            refused.append(project.name)
            jobs.append(lambda pid=project.id: enqueue_report(pid, pr.number))
            continue
        requested = request_deployment(project, PushedCommit(pr.head_sha, pr.head_ref), "pull_request", pr.number,
                                       session=session)
        replaced += requested.replaced
        ids.append(requested.deployment_id)
        built.append(project.name)
    parts = []
    if built:
        parts.append(f"queued preview of {pr.head_sha[:7]} (PR #{pr.number}) for {', '.join(built)}")
    if refused:
        parts.append(f"not building the fork {pr.head_repo or '(deleted)'} of a {pr.author_association} author "
                     f"for {', '.join(refused)}: the project's fork previews setting does not allow it")
    return Outcome(202, "; ".join(parts), ids, jobs, report_ids=ids + replaced)


def _upsert_preview(session: Session, project: Project, pr: PullRequestEvent) -> PullRequestPreview:
    values = dict(head_sha=pr.head_sha, head_repo=pr.head_repo or "", from_fork=pr.from_fork,
                  author_association=pr.author_association, state=OPEN)
    # Two deliveries of one new pull request at once must make one row, not fail the second.
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(insert(PullRequestPreview).values(project_id=project.id, pr_number=pr.number, **values)
                    .on_conflict_do_nothing(index_elements=["project_id", "pr_number"]))
    preview = get_preview(session, project.id, pr.number)
    for key, value in values.items():
        setattr(preview, key, value)
    session.flush()
    return preview


def _close(session: Session, pr: PullRequestEvent) -> Outcome:
    # Every connected project, previews on or not: one turned off since still has a preview to remove.
    removing = []
    jobs: list[Callable[[], object]] = []
    for project in connected_projects(session, pr.repository):
        preview = get_preview(session, project.id, pr.number)
        if preview is None:
            continue
        preview.state = CLOSED
        preview.head_sha = pr.head_sha
        _cancel_unfinished(session, project.id, pr.number)
        jobs.append(lambda pid=project.id: enqueue_teardown(pid, pr.number))
        removing.append(project.name)
    if not removing:
        return Outcome(202, f"PR #{pr.number} of {pr.repository} has no preview; nothing to remove")
    return Outcome(202, f"removing the preview of PR #{pr.number} for {', '.join(removing)}", jobs=jobs)


def _cancel_unfinished(session: Session, project_id: int, pr_number: int) -> None:
    unfinished = session.scalars(select(Deployment).where(
        Deployment.project_id == project_id, Deployment.pr_number == pr_number,
        Deployment.state.not_in([s.value for s in FINAL_STATES]))).all()
    for dep in unfinished:
        end_early(dep, AppError.PR_CLOSED, number=pr_number)
