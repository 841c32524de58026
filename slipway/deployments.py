"""One road for every deployment: :func:`request_deployment`, and how deployments end early.

Every way in (a GitHub push or pull request, ``git push`` to Slipway's remote, a deploy
hook, ``slipway deploy``, the dashboard's Deploy now, a rollback or redeploy) names a
*source*, a *trigger* and a *slot*, and goes through :func:`request_deployment`: it
validates, resolves the source to a commit (reading the repository as the GitHub App's
installation when the project has one), records the row, supersedes the older unfinished
deployments of the same slot, commits, and only then enqueues.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from slipway.db import session_scope
from slipway.errors import AppError, UserError, render
from slipway.github.client import GitHubClient
from slipway.models import Deployment, Project
from slipway.projects import get_project_by_name
from slipway.settings import Settings, get_settings
from slipway.states import FINAL_STATES, State, transition
from slipway.validation import INT32_MAX, is_commit_sha, is_full_sha, is_int_id, ref_name_problem, shown

log = logging.getLogger(__name__)


# -- what is deployed --------------------------------------------------------

@dataclass(frozen=True)
class PushedCommit:
    """A commit a push named (GitHub's webhook, a pull request, Slipway's git remote): taken as given."""

    sha: str
    branch: str
    # What the push said of the commit, for the dashboard's lists; never trusted for anything else.
    message: str | None = None
    author: str | None = None


@dataclass(frozen=True)
class BranchHead:
    """The head of the project's branch, read from its repository now (hooks, Deploy now)."""


@dataclass(frozen=True)
class GivenCommit:
    """A commit sha, or a branch or tag name resolved to its commit now (``slipway deploy --sha``)."""

    value: str


@dataclass(frozen=True)
class EarlierImage:
    """The image an earlier deployment built, run again without building (rollback, redeploy)."""

    deployment_id: int


Source = PushedCommit | BranchHead | GivenCommit | EarlierImage

# The slot a deployment replaces is production, or the preview of one pull request (its number).
PRODUCTION = None


@dataclass(frozen=True)
class Requested:
    """A recorded deployment; with a caller's session, enqueue it (:func:`enqueue_committed`) after commit."""

    deployment_id: int
    project: str
    sha: str
    branch: str
    replaced: list[int] = field(default_factory=list)


class DeployRequestError(Exception):
    """A deployment that cannot be requested. ``status`` is the HTTP answer; the message says why."""

    def __init__(self, message_id: str, status: int = 422, **params: object):
        self.message_id = message_id
        self.status = status
        super().__init__(render(message_id, **params))

@dataclass(frozen=True)
class _ProjectFacts:
    """What resolving a source needs of a project, read in a short transaction."""

    id: int
    name: str
    repo_url: str
    branch: str
    installation_id: int | None
    disconnected_reason: str | None


@dataclass(frozen=True)
class _Commit:
    sha: str
    branch: str


def request_deployment(
    project: Project | int | str,
    source: Source,
    trigger: str,
    pr_number: int | None = PRODUCTION,
    *,
    session: Session | None = None,
    settings: Settings | None = None,
    github: GitHubClient | None = None,
) -> Requested:
    """Request a deployment of ``project`` (a row, an id or a name) into the slot ``pr_number``.

    Without ``session``: reads what the source needs (the repository, as the project's GitHub
    App installation when it has one; ``github`` is that client, from settings by default),
    records the deployment, commits, enqueues it, and returns it. DeployRequestError says why
    not; nothing is left behind when the repository cannot be read.

    With ``session`` (a caller's transaction, e.g. a webhook delivery's): records the deployment
    in it and returns; the caller enqueues ``deployment_id`` once its transaction has committed.
    """
    settings = settings or get_settings()
    if pr_number is not PRODUCTION and not is_int_id(pr_number, INT32_MAX):
        raise DeployRequestError(UserError.DEPLOY_BAD_SLOT, 400, value=shown(str(pr_number)))
    if session is not None:
        found = _project(session, project)
        commit = _resolve(settings, _facts(found), source, github)
        return _record(session, found, commit, source, trigger, pr_number)

    try:
        with session_scope(settings) as s:
            facts = _facts(_project(s, project))
        commit = _resolve(settings, facts, source, github)  # outside any transaction: it may read the network
        with session_scope(settings) as s:
            requested = _record(s, _project(s, facts.id), commit, source, trigger, pr_number)
    except SQLAlchemyError as exc:  # the database is down or locked: say so, never a 500 (nor one mid-push)
        log.exception("could not record a %s deployment of %s", trigger, project)
        raise DeployRequestError(AppError.DEPLOY_NOT_RECORDED, 503, kind=type(exc).__name__) from None
    if enqueue_committed([requested.deployment_id]):
        raise DeployRequestError(AppError.DEPLOY_NOT_QUEUED, 503, id=requested.deployment_id)
    log.info("%s: deployment %s of %s queued (%s)", facts.name, requested.deployment_id, requested.sha[:7], trigger)
    return requested


