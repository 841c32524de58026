"""Every example payload GitHub publishes (``@octokit/webhooks-examples``) for the events Slipway
subscribes to is handled: signed, through the real receiver, with a deliberate answer."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from slipway.db import session_scope
from slipway.models import Deployment, Installation, InstallationRepository, Project
from slipway.projects import ProjectSpec, create_project
from tests.github.examples import webhook_delivery, webhook_examples

EVENTS = ("push", "pull_request", "installation", "installation_repositories", "ping")


def examples(event: str):
    return [pytest.param(payload, id=f"{event}-{i}-{payload.get('action') or payload.get('ref') or 'ping'}")
            for i, payload in enumerate(webhook_examples(event))]


@pytest.fixture
def deliver(client, settings):
    def send(event: str, payload: dict):
        body, headers = webhook_delivery(event, payload, settings.github_webhook_secret)
        resp = client.post("/webhooks/github", data=body, headers=headers)
        assert resp.status_code < 500, resp.data
        assert resp.is_json and isinstance(resp.json.get("message"), str) and resp.json["message"], resp.data
        return resp

    return send


def test_there_are_examples_of_every_event():
    for event in EVENTS:
        assert webhook_examples(event), event


@pytest.mark.parametrize("payload", examples("ping"))
def test_ping(deliver, payload):
    resp = deliver("ping", payload)
    assert resp.status_code == 200 and resp.json["message"] == f"pong: {payload['zen']}"


@pytest.mark.parametrize("payload", examples("push"))
def test_push_for_a_repository_no_project_deploys(deliver, payload, queue):
    resp = deliver("push", payload)
    ref, repo = payload["ref"], payload["repository"]["full_name"]
    if ref.startswith("refs/heads/"):
        expected = (202, f"no project deploys {repo} branch {ref.removeprefix('refs/heads/')}")
    else:
        expected = (202, f"{ref} is not a branch; only branch pushes deploy")
    assert (resp.status_code, resp.json["message"]) == expected
    assert queue.count == 0


@pytest.mark.parametrize("payload", [p for p in webhook_examples("push") if p["ref"].startswith("refs/heads/")])
def test_push_to_a_tracked_branch_queues_a_deployment(deliver, payload, queue, settings):
    repo, branch = payload["repository"]["full_name"], payload["ref"].removeprefix("refs/heads/")
    with session_scope() as s:
        create_project(s, ProjectSpec(name="hello", repo_url=payload["repository"]["clone_url"],
                                      github_repo=repo, branch=branch))
    resp = deliver("push", payload)
    assert resp.status_code == 202 and resp.json["message"] == f"queued deployment of {payload['after'][:7]} for hello"
    (dep_id,) = resp.json["deployments"]
    with session_scope() as s:
        dep = s.get(Deployment, dep_id)
        assert (dep.sha, dep.branch, dep.trigger) == (payload["after"], branch, "push")
        # the dashboard's lists show the head commit's first line and author, as GitHub sent them
        head = payload["head_commit"]
        assert dep.commit_message == head["message"].splitlines()[0]
        assert dep.commit_author == head["author"]["name"]
    assert queue.count == 1


@pytest.mark.parametrize("payload", [p for p in webhook_examples("push") if p["ref"].startswith("refs/heads/")])
def test_push_deleting_a_branch_builds_nothing(deliver, payload, queue):
    # GitHub's examples delete only tags; a deleted branch is the same shape with a branch ref.
    payload.update(deleted=True, created=False, after="0" * 40, head_commit=None)
    with session_scope() as s:
        create_project(s, ProjectSpec(name="hello", repo_url="https://github.com/x/y.git",
                                      github_repo=payload["repository"]["full_name"],
                                      branch=payload["ref"].removeprefix("refs/heads/")))
    resp = deliver("push", payload)
    assert resp.status_code == 200 and "was deleted; nothing to build" in resp.json["message"]
    assert queue.count == 0


@pytest.mark.parametrize("payload", examples("pull_request"))
def test_pull_request(deliver, payload):
    # Previews are another handler's; here only: no 5xx, a JSON message (checked by deliver).
    deliver("pull_request", payload)


@pytest.mark.parametrize("payload", examples("installation"))
def test_installation(deliver, payload):
    resp = deliver("installation", payload)
    inst = payload["installation"]
    assert resp.status_code == 200
    assert resp.json["message"].startswith(f"installation {inst['id']} on {inst['account']['login']} ")
    with session_scope() as s:
        row = s.get(Installation, inst["id"])
        repos = sorted(s.scalars(select(InstallationRepository.full_name)
                                 .where(InstallationRepository.installation_id == inst["id"])))
    assert row.account_login == inst["account"]["login"] and row.account_type == inst["account"]["type"]
    action = payload["action"]
    assert (row.deleted_at is not None) == (action == "deleted")
    assert row.suspended == (action == "suspend")
    if action == "created":
        assert repos == sorted(r["full_name"] for r in payload["repositories"])
    if action == "deleted":
        assert repos == []


@pytest.mark.parametrize("payload", examples("installation_repositories"))
def test_installation_repositories(deliver, payload):
    inst_id = payload["installation"]["id"]
    removed = [r["full_name"] for r in payload["repositories_removed"]]
    with session_scope() as s:  # a project that the removal disconnects
        for name in removed:
            p = create_project(s, ProjectSpec(name="gone", repo_url=f"https://github.com/{name}.git", github_repo=name))
            p.installation_id = inst_id
    resp = deliver("installation_repositories", payload)
    assert resp.status_code == 200
    with session_scope() as s:
        repos = set(s.scalars(select(InstallationRepository.full_name)
                              .where(InstallationRepository.installation_id == inst_id)))
        assert repos == {r["full_name"] for r in payload["repositories_added"]}
        if removed:
            assert resp.json["message"].endswith("; disconnected gone")
            assert "no longer has access to " + removed[0] in s.scalar(select(Project.disconnected_reason))
