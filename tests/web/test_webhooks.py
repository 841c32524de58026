"""``FastWebhooks`` answers GitHub's deliveries before Flask, exactly as Flask's view answers them."""

import json
import re
from dataclasses import replace
from urllib.parse import urlencode

import pytest
from werkzeug.test import Client

from slipway.db import session_scope
from slipway.projects import ProjectSpec, create_project
from tests.support.payloads import push_payload, sign

SHA = "3" * 40


@pytest.fixture
def project(settings):
    with session_scope() as s:
        create_project(s, ProjectSpec(name="site", repo_url="http://127.0.0.1:1/site.git", github_repo="acme/site"))


@pytest.fixture
def answers(app, settings):
    """``answers(...)``: one delivery answered by FastWebhooks, and the same one by Flask's view alone."""
    fast = Client(app)
    flask_only = Client(app.wsgi_app.wsgi_app)  # the Flask app behind the middleware

    def answer(client: Client, delivery: str, body: bytes, event: str, signature: str | None, content_type: str):
        headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery, "Content-Type": content_type}
        if signature is None:
            signature = sign(settings.github_webhook_secret, body)
        if signature:
            headers["X-Hub-Signature-256"] = signature
        resp = client.post("/webhooks/github", data=body, headers=headers)
        data = resp.get_data()
        resp.close()
        return resp.status, list(resp.headers.items()), data

    def both(body: bytes, event: str = "push", signature: str | None = None, content_type: str = "application/json",
             delivery: str = "d"):
        return (answer(fast, f"{delivery}-fast", body, event, signature, content_type),
                answer(flask_only, f"{delivery}-flask", body, event, signature, content_type))

    return both


def _push(**kwargs) -> bytes:
    return json.dumps(push_payload("acme/site", SHA, **kwargs)).encode()


@pytest.mark.parametrize("case, body, event, signature, content_type", [
    ("bad signature", _push(), "push", "sha256=" + "0" * 64, "application/json"),
    ("no signature", _push(), "push", "", "application/json"),
    ("malformed JSON", b"{not json", "push", None, "application/json"),
    ("not an object", b"[1, 2]", "push", None, "application/json"),
    ("ping", json.dumps({"zen": "Keep it logically awesome."}).encode(), "ping", None, "application/json"),
    ("push nobody deploys", _push(branch="unused"), "push", None, "application/json"),
    ("event Slipway does not use", b'{"action": "created"}', "star", None, "application/json"),
    ("form-encoded", urlencode({"payload": _push(branch="unused").decode()}).encode(), "push", None,
     "application/x-www-form-urlencoded"),
    ("no event header", _push(), "", None, "application/json"),
])
def test_the_fast_path_answers_as_flask_does(project, answers, case, body, event, signature, content_type):
    fast, flask = answers(body, event, signature, content_type)
    assert fast == flask, case
    status, headers, _data = fast
    assert ("X-Frame-Options", "DENY") in headers and ("Content-Type", "application/json") in headers, headers


def test_an_oversized_body_is_413_on_both_paths(project, app, settings, answers):
    app.config["SLIPWAY_SETTINGS"] = replace(settings, webhook_max_bytes="1000")
    fast, flask = answers(json.dumps({**push_payload("acme/site", SHA), "pad": "x" * 5000}).encode())
    assert fast == flask
    assert fast[0] == "413 REQUEST ENTITY TOO LARGE" and b"larger than 1000" in fast[2]


def test_without_a_webhook_secret_both_paths_answer_503(project, app, settings, answers):
    app.config["SLIPWAY_SETTINGS"] = replace(settings, github_webhook_secret="")
    fast, flask = answers(_push(), signature="sha256=" + "0" * 64)
    assert fast == flask and fast[0] == "503 SERVICE UNAVAILABLE"


def test_a_replay_is_answered_alike(project, app, settings):
    body = _push(branch="unused")
    headers = {"X-GitHub-Event": "push", "X-GitHub-Delivery": "twice", "Content-Type": "application/json",
               "X-Hub-Signature-256": sign(settings.github_webhook_secret, body)}
    first = Client(app).post("/webhooks/github", data=body, headers=headers)
    again_flask = Client(app.wsgi_app.wsgi_app).post("/webhooks/github", data=body, headers=headers)
    again_fast = Client(app).post("/webhooks/github", data=body, headers=headers)
    assert first.status_code == 202
    assert (again_fast.status, list(again_fast.headers.items()), again_fast.data) == \
        (again_flask.status, list(again_flask.headers.items()), again_flask.data)
    assert b"already received" in again_fast.data


def test_a_push_that_deploys_is_answered_alike(project, answers, queue):
    fast, flask = answers(_push(), delivery="deploys")
    assert fast[:2] == flask[:2] and fast[0] == "202 ACCEPTED"
    # Each created its own deployment (the second superseded the first): only the ids differ.
    assert re.sub(rb"\d+", b"N", fast[2]) == re.sub(rb"\d+", b"N", flask[2])
    assert json.loads(fast[2])["deployments"] != json.loads(flask[2])["deployments"]


def test_an_internal_error_gets_flasks_500_answer_without_its_text(project, app, settings, answers):
    # A database nobody listens on: recording the delivery raises, in either path.
    app.config.update(TESTING=False, PROPAGATE_EXCEPTIONS=False,
                      SLIPWAY_SETTINGS=replace(settings, database_url="postgresql+psycopg://nobody:secret-pw@127.0.0.1:1/x"))
    fast, flask = answers(_push(branch="unused"))
    assert fast == flask
    assert fast[0] == "500 INTERNAL SERVER ERROR" and json.loads(fast[2]) == {
        "error": "internal error; the operator's log has the details"}
    assert b"secret-pw" not in fast[2]


def test_an_internal_error_propagates_in_testing_as_flask_lets_it(project, app, settings, anonymous):
    app.config["SLIPWAY_SETTINGS"] = replace(settings, database_url="postgresql+psycopg://nobody:pw@127.0.0.1:1/x")
    body = _push(branch="unused")
    with pytest.raises(Exception, match="127.0.0.1"):
        anonymous.post("/webhooks/github", data=body, headers={
            "X-GitHub-Event": "push", "X-GitHub-Delivery": "boom", "Content-Type": "application/json",
            "X-Hub-Signature-256": sign(settings.github_webhook_secret, body)})


def test_other_requests_still_reach_flask(anonymous, client):
    assert anonymous.get("/webhooks/github").status_code == 405  # the route is POST only
    assert anonymous.get("/healthz").json == {"status": "ok"}
    assert client.get("/api/projects").status_code == 200
