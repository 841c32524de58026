"""The JSON API does what the dashboard does: create a project (from a repository or for git push),
change its settings, its domains, notification channels, deploy hook and remote token, delete it.
Secrets are answered once, every change is in the audit log, and bad input is a 422 saying what to fix."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from slipway.accounts import tokens
from slipway.accounts.models import AuditEntry
from slipway.db import session_scope
from slipway.models import Installation, InstallationRepository, Project

pytestmark = pytest.mark.both_databases


def audit_log(project_name: str) -> list[tuple[str, dict | None]]:
    with session_scope() as s:
        entries = s.scalars(select(AuditEntry).where(AuditEntry.project_name == project_name).order_by(AuditEntry.id))
        return [(e.action, e.detail) for e in entries]


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_a_member_creates_a_git_push_project_and_gets_its_token_once(two_teams, browser_as):
    member = browser_as("red-member", two_teams)
    resp = member.post("/api/projects", json={"name": "red-two"})
    assert resp.status_code == 422 and "choose the team the project belongs to" in resp.json["error"]
    resp = member.post("/api/projects", json={"name": "red-two", "team": "blue"})
    assert resp.status_code == 422 and "you cannot add projects to a team blue" in resp.json["error"]
    resp = member.post("/api/projects", json={"name": "Bad Name", "team": "red"})
    assert resp.status_code == 422 and "must be 1-40 lowercase letters" in resp.json["error"]

    resp = member.post("/api/projects", json={"name": "red-two", "team": "red", "branch": "trunk"})
    assert resp.status_code == 201, resp.json
    made = resp.json
    assert made["token"].startswith("slw_") and made["remote"].endswith("/git/red-two.git")
    assert (made["team"], made["branch"], made["role"]) == ("red", "trunk", "member")
    shown = member.get("/api/projects/red-two").get_data(as_text=True)
    assert made["token"] not in shown and '"token"' not in shown
    assert browser_as("blue-member", two_teams).get("/api/projects/red-two").status_code == 404
    assert audit_log("red-two") == [("project.create", {"team": "red"})]
    # A fresh token later, shown once too; the old one stops working.
    again = member.post("/api/projects/red-two/token")
    assert again.status_code == 201 and again.json["token"] != made["token"]
    with session_scope() as s:
        project = s.scalar(select(Project).where(Project.name == "red-two"))
        assert made["token"] not in str(project.deploy_token_hash)
    other = member.post("/api/projects/red-app/token")  # red-app builds from another URL
    assert other.status_code == 422 and "not from Slipway's git remote" in other.json["error"]
    assert [a for a, _ in audit_log("red-two")] == ["project.create", "project.token"]


def test_a_repository_of_the_apps_installation_becomes_a_connected_project(settings, two_teams, browser_as, app):
    with session_scope() as s:
        inst = Installation(id=1001, account_login="octo-org", account_type="Organization")
        inst.repositories.append(InstallationRepository(repo_id=5, full_name="octo-org/hello", private=True))
        s.add(inst)
    # red's member cannot push to it on GitHub (their token reaches nothing): not theirs to import.
    resp = browser_as("red-member", two_teams).post("/api/projects", json={
        "name": "hello", "source": "github", "repo": "octo-org/hello", "team": "red"})
    assert resp.status_code == 422 and "choose one of the repositories listed" in resp.json["error"]
    admin = app.test_client()
    resp = admin.post("/api/projects", headers=bearer(settings.admin_password), json={
        "name": "hello", "source": "github", "repo": "Octo-Org/Hello"})
    assert resp.status_code == 201, resp.json
    assert resp.json["github_repo"] == "octo-org/hello" and resp.json["token"] is None
    with session_scope() as s:
        assert s.scalar(select(Project.installation_id).where(Project.name == "hello")) == 1001


def test_a_read_scoped_token_cannot_create_projects(app, two_teams):
    with session_scope() as s:
        _token, text = tokens.create(s, two_teams.users["red-owner"], "ro", "read", 30)
    resp = app.test_client().post("/api/projects", headers=bearer(text), json={"name": "nope", "team": "red"})
    assert resp.status_code == 403
    with session_scope() as s:
        assert s.scalar(select(Project).where(Project.name == "nope")) is None


def test_settings_change_what_is_given_and_say_what_to_fix(two_teams, browser_as):
    member = browser_as("red-member", two_teams)
    before = member.get("/api/projects/red-app/settings").json
    assert before["dockerfile"] == "Dockerfile" and before["previews_enabled"] is True
    resp = member.patch("/api/projects/red-app/settings", json={"health_path": "/up", "previews_enabled": False})
    assert resp.status_code == 200 and resp.json == {**before, "health_path": "/up", "previews_enabled": False}
    resp = member.patch("/api/projects/red-app/settings", json={"health_path": "up", "fork_previews": "sometimes"})
    assert resp.status_code == 422 and "fork previews must be one of" in resp.json["error"]
    resp = member.patch("/api/projects/red-app/settings", json={"dockerfile": "../Dockerfile"})
    assert resp.status_code == 422 and "must be a relative path inside the repository" in resp.json["error"]
    assert member.patch("/api/projects/red-app/settings", json={"colour": "red"}).status_code == 422
    assert member.get("/api/projects/red-app/settings").json["health_path"] == "/up"
    assert audit_log("red-app") == [("settings.project", {"fields": ["health_path", "previews_enabled"]})]
    assert browser_as("red-viewer", two_teams).get("/api/projects/red-app/settings").status_code == 403


def test_domains_are_listed_added_and_removed(two_teams, browser_as):
    member = browser_as("red-member", two_teams)
    assert member.get("/api/projects/red-app/domains").json == []
    resp = member.post("/api/projects/red-app/domains", json={"domain": "WWW.Red.Test."})
    assert resp.status_code == 201 and resp.json["name"] == "www.red.test"
    assert resp.json["url"].startswith("https://www.red.test")
    bad = member.post("/api/projects/red-app/domains", json={"domain": "localhost"})
    assert bad.status_code == 422 and "give a full host name" in bad.json["error"]
    taken = browser_as("blue-member", two_teams).post("/api/projects/blue-app/domains", json={"domain": "www.red.test"})
    assert taken.status_code == 422
    viewer = browser_as("red-viewer", two_teams)
    assert [d["name"] for d in viewer.get("/api/projects/red-app/domains").json] == ["www.red.test"]
    assert viewer.delete("/api/projects/red-app/domains/www.red.test").status_code == 403
    assert member.delete("/api/projects/red-app/domains/www.red.test").status_code == 204
    assert member.delete("/api/projects/red-app/domains/www.red.test").status_code == 404
    assert audit_log("red-app") == [("domain.add", {"domain": "www.red.test"}),
                                    ("domain.remove", {"domain": "www.red.test"})]


def test_channels_show_their_target_by_host_and_a_webhooks_secret_once(two_teams, browser_as):
    member = browser_as("red-member", two_teams)
    slack = member.post("/api/projects/red-app/notifications", json={
        "name": "ops", "kind": "slack", "target": "https://hooks.slack.com/services/T0/B0/api-token-123"})
    assert slack.status_code == 201 and slack.json["secret"] is None
    hook = member.post("/api/projects/red-app/notifications", json={
        "name": "ci", "kind": "webhook", "target": "https://93.184.215.14/hook", "on_success": True})
    assert hook.status_code == 201 and hook.json["secret"].startswith("whsec_")
    listed = member.get("/api/projects/red-app/notifications")
    assert [(c["name"], c["to"], c["on_success"]) for c in listed.json] == [
        ("ci", "https://93.184.215.14/…", True), ("ops", "https://hooks.slack.com/…", False)]
    text = listed.get_data(as_text=True)
    assert "api-token-123" not in text and hook.json["secret"] not in text
    bad = member.post("/api/projects/red-app/notifications", json={
        "name": "meta", "kind": "webhook", "target": "http://169.254.169.254/latest/meta-data/"})
    assert bad.status_code == 422 and bad.json["error"]
    assert member.delete("/api/projects/red-app/notifications/ops").status_code == 204
    assert member.delete("/api/projects/red-app/notifications/ops").status_code == 404
    assert [a for a, _ in audit_log("red-app")] == ["notification.add", "notification.add", "notification.remove"]
    assert "api-token-123" not in str(audit_log("red-app"))


def test_the_deploy_hook_is_shown_once_and_removed(two_teams, browser_as):
    member = browser_as("red-member", two_teams)
    none = member.get("/api/projects/red-app/hook")
    assert none.status_code == 404 and none.json["error"] == "red-app has no deploy hook"
    made = member.post("/api/projects/red-app/hook")
    assert made.status_code == 201 and "/hooks/deploy/" in made.json["url"] and made.json["branch"] == "main"
    assert made.json["url"] not in member.get("/api/projects/red-app").get_data(as_text=True)
    # Kept encrypted, so those who may change settings see it again (as `slipway project hook` does).
    assert member.get("/api/projects/red-app/hook").json == made.json
    assert browser_as("red-viewer", two_teams).get("/api/projects/red-app/hook").status_code == 403
    assert member.delete("/api/projects/red-app/hook").status_code == 204
    assert member.delete("/api/projects/red-app/hook").status_code == 404
    with session_scope() as s:
        assert s.scalar(select(Project.deploy_hook_enc).where(Project.name == "red-app")) is None
    assert audit_log("red-app") == [("project.hook", None), ("project.hook", {"removed": True})]


def test_deleting_a_project_is_the_owners(two_teams, browser_as):
    assert browser_as("red-member", two_teams).delete("/api/projects/red-app").status_code == 403
    owner = browser_as("red-owner", two_teams)
    assert owner.delete("/api/projects/red-app").status_code == 204
    assert owner.get("/api/projects/red-app").status_code == 404
    assert [a for a, _ in audit_log("red-app")] == ["project.delete"]


def test_the_openapi_document_describes_the_new_routes(app, anonymous):
    doc = anonymous.get("/api/openapi.json").json
    assert {"post", "get"} <= set(doc["paths"]["/api/projects"]) and "delete" in doc["paths"]["/api/projects/{name}"]
    assert "patch" in doc["paths"]["/api/projects/{name}/settings"]
    assert doc["components"]["schemas"]["ProjectCreateIn"]["required"] == ["name"]
    channel = doc["components"]["schemas"]["ChannelIn"]["properties"]["target"]
    assert channel.get("writeOnly") is True  # a webhook URL is a credential: never answered
    from openapi_spec_validator import validate

    validate(doc)


def test_the_dashboards_notification_channels_are_audited_too(two_teams, browser_as):
    member = browser_as("red-member", two_teams)
    form = {"csrf": "test-csrf-token", "name": "ops", "kind": "slack", "on_failure": "1",
            "target": "https://hooks.slack.com/services/T0/B0/page-token-123"}
    assert member.post("/projects/red-app/notifications", data=form).status_code == 302
    assert member.post("/projects/red-app/notifications/ops/delete", data=form).status_code == 302
    assert audit_log("red-app") == [("notification.add", {"channel": "ops", "kind": "slack"}),
                                    ("notification.remove", {"channel": "ops"})]


def test_every_deployment_one_can_see_newest_first_a_page_at_a_time(two_teams, browser_as):
    from slipway.models import Deployment

    with session_scope() as s:
        red = s.scalar(select(Project).where(Project.name == "red-app"))
        s.add(Deployment(project_id=red.id, sha="b" * 40, branch="main", trigger="api", state="queued", pr_number=7))
    member = browser_as("red-member", two_teams)
    found = member.get("/api/deployments").json
    assert [d["project"] for d in found] == ["red-app", "red-app"]  # never blue's
    assert found[0]["id"] > found[1]["id"] == two_teams.red_deployment and found[0]["pr_number"] == 7
    page = member.get("/api/deployments?limit=1").json
    assert [d["id"] for d in page] == [found[0]["id"]]
    rest = member.get(f"/api/deployments?limit=1&before={page[-1]['id']}").json
    assert [d["id"] for d in rest] == [two_teams.red_deployment]
    assert member.get("/api/deployments?limit=0").status_code == 422
    assert [d["id"] for d in member.get("/api/projects/red-app/deployments?limit=1").json] == [found[0]["id"]]
    blue = browser_as("blue-member", two_teams).get("/api/deployments").json
    assert [d["id"] for d in blue] == [two_teams.blue_deployment]


@pytest.fixture
def broken_target_app(settings, tmp_path):
    """Slipway whose local target's Docker Engine does not answer (its socket is not there)."""
    from dataclasses import replace

    from web import create_app

    app = create_app(replace(settings, docker_host=f"unix://{tmp_path}/no-docker.sock"))
    app.config["TESTING"] = True
    return app


