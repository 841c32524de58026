"""The receiver: signature first, each delivery once, clear answers for bad input, no stray builds."""

import json

import pytest
from sqlalchemy import func, select

from slipway.db import session_scope
from slipway.models import Deployment, WebhookDelivery
from slipway.projects import ProjectSpec, create_project
from slipway.queue import job_id_for
from tests.support.payloads import installation_event, pr_payload, push_payload, repo, repositories_event, sign

pytestmark = pytest.mark.both_databases

SHA = "3" * 40


@pytest.fixture
def project(settings):
    with session_scope() as s:
        create_project(s, ProjectSpec(name="site", repo_url="http://127.0.0.1:1/site.git", github_repo="acme/site"))


def deployment_count() -> int:
    with session_scope() as s:
        return s.scalar(select(func.count(Deployment.id)))


def test_push_creates_one_deployment_and_enqueues_it_by_id(project, send_webhook, queue):
    resp = send_webhook("push", push_payload("acme/site", SHA), delivery="d-1")
    assert resp.status_code == 202, resp.json
    (dep_id,) = resp.json["deployments"]
    with session_scope() as s:
        dep = s.get(Deployment, dep_id)
        assert (dep.sha, dep.branch, dep.trigger, dep.state) == (SHA, "main", "push", "queued")
        delivery = s.scalar(select(WebhookDelivery).where(WebhookDelivery.delivery_id == "d-1"))
        assert delivery.deployment_id == dep_id and delivery.outcome.startswith("202")
    assert queue.job_ids == [job_id_for(dep_id)]
    job = queue.fetch_job(job_id_for(dep_id))
    assert tuple(job.args) == (dep_id,) and job.kwargs == {}


def test_redelivery_of_the_same_id_is_a_no_op(project, send_webhook, queue):
    body = push_payload("acme/site", SHA)
    assert send_webhook("push", body, delivery="same").status_code == 202
    again = send_webhook("push", body, delivery="same")
    assert again.status_code == 200
    assert "already received" in again.json["message"]
    assert deployment_count() == 1
    assert len(queue.job_ids) == 1


@pytest.mark.parametrize("signature, fragment", [
    ("", "missing X-Hub-Signature-256"),
    ("sha256=" + "0" * 64, "does not match"),
    ("sha1=abc", "does not match"),
    ("garbage", "does not match"),
])
def test_bad_or_missing_signature_is_401_and_builds_nothing(project, send_webhook, queue, signature, fragment):
    resp = send_webhook("push", push_payload("acme/site", SHA), signature=signature)
    assert resp.status_code == 401
    assert fragment in resp.json["error"]
    assert deployment_count() == 0 and queue.count == 0
    with session_scope() as s:
        assert s.scalar(select(func.count(WebhookDelivery.id))) == 0


def test_signature_with_another_secret_is_refused(project, send_webhook, queue):
    resp = send_webhook("push", push_payload("acme/site", SHA), secret="not-the-secret")
    assert resp.status_code == 401 and deployment_count() == 0


@pytest.mark.parametrize("body, fragment", [
    (b"{not json", "not valid JSON"),
    (b"[1, 2]", "JSON object"),
    (b"\xff\xfe", "not valid JSON"),
])
def test_malformed_bodies_get_400(project, send_webhook, queue, body, fragment):
    resp = send_webhook("push", body)
    assert resp.status_code == 400 and fragment in resp.json["message"]
    assert deployment_count() == 0 and queue.count == 0


@pytest.mark.parametrize("payload, status, fragment", [
    ({"ref": "refs/heads/main"}, 400, "repository.full_name"),
    (push_payload("acme/site", "xyz"), 400, "40-character"),
    (push_payload("acme/site", "0" * 40, deleted=True), 200, "deleted"),
    ({**push_payload("acme/site", SHA), "ref": "refs/tags/v1"}, 202, "not a branch"),
    (push_payload("acme/site", SHA, branch="feature"), 202, "no project deploys"),
    (push_payload("acme/other", SHA), 202, "no project deploys"),
])
def test_pushes_that_build_nothing_say_why(project, send_webhook, queue, payload, status, fragment):
    resp = send_webhook("push", payload)
    assert resp.status_code == status and fragment in resp.json["message"]
    assert deployment_count() == 0 and queue.count == 0


