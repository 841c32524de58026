"""Fixtures: GitHub (the stand-in, with people who sign in), two teams with their projects, and
browsers or API clients acting as each person."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from slipway.accounts import teams
from slipway.accounts.access import Actor
from slipway.accounts.models import User
from slipway.db import session_scope
from slipway.models import Deployment, Installation, InstallationRepository, Project
from slipway.settings import set_settings
from tests.github.standin import GitHubStandIn
from tests.support.github import ACCOUNT, INSTALLATION_ID, REPO
from tests.support.web import dashboard_app

OTHER_REPO = "octo-org/other"


@pytest.fixture
def github():
    """GitHub with the App installed on octo-org (hello, other) and three people:
    alice may push to hello, bob may read it, carol reaches neither."""
    with GitHubStandIn() as standin:
        standin.add_installation(INSTALLATION_ID, ACCOUNT, [REPO, OTHER_REPO])
        standin.add_user("alice", {REPO: "push"}, name="Alice")
        standin.add_user("bob", {REPO: "pull"})
        standin.add_user("carol", {})
        yield standin
    assert not standin.errors, standin.errors


@pytest.fixture
def gh_settings(settings, github):
    """Slipway with the stand-in's App as its OAuth client."""
    s = replace(settings, github_client_id=github.client_id, github_client_secret=github.client_secret,
                github_url=github.url, github_api_url=github.url)
    github.callback_urls = [f"{s.public_url.rstrip('/')}/login/github/callback"]
    set_settings(s)
    return s


@pytest.fixture
def gh_app(gh_settings):
    return dashboard_app(gh_settings)


@pytest.fixture
def github_projects(gh_settings):
    """Two projects connected through the App: one on hello, one on other."""
    with session_scope() as s:
        inst = Installation(id=INSTALLATION_ID, account_login=ACCOUNT, account_type="Organization")
        for i, name in enumerate((REPO, OTHER_REPO)):
            inst.repositories.append(InstallationRepository(repo_id=100 + i, full_name=name, private=True))
        s.add(inst)
        s.add(Project(name="hello-app", repo_url="https://github.com/octo-org/hello.git", github_repo=REPO,
                      installation_id=INSTALLATION_ID))
        s.add(Project(name="other-app", repo_url="https://github.com/octo-org/other.git", github_repo=OTHER_REPO,
                      installation_id=INSTALLATION_ID))
    return ("hello-app", "other-app")


@dataclass
class World:
    """Team red (owner, member, viewer) and team blue (member), each with a git-push project and a
    finished deployment that has an image."""

    red_project: str
    blue_project: str
    red_deployment: int
    blue_deployment: int
    users: dict[str, int]


@pytest.fixture
def two_teams(settings) -> World:
    users: dict[str, int] = {}
    deployments: dict[str, int] = {}
    with session_scope() as s:
        for login in ("red-owner", "red-member", "red-viewer", "blue-member"):
            user = User(login=login, github_id=len(users) + 9000)
            s.add(user)
            s.flush()
            users[login] = user.id
        for color in ("red", "blue"):
            team = teams.create(s, Actor.admin(), color)
            project = Project(name=f"{color}-app", repo_url=f"http://127.0.0.1:1/git/{color}-app.git")
            s.add(project)
            s.flush()
            teams.assign(s, project, team)
            dep = Deployment(project_id=project.id, sha="a" * 40, branch="main", trigger="git", state="failed",
                             image=f"127.0.0.1:5000/{color}-app:aaaaaaa")
            s.add(dep)
            s.flush()
            deployments[color] = dep.id
        red, blue = teams.by_slug(s, "red"), teams.by_slug(s, "blue")
        teams.set_member(s, red, "red-owner", "owner")
        teams.set_member(s, red, "red-member", "member")
        teams.set_member(s, red, "red-viewer", "viewer")
        teams.set_member(s, blue, "blue-member", "owner")
    return World("red-app", "blue-app", deployments["red"], deployments["blue"], users)


@pytest.fixture
def browser_as(app):
    """A test client signed in as the user with this login (sessions as GitHub sign-in opens them)."""
    from web.auth import SESSION_KEY, sessions

    def make(login: str, world: World):
        client = app.test_client()
        with client.session_transaction() as session:
            session[SESSION_KEY] = sessions(app).begin(world.users[login])
            session["csrf"] = "test-csrf-token"
        return client

    return make


@pytest.fixture
def cli_settings(settings, server, tmp_path):
    """The CLI's settings: its own login file (the server keeps the settings it started with)."""
    s = replace(settings, cli_login_file=str(tmp_path / "cli" / "login.json"))
    set_settings(s)
    return s
