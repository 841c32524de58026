"""Sign in with GitHub, end to end through the stand-in's OAuth web flow, and what a signed-in
user then sees: the projects whose repositories GitHub says they reach."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import select

from slipway.accounts.models import User
from slipway.db import session_scope

pytestmark = pytest.mark.both_databases


def github_login(client, github, login: str, follow_to_slipway: bool = True):
    """The browser's trip: Slipway -> GitHub's authorize page (signed in there as ``login``) -> back."""
    start = client.get("/login/github?next=/projects/hello-app")
    assert start.status_code == 302
    authorize = start.headers["Location"]
    assert authorize.startswith(f"{github.url}/login/oauth/authorize?")
    at_github = requests.get(authorize, cookies={"user_session": github.users[login].browser_cookie},
                             allow_redirects=False, timeout=10)
    assert at_github.status_code == 302, at_github.text
    back = at_github.headers["Location"]
    if not follow_to_slipway:
        return back
    parts = urlsplit(back)
    return client.get(f"{parts.path}?{parts.query}")


def test_alice_signs_in_and_sees_the_project_of_the_repository_she_reaches(gh_app, github, github_projects,
                                                                            gh_settings, caplog):
    browser = gh_app.test_client()
    assert b"Sign in with GitHub" in browser.get("/login").data
    resp = github_login(browser, github, "alice")
    assert resp.status_code == 302 and resp.headers["Location"] == "/projects/hello-app"
    home = browser.get("/").get_data(as_text=True)
    assert "hello-app" in home and "other-app" not in home and "github:alice" in home
    assert browser.get("/projects/other-app").status_code == 404
    page = browser.get("/projects/hello-app").get_data(as_text=True)
    assert "Deploy main now" in page  # push access on GitHub: a member here
    # Her token is stored, encrypted: the database never holds it in the clear.
    (token,) = list(github.user_tokens)
    with session_scope() as s:
        user = s.scalar(select(User).where(User.login == "alice"))
        assert user.github_id == github.users["alice"].id and user.access_token_enc
        assert token not in user.access_token_enc and token not in (user.refresh_token_enc or "")
    assert token not in caplog.text and github.client_secret not in caplog.text


def test_github_is_asked_once_per_cache_period_not_once_per_request(gh_app, github, github_projects):
    browser = gh_app.test_client()
    github_login(browser, github, "alice")
    for _ in range(3):
        assert browser.get("/projects/hello-app").status_code == 200
    asked = [path for _method, path, _status in github.requests if path == "/user/installations"]
    assert len(asked) == 1


def test_read_access_on_github_makes_a_viewer(gh_app, github, github_projects):
    browser = gh_app.test_client()
    github_login(browser, github, "bob")
    page = browser.get("/projects/hello-app").get_data(as_text=True)
    assert "hello-app" in page and "Deploy main now" not in page
    assert browser.post("/projects/hello-app/deploy", data={}).status_code == 403


def test_someone_without_access_sees_nothing(gh_app, github, github_projects):
    browser = gh_app.test_client()
    github_login(browser, github, "carol")
    home = browser.get("/").get_data(as_text=True)
    assert "hello-app" not in home and "other-app" not in home
    assert browser.get("/projects/hello-app").status_code == 404
    assert browser.get("/github").status_code == 404  # the App's setup is the operator's


def test_a_callback_without_the_state_is_refused_before_github_is_asked(gh_app, github, github_projects):
    browser = gh_app.test_client()
    back = github_login(browser, github, "alice", follow_to_slipway=False)
    code = parse_qs(urlsplit(back).query)["code"][0]
    for query in (f"code={code}", f"code={code}&state=someone-elses"):
        resp = browser.get(f"/login/github/callback?{query}")
        assert resp.status_code == 400 and b"did not start here" in resp.data
    assert not [r for r in github.oauth_requests if r[0] == "/login/oauth/access_token"]
    assert browser.get("/").status_code == 302  # not signed in


def test_a_code_works_once(gh_app, github, github_projects):
    browser = gh_app.test_client()
    back = github_login(browser, github, "alice", follow_to_slipway=False)
    parts = urlsplit(back)
    assert browser.get(f"{parts.path}?{parts.query}").status_code == 302
    other = gh_app.test_client()
    state = parse_qs(urlsplit(other.get("/login/github").headers["Location"]).query)["state"][0]
    code = parse_qs(parts.query)["code"][0]
    resp = other.get(f"/login/github/callback?code={code}&state={state}")
    assert resp.status_code == 401 and b"already used or has expired" in resp.data
    assert github.oauth_requests[-1][3] == "bad_verification_code"


# -- the stand-in is as strict as GitHub ---------------------------------------------------------

def _code(github, login="alice", redirect_uri=None):
    redirect_uri = redirect_uri or github.callback_urls[0]
    resp = requests.get(f"{github.url}/login/oauth/authorize", params={
        "client_id": github.client_id, "redirect_uri": redirect_uri, "state": "s"},
        cookies={"user_session": github.users[login].browser_cookie}, allow_redirects=False, timeout=10)
    assert resp.status_code == 302, resp.text
    return parse_qs(urlsplit(resp.headers["Location"]).query)["code"][0]


def _exchange(github, **overrides):
    data = {"client_id": github.client_id, "client_secret": github.client_secret,
            "redirect_uri": github.callback_urls[0], **overrides}
    return requests.post(f"{github.url}/login/oauth/access_token", data=data,
                         headers={"Accept": "application/json"}, timeout=10).json()


def test_standin_refuses_what_github_refuses(gh_settings, github):
    assert _exchange(github, code=_code(github), client_secret="wrong")["error"] == "incorrect_client_credentials"
    assert _exchange(github, code=_code(github), redirect_uri="http://evil.example/cb")["error"] == \
        "redirect_uri_mismatch"
    code = _code(github)
    assert "access_token" in _exchange(github, code=code)
    assert _exchange(github, code=code)["error"] == "bad_verification_code"  # used
    code = _code(github)
    github.clock.advance(601)
    assert _exchange(github, code=code)["error"] == "bad_verification_code"  # expired after ten minutes
    # A redirect_uri the App did not register, or no state: never sent back with a code.
    unregistered = requests.get(f"{github.url}/login/oauth/authorize", params={
        "client_id": github.client_id, "redirect_uri": "http://evil.example/cb", "state": "s"},
        cookies={"user_session": github.users["alice"].browser_cookie}, allow_redirects=False, timeout=10)
    no_state = requests.get(f"{github.url}/login/oauth/authorize", params={
        "client_id": github.client_id, "redirect_uri": github.callback_urls[0]},
        cookies={"user_session": github.users["alice"].browser_cookie}, allow_redirects=False, timeout=10)
    assert unregistered.status_code == 400 and no_state.status_code == 400


def test_an_expired_user_token_is_refreshed(gh_app, github, github_projects, gh_settings, redis):
    from slipway.accounts.users import forget_github_roles

    browser = gh_app.test_client()
    github_login(browser, github, "alice")
    github.clock.advance(8 * 3600 + 1)  # GitHub's side: the ghu_ token has expired
    github.expire_user_tokens()
    with session_scope() as s:
        user = s.scalar(select(User).where(User.login == "alice"))
        user.access_token_expires_at = user.access_token_expires_at.replace(year=2000)  # and Slipway knows it
        forget_github_roles(gh_settings, redis, user.id)
    assert browser.get("/projects/hello-app").status_code == 200
    assert len(github.user_tokens) == 2  # a second token, from the refresh token


def test_an_app_created_on_the_github_page_signs_people_in_with_its_stored_client(settings, github,
                                                                                   github_projects):
    from dataclasses import replace

    from slipway.github.app import register_from_manifest
    from slipway.settings import set_settings
    from web import create_app

    s = replace(settings, github_client_id="", github_client_secret="", github_url=github.url,
                github_api_url=github.url)
    set_settings(s)
    register_from_manifest(github.add_manifest_code(), s)  # client id and secret stored, the secret encrypted
    app = create_app(s)
    browser = app.test_client()
    resp = github_login(browser, github, "alice")
    assert resp.status_code == 302
    assert "hello-app" in browser.get("/").get_data(as_text=True)


def test_without_an_app_the_sign_in_page_offers_only_the_password(settings, anonymous):
    assert b"Sign in with GitHub" not in anonymous.get("/login").data
    resp = anonymous.get("/login/github")
    assert resp.status_code == 409 and b"SLIPWAY_GITHUB_CLIENT_ID" in resp.data
