"""The one access check: ``require(actor, project, action)``.

Every page, log stream, API route and action asks it (web/access.py's ``guard`` does, for every
route). A project the actor has no role on answers 404, exactly as a project that does not exist,
so nobody learns another team's project names; a role too small for the action answers 403.

An actor's role on a project is the best of:
- its team's role, when the project belongs to a team the actor is in (owner, member, viewer);
- its access to the project's GitHub repository, as GitHub tells the user's own token
  (admin: owner; maintain or push: member; triage or pull: viewer);
- owner of everything, for the local admin.
An API token narrows that to its scope (read, deploy, admin).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, object_session

from slipway.accounts.models import Membership, TeamProject
from slipway.errors import UserError, render
from slipway.models import Project


class Role(StrEnum):
    OWNER = "owner"
    MEMBER = "member"
    VIEWER = "viewer"


class Action(StrEnum):
    VIEW = "view"  # see the project, its deployments and their logs
    DEPLOY = "deploy"  # deploy, redeploy (roll back), cancel
    SETTINGS = "settings"  # see and change settings, variables, deploy tokens and hooks, domains
    MANAGE = "manage"  # move the project between teams, delete it


class Site(StrEnum):
    """What is not about one project."""

    SIGNED_IN = "signed-in"  # anyone signed in: their own project list, tokens, teams
    OPERATOR = "operator"  # the local admin only: the GitHub App's setup, every installation


class Scope(StrEnum):
    """What an API token may do, at most (never more than its user's role)."""

    READ = "read"
    DEPLOY = "deploy"
    ADMIN = "admin"


ROLE_ACTIONS: dict[Role, frozenset[Action]] = {
    Role.OWNER: frozenset(Action),
    Role.MEMBER: frozenset({Action.VIEW, Action.DEPLOY, Action.SETTINGS}),
    Role.VIEWER: frozenset({Action.VIEW}),
}
SCOPE_ACTIONS: dict[Scope, frozenset[Action]] = {
    Scope.READ: frozenset({Action.VIEW}),
    Scope.DEPLOY: frozenset({Action.VIEW, Action.DEPLOY}),
    Scope.ADMIN: frozenset(Action),
}
_RANK = {Role.VIEWER: 0, Role.MEMBER: 1, Role.OWNER: 2}


class AccessDenied(Exception):
    """404: the actor may not know the project exists; 403: it may see it, not do this."""

    def __init__(self, status: int, message_id: str, **params: object):
        super().__init__(render(message_id, **params))
        self.status = status
        self.message_id = message_id


def role_for_github_permissions(permissions: dict[str, bool] | None) -> Role | None:
    """A repository's ``permissions`` as GitHub lists them for the user -> the user's role here."""
    p = permissions or {}
    if p.get("admin"):
        return Role.OWNER
    if p.get("maintain") or p.get("push"):
        return Role.MEMBER
    if p.get("triage") or p.get("pull"):
        return Role.VIEWER
    return None


@dataclass
class Actor:
    """Who is asking: the local admin, or a user (through a browser session or one of their tokens)."""

    kind: str  # "admin" or "user"
    user_id: int | None = None
    login: str | None = None
    token_id: int | None = None
    scope: Scope | None = None  # None: a browser session, limited by the role only
    team_roles: dict[int, Role] = field(default_factory=dict)  # team id -> role
    # Lower-cased "owner/name" -> role, asked of GitHub through the user's token (cached briefly);
    # called at most once per actor, and only when a GitHub project is at stake.
    github_roles: Callable[[], dict[str, Role]] = field(default=dict, repr=False)
    _github: dict[str, Role] | None = field(default=None, repr=False)

    @classmethod
    def admin(cls, token_id: int | None = None, scope: Scope | None = None) -> Actor:
        return cls("admin", login="admin", token_id=token_id, scope=scope)

    @property
    def is_admin(self) -> bool:
        return self.kind == "admin"

    @property
    def label(self) -> str:
        """How the audit log names it; never a secret."""
        who = "admin" if self.is_admin else f"github:{self.login}"
        return f"{who} (token {self.token_id})" if self.token_id else who

    def repo_roles(self) -> dict[str, Role]:
        if self._github is None:
            self._github = self.github_roles() if not self.is_admin else {}
        return self._github

    def allows(self, action: Action) -> bool:
        """Whether the actor's token scope (if any) allows the action at all."""
        return self.scope is None or action in SCOPE_ACTIONS[self.scope]


def team_roles(session: Session, user_id: int) -> dict[int, Role]:
    rows = session.execute(select(Membership.team_id, Membership.role).where(Membership.user_id == user_id))
    return {team_id: Role(role) for team_id, role in rows}


def role(actor: Actor, project: Project, session: Session | None = None) -> Role | None:
    """The actor's role on the project, or None when it has none (the project is hidden)."""
    if actor.is_admin:
        return Role.OWNER
    session = session or object_session(project)
    roles: list[Role] = []
    team_id = session.scalar(select(TeamProject.team_id).where(TeamProject.project_id == project.id))
    if team_id is not None and team_id in actor.team_roles:
        roles.append(actor.team_roles[team_id])
    if project.github_repo:
        github = actor.repo_roles().get(project.github_repo.lower())
        if github is not None:
            roles.append(github)
    return max(roles, key=_RANK.__getitem__) if roles else None


def require(actor: Actor, project: Project | None, action: Action, session: Session | None = None) -> Role:
    """The check. Raises AccessDenied (404 unseen, 403 too small a role or token scope); returns the role."""
    found = role(actor, project, session) if project is not None else None
    if found is None:
        raise AccessDenied(404, UserError.ACCESS_NOT_FOUND)
    if action not in ROLE_ACTIONS[found]:
        raise AccessDenied(403, UserError.ACCESS_ROLE, role=found.value, action=action.value)
    if not actor.allows(action):
        raise AccessDenied(403, UserError.ACCESS_SCOPE, scope=actor.scope.value, action=action.value)
    return found


def can(actor: Actor, project: Project, action: Action, session: Session | None = None) -> bool:
    try:
        require(actor, project, action, session)
    except AccessDenied:
        return False
    return True


def require_site(actor: Actor, what: Site) -> None:
    """Pages and routes that are about no single project; the operator's answer 404 to others."""
    if what is Site.OPERATOR and not actor.is_admin:
        raise AccessDenied(404, UserError.ACCESS_NOT_FOUND)


def visible_projects(actor: Actor):
    """A condition on Project: the projects the actor may see (use in ``select(Project).where(...)``)."""
    if actor.is_admin:
        return Project.id.is_not(None)
    conditions = []
    if actor.team_roles:
        conditions.append(Project.id.in_(select(TeamProject.project_id)
                                          .where(TeamProject.team_id.in_(list(actor.team_roles)))))
    repos = list(actor.repo_roles())
    if repos:
        conditions.append(func.lower(Project.github_repo).in_(repos))
    return or_(*conditions) if conditions else Project.id.is_(None)


def require_team(actor: Actor, team, manage: bool = False) -> None:
    """A team's page and members: its members see it (others get 404), its owners change it (403)."""
    if team is None:
        raise AccessDenied(404, UserError.ACCESS_NOT_FOUND)
    found = Role.OWNER if actor.is_admin else actor.team_roles.get(team.id)
    if found is None:
        raise AccessDenied(404, UserError.ACCESS_NOT_FOUND)
    if manage and found is not Role.OWNER:
        raise AccessDenied(403, UserError.ACCESS_TEAM_OWNER)
    if manage and not actor.allows(Action.MANAGE):
        raise AccessDenied(403, UserError.ACCESS_SCOPE, scope=actor.scope.value, action=Action.MANAGE.value)
