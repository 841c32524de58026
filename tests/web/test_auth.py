"""Only the machine endpoints are public; people sign in with the admin password, scripts send it."""

import hashlib
import hmac
import json
import re
import time
from dataclasses import replace
from pathlib import Path

import pytest
from tests.support.payloads import push_payload
from tests.support.web import dashboard_app


pytestmark = pytest.mark.both_databases


def csrf_of(page: str) -> str:
    return page.split('name="csrf" value="')[1].split('"')[0]


@pytest.mark.parametrize("path", ["/", "/github", "/projects/x", "/deployments/1", "/deployments/1/log/stream"])
def test_pages_send_a_stranger_to_sign_in(anonymous, path):
    resp = anonymous.get(path)
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/login?next=")


def test_state_changing_forms_are_closed_to_strangers(anonymous):
    assert anonymous.post("/projects/x/deploy", data={}).status_code == 302
    assert anonymous.post("/github/app", data={}).status_code == 302


def test_the_api_answers_401_without_the_password_and_200_with_it(anonymous, settings):
    resp = anonymous.get("/api/projects")
    assert resp.status_code == 401 and "Bearer" in resp.json["error"]
    assert anonymous.get("/api/projects", headers={"Authorization": "Bearer wrong"}).status_code == 401
    ok = anonymous.get("/api/projects", headers={"Authorization": f"Bearer {settings.admin_password}"})
    assert ok.status_code == 200 and ok.json == []


def test_machine_endpoints_stay_public(anonymous, settings):
    assert anonymous.get("/healthz").status_code == 200
    body = json.dumps(push_payload("acme/none", "a" * 40)).encode()
    sig = "sha256=" + hmac.new(settings.github_webhook_secret.encode(), body, hashlib.sha256).hexdigest()
    resp = anonymous.post("/webhooks/github", data=body, headers={
        "X-GitHub-Event": "push", "X-GitHub-Delivery": "d", "X-Hub-Signature-256": sig,
        "Content-Type": "application/json"})
    assert resp.status_code == 202
    # Their own credentials still apply.
    assert anonymous.post("/hooks/deploy/hook_1_" + "x" * 40).status_code == 404
    assert anonymous.get("/git/nope.git/info/refs?service=git-upload-pack").status_code in (401, 404)


def test_sign_in_and_out(anonymous, settings):
    page = anonymous.get("/login?next=/github").data.decode()
    wrong = anonymous.post("/login", data={"csrf": csrf_of(page), "password": "guess", "next": "/github"})
    assert wrong.status_code == 401 and "not the admin password" in wrong.data.decode()
    assert anonymous.get("/").status_code == 302

    page = anonymous.get("/login?next=/github").data.decode()
    right = anonymous.post("/login", data={"csrf": csrf_of(page), "password": settings.admin_password,
                                           "next": "/github"})
    assert right.status_code == 302 and right.headers["Location"] == "/github"
    home = anonymous.get("/")
    assert home.status_code == 200 and b"Sign out" in home.data

    out = anonymous.post("/logout", data={"csrf": csrf_of(home.data.decode())})
    assert out.status_code == 302 and anonymous.get("/").status_code == 302


def test_login_needs_the_form_token_and_never_redirects_off_site(anonymous, settings):
    assert anonymous.post("/login", data={"password": settings.admin_password}).status_code == 400
    page = anonymous.get("/login").data.decode()
    resp = anonymous.post("/login", data={"csrf": csrf_of(page), "password": settings.admin_password,
                                          "next": "//evil.example/x"})
    assert resp.status_code == 302 and resp.headers["Location"] == "/"


# -- sessions end for real ---------------------------------------------------------------------

def sign_in_with(client, password: str, **kwargs):
    page = client.get("/login", **kwargs).data.decode()
    return client.post("/login", data={"csrf": csrf_of(page), "password": password}, **kwargs)


def browser_with(app, cookie: str):
    """Another browser, holding a copy of someone's session cookie."""
    other = app.test_client()
    other.set_cookie("session", cookie)
    return other


