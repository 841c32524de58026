"""``push``: a commit on a tracked branch becomes a production deployment."""

from __future__ import annotations

import re

from sqlalchemy.orm import Session

from builder.plan.config import watched
from slipway.deployments import PushedCommit, request_deployment
from slipway.github.events.outcome import Outcome, Presumed
from slipway.github.installations import split_connected
from slipway.projects import PUSH_DEPLOYED, projects_for_push

ZERO_SHA = "0" * 40


def is_sha(value: object) -> bool:
    return isinstance(value, str) and _SHA.fullmatch(value) is not None


_SHA = re.compile(r"[0-9a-f]{40}")  # a regex: checking each character in Python showed in every push's cost


def handle(session: Session, payload: dict) -> Outcome:
    checked = _checked(payload)
    if isinstance(checked, Outcome):
        return checked
    full_name, branch, after = checked
    projects, disconnected = split_connected(projects_for_push(session, full_name, branch))
    if not projects:
        return _builds_nothing(full_name, branch, disconnected)
    changed = changed_paths(payload)
    ids, replaced, deployed, skipped = [], [], [], []
    for p in projects:
        if changed is not None and not watched(p.watch_paths, changed):
            skipped.append(f"{p.name}: no change under its watch paths ({', '.join(p.watch_paths)[:100]})")
            continue
        requested = request_deployment(p, PushedCommit(after, branch, *_head_commit(payload)), "push",
                                       session=session)
        replaced += requested.replaced
        ids.append(requested.deployment_id)
        deployed.append(p.name)
    message = f"queued deployment of {after[:7]} for {', '.join(deployed)}" if deployed else \
        f"not deployed: {after[:7]} changes nothing a project watches"
    if skipped:
        message += "; skipped " + "; ".join(skipped)
    return Outcome(202, message[:500], ids, report_ids=ids + replaced)


# GitHub lists at most this many commits in a push event; a longer push may change files it does not name.
MAX_LISTED_COMMITS = 20


def changed_paths(payload: dict) -> set[str] | None:
    """The paths a push changed, from its commits' file lists; None when the payload cannot tell
    (no commits listed, too many to list, or lists in another shape): then every project builds."""
    commits = payload.get("commits")
    if not isinstance(commits, list) or not commits or len(commits) >= MAX_LISTED_COMMITS:
        return None
    paths: set[str] = set()
    for commit in commits:
        if not isinstance(commit, dict):
            return None
        for key in ("added", "removed", "modified"):
            files = commit.get(key)
            if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
                return None
            paths.update(files)
    return paths


def _head_commit(payload: dict) -> tuple[str | None, str | None]:
    """The pushed head commit's message and author name, as GitHub's push payload carries them."""
    head = payload.get("head_commit") if isinstance(payload.get("head_commit"), dict) else {}
    author = head.get("author") if isinstance(head.get("author"), dict) else {}
    message, name = head.get("message"), author.get("name") or author.get("username")
    return (message if isinstance(message, str) else None, name if isinstance(name, str) else None)


def presumed(payload: dict) -> Presumed:
    """What a push comes to unless some project deploys its branch: most pushes build nothing.

    The receiver records it in the statement that checks the proviso (``webhooks/github.py``);
    a push to a deployed branch, even one whose projects are all disconnected, goes to ``handle``.
    """
    checked = _checked(payload)
    if isinstance(checked, Outcome):
        return Presumed(checked)
    full_name, branch, _after = checked
    return Presumed(_builds_nothing(full_name, branch, []), unless=PUSH_DEPLOYED,
                    params={"repo": full_name.lower(), "branch": branch})


def _checked(payload: dict) -> Outcome | tuple[str, str, str]:
    """``(repository, branch, sha)`` of a push that may build, or the outcome of one that cannot."""
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
    return full_name, branch, after


def _builds_nothing(full_name: str, branch: str, disconnected: list) -> Outcome:
    if not disconnected:
        return Outcome(202, f"no project deploys {full_name} branch {branch}")
    return Outcome(202, "not deployed: " + "; ".join(f"{p.name}: {p.disconnected_reason}" for p in disconnected))
