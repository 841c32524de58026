"""A project's environment variables: given to the running app, encrypted at rest.

They reach the app at run time only. They are not build arguments: those end up in the
image's history, which the registry (and, on Akash, a provider) keeps.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from slipway.crypto import decrypt, encrypt
from slipway.models import EnvVar, Project
from slipway.validation import is_env_name, shown

# Set by Slipway itself for every app.
RESERVED = frozenset({"PORT", "HOST"})


def check_name(name: str) -> None:
    if not is_env_name(name):
        raise ValueError(f"{shown(name)} is not a valid variable name: letters, digits and _, not starting with a digit")
    if name in RESERVED:
        raise ValueError(f"{name} is set by Slipway for every app and cannot be changed")


def set_vars(session: Session, project: Project, values: dict[str, str]) -> None:
    """Add or replace variables (all names are checked before any is written)."""
    for name in values:
        check_name(name)
    existing = {v.name: v for v in project.env_vars}
    for name, value in values.items():
        if name in existing:
            existing[name].value_enc = encrypt(value)
        else:
            session.add(EnvVar(project=project, name=name, value_enc=encrypt(value)))
    session.flush()


def unset_vars(session: Session, project: Project, names: list[str]) -> list[str]:
    """Remove variables; returns the names that were not set."""
    existing = {v.name: v for v in project.env_vars}
    missing = [n for n in names if n not in existing]
    for name in names:
        if name in existing:
            session.delete(existing[name])
    session.flush()
    return missing


def names(session: Session, project_id: int) -> list[str]:
    return list(session.scalars(select(EnvVar.name).where(EnvVar.project_id == project_id).order_by(EnvVar.name)))


def decrypted(session: Session, project_id: int) -> dict[str, str]:
    """The values, for the deploy step only: never logged, never passed to a job."""
    rows = session.scalars(select(EnvVar).where(EnvVar.project_id == project_id))
    return {row.name: decrypt(row.value_enc) for row in rows}