def test_a_cookie_copied_before_sign_out_is_refused_after_it(anonymous, app, settings):
    assert sign_in_with(anonymous, settings.admin_password).status_code == 302
    home = anonymous.get("/")
    copied = anonymous.get_cookie("session").value
    assert browser_with(app, copied).get("/").status_code == 200

    anonymous.post("/logout", data={"csrf": csrf_of(home.data.decode())})
    refused = browser_with(app, copied).get("/")
    assert refused.status_code == 302 and refused.headers["Location"].startswith("/login")
    assert browser_with(app, copied).get("/api/projects").status_code == 401


def test_a_new_admin_password_ends_every_session(anonymous, settings):
    from web import create_app

    assert sign_in_with(anonymous, settings.admin_password).status_code == 302
    copied = anonymous.get_cookie("session").value
    # A restart with the same password keeps people signed in...
    assert browser_with(create_app(settings), copied).get("/").status_code == 200
    # ...a restart with a new one does not, and the new password signs in.
    changed = create_app(replace(settings, admin_password="a-new-admin-password-456"))
    refused = browser_with(changed, copied).get("/")
    assert refused.status_code == 302 and refused.headers["Location"].startswith("/login")
    fresh = changed.test_client()
    assert sign_in_with(fresh, "a-new-admin-password-456").status_code == 302
    assert fresh.get("/").status_code == 200


@pytest.mark.parametrize("public_url, secure", [("http://127.0.0.1:8000", False), ("https://deploy.example", True)])
def test_the_session_cookie_is_http_only_same_site_lax_and_secure_over_https(settings, public_url, secure):
    from web import create_app

    browser = create_app(replace(settings, public_url=public_url)).test_client()
    page = browser.get("/login", base_url=public_url)
    signed_in = browser.post("/login", base_url=public_url, data={
        "csrf": csrf_of(page.data.decode()), "password": settings.admin_password})
    assert signed_in.status_code == 302
    for resp in (page, signed_in):
        attributes = [a.strip().lower() for a in resp.headers["Set-Cookie"].split(";")]
        assert "httponly" in attributes and "samesite=lax" in attributes
        assert ("secure" in attributes) == secure



# -- security headers --------------------------------------------------------------------------

def test_every_answer_carries_the_security_headers(client, anonymous):
    answers = {
        "page": client.get("/"),
        "sign-in page": anonymous.get("/login"),
        "API": client.get("/api/projects"),
        "404 page": client.get("/no/such/page"),
        "API 404": client.get("/api/deployments/999"),
        "redirect to sign in": anonymous.get("/"),
        "health": anonymous.get("/healthz"),
    }
    for what, resp in answers.items():
        csp = {d.split()[0]: d.split()[1:] for d in resp.headers.get("Content-Security-Policy", "").split("; ") if d}
        assert csp.get("frame-ancestors") == ["'none'"], what
        assert csp.get("default-src") == ["'self'"] and csp.get("script-src") == ["'self'"], what
        assert csp.get("object-src") == ["'none'"], what
        assert resp.headers.get("X-Frame-Options") == "DENY", what
        assert resp.headers.get("X-Content-Type-Options") == "nosniff", what
        assert resp.headers.get("Referrer-Policy") == "same-origin", what


def test_templates_keep_to_the_content_security_policy(client):
    """No inline script, style or event handler: the policy allows only files from /static."""
    templates = Path(__file__).resolve().parents[2] / "web" / "templates"
    for path in templates.glob("*.html"):
        text = path.read_text()
        assert not re.search(r"<script(?![^>]*\ssrc=)", text), f"{path.name}: inline <script>"
        assert "<style" not in text and not re.search(r"\sstyle=", text), f"{path.name}: inline style"
        assert not re.search(r"\son[a-z]+=", text), f"{path.name}: inline event handler"
        for src in re.findall(r"filename='([^']+)'", text):
            assert client.get(f"/static/{src}").status_code == 200, src


# -- failed sign-ins are rate-limited per client -----------------------------------------------

def limited_app(settings, limit: str):
    return dashboard_app(replace(settings, login_rate_limit=limit))


def from_address(client, address: str):
    client.environ_base["REMOTE_ADDR"] = address
    return client


