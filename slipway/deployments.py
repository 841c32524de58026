"""Creating, queueing and settling deployments."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from slipway.db import session_scope
from slipway.errors import render
from slipway.models import Deployment, Project
from slipway.projects import get_project_by_name
from slipway.states import FINAL_STATES, State
from slipway.validation import is_commit_sha, ref_name_problem, shown

log = logging.getLogger(__name__)


class DeployRequestError(Exception):
    """A deploy request that cannot be queued; the message says why."""


def create_deployment(session: Session, project: Project, sha: str, branch: str, trigger: str) -> Deployment:
    dep = Deployment(project=project, sha=sha, branch=branch, trigger=trigger, state=State.QUEUED.value)
    session.add(dep)
    session.flush()
    return dep


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
        dep.transition(State.CANCELLED)
        dep.error_id = "app:superseded"
        dep.error_message = render("app:superseded") + f" ({newer.short_sha}, deployment {newer.id})"
    return [dep.id for dep in older]


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
            fail_deployment(dep_id, "app:unexpected", ref=f"queue-{dep_id}")
            failed.append(dep_id)
    return failed


def fail_deployment(deployment_id: int, message_id: str, **params: object) -> bool:
    """Move a deployment that is not final to failed; True if it changed."""
    with session_scope() as session:
        dep = session.get(Deployment, deployment_id)
        if dep is None or dep.state_enum in FINAL_STATES:
            return False
        dep.transition(State.FAILED)
        dep.error_id = message_id
        dep.error_message = render(message_id, **params)
        return True


def request_deployment(project_name: str, sha: str | None = None, trigger: str = "cli") -> int:
    """Queue a deployment of a project's branch head (or ``sha``); returns its id.

    ``sha`` is a commit sha (7-40 hex digits, or 64) or a branch or tag name, which is
    resolved to its commit now; nothing else is accepted, so git never sees an option.
    """
    from builder.git import git_reason, ls_remote, ls_remote_head

    with session_scope() as session:
        project = get_project_by_name(session, project_name)
        if project is None:
            raise DeployRequestError(f"no project named {shown(project_name)}; see `slipway project list`")
        repo_url, branch = project.repo_url, project.branch
    if sha is not None and is_commit_sha(sha.lower()):
        sha = sha.lower()
    elif sha is not None:
        problem = ref_name_problem(sha.removeprefix("refs/"))
        if problem:
            raise DeployRequestError(render("deploy:user:bad-commit", value=shown(sha), reason=problem))
        candidates = [sha] if sha.startswith("refs/") else [f"refs/heads/{sha}", f"refs/tags/{sha}"]
        try:
            found = ls_remote(repo_url, candidates)
        except Exception as exc:  # noqa: BLE001 - git's own message is the useful part
            raise DeployRequestError(f"could not read {shown(sha)} from the repository: {git_reason(exc)}") from None
        resolved = next((found[ref] for ref in candidates if ref in found), None)
        if resolved is None:
            raise DeployRequestError(render("deploy:user:no-such-ref", value=shown(sha)))
        sha = resolved
    else:
        try:
            sha = ls_remote_head(repo_url, branch)
        except Exception as exc:  # noqa: BLE001 - git's own message is the useful part
            raise DeployRequestError(f"could not read {branch!r} from the repository: {git_reason(exc)}") from None
        if sha is None:
            raise DeployRequestError(f"the repository has no branch {branch!r}")
    with session_scope() as session:
        project = get_project_by_name(session, project_name)
        dep = create_deployment(session, project, sha, branch, trigger)
        dep_id = dep.id
    if enqueue_committed([dep_id]):
        raise DeployRequestError(f"deployment {dep_id} could not be queued: is Redis running?")
    return dep_id


def request_redeploy(source_id: int, trigger: str = "rollback") -> int:
    """Queue a deployment that runs the image ``source_id`` built, without building; returns its id."""
    with session_scope() as session:
        source = session.get(Deployment, source_id)
        if source is None:
            raise DeployRequestError(f"no deployment {source_id}")
        if not source.image:
            raise DeployRequestError(f"deployment {source_id} has no image to redeploy (it ended {source.state} "
                                     "before its image was pushed)")
        dep = Deployment(project=source.project, sha=source.sha, branch=source.branch, trigger=trigger,
                         state=State.QUEUED.value, image=source.image, environment=source.environment,
                         pr_number=source.pr_number)
        session.add(dep)
        session.flush()
        supersede_older(session, dep)
        dep_id = dep.id
    if enqueue_committed([dep_id]):
        raise DeployRequestError(f"deployment {dep_id} could not be queued: is Redis running?")
    return dep_id


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
