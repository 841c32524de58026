"""``installation`` and ``installation_repositories``: which repositories the App may build.

Each event updates the installation's rows, then ``reconcile`` disconnects the projects
that lost their repository (cancelling their unfinished deployments) and reconnects
those that got it back. The answer says what changed.
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from slipway.github import installations as inst
from slipway.github.events.outcome import Outcome

log = logging.getLogger(__name__)


def handle_installation(session: Session, payload: dict) -> Outcome:
    action = payload.get("action")
    if action not in ("created", "deleted", "suspend", "unsuspend", "new_permissions_accepted"):
        return Outcome(202, f"installation action {action!r} is not used by Slipway; ignored")
    try:
        installation = inst.upsert_installation(session, payload.get("installation"))
        repos = inst.repositories_of(payload, "repositories")
    except inst.PayloadError as exc:
        return Outcome(400, f"installation payload: {exc}")

    what = f"installation {installation.id} on {installation.account_login}"
    if action == "created":
        inst.mark_restored(installation)
        if "repositories" in payload:
            inst.replace_repositories(session, installation, repos)
            what += f" created with {_count(len(repos), 'repository', 'repositories')}"
        else:
            # GitHub lists the repositories in `created`; without them, keep what we knew.
            what += " created (the payload listed no repositories; refresh it on /github)"
    elif action == "deleted":
        inst.mark_deleted(session, installation)
        what += " deleted"
    elif action == "suspend":
        installation.suspended = True
        what += " suspended"
    elif action == "unsuspend":
        installation.suspended = False
        what += " unsuspended"
    else:
        what += " accepted new permissions"
    return Outcome(200, what + _changes(*inst.reconcile(session, installation)))


def handle_installation_repositories(session: Session, payload: dict) -> Outcome:
    action = payload.get("action")
    if action not in ("added", "removed"):
        return Outcome(202, f"installation_repositories action {action!r} is not used by Slipway; ignored")
    try:
        installation = inst.upsert_installation(session, payload.get("installation"))
        added = inst.repositories_of(payload, "repositories_added")
        removed = inst.repositories_of(payload, "repositories_removed")
    except inst.PayloadError as exc:
        return Outcome(400, f"installation_repositories payload: {exc}")

    parts = []
    if added:
        parts.append("added " + ", ".join(inst.add_repositories(session, installation, added)))
    if removed:
        parts.append("removed " + ", ".join(inst.remove_repositories(session, installation, removed)))
    what = f"installation {installation.id} on {installation.account_login}: " + ("; ".join(parts) or "no change")
    return Outcome(200, what + _changes(*inst.reconcile(session, installation)))


def _changes(disconnected: list[str], reconnected: list[str]) -> str:
    out = ""
    if disconnected:
        log.info("github: projects disconnected: %s", ", ".join(disconnected))
        out += f"; disconnected {', '.join(disconnected)}"
    if reconnected:
        out += f"; reconnected {', '.join(reconnected)}"
    return out


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"