def request_redeploy(source_id: int, trigger: str = "rollback") -> int:
    """Run the image deployment ``source_id`` built again, in its slot, without building; returns the new id."""
    with session_scope() as session:
        earlier = session.get(Deployment, source_id)
        if earlier is None:
            raise DeployRequestError(UserError.DEPLOY_NO_DEPLOYMENT, 404, id=source_id)
        project_id, pr_number = earlier.project_id, earlier.pr_number
    return request_deployment(project_id, EarlierImage(source_id), trigger, pr_number).deployment_id


def _project(session: Session, ref: Project | int | str) -> Project:
    if isinstance(ref, Project):
        return ref
    found = session.get(Project, ref) if isinstance(ref, int) else get_project_by_name(session, ref)
    if found is None:
        raise DeployRequestError(UserError.DEPLOY_NO_PROJECT, 404, name=shown(str(ref)))
    return found


def _facts(project: Project) -> _ProjectFacts:
    return _ProjectFacts(project.id, project.name, project.repo_url, project.branch, project.installation_id,
                         project.disconnected_reason)


def _resolve(settings: Settings, facts: _ProjectFacts, source: Source, github: GitHubClient | None) -> _Commit | None:
    """The commit ``source`` names (None for an earlier image: its row says)."""
    if isinstance(source, EarlierImage):
        return None  # an image already in the registry: it runs even for a project cut off from GitHub
    if facts.disconnected_reason:
        # Its code can no longer be fetched; say so now rather than fail in the worker.
        raise DeployRequestError(UserError.DEPLOY_DISCONNECTED, 409, name=facts.name, reason=facts.disconnected_reason)
    if isinstance(source, PushedCommit):
        # Pushes name a full commit id and a branch; anything else would reach git in the worker.
        if not is_full_sha(source.sha):
            raise DeployRequestError(UserError.DEPLOY_BAD_PUSHED_COMMIT, 400, value=shown(str(source.sha)))
        problem = ref_name_problem(source.branch)
        if problem:
            raise DeployRequestError(UserError.DEPLOY_BAD_BRANCH, 400, value=shown(source.branch), reason=problem)
        return _Commit(source.sha, source.branch)
    reader = _Refs(settings, facts, github)
    if isinstance(source, BranchHead):
        return _Commit(reader.branch_head(facts.branch), facts.branch)
    if isinstance(source, GivenCommit):
        return _Commit(reader.commit(source.value), facts.branch)
    raise TypeError(f"not a deployment source: {source!r}")