def test_past_the_limit_failed_sign_ins_answer_429_and_even_the_right_password_waits(settings):
    app = limited_app(settings, "3 per hour")
    guesser = app.test_client()
    for _ in range(3):
        assert sign_in_with(guesser, "guess").status_code == 401
    blocked = sign_in_with(guesser, "guess")
    assert blocked.status_code == 429
    retry_after = int(blocked.headers["Retry-After"])
    assert 0 < retry_after <= 3600
    assert f"Try again in {retry_after} seconds" in blocked.data.decode()
    right = sign_in_with(guesser, settings.admin_password)
    assert right.status_code == 429 and guesser.get("/").status_code == 302  # not signed in
    assert guesser.get("/api/projects", headers={"Authorization": f"Bearer {settings.admin_password}"}
                       ).status_code == 429  # one count for the form and the API

    # Someone else signs in as usual, and the machine endpoints never wait.
    other = from_address(app.test_client(), "127.0.0.2")
    assert sign_in_with(other, settings.admin_password).status_code == 302
    assert guesser.get("/healthz").status_code == 200
    assert guesser.post("/hooks/deploy/hook_1_" + "x" * 40).status_code == 404
    assert guesser.get("/git/nope.git/info/refs?service=git-upload-pack").status_code in (401, 404)
    body = json.dumps(push_payload("acme/none", "a" * 40)).encode()
    assert guesser.post("/webhooks/github", data=body, headers={
        "X-GitHub-Event": "push", "X-GitHub-Delivery": "d", "Content-Type": "application/json",
        "X-Hub-Signature-256": "sha256=" + hmac.new(settings.github_webhook_secret.encode(), body,
                                                   hashlib.sha256).hexdigest()}).status_code == 202


def test_the_count_is_kept_in_redis_so_every_web_worker_shares_it(settings, redis):
    first, second = limited_app(settings, "3 per hour"), limited_app(settings, "3 per hour")
    assert sign_in_with(first.test_client(), "guess").status_code == 401
    assert sign_in_with(second.test_client(), "guess").status_code == 401
    assert sign_in_with(first.test_client(), "guess").status_code == 401
    assert sign_in_with(second.test_client(), settings.admin_password).status_code == 429
    assert redis.keys(f"*slipway:{settings.queue_name}:limits*")  # in this instance's namespace


def test_failed_bearer_passwords_are_limited_too(settings):
    app = limited_app(settings, "2 per hour")
    script = app.test_client()
    for _ in range(2):
        assert script.get("/api/projects", headers={"Authorization": "Bearer guess"}).status_code == 401
    blocked = script.get("/api/projects", headers={"Authorization": f"Bearer {settings.admin_password}"})
    assert blocked.status_code == 429 and "Try again in" in blocked.json["error"]
    assert int(blocked.headers["Retry-After"]) > 0
    assert sign_in_with(script, settings.admin_password).status_code == 429


def test_the_password_is_not_taken_as_bearer_on_pages(settings, anonymous):
    # Pages need a session: the Bearer password is taken (and its failures counted) by the API only.
    resp = anonymous.get("/", headers={"Authorization": f"Bearer {settings.admin_password}"})
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/login")


def test_right_passwords_never_count(settings):
    app = limited_app(settings, "2 per hour")
    browser = app.test_client()
    for _ in range(5):
        assert sign_in_with(browser, settings.admin_password).status_code == 302
        assert browser.get("/api/projects", headers={"Authorization": f"Bearer {settings.admin_password}"}
                           ).status_code == 200
    assert sign_in_with(browser, "guess").status_code == 401
    assert sign_in_with(browser, settings.admin_password).status_code == 302


def test_the_right_password_works_again_once_the_window_has_passed(settings):
    app = limited_app(settings, "2 per 1 second")
    guesser = app.test_client()
    # The window moves: two failures within one second block (a slow machine just takes more tries).
    for _ in range(20):
        blocked = sign_in_with(guesser, "guess")
        if blocked.status_code == 429:
            break
    assert blocked.status_code == 429
    time.sleep(int(blocked.headers["Retry-After"]))
    assert sign_in_with(guesser, settings.admin_password).status_code == 302


def test_a_limit_that_cannot_be_read_is_refused_at_start(settings):
    from slipway.errors import UserError

    with pytest.raises(UserError, match="SLIPWAY_LOGIN_RATE_LIMIT"):
        limited_app(settings, "ten a minute")
