"""Every route of the app, as another team's user and as a viewer: 404 for what is not theirs,
no acting for viewers. Routes are read from ``app.url_map``, so a new route is checked the day it
is added; one whose arguments this test cannot fill, or a new public one, fails until taught."""

from __future__ import annotations

import pytest

from slipway.accounts import tokens
from slipway.accounts.access import Action, Site
from slipway.db import session_scope
from web.access import ACCESS_ATTRIBUTE, is_public

pytestmark = pytest.mark.both_databases

# Routes that check their own credential (or need none); each is covered by its own tests.
PUBLIC = {
    "static", "healthz", "webhooks.github_webhook", "git_remote.git", "hooks.deploy_hook",
    "hooks.deploy_hook_with_header", "hooks.deploy_hook_get", "auth.login", "auth.logout", "auth.github_login",
    "auth.github_callback", "api-docs.openapi_json",
    "wake.wake",  # a sleeping deployment's own URL: refused from the database alone (tests/test_proxy_wake.py)
}
ACTING_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def routes(app):
    for rule in app.url_map.iter_rules():
        blueprint = rule.endpoint.rsplit(".", 1)[0] if "." in rule.endpoint else None
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, blueprint, method


def fill(rule, world, red_token_id: int) -> dict:
    """The red team's things, for every argument a route can take."""
    values = {"name": world.red_project, "deployment_id": world.red_deployment, "team": "red",
              "login": "red-viewer", "key": "DATABASE_URL", "token_id": red_token_id, "installation_id": 1001,
              "channel": "ops", "domain": "red.example.test"}
    unknown = set(rule.arguments) - set(values)
    assert not unknown, f"{rule.rule}: teach this test how to fill {sorted(unknown)} with the red team's things"
    return {arg: values[arg] for arg in rule.arguments}


def call(client, method: str, path: str):
    if path.startswith("/api/"):
        return client.open(path, method=method, json={})
    return client.open(path, method=method, data={"csrf": "test-csrf-token"})


@pytest.fixture
def red_token(two_teams):
    with session_scope() as s:
        token, _text = tokens.create(s, two_teams.users["red-owner"], "ci", "admin", 30)
        return token.id


def test_every_route_is_public_by_name_or_guarded(app):
    for rule, blueprint, _method in routes(app):
        if is_public(rule.endpoint, blueprint):
            assert rule.endpoint in PUBLIC, f"{rule.rule} ({rule.endpoint}) is public: add it to PUBLIC, with tests"
        else:
            assert getattr(app.view_functions[rule.endpoint], ACCESS_ATTRIBUTE, None) is not None


def test_another_teams_user_gets_404_on_every_route(app, two_teams, red_token, browser_as):
    stranger = browser_as("blue-member", two_teams)
    checked = 0
    for rule, blueprint, method in routes(app):
        if rule.endpoint in PUBLIC:
            continue
        path = app.url_map.bind("localhost").build(rule.endpoint, fill(rule, two_teams, red_token),
                                                   method=method)
        resp = call(stranger, method, path)
        body = resp.get_data(as_text=True)
        what = f"{method} {path} ({rule.endpoint}) as another team's user"
        if rule.arguments - {"login", "key"}:
            assert resp.status_code == 404, f"{what}: {resp.status_code} {body[:200]}"
        else:  # a list of one's own things: never the red team's, and never a crash
            assert resp.status_code < 500, f"{what}: {resp.status_code}"
            assert "red-app" not in body and '"red"' not in body, f"{what} shows the red team's things"
        resp.close()
        checked += 1
    assert checked >= 30


def test_a_viewer_sees_but_cannot_act_or_see_settings(app, two_teams, red_token, browser_as):
    viewer = browser_as("red-viewer", two_teams)
    for rule, blueprint, method in routes(app):
        if rule.endpoint in PUBLIC:
            continue
        what_needed = getattr(app.view_functions[rule.endpoint], ACCESS_ATTRIBUTE)
        path = app.url_map.bind("localhost").build(rule.endpoint, fill(rule, two_teams, red_token), method=method)
        resp = call(viewer, method, path)
        what = f"{method} {path} ({rule.endpoint}) as a viewer"
        if isinstance(what_needed, Action) and method in ACTING_METHODS:
            assert what_needed is not Action.VIEW, f"{what}: an action guarded only by VIEW"
        if isinstance(what_needed, Action) and what_needed is not Action.VIEW:
            assert resp.status_code in (403, 404), f"{what}: {resp.status_code}"
        elif what_needed is Action.VIEW:
            assert resp.status_code == 200, f"{what}: a viewer should see it, got {resp.status_code}"
        elif what_needed is Site.OPERATOR:
            assert resp.status_code == 404, what
        elif "token_id" in rule.arguments:  # another user's token is not theirs to revoke
            assert resp.status_code == 404, f"{what}: {resp.status_code}"
        resp.close()  # a live stream (a log, the app's output) ends here, inside its request
    page = viewer.get(f"/projects/{two_teams.red_project}").get_data(as_text=True)
    assert "Deploy main now" not in page and "Deploy hook" not in page and "Dockerfile" not in page


def test_the_teams_own_members_do_get_through(app, two_teams, red_token, browser_as):
    """The 404s above come from the check, not from a broken world: red's member reaches red's things."""
    member = browser_as("red-member", two_teams)
    assert member.get(f"/projects/{two_teams.red_project}").status_code == 200
    assert member.get(f"/api/projects/{two_teams.red_project}/env").status_code == 200
    assert [p["name"] for p in member.get("/api/projects").json] == ["red-app"]
    assert member.put(f"/api/projects/{two_teams.red_project}/env/DATABASE_URL",
                      json={"value": "postgres://x"}).status_code == 204
    page = member.get(f"/projects/{two_teams.red_project}").get_data(as_text=True)
    assert "Deploy main now" in page and "DATABASE_URL" in page
    assert member.get(f"/projects/{two_teams.blue_project}").status_code == 404


def test_a_route_without_a_guard_stops_the_app_from_starting(settings):
    from flask import Blueprint

    from web import create_app

    app = create_app(settings)
    extra = Blueprint("extra", __name__)

    @extra.get("/projects/<name>/domains")
    def domains(name):
        return "every domain"

    app.register_blueprint(extra)
    from web.access import check_every_route

    with pytest.raises(RuntimeError, match="extra.domains"):
        check_every_route(app)
