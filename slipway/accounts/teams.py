"""Teams: create one (its creator owns it), add or change members by GitHub login, give it projects."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from slipway.accounts.access import Actor, Role
from slipway.accounts.models import Membership, Team, TeamProject, User
from slipway.errors import UserError
from slipway.models import Project

SLUG_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?")
LOGIN_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})")


class TeamError(UserError):
    """What to fix in a team request."""


def by_slug(session: Session, slug: str) -> Team | None:
    return session.scalar(select(Team).where(Team.slug == slug))


def role_in(actor: Actor, team: Team) -> Role | None:
    return Role.OWNER if actor.is_admin else actor.team_roles.get(team.id)


def visible(session: Session, actor: Actor) -> list[Team]:
    query = select(Team).order_by(Team.slug)
    if not actor.is_admin:
        query = query.where(Team.id.in_(list(actor.team_roles) or [-1]))
    return list(session.scalars(query))


def create(session: Session, actor: Actor, slug: str, name: str | None = None) -> Team:
    if not SLUG_RE.fullmatch(slug or ""):
        raise TeamError(UserError.TEAM_SLUG, value=slug)
    if by_slug(session, slug) is not None:
        raise TeamError(UserError.TEAM_EXISTS, slug=slug)
    team = Team(slug=slug, name=(name or slug).strip()[:100] or slug)
    session.add(team)
    session.flush()
    if not actor.is_admin:
        session.add(Membership(team_id=team.id, user_id=actor.user_id, role=Role.OWNER.value))
    return team


def set_member(session: Session, team: Team, login: str, role: str | None) -> User:
    """Add a user by GitHub login, change their role, or (``role`` None) remove them."""
    if not LOGIN_RE.fullmatch(login or ""):
        raise TeamError(UserError.TEAM_LOGIN, value=login)
    if role is not None and role not in {r.value for r in Role}:
        raise TeamError(UserError.TEAM_ROLE, roles=", ".join(r.value for r in Role), value=role)
    user = session.scalar(select(User).where(User.login == login).order_by(User.github_id.is_(None)))
    if user is None:
        user = User(login=login)  # linked to their GitHub account when they first sign in
        session.add(user)
        session.flush()
    membership = session.scalar(select(Membership).where(Membership.team_id == team.id,
                                                         Membership.user_id == user.id))
    if role is None:
        if membership is not None:
            session.delete(membership)
    elif membership is None:
        session.add(Membership(team_id=team.id, user_id=user.id, role=role))
    else:
        membership.role = role
    session.flush()
    owners = session.scalar(select(Membership.id).where(Membership.team_id == team.id,
                                                        Membership.role == Role.OWNER.value).limit(1))
    members = session.scalar(select(Membership.id).where(Membership.team_id == team.id).limit(1))
    if owners is None and members is not None:  # an empty team is the operator's to fill
        raise TeamError(UserError.TEAM_LAST_OWNER)
    return user


def assign(session: Session, project: Project, team: Team | None) -> None:
    """Give the project to a team (or to none: then only GitHub access and the admin reach it)."""
    current = session.get(TeamProject, project.id)
    if team is None:
        if current is not None:
            session.delete(current)
    elif current is None:
        session.add(TeamProject(project_id=project.id, team_id=team.id))
    else:
        current.team_id = team.id
    session.flush()


def team_of(session: Session, project_id: int) -> Team | None:
    return session.scalar(select(Team).join(TeamProject, TeamProject.team_id == Team.id)
                          .where(TeamProject.project_id == project_id))
