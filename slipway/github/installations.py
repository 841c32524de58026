"""Which repositories the GitHub App may build, and which projects that leaves connected.

GitHub tells us through ``installation`` and ``installation_repositories`` events (and,
on request, ``GET /installation/repositories``). After every change to an installation,
``reconcile`` recomputes its projects: a project whose repository the App can no longer
reach is *disconnected* (``Project.disconnected_reason`` says why, its unfinished
deployments are cancelled, and pushes build nothing) until the repository is granted
again, by the same installation or by a new one after a reinstall.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from slipway.errors import AppError, render
from slipway.models import Deployment, Installation, InstallationRepository, Project, utcnow
from slipway.states import FINAL_STATES, State, transition
from slipway.validation import is_int_id, shown

REASON_MAX = 300  # Project.disconnected_reason's column size


# -- reading ------------------------------------------------------------------

def connected(project: Project) -> bool:
    """True if pushes to the project may build: it was never cut off from its repository."""
    return project.disconnected_reason is None


def disconnection_reason(project: Project) -> str | None:
    """Why the project cannot build, in the user's words; None when it can."""
    return project.disconnected_reason


def split_connected(projects: Iterable[Project]) -> tuple[list[Project], list[Project]]:
    """``(connected, disconnected)``, each in the given order."""
    projects = list(projects)
    return [p for p in projects if connected(p)], [p for p in projects if not connected(p)]


def active_installations(session: Session) -> list[Installation]:
    return list(session.scalars(
        select(Installation).where(Installation.deleted_at.is_(None)).order_by(Installation.account_login)
    ))


def installation_granting(session: Session, full_name: str) -> Installation | None:
    """The installation (not deleted) that grants repository ``full_name`` (owner/name, any case), or None.

    A repository granted by two installations (an old suspended one and a new one) is given by the usable one.
    """
    found = session.scalars(
        select(Installation).join(InstallationRepository)
        .where(Installation.deleted_at.is_(None), func.lower(InstallationRepository.full_name) == full_name.lower())
        .order_by(Installation.suspended, Installation.id.desc())
    ).first()
    return found


# -- recording what GitHub says -------------------------------------------------

class PayloadError(ValueError):
    """The payload does not have the shape GitHub documents; the message says what is missing."""


def upsert_installation(session: Session, data: Any) -> Installation:
    """The row for ``data`` (a payload's ``installation`` object), created or refreshed."""
    if not isinstance(data, dict) or "id" not in data:
        raise PayloadError("payload needs 'installation.id'")
    if not is_int_id(data["id"]):
        raise PayloadError(f"'installation.id' must be a positive integer below 2^63, not {shown(str(data['id']))}")
    account = data.get("account") if isinstance(data.get("account"), dict) else {}
    # Enterprise installations have an account without a login; fall back to its slug or name.
    login = account.get("login") or account.get("slug") or account.get("name") or f"installation {data['id']}"
    installation = session.get(Installation, data["id"])
    if installation is None:
        installation = Installation(id=data["id"], account_login=str(login)[:200], suspended=False)
        session.add(installation)
    installation.account_login = str(login)[:200]
    installation.account_type = str(account.get("type") or "User")[:40]
    if "suspended_at" in data:
        installation.suspended = data["suspended_at"] is not None
    session.flush()
    return installation


def repositories_of(payload: dict, key: str) -> list[dict]:
    """``payload[key]`` as repository objects with an id and a full name (others are refused)."""
    repos = payload.get(key)
    if not isinstance(repos, list):
        return []
    for repo in repos:
        if not isinstance(repo, dict) or "id" not in repo or not isinstance(repo.get("full_name"), str):
            raise PayloadError(f"every entry of '{key}' needs 'id' and 'full_name'")
        if not is_int_id(repo["id"]):
            raise PayloadError(f"every 'id' in '{key}' must be a positive integer below 2^63, "
                               f"not {shown(str(repo['id']))}")
    return repos


def add_repositories(session: Session, installation: Installation, repos: Iterable[dict]) -> list[str]:
    """Record that ``installation`` grants ``repos``; returns their full names."""
    rows = {row.repo_id: row for row in installation.repositories}
    names = []
    for repo in repos:
        row = rows.get(repo["id"])
        if row is None:
            row = InstallationRepository(repo_id=repo["id"], full_name=repo["full_name"])
            installation.repositories.append(row)
            rows[repo["id"]] = row
        row.full_name = repo["full_name"]  # renames keep the id
        row.private = bool(repo.get("private", row.private))
        names.append(repo["full_name"])
    session.flush()
    return names


