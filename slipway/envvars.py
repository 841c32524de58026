"""A project's environment variables: encrypted at rest, secrets all, each with a scope.

The scope says who gets a variable: the running app (``runtime``, the default), the build
(``build``), or both. A build gets its variables as build arguments of the Dockerfile's build
stages only, never of the final stage the image is made of (``builder.buildargs``): the classic
builder writes a stage's build arguments into its image's history, which the registry (and, on
Akash, a provider) keeps.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from slipway.crypto import decrypt, encrypt
from slipway.models import EnvVar, Project
from slipway.validation import is_env_name, shown

# Set by Slipway itself for every app.
RESERVED = frozenset({"PORT", "HOST"})

RUNTIME = "runtime"
BUILD = "build"
BOTH = "both"
SCOPES = (RUNTIME, BUILD, BOTH)


def check_name(name: str) -> None:
    if not is_env_name(name):
        raise ValueError(f"{shown(name)} is not a valid variable name: letters, digits and _, not starting with a digit")
    if name in RESERVED:
        raise ValueError(f"{name} is set by Slipway for every app and cannot be changed")


def check_scope(scope: str) -> None:
    if scope not in SCOPES:
        raise ValueError(f"{shown(scope)} is not a scope: give runtime (the running app), build (the build) or both")


def set_vars(session: Session, project: Project, values: dict[str, str], scope: str | None = None) -> None:
    """Add or replace variables (all names are checked before any is written).

    ``scope`` None keeps a replaced variable's scope (a new one is the running app's).
    """
    for name in values:
        check_name(name)
    if scope is not None:
        check_scope(scope)
    existing = {v.name: v for v in project.env_vars}
    for name, value in values.items():
        if name in existing:
            existing[name].value_enc = encrypt(value)
            if scope is not None:
                existing[name].scope = scope
        else:
            session.add(EnvVar(project=project, name=name, value_enc=encrypt(value), scope=scope or RUNTIME))
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


def scopes(session: Session, project_id: int) -> dict[str, str]:
    """Each variable's scope, by name (what the CLI and the dashboard show: never a value)."""
    rows = session.execute(select(EnvVar.name, EnvVar.scope).where(EnvVar.project_id == project_id)
                           .order_by(EnvVar.name))
    return {name: scope for name, scope in rows}


def decrypted(session: Session, project_id: int, *, build: bool | None = None) -> dict[str, str]:
    """The values, for the job only: never logged, never passed to a job.

    ``build`` None: every variable; False: the running app's (runtime and both); True: the build's
    (build and both).
    """
    query = select(EnvVar).where(EnvVar.project_id == project_id)
    if build is not None:
        query = query.where(EnvVar.scope.in_((BUILD if build else RUNTIME, BOTH)))
    return {row.name: decrypt(row.value_enc) for row in session.scalars(query)}