def _record(session: Session, project: Project, commit: _Commit | None, source: Source, trigger: str,
            pr_number: int | None) -> Requested:
    image = sdl = config = None
    if isinstance(source, EarlierImage):
        earlier = session.get(Deployment, source.deployment_id)
        if earlier is None or earlier.project_id != project.id:
            raise DeployRequestError(UserError.DEPLOY_NO_DEPLOYMENT, 404, id=source.deployment_id)
        if not earlier.image:
            raise DeployRequestError(UserError.DEPLOY_NO_IMAGE, 409, id=earlier.id, state=earlier.state)
        # Run as it was made: the same image, and the repository's SDL and slipway.toml of that commit.
        commit, image, sdl = _Commit(earlier.sha, earlier.branch), earlier.image, earlier.repository_sdl
        config = earlier.repository_config
        message, author = earlier.commit_message, earlier.commit_author
    else:
        message, author = (source.message, source.author) if isinstance(source, PushedCommit) else (None, None)
    dep = Deployment(project=project, sha=commit.sha, branch=commit.branch, trigger=trigger,
                     commit_message=_first_line(message, 500), commit_author=_first_line(author, 200),
                     state=State.QUEUED.value, image=image, repository_sdl=sdl, repository_config=config,
                     pr_number=pr_number,
                     environment="production" if pr_number is None else "preview")
    session.add(dep)
    session.flush()
    replaced = supersede_older(session, dep)
    return Requested(dep.id, project.name, dep.sha, dep.branch, replaced)


def _first_line(text: str | None, limit: int) -> str | None:
    if not isinstance(text, str) or not text.strip():
        return None
    return text.strip().splitlines()[0][:limit]


class _Refs:
    """Reads a project's repository before anything is recorded, as its GitHub App installation if it has one."""

    def __init__(self, settings: Settings, facts: _ProjectFacts, github: GitHubClient | None):
        from builder.git import mask_url_credentials
        from slipway.git_remote import remote_url, uses_git_remote

        self.settings, self.facts, self.github = settings, facts, github
        # A --git-push project's repository is a path on this machine: users see its remote's URL.
        self.shown_url = remote_url(settings, facts.name) if uses_git_remote(settings, facts.name, facts.repo_url) \
            else mask_url_credentials(facts.repo_url)

    def branch_head(self, branch: str) -> str:
        ref = f"refs/heads/{branch}"
        found = self._read([ref], UserError.DEPLOY_UNREADABLE_BRANCH, branch=branch)
        if ref in found:
            return found[ref]
        if not self._has_refs():
            raise DeployRequestError(UserError.DEPLOY_EMPTY_REPOSITORY, 409, repo=self.shown_url, branch=branch)
        raise DeployRequestError(UserError.DEPLOY_NO_BRANCH, 422, repo=self.shown_url, branch=branch)

    def commit(self, value: str) -> str:
        """A commit sha as given (lower-cased), or the commit a branch or tag name points at now.

        Nothing else is accepted, so git never sees an option.
        """
        if is_commit_sha(value.lower()):
            return value.lower()
        problem = ref_name_problem(value.removeprefix("refs/"))
        if problem:
            raise DeployRequestError(UserError.DEPLOY_BAD_COMMIT, value=shown(value), reason=problem)
        candidates = [value] if value.startswith("refs/") else [f"refs/heads/{value}", f"refs/tags/{value}"]
        found = self._read(candidates, UserError.DEPLOY_UNREADABLE_REF, value=shown(value))
        resolved = next((found[ref] for ref in candidates if ref in found), None)
        if resolved is None:
            raise DeployRequestError(UserError.DEPLOY_NO_SUCH_REF, value=shown(value))
        return resolved

    def _read(self, refs: list[str], message_id: str, **params: object) -> dict[str, str]:
        from builder.git import git_reason, ls_remote

        env = self._env()
        try:
            return ls_remote(self.facts.repo_url, refs, env)
        except Exception as exc:  # noqa: BLE001 - git's own last line is the useful part
            reason = git_reason(exc).replace(self.facts.repo_url, self.shown_url)
            raise DeployRequestError(message_id, 502, repo=self.shown_url, reason=reason, **params) from None

    def _has_refs(self) -> bool:
        from builder.git import has_refs

        try:
            return has_refs(self.facts.repo_url, self._env())
        except Exception:  # noqa: BLE001 - it was readable a moment ago; say "no branch" then
            return True

    def _env(self) -> dict[str, str] | None:
        """The installation's git credentials for a GitHub App project (never logged, never stored)."""
        from slipway.github.client import GitHubError
        from slipway.github.app import github_client

        if self.facts.installation_id is None:
            return None
        github = self.github or github_client(self.settings)
        if github is None:
            raise DeployRequestError(AppError.DEPLOY_NO_GITHUB_APP, 503, name=self.facts.name)
        try:
            return github.git_env(self.facts.installation_id, self.facts.repo_url)
        except GitHubError as exc:
            if exc.status in (401, 403, 404):
                raise DeployRequestError(UserError.BUILD_GITHUB_ACCESS, 502, repo=self.shown_url,
                                         detail=exc.message) from None
            raise DeployRequestError(AppError.GITHUB, 502, detail=exc.message) from None