def test_a_push_for_a_disconnected_project_builds_nothing_says_why_and_is_recorded(project, send_webhook, queue):
    from slipway.models import Project

    with session_scope() as s:
        s.scalar(select(Project)).disconnected_reason = "The GitHub App was uninstalled."
    resp = send_webhook("push", push_payload("acme/site", SHA), delivery="to-a-disconnected-project")
    assert resp.status_code == 202 and resp.json["message"] == "not deployed: site: The GitHub App was uninstalled."
    assert deployment_count() == 0 and queue.count == 0
    with session_scope() as s:
        (delivery,) = s.scalars(select(WebhookDelivery)).all()
        assert delivery.delivery_id == "to-a-disconnected-project" and delivery.outcome.startswith("202 not deployed")


def test_ping_and_unknown_events(project, send_webhook, queue):
    assert send_webhook("ping", {"zen": "Keep it logically awesome."}).json["message"].startswith("pong")
    resp = send_webhook("star", {"action": "created"})
    assert resp.status_code == 202 and "not used" in resp.json["message"]
    assert deployment_count() == 0


def test_missing_event_headers(client, settings):

    body = b"{}"
    resp = client.post("/webhooks/github", data=body, headers={"X-Hub-Signature-256": sign(settings.github_webhook_secret, body)})
    assert resp.status_code == 400 and "X-GitHub-Event" in resp.json["error"]


def test_oversized_body_is_413(project, app, send_webhook, settings, queue):
    from dataclasses import replace

    app.config["SLIPWAY_SETTINGS"] = replace(settings, webhook_max_bytes="1000")
    resp = send_webhook("push", {**push_payload("acme/site", SHA), "pad": "x" * 5000})
    assert resp.status_code == 413 and "larger than 1000" in resp.json["error"]
    assert deployment_count() == 0


def test_form_encoded_delivery(project, send_webhook, queue):
    from urllib.parse import urlencode

    body = urlencode({"payload": json.dumps(push_payload("acme/site", SHA))}).encode()
    resp = send_webhook("push", body, content_type="application/x-www-form-urlencoded")
    assert resp.status_code == 202 and len(resp.json["deployments"]) == 1


def test_redis_down_fails_the_deployment_instead_of_leaving_it_queued(project, app, send_webhook, settings):
    from dataclasses import replace

    from slipway.settings import set_settings

    broken = replace(settings, redis_url="redis://127.0.0.1:1/0")
    set_settings(broken)
    app.config["SLIPWAY_SETTINGS"] = broken
    resp = send_webhook("push", push_payload("acme/site", SHA), delivery="while-redis-is-down")
    assert resp.status_code == 503 and "redeliver" in resp.json["error"]
    with session_scope() as s:
        (dep,) = s.scalars(select(Deployment)).all()
        assert dep.state == "failed" and dep.finished_at is not None
        # Forgotten, so GitHub's redelivery of the same id is processed instead of skipped.
        assert s.scalar(select(func.count(WebhookDelivery.id))) == 0


def test_a_server_error_page_shows_no_exception_text(app, client):
    @app.get("/boom")
    def boom():
        raise RuntimeError("secret-token-abcdef")

    app.config["TESTING"] = False
    app.config["PROPAGATE_EXCEPTIONS"] = False
    resp = client.get("/boom")
    assert resp.status_code == 500 and b"secret-token-abcdef" not in resp.data


def test_a_newer_push_cancels_the_older_unfinished_deployment(project, send_webhook, queue):
    first = send_webhook("push", push_payload("acme/site", "1" * 40)).json["deployments"][0]
    second = send_webhook("push", push_payload("acme/site", "2" * 40)).json["deployments"][0]
    with session_scope() as s:
        old, new = s.get(Deployment, first), s.get(Deployment, second)
        assert (old.state, old.error_id) == ("cancelled", "app:superseded")
        assert "2222222" in old.error_message and old.finished_at is not None
        assert new.state == "queued"
    # Both jobs stay queued: the cancelled one still runs, to report its cancellation.
    assert len(queue.job_ids) == 2


# -- hostile input from a validly signed sender: always a 4xx, never a 500 ----------------

def _installation(installation_id=123, repositories=None):

    return installation_event("created", installation_id=installation_id, repositories=repositories or [])


def _repositories_added(repo_id):

    return repositories_event("added", added=[repo(repo_id, "acme/site")])


def _pull_request(number):

    payload = pr_payload("opened", 1, SHA, repo="acme/site")
    payload["number"] = payload["pull_request"]["number"] = number
    return payload


@pytest.mark.parametrize("event, make", [
    ("installation", lambda n: _installation(installation_id=n)),
    ("installation", lambda n: _installation(repositories=[{"id": n, "full_name": "acme/site", "private": True}])),
    ("installation_repositories", _repositories_added),
    ("pull_request", _pull_request),
])
@pytest.mark.parametrize("number", [2**63, 2**64 + 5, -1, 0])
def test_ids_out_of_the_databases_range_are_400(project, send_webhook, queue, event, make, number):
    resp = send_webhook(event, make(number))
    assert resp.status_code == 400, resp.data
    assert "must be a positive integer" in resp.json["message"]
    assert deployment_count() == 0 and queue.count == 0


