"""API tokens (shown once, kept hashed, expiring, scoped), the audit log, and the OpenAPI document."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from slipway.accounts import tokens
from slipway.accounts.models import ApiToken, AuditEntry
from slipway.db import get_engine, session_scope

pytestmark = pytest.mark.both_databases


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_a_token_is_shown_once_and_kept_as_a_hash(app, two_teams, browser_as):
    owner = browser_as("red-owner", two_teams)
    made = owner.post("/api/tokens", json={"name": "ci", "scope": "deploy", "days": 7})
    assert made.status_code == 201
    text_ = made.json["token"]
    assert text_.startswith("slp_") and made.json["scope"] == "deploy"
    listed = owner.get("/api/tokens").json
    assert [t["name"] for t in listed] == ["ci"] and "token" not in listed[0]
    with session_scope() as s:
        row = s.scalar(select(ApiToken))
        assert row.token_hash == hashlib.sha256(text_.encode()).hexdigest()
    with get_engine().connect() as conn:  # nowhere in the database in the clear
        dump = " ".join(str(r) for r in conn.execute(text("SELECT * FROM api_tokens")))
        audit = " ".join(str(r) for r in conn.execute(text("SELECT * FROM audit_log")))
    assert text_ not in dump and text_ not in audit
    me = app.test_client().get("/api/me", headers=bearer(text_)).json
    assert me == {"login": "red-owner", "admin": False, "scope": "deploy", "teams": {"red": "owner"}}


def test_scope_narrows_the_role(app, two_teams, browser_as):
    with session_scope() as s:
        _t, read = tokens.create(s, two_teams.users["red-owner"], "read", "read", 7)
        _t, deploy = tokens.create(s, two_teams.users["red-owner"], "deploy", "deploy", 7)
    api = app.test_client()
    red = two_teams.red_project
    assert api.get(f"/api/projects/{red}", headers=bearer(read)).json["role"] == "owner"
    assert api.post(f"/api/deployments/{two_teams.red_deployment}/cancel", headers=bearer(read)).status_code == 403
    assert api.get(f"/api/projects/{red}/env", headers=bearer(deploy)).status_code == 403  # settings need admin
    assert api.post("/api/tokens", json={"name": "x", "scope": "admin"}, headers=bearer(deploy)).status_code == 403
    # Another team's project stays unseen whatever the scope.
    assert api.get(f"/api/projects/{two_teams.blue_project}", headers=bearer(read)).status_code == 404


def test_expired_and_revoked_tokens_stop_working(app, two_teams, browser_as):
    past = datetime.now(UTC) - timedelta(days=8)
    with session_scope() as s:
        _t, old = tokens.create(s, two_teams.users["red-owner"], "old", "read", 7, now=past)
        live_token, live = tokens.create(s, two_teams.users["red-owner"], "live", "read", 7)
        live_id = live_token.id
    api = app.test_client()
    assert api.get("/api/me", headers=bearer(old)).status_code == 401
    assert api.get("/api/me", headers=bearer(live)).status_code == 200
    owner = browser_as("red-owner", two_teams)
    assert browser_as("red-viewer", two_teams).delete(f"/api/tokens/{live_id}").status_code == 404
    assert owner.delete(f"/api/tokens/{live_id}").status_code == 204
    assert api.get("/api/me", headers=bearer(live)).status_code == 401
    assert api.get("/api/me", headers=bearer("slp_" + "x" * 43)).status_code == 401


def test_a_token_s_last_use_is_noted_to_the_minute_not_written_at_every_request(app, two_teams):
    start = datetime.now(UTC)
    with session_scope() as s:
        token, text_ = tokens.create(s, two_teams.users["red-owner"], "cli", "read", 7, now=start)
        token_id = token.id

    def use(at: datetime) -> tuple[bool, datetime | None]:
        """Authenticate at ``at``: (whether that changed the row, its last use after)."""
        with session_scope() as s:
            found = tokens.authenticate(s, text_, now=at)
            assert found is not None and found.id == token_id
            changed = found in s.dirty and s.is_modified(found)
        with session_scope() as s:
            noted = s.get(ApiToken, token_id).last_used_at
        return changed, noted

    def same(a: datetime | None, b: datetime) -> bool:
        return a is not None and abs((a.replace(tzinfo=a.tzinfo or UTC) - b).total_seconds()) < 0.001

    changed, noted = use(start)
    assert changed and same(noted, start)  # the first use
    changed, noted = use(start + timedelta(seconds=30))
    assert not changed and same(noted, start)  # within the minute: nothing written
    changed, noted = use(start + timedelta(seconds=61))
    assert changed and same(noted, start + timedelta(seconds=61))


@pytest.mark.parametrize("request_, problem", [
    ({"name": "", "scope": "read"}, "name"), ({"name": "x", "scope": "root"}, "scope"),
    ({"name": "x", "scope": "read", "days": 1000}, "days"),
])
def test_a_bad_token_request_says_what_to_fix(app, two_teams, browser_as, request_, problem):
    resp = browser_as("red-owner", two_teams).post("/api/tokens", json=request_)
    assert resp.status_code == 422 and problem in resp.get_data(as_text=True)


def test_actions_are_audited_with_who_did_them_and_no_secret(app, two_teams, browser_as):
    owner = browser_as("red-owner", two_teams)
    red = two_teams.red_project
    assert owner.put(f"/api/projects/{red}/env/API_KEY", json={"value": "s3cr3t-value"}).status_code == 204
    assert owner.delete(f"/api/projects/{red}/env/API_KEY").status_code == 204
    made = owner.post("/api/tokens", json={"name": "ci", "scope": "admin"}).json
    assert app.test_client().put(f"/api/projects/{red}/akash", json={"cpu": "1"},
                                 headers=bearer(made["token"])).status_code == 200
    assert owner.put("/api/teams/red/members/newcomer", json={"role": "viewer"}).status_code == 200
    log = owner.get(f"/api/projects/{red}/audit").json
    assert [(e["action"], e["actor"]) for e in log] == [
        ("settings.akash", f"github:red-owner (token {made['id']})"),
        ("env.unset", "github:red-owner"), ("env.set", "github:red-owner")]
    assert log[-1]["detail"] == {"name": "API_KEY"}
    with session_scope() as s:
        everything = [(e.action, e.detail) for e in s.scalars(select(AuditEntry))]
    assert ("team.member", {"team": "red", "login": "newcomer", "role": "viewer"}) in everything
    assert "s3cr3t-value" not in str(everything)
    # Viewers do not read the audit log: it is part of the settings.
    assert browser_as("red-viewer", two_teams).get(f"/api/projects/{red}/audit").status_code == 403


def test_deploys_and_rollbacks_are_audited(app, two_teams, browser_as, queue):
    owner = browser_as("red-owner", two_teams)
    page = owner.post(f"/deployments/{two_teams.red_deployment}/redeploy", data={"csrf": "test-csrf-token"})
    assert page.status_code == 302
    new_id = int(page.headers["Location"].rsplit("/", 1)[1])
    api = owner.post(f"/api/deployments/{two_teams.red_deployment}/redeploy")
    assert api.status_code == 201
    cancelled = owner.post(f"/api/deployments/{api.json['deployment_id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json["state"] == "cancelled"
    with session_scope() as s:
        entries = [(e.action, e.actor, e.project_name, e.detail) for e in s.scalars(select(AuditEntry)
                                                                                     .order_by(AuditEntry.id))]
    assert entries == [
        ("redeploy", "github:red-owner", "red-app", {"deployment_id": new_id, "of": two_teams.red_deployment}),
        ("rollback", "github:red-owner", "red-app", {"deployment_id": api.json["deployment_id"],
                                                     "of": two_teams.red_deployment}),
        ("cancel", "github:red-owner", "red-app", {"deployment_id": api.json["deployment_id"]}),
    ]


def test_the_openapi_document_is_generated_and_describes_every_api_route(app, anonymous):
    doc = anonymous.get("/api/openapi.json").json
    assert doc["openapi"].startswith("3.") and doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    rules = {r.rule.replace("<int:", "{").replace("<", "{").replace(">", "}")
             for r in app.url_map.iter_rules() if r.endpoint.startswith("api.")}
    assert rules == set(doc["paths"])
    env_set = doc["paths"]["/api/projects/{name}/env/{key}"]["put"]
    assert "requestBody" in env_set
    token = doc["components"]["schemas"]["TokenIn"]
    assert set(token["required"]) == {"name", "scope"}
    from openapi_spec_validator import validate

    validate(doc)  # a valid OpenAPI 3.0 document, as tools that read it expect


def test_the_admin_password_and_sessions_still_work(app, settings, two_teams):
    api = app.test_client()
    names = [p["name"] for p in api.get("/api/projects", headers=bearer(settings.admin_password)).json]
    assert names == ["blue-app", "red-app"]


def test_the_tokens_page_shows_a_new_token_once(app, two_teams, browser_as):
    owner = browser_as("red-owner", two_teams)
    made = owner.post("/tokens", data={"csrf": "test-csrf-token", "name": "laptop", "scope": "deploy", "days": "3"})
    assert made.status_code == 201
    text_ = made.get_data(as_text=True).split('<pre class="mono">')[1].split("</pre>")[0]
    assert text_.startswith("slp_")
    again = owner.get("/tokens").get_data(as_text=True)
    assert "laptop" in again and text_ not in again and text_[:10] in again
    assert app.test_client().get("/api/me", headers=bearer(text_)).json["scope"] == "deploy"
    bad = owner.post("/tokens", data={"csrf": "test-csrf-token", "name": "", "scope": "deploy"})
    assert bad.status_code == 422 and "give the token a name" in bad.get_data(as_text=True)


def test_guessed_api_tokens_count_against_the_sign_in_limit(settings, two_teams):
    from dataclasses import replace

    from web import create_app

    app = create_app(replace(settings, login_rate_limit="2 per hour"))
    with session_scope() as s:
        _t, good = tokens.create(s, two_teams.users["red-owner"], "ci", "read", 7)
    script = app.test_client()
    for _ in range(2):
        assert script.get("/api/me", headers=bearer("slp_" + "g" * 43)).status_code == 401
    assert script.get("/api/me", headers=bearer(good)).status_code == 429