# -- ending early ------------------------------------------------------------

def supersede_older(session: Session, newer: Deployment) -> list[int]:
    """Cancel the unfinished deployments of the same project and slot that ``newer`` replaces.

    Queued ones never start; running ones stop at their next step (the pipeline checks
    the state). Their jobs still run to report the cancellation. Returns their ids.
    """
    older = session.scalars(
        select(Deployment).where(
            Deployment.project_id == newer.project_id,
            Deployment.id < newer.id,
            Deployment.pr_number.is_(None) if newer.pr_number is None else Deployment.pr_number == newer.pr_number,
            Deployment.state.not_in([s.value for s in FINAL_STATES]),
        )
    ).all()
    for dep in older:
        end_early(dep, AppError.SUPERSEDED, id=newer.id, sha=newer.short_sha)
    return [dep.id for dep in older]


def end_early(dep: Deployment, message_id: str, **params: object) -> None:
    """Cancel an unfinished deployment, saying why (superseded, cancelled by a user, its pull request closed)."""
    transition(dep, State.CANCELLED, message_id, render(message_id, **params))


def cancel_deployment(deployment_id: int, settings: Settings | None = None) -> Requested:
    """A user's cancel: the deployment stops at its next step; its job reports it. DeployRequestError if it ended."""
    with session_scope(settings or get_settings()) as session:
        dep = session.get(Deployment, deployment_id)
        if dep is None:
            raise DeployRequestError(UserError.DEPLOY_NO_DEPLOYMENT, 404, id=deployment_id)
        if dep.state_enum in FINAL_STATES:
            raise DeployRequestError(UserError.DEPLOY_ALREADY_ENDED, 409, id=deployment_id, state=dep.state)
        end_early(dep, AppError.CANCELLED_BY_USER)
        return Requested(dep.id, dep.project.name, dep.sha, dep.branch)


def enqueue_committed(deployment_ids: list[int]) -> list[int]:
    """Enqueue deployments whose rows are committed; returns the ids that could not be queued.

    A deployment that cannot be queued is failed at once, never left queued forever.
    """
    from slipway.queue import enqueue_deployment

    failed = []
    for dep_id in deployment_ids:
        try:
            enqueue_deployment(dep_id)
        except Exception:  # noqa: BLE001 - Redis down: record it on the deployment
            log.exception("could not enqueue deployment %s", dep_id)
            fail_deployment(dep_id, AppError.UNEXPECTED, ref=f"queue-{dep_id}")
            failed.append(dep_id)
    return failed


def fail_deployment(deployment_id: int, message_id: str, **params: object) -> bool:
    """Move a deployment that is not final to failed; True if it changed."""
    with session_scope() as session:
        dep = session.get(Deployment, deployment_id)
        if dep is None or dep.state_enum in FINAL_STATES:
            return False
        transition(dep, State.FAILED, message_id, render(message_id, **params))
        return True


def rollback_source(session: Session, project: Project) -> Deployment | None:
    """The production deployment before the one live now: what a rollback goes back to."""
    live = session.scalar(select(Deployment).where(
        Deployment.project_id == project.id, Deployment.pr_number.is_(None),
        Deployment.state == State.LIVE.value).order_by(Deployment.id.desc()).limit(1))
    older = select(Deployment).where(
        Deployment.project_id == project.id, Deployment.pr_number.is_(None),
        Deployment.state == State.SUPERSEDED.value, Deployment.image.is_not(None))
    if live is not None:
        older = older.where(Deployment.id < live.id, Deployment.image != live.image)
    return session.scalar(older.order_by(Deployment.id.desc()).limit(1))