def test_deleting_a_project_whose_target_fails_says_so_and_deletes_nothing(two_teams, broken_target_app,
                                                                        browser_as):
    from slipway.models import Deployment
    from web.auth import SESSION_KEY, sessions

    with session_scope() as s:
        red = s.scalar(select(Project).where(Project.name == "red-app"))
        s.add(Deployment(project_id=red.id, sha="c" * 40, branch="main", trigger="api", state="queued"))
    owner = broken_target_app.test_client()
    with owner.session_transaction() as session:
        session[SESSION_KEY] = sessions(broken_target_app).begin(two_teams.users["red-owner"])
        session["csrf"] = "test-csrf-token"
    for attempt in (lambda: owner.delete("/api/projects/red-app"),
                    lambda: owner.post("/projects/red-app/delete", data={"csrf": "test-csrf-token",
                                                                         "confirm": "red-app"})):
        resp = attempt()
        text = resp.json["error"] if resp.is_json else resp.get_data(as_text=True)
        assert resp.status_code == 503, text
        assert "Could not delete red-app: its local target failed" in text and "Nothing was deleted" in text
        with session_scope() as s:
            states = s.scalars(select(Deployment.state).join(Project).where(Project.name == "red-app")).all()
            assert sorted(states) == ["failed", "queued"]  # the project, its history and its queued deploy
    assert audit_log("red-app") == []  # nothing was deleted, so nothing is recorded as deleted
    # Once the target answers, deleting again works.
    again = browser_as("red-owner", two_teams)
    assert again.delete("/api/projects/red-app").status_code == 204
    assert [a for a, _ in audit_log("red-app")] == ["project.delete"]
    with session_scope() as s:
        assert s.scalars(select(Deployment).where(Deployment.sha == "c" * 40)).all() == []