def remove_repositories(session: Session, installation: Installation, repos: Iterable[dict]) -> list[str]:
    """Record that ``installation`` no longer grants ``repos``; returns their full names."""
    gone = {repo["id"]: repo["full_name"] for repo in repos}
    for row in list(installation.repositories):
        if row.repo_id in gone:
            installation.repositories.remove(row)
    session.flush()
    return list(gone.values())


def replace_repositories(session: Session, installation: Installation, repos: list[dict]) -> list[str]:
    """Make ``repos`` the installation's whole list (its ``created`` event, or a refresh)."""
    keep = {repo["id"] for repo in repos}
    remove_repositories(session, installation, [
        {"id": row.repo_id, "full_name": row.full_name} for row in installation.repositories if row.repo_id not in keep
    ])
    return add_repositories(session, installation, repos)


def mark_deleted(session: Session, installation: Installation) -> None:
    installation.deleted_at = utcnow()
    installation.repositories.clear()
    session.flush()


def mark_restored(installation: Installation) -> None:
    """An installation GitHub says exists again (a ``created`` for a known id)."""
    installation.deleted_at = None


# -- connecting and disconnecting projects ---------------------------------------

def reconcile(session: Session, installation: Installation, when: datetime | None = None) -> tuple[list[str], list[str]]:
    """Bring the connection of every project this installation concerns up to date.

    Returns ``(disconnected, reconnected)`` project names. A project is concerned if it
    belongs to the installation, or if it is a disconnected project whose repository
    the installation now grants (a reinstall creates a new installation id).
    """
    when = when or utcnow()
    granted = {row.full_name.lower() for row in installation.repositories}
    usable = installation.deleted_at is None and not installation.suspended
    disconnected, reconnected = [], []
    for project in _concerned_projects(session, installation, granted):
        repo = (project.github_repo or "").lower()
        if usable and repo in granted:
            if project.installation_id != installation.id or not connected(project):
                was_disconnected = not connected(project)
                project.installation_id = installation.id
                project.disconnected_reason = None
                if was_disconnected:
                    reconnected.append(project.name)
        elif project.installation_id == installation.id and connected(project):
            disconnect(session, project, _reason(installation, project.github_repo or project.name, when))
            disconnected.append(project.name)
    session.flush()
    return disconnected, reconnected


def _concerned_projects(session: Session, installation: Installation, granted: set[str]) -> list[Project]:
    clauses = [Project.installation_id == installation.id]
    if granted:
        orphaned = select(Project).where(
            Project.disconnected_reason.is_not(None),
            func.lower(Project.github_repo).in_(granted),
        )
        candidates = [p for p in session.scalars(orphaned) if not _still_granted_elsewhere(session, p, installation)]
        clauses.append(Project.id.in_([p.id for p in candidates]))
    return list(session.scalars(select(Project).where(or_(*clauses)).order_by(Project.name)))


def _still_granted_elsewhere(session: Session, project: Project, installation: Installation) -> bool:
    """Whether the project's own (other) installation is usable and grants its repository.

    Such a project was disconnected for another reason and is not ours to move.
    """
    if project.installation_id in (None, installation.id):
        return False
    own = session.get(Installation, project.installation_id)
    if own is None or own.deleted_at is not None or own.suspended:
        return False
    return any(row.full_name.lower() == (project.github_repo or "").lower() for row in own.repositories)


def _reason(installation: Installation, repo: str, when: datetime) -> str:
    stamp = when.strftime("%Y-%m-%d %H:%M UTC")
    if installation.deleted_at is not None:
        text = (f"The GitHub App was uninstalled from {installation.account_login} "
                f"(installation {installation.id} deleted on {stamp}); install it again to deploy {repo}.")
    elif installation.suspended:
        text = (f"The GitHub App's installation on {installation.account_login} is suspended "
                f"(installation {installation.id}, since {stamp}); unsuspend it to deploy {repo}.")
    else:
        text = (f"The GitHub App no longer has access to {repo} "
                f"(removed from installation {installation.id} on {stamp}); add the repository to the installation again.")
    return text[:REASON_MAX]


def disconnect(session: Session, project: Project, reason: str) -> list[int]:
    """Cut the project off its repository and cancel its unfinished deployments; returns their ids.

    Cancelled in this session (the caller's transaction), so the webhook's delivery record
    and the cancellations commit together. A running job stops at its next step.
    """
    project.disconnected_reason = reason[:REASON_MAX]
    unfinished = session.scalars(
        select(Deployment).where(
            Deployment.project_id == project.id,
            Deployment.state.not_in([s.value for s in FINAL_STATES]),
        )
    ).all()
    for dep in unfinished:
        transition(dep, State.CANCELLED, AppError.CANCELLED, f"{render(AppError.CANCELLED)} {reason}")
    return [dep.id for dep in unfinished]