def test_pull_request_numbers_must_fit_their_32_bit_column(project, send_webhook, queue):
    resp = send_webhook("pull_request", _pull_request(2**31))
    assert resp.status_code == 400 and "must be a positive integer" in resp.json["message"]
    assert send_webhook("pull_request", _pull_request(2**31 - 1)).status_code == 202


@pytest.mark.parametrize("body", [
    b"[" * 20_000 + b"]" * 20_000,
    b'{"a":' * 20_000 + b"1" + b"}" * 20_000,
    b'{"zen": "' + b"[" * 20_000 + b'", "x": ' + b"[" * 65 + b"]" * 65 + b"}",
])
def test_json_nested_too_deep_is_400(project, send_webhook, queue, body):
    resp = send_webhook("push", body)
    assert resp.status_code == 400 and "nested more than 64 deep" in resp.json["message"]
    assert deployment_count() == 0


def test_brackets_inside_strings_do_not_count_as_nesting(project, send_webhook):
    resp = send_webhook("ping", {"zen": "[[[{{{" * 1000 + '\\"]]'})
    assert resp.status_code == 200 and resp.json["message"].startswith("pong")


def test_form_encoded_json_nested_too_deep_is_400(project, send_webhook):
    from urllib.parse import urlencode

    body = urlencode({"payload": "[" * 20_000 + "]" * 20_000}).encode()
    resp = send_webhook("push", body, content_type="application/x-www-form-urlencoded")
    assert resp.status_code == 400 and "nested more than 64 deep" in resp.json["message"]



def test_a_chunked_body_over_the_limit_is_413_not_401(project, app, settings, server):
    """Transfer-Encoding: chunked has no Content-Length to check: the bytes are counted as they are read."""
    from dataclasses import replace

    import requests


    app.config["SLIPWAY_SETTINGS"] = replace(settings, webhook_max_bytes="1000")
    body = json.dumps({**push_payload("acme/site", SHA), "pad": "x" * 5000}).encode()
    headers = {"X-GitHub-Event": "push", "X-GitHub-Delivery": "chunked-1", "Content-Type": "application/json",
               "X-Hub-Signature-256": sign(settings.github_webhook_secret, body)}
    resp = requests.post(f"{server}/webhooks/github", data=iter([body[i:i + 500] for i in range(0, len(body), 500)]),
                         headers=headers, timeout=30)
    assert resp.request.headers.get("Transfer-Encoding") == "chunked" and "Content-Length" not in resp.request.headers
    assert resp.status_code == 413 and "larger than 1000" in resp.json()["error"]
    assert deployment_count() == 0

    small = json.dumps(push_payload("acme/site", SHA)).encode()
    app.config["SLIPWAY_SETTINGS"] = replace(settings, webhook_max_bytes=str(len(small)))
    headers.update({"X-GitHub-Delivery": "chunked-2", "X-Hub-Signature-256": sign(settings.github_webhook_secret, small)})
    resp = requests.post(f"{server}/webhooks/github", data=iter([small[:100], small[100:]]), headers=headers, timeout=30)
    assert resp.status_code == 202, resp.text


def test_the_receiving_pipeline_needs_no_web_framework(project, settings, queue):
    """``webhooks.github.receive`` takes bytes, headers and settings; web/webhooks.py only serves it."""
    import subprocess
    import sys

    from tests.support.payloads import sign
    from webhooks.github import receive

    body = json.dumps(push_payload("acme/site", SHA, branch="unused")).encode()
    headers = {"X-GitHub-Event": "push", "X-GitHub-Delivery": "without-flask", "Content-Type": "application/json",
               "X-Hub-Signature-256": sign(settings.github_webhook_secret, body)}
    outcome = receive(settings, body, headers)
    assert (outcome.status, outcome.body()) == (202, {"message": "no project deploys acme/site branch unused"})
    again = receive(settings, body, headers)
    assert again.status == 200 and "already received" in again.message
    refused = receive(settings, body, {**headers, "X-Hub-Signature-256": "sha256=" + "0" * 64})
    assert refused.status == 401 and "does not match" in refused.body()["error"]
    assert deployment_count() == 0 and queue.count == 0
    probe = "import sys, webhooks.github; sys.exit(3 if {'flask', 'werkzeug'} & set(sys.modules) else 0)"
    assert subprocess.run([sys.executable, "-c", probe], timeout=60).returncode == 0
