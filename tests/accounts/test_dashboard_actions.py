"""The dashboard's project actions as team members see them: creating a project lands it in one of
the creator's teams, variables stay write-only, deleting needs the name typed and the owner's role,
and each action is in the audit log."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from slipway.accounts.models import AuditEntry, TeamProject
from slipway.db import session_scope
from slipway.models import EnvVar, Project

pytestmark = pytest.mark.both_databases

CSRF = {"csrf": "test-csrf-token"}


def audit_actions(project_name: str) -> list[str]:
    with session_scope() as s:
        return list(s.scalars(select(AuditEntry.action).where(AuditEntry.project_name == project_name)
                              .order_by(AuditEntry.id)))


def test_a_member_creates_a_git_push_project_in_their_team_and_sees_its_token_once(two_teams, browser_as):
    member = browser_as("red-member", two_teams)
    # A user's git-push project belongs to a team: without one, nobody but the operator could see it.
    resp = member.post("/new", data={**CSRF, "source": "git", "name": "red-two"})
    assert resp.status_code == 422 and "choose the team the project belongs to" in resp.get_data(as_text=True)
    resp = member.post("/new", data={**CSRF, "source": "git", "name": "red-two", "team": "blue"})
    assert resp.status_code == 422 and "you cannot add projects to a team blue" in resp.get_data(as_text=True)

    resp = member.post("/new", data={**CSRF, "source": "git", "name": "red-two", "team": "red"})
    page = resp.get_data(as_text=True)
    assert resp.status_code == 201
    (token,) = set(re.findall(r"slw_[A-Za-z0-9_-]+", page))
    assert "/git/red-two.git" in page
    with session_scope() as s:
        project = s.scalar(select(Project).where(Project.name == "red-two"))
        assert s.scalar(select(TeamProject.team_id).where(TeamProject.project_id == project.id)) is not None
    assert token not in member.get("/projects/red-two").get_data(as_text=True)
    assert token not in member.get("/projects/red-two/settings").get_data(as_text=True)
    assert browser_as("blue-member", two_teams).get("/projects/red-two").status_code == 404
    assert audit_actions("red-two") == ["project.create"]


def test_a_viewer_may_not_create_in_a_team_nor_import_a_repository_it_cannot_push_to(two_teams, browser_as):
    viewer = browser_as("red-viewer", two_teams)
    resp = viewer.post("/new", data={**CSRF, "source": "git", "name": "nope", "team": "red"})
    assert resp.status_code == 422
    resp = viewer.post("/new", data={**CSRF, "source": "github", "name": "nope", "repo": "1001:5"})
    assert resp.status_code == 422 and "choose one of the repositories listed" in resp.get_data(as_text=True)
    with session_scope() as s:
        assert s.scalar(select(Project).where(Project.name == "nope")) is None


def test_variables_are_write_only_and_deleting_needs_the_name_and_an_owner(two_teams, browser_as):
    member = browser_as("red-member", two_teams)
    resp = member.post("/projects/red-app/env", data={**CSRF, "key": "API_KEY", "value": "sekrit-value-123"})
    assert resp.status_code == 302
    page = member.get("/projects/red-app/settings").get_data(as_text=True)
    assert "API_KEY" in page and "sekrit-value-123" not in page
    bad = member.post("/projects/red-app/env", data={**CSRF, "key": "1BAD", "value": "x"})
    assert bad.status_code == 400 and "not a valid variable name" in bad.get_data(as_text=True)
    member.post("/projects/red-app/env/API_KEY/delete", data=CSRF)
    with session_scope() as s:
        assert s.scalars(select(EnvVar.name)).all() == []

    # members change settings; deleting the project is the owner's
    assert member.post("/projects/red-app/delete", data={**CSRF, "confirm": "red-app"}).status_code == 403
    owner = browser_as("red-owner", two_teams)
    resp = owner.post("/projects/red-app/delete", data={**CSRF, "confirm": "red"})
    assert resp.status_code == 400 and "type the project&#39;s name, red-app" in resp.get_data(as_text=True)
    assert owner.post("/projects/red-app/delete", data={**CSRF, "confirm": "red-app"}).status_code == 302
    with session_scope() as s:
        assert s.scalar(select(Project).where(Project.name == "red-app")) is None
    assert audit_actions("red-app") == ["env.set", "env.unset", "project.delete"]


def test_a_hook_is_shown_once_and_removed(two_teams, browser_as):
    member = browser_as("red-member", two_teams)
    page = member.post("/projects/red-app/hook", data=CSRF).get_data(as_text=True)
    (url,) = set(re.findall(r"http://[^\s<\"]+/hooks/deploy/[A-Za-z0-9_-]+", page))
    assert url not in member.get("/projects/red-app/settings").get_data(as_text=True)
    member.post("/projects/red-app/hook/delete", data=CSRF)
    with session_scope() as s:
        assert s.scalar(select(Project.deploy_hook_enc).where(Project.name == "red-app")) is None
    assert audit_actions("red-app") == ["project.hook", "project.hook"]


def test_a_disconnected_projects_github_link_shows_only_to_those_who_may_follow_it(two_teams, browser_as, client):
    with session_scope() as s:
        s.scalar(select(Project).where(Project.name == "red-app")).disconnected_reason = "the App was uninstalled"
    for login in ("red-owner", "red-viewer"):
        member = browser_as(login, two_teams)
        page = member.get("/projects/red-app").get_data(as_text=True)
        assert "Disconnected: the App was uninstalled" in page and 'href="/github"' not in page, login
        assert "operator reconnects it" in page
        assert member.get("/github").status_code == 404  # where the link led them
    page = client.get("/projects/red-app").get_data(as_text=True)  # the admin, whose page it is
    assert 'href="/github"' in page and client.get("/github").status_code == 200
