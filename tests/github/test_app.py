"""Creating the GitHub App from a manifest, end to end through the GitHub stand-in."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from slipway.crypto import decrypt
from slipway.db import session_scope
from slipway.github.client import AppRegistration, GitHubApp
from slipway.github.app import (
    app_credentials,
    app_state,
    store_registration,
    webhook_secrets,
)
from slipway.models import GitHubAppRecord
from slipway.settings import set_settings
from tests.github.examples import webhook_delivery
from tests.github.standin import GitHubStandIn
from tests.support.web import dashboard_app, sign_in

PUBLIC = "https://slipway.example.com"
GITHUB = "https://github.example"


@pytest.fixture
def standin():
    with GitHubStandIn() as s:
        yield s
    assert not s.errors, s.errors


@pytest.fixture
def gh_settings(settings, standin):
    s = replace(settings, github_api_url=standin.url, github_url=GITHUB, public_url=PUBLIC)
    set_settings(s)
    return s


@pytest.fixture
def web(gh_settings):
    return sign_in(dashboard_app(gh_settings).test_client())


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def start_creation(web, name="slipway-acme", organization=""):
    """Submit the /github form; returns (the page handing off to GitHub, its form action, the manifest)."""
    token = csrf_of(web.get("/github").data.decode())
    resp = web.post("/github/app", data={"csrf": token, "name": name, "organization": organization})
    assert resp.status_code == 200, resp.data
    page = resp.data.decode()
    action = unescape(re.search(r'<form id="to-github" method="post" action="([^"]+)"', page).group(1))
    manifest = json.loads(unescape(re.search(r'name="manifest" value="([^"]+)"', page).group(1)))
    return page, action, manifest


def session_state(web) -> str | None:
    with web.session_transaction() as sess:
        return sess.get("github_manifest_state")


def stored() -> list[GitHubAppRecord]:
    with session_scope() as s:
        return list(s.scalars(select(GitHubAppRecord)))


def test_without_an_app_the_page_offers_to_create_one(client, settings):
    page = client.get("/github").data.decode()
    assert "Slipway has no GitHub App yet" in page and 'action="/github/app"' in page
    assert "GitHub cannot reach" in page  # the default public URL is 127.0.0.1
    assert app_state(settings).source == "none"


def test_the_manifest_is_complete_and_posted_to_the_users_new_app_page(web):
    page, action, manifest = start_creation(web)
    state = session_state(web)
    assert state and len(state) >= 32
    url = urlsplit(action)
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{GITHUB}/settings/apps/new"
    assert parse_qs(url.query) == {"state": [state]}
    assert manifest == {
        "name": "slipway-acme",
        "url": PUBLIC,
        "hook_attributes": {"url": f"{PUBLIC}/webhooks/github", "active": True},
        "redirect_url": f"{PUBLIC}/github/callback",
        "setup_url": f"{PUBLIC}/github/installed",
        "callback_urls": [f"{PUBLIC}/login/github/callback"],
        "public": False,
        "default_permissions": {"contents": "read", "metadata": "read", "statuses": "write",
                                "deployments": "write", "pull_requests": "write", "issues": "write"},
        # installation events reach every App; GitHub refuses a manifest that lists them
        "default_events": ["push", "pull_request"],
    }
    assert "data-autosubmit" in page and '<script src="/static/autosubmit.js"' in page


def test_an_organization_gets_its_own_new_app_page(web):
    _, action, _ = start_creation(web, organization="acme-corp")
    assert action.startswith(f"{GITHUB}/organizations/acme-corp/settings/apps/new?state=")


@pytest.mark.parametrize("form, fragment", [
    ({"name": ""}, "App name must be"),
    ({"name": "x" * 35}, "App name must be"),
    ({"name": "ok", "organization": "not an org/"}, "not a GitHub organization"),
])
def test_bad_creation_input_is_shown_on_the_page(web, form, fragment):
    token = csrf_of(web.get("/github").data.decode())
    resp = web.post("/github/app", data={"csrf": token, **form})
    assert resp.status_code == 400 and fragment in unescape(resp.data.decode())
    assert session_state(web) is None


def test_creation_without_the_pages_csrf_token_is_refused(web):
    web.get("/github")
    resp = web.post("/github/app", data={"name": "slipway-acme", "csrf": "forged"})
    assert resp.status_code == 400 and "out of date" in resp.data.decode()
    assert session_state(web) is None


def test_callback_stores_the_app_encrypted_and_sends_the_browser_to_install_it(web, gh_settings, standin):
    start_creation(web)
    code = standin.add_manifest_code()
    resp = web.get(f"/github/callback?code={code}&state={session_state(web)}")

    assert resp.status_code == 302
    assert resp.headers["Location"] == f"https://github.com/apps/{standin.slug}/installations/new"
    conversion = standin.calls[-1]
    assert (conversion.method, conversion.path) == ("POST", f"/app-manifests/{code}/conversions")
    client_secret, webhook_secret = conversion.response["client_secret"], conversion.response["webhook_secret"]

    (record,) = stored()
    assert (record.app_id, record.slug, record.name, record.client_id) == (
        standin.app_id, standin.slug, standin.slug, standin.client_id)
    assert record.html_url == f"https://github.com/apps/{standin.slug}"
    # secrets at rest: nothing readable in the columns, everything back with the key
    columns = " ".join([record.client_secret_enc, record.private_key_enc, record.webhook_secret_enc])
    for secret in (client_secret, webhook_secret, standin.private_key_pem, "PRIVATE KEY"):
        assert secret not in columns
    key = gh_settings.secret_key
    assert decrypt(record.client_secret_enc, key) == client_secret
    assert decrypt(record.webhook_secret_enc, key) == webhook_secret
    assert decrypt(record.private_key_enc, key) == standin.private_key_pem

    # the state works once
    assert session_state(web) is None
    # the stored App is Slipway's App now: its key authenticates, its secret signs deliveries
    assert GitHubApp(app_credentials(gh_settings)).get_app()["id"] == standin.app_id
    assert webhook_secrets(gh_settings) == [gh_settings.github_webhook_secret, webhook_secret]
    body, headers = webhook_delivery("ping", {"zen": "Design for failure."}, webhook_secret)
    assert web.post("/webhooks/github", data=body, headers=headers).status_code == 200
    body, headers = webhook_delivery("ping", {"zen": "Design for failure."}, "someone-else")
    assert web.post("/webhooks/github", data=body, headers=headers).status_code == 401

    page = web.get("/github").data.decode()
    assert "created here" in page and f"https://github.com/apps/{standin.slug}/installations/new" in page
    assert 'action="/github/app"' not in page
    assert standin.private_key_pem.splitlines()[1] not in page and webhook_secret not in page


def test_a_callback_with_another_state_is_refused_before_github_is_asked(web, standin):
    start_creation(web)
    code = standin.add_manifest_code()
    resp = web.get(f"/github/callback?code={code}&state=not-the-state")
    assert resp.status_code == 400 and "does not match" in resp.data.decode()
    assert stored() == [] and standin.calls == []
    # and the real state was spent: a retry with it fails too
    assert web.get(f"/github/callback?code={code}&state=x").status_code == 400


def test_a_callback_nobody_started_is_refused(web, standin):
    code = standin.add_manifest_code()
    resp = web.get(f"/github/callback?code={code}&state=anything")
    assert resp.status_code == 400 and stored() == [] and standin.calls == []


@pytest.mark.parametrize("code", ["used", "never-issued"])
def test_a_used_or_invalid_code_shows_an_error(web, standin, code):
    if code == "used":
        code = standin.add_manifest_code()
        start_creation(web)
        assert web.get(f"/github/callback?code={code}&state={session_state(web)}").status_code == 302
        with web.session_transaction() as sess:  # a second, stale tab with its own state
            sess["github_manifest_state"] = "second-tab"
        resp = web.get(f"/github/callback?code={code}&state=second-tab")
        assert len(stored()) == 1
    else:
        start_creation(web)
        resp = web.get(f"/github/callback?code={code}&state={session_state(web)}")
        assert stored() == []
    page = resp.data.decode()
    assert resp.status_code == 400 and "already used or has expired" in page


def test_the_callback_without_a_code_says_so(web):
    start_creation(web)
    resp = web.get(f"/github/callback?state={session_state(web)}")
    assert resp.status_code == 400 and "no code" in resp.data.decode()


def test_a_second_app_cannot_be_started_once_one_exists(web, standin):
    start_creation(web)
    assert web.get(f"/github/callback?code={standin.add_manifest_code()}&state={session_state(web)}").status_code == 302
    with web.session_transaction() as sess:  # the form is gone from the page; a stale tab still has it
        token = sess["csrf"]
    resp = web.post("/github/app", data={"csrf": token, "name": "another"})
    assert resp.status_code == 409 and "already has a GitHub App" in resp.data.decode()


def test_an_app_without_a_webhook_secret_is_stored_and_flagged(web, gh_settings):
    store_registration(AppRegistration(
        app_id=77, slug="bare", name="bare", html_url="https://github.com/apps/bare", client_id="Iv1.x",
        client_secret="cs", webhook_secret=None, pem="-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n",
    ), gh_settings)
    (record,) = stored()
    assert record.webhook_secret_enc == ""
    assert webhook_secrets(gh_settings) == [gh_settings.github_webhook_secret]
    assert app_state(gh_settings).has_webhook_secret is False
    assert "did not return a webhook secret" in web.get("/github").data.decode()


def test_an_app_from_settings_is_shown_as_such(client, settings, standin):
    from web import create_app

    s = replace(settings, github_app_id=str(standin.app_id), github_app_private_key=standin.private_key_pem)
    page = sign_in(create_app(s).test_client()).get("/github").data.decode()
    assert "configured by" in page and "SLIPWAY_GITHUB_APP_ID" in page and 'action="/github/app"' not in page
    assert app_state(s).source == "settings"


def test_the_setup_url_only_shows_a_note(web):
    resp = web.get("/github/installed?installation_id=99&setup_action=install")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/github")
    assert "the App was installed" in web.get("/github").data.decode()
