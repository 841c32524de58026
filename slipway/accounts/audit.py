"""The audit log: who did what to which project, written in the same transaction as the change.

Details are plain values the caller chooses (a variable's name, a deployment id), never a secret:
``record`` refuses keys that name one.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from slipway.accounts.access import Actor
from slipway.accounts.models import AuditEntry
from slipway.models import Project

# What is recorded; the dashboard and the API show these names.
ACTIONS = frozenset({
    "deploy", "redeploy", "rollback", "cancel", "settings.akash", "settings.project", "env.set", "env.unset",
    "project.token", "project.hook", "project.create", "project.delete", "project.team", "domain.add",
    "domain.remove", "api-token.create", "api-token.revoke", "team.create", "team.member",
    "notification.add", "notification.remove",
})
_SECRET_KEYS = ("value", "token", "secret", "password")
CLI = Actor("admin", login="cli")  # commands run on the Slipway machine itself


def record(session: Session, actor: Actor, action: str, project: Project | None = None, **detail: object) -> AuditEntry:
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    if any(key.lower().endswith(_SECRET_KEYS) for key in detail):
        raise ValueError("audit details never hold secrets")
    label = "cli" if actor is CLI else actor.label
    entry = AuditEntry(actor=label, user_id=actor.user_id, action=action,
                       project_id=project.id if project is not None else None,
                       project_name=project.name if project is not None else None, detail=detail or None)
    session.add(entry)
    return entry


def entries(session: Session, project_id: int | None = None, limit: int = 100) -> list[AuditEntry]:
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if project_id is not None:
        query = query.where(AuditEntry.project_id == project_id)
    return list(session.scalars(query))
