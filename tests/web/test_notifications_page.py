"""The project page's notifications form: add, see (by host only), remove; what to fix when it is wrong."""

from __future__ import annotations

import pytest

from slipway.db import session_scope
from slipway.models import NotificationChannel, Project

pytestmark = pytest.mark.both_databases


def csrf_of(page: str) -> str:
    return page.split('name="csrf" value="')[1].split('"')[0]


@pytest.fixture
def page(settings, client):
    with session_scope() as s:
        s.add(Project(name="shop", repo_url="https://example.com/shop.git"))
    return lambda: client.get("/projects/shop").data.decode()


def test_a_channel_is_added_shown_by_host_only_and_removed(client, page):
    html = page()
    assert "Nobody hears when a deployment fails" in html
    r = client.post("/projects/shop/notifications", data={
        "csrf": csrf_of(html), "name": "team", "kind": "slack", "on_failure": "1",
        "target": "https://hooks.slack.com/services/T0/B0/page-token-123"})
    assert r.status_code == 302
    html = page()
    assert "https://hooks.slack.com/…" in html and "page-token-123" not in html and "none yet" in html
    r = client.post("/projects/shop/notifications/team/delete", data={"csrf": csrf_of(html)})
    assert r.status_code == 302 and "Nobody hears" in page()
    assert client.post("/projects/shop/notifications/team/delete", data={"csrf": csrf_of(html)}).status_code == 404


def test_a_signed_webhooks_secret_is_shown_once_and_never_put_in_the_cookie(client, page):
    r = client.post("/projects/shop/notifications", data={
        "csrf": csrf_of(page()), "name": "ci", "kind": "webhook", "on_failure": "1", "on_success": "1",
        "target": "https://93.184.215.14/hook"})  # a public address: no resolver is needed here
    assert r.status_code == 201
    secret = r.data.decode().split("<pre class=\"mono\">")[1].split("<")[0]
    assert secret.startswith("whsec_")
    assert secret not in (r.headers.get("Set-Cookie") or "")
    assert secret not in page()
    with session_scope() as s:
        (c,) = s.query(NotificationChannel).all()
        assert (c.on_failure, c.on_success) == (True, True) and secret not in (c.secret_enc or "")


def test_bad_values_are_answered_400_with_what_to_fix(client, page):
    r = client.post("/projects/shop/notifications", data={
        "csrf": csrf_of(page()), "name": "mail", "kind": "email", "target": "ops@example.com", "on_failure": "1"})
    assert r.status_code == 400 and "SLIPWAY_SMTP_HOST" in r.data.decode()
    r = client.post("/projects/shop/notifications", data={
        "csrf": csrf_of(page()), "name": "meta", "kind": "webhook", "on_failure": "1",
        "target": "http://169.254.169.254/latest/meta-data/"})
    assert r.status_code == 400 and "169.254.169.254 is a private address" in r.data.decode()
    assert "SLIPWAY_NOTIFY_ALLOW_PRIVATE" in r.data.decode()
    r = client.post("/projects/nope/notifications", data={"csrf": csrf_of(page()), "name": "x", "kind": "slack"})
    assert r.status_code == 404
