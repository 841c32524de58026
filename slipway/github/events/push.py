"""``push``: a commit on a tracked branch becomes a production deployment."""

from __future__ import annotations

from sqlalchemy.orm import Session

from slipway.deployments import PushedCommit, request_deployment
from slipway.github.installations import split_connected
from slipway.projects import projects_for_push
from webhooks.outcome import Outcome

ZERO_SHA = "0" * 40


def is_sha(value: object) -> bool:
    return isinstance(value, str) and len(value) == 40 and all(c in "0123456789abcdef" for c in value)


def handle(session: Session, payload: dict) -> Outcome:
    ref = payload.get("ref")
    repo = payload.get("repository") if isinstance(payload.get("repository"), dict) else {}
    full_name = repo.get("full_name")
    after = payload.get("after")
    if not isinstance(ref, str) or not isinstance(full_name, str):
        return Outcome(400, "push payload needs 'ref' and 'repository.full_name'")
    if not ref.startswith("refs/heads/"):
        return Outcome(202, f"{ref} is not a branch; only branch pushes deploy")
    branch = ref.removeprefix("refs/heads/")
    if payload.get("deleted") or after == ZERO_SHA:
        return Outcome(200, f"branch {branch} was deleted; nothing to build")
    if not is_sha(after):
        return Outcome(400, "push payload 'after' must be a 40-character commit sha")
    projects = projects_for_push(session, full_name, branch)
    if not projects:
        return Outcome(202, f"no project deploys {full_name} branch {branch}")
    projects, disconnected = split_connected(projects)
    if not projects:
        return Outcome(202, "not deployed: " + "; ".join(f"{p.name}: {p.disconnected_reason}" for p in disconnected))
    ids, replaced = [], []
    for p in projects:
        requested = request_deployment(p, PushedCommit(after, branch), "push", session=session)
        replaced += requested.replaced
        ids.append(requested.deployment_id)
    names = ", ".join(p.name for p in projects)
    return Outcome(202, f"queued deployment of {after[:7]} for {names}", ids, report_ids=ids + replaced)
