"""A repository connected through the GitHub App, end to end on the real Redis, Docker Engine,
registry and git: signed push -> rq job -> fetch as the installation from a git server that
demands its token -> build -> run -> commit statuses and a GitHub Deployment on the strict
api.github.com stand-in."""

from __future__ import annotations

import base64
import json
import subprocess
import threading
import time
import uuid
from datetime import datetime, timezone

import pytest
import requests
from rq.job import Job as RqJob
from sqlalchemy import select

from slipway.buildlog import stream_key
from slipway.db import session_scope
from slipway.deployments import PushedCommit, request_deployment
from slipway.jobs import Pipeline
from slipway.models import Deployment, Project
from slipway.queue import SERIALIZER, job_id_for
from tests.github.standin import GitHubStandIn
from tests.support.github import INSTALLATION_ID, REPO
from tests.support.pipeline import everything_stored, log_of, push, site_files
from tests.support.web import dashboard_app

pytestmark = pytest.mark.docker


@pytest.fixture
def app(github_settings):
    return dashboard_app(github_settings)


def get(dep_id: int) -> Deployment:
    with session_scope() as s:
        return s.get(Deployment, dep_id)


def dashboard(settings, dep_id: int) -> str:
    return f"{settings.public_url}/deployments/{dep_id}"


def commit_statuses(standin: GitHubStandIn, sha: str) -> list[tuple[str, str]]:
    return [(s["state"], s["description"]) for s in standin.statuses(REPO, sha)]


def utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def test_a_push_is_built_from_the_private_repo_and_reported_on_the_commit(
        github_settings, connected, private_git, github_standin, send_webhook, run_worker, redis):
    # The git server really refuses a fetch without the installation's token.
    refused = subprocess.run(["git", "ls-remote", connected.url], capture_output=True, text=True,
                             env={"GIT_TERMINAL_PROMPT": "0", "PATH": "/usr/bin:/bin"})
    assert refused.returncode != 0 and private_git.verdicts == ["missing"]

    dep_id, sha = push(send_webhook, connected, site_files(github_settings.registry, "hello from a private repo\n"))
    run_worker()
    dep = get(dep_id)
    log = log_of(dep_id)
    assert dep.state == "live", f"{dep.error_message}\n{log}"
    assert requests.get(dep.url, timeout=5).text == "hello from a private repo\n"
    assert "ok" in private_git.verdicts

    statuses = github_standin.statuses(REPO, sha)
    assert commit_statuses(github_standin, sha) == [
        ("pending", "Queued…"), ("pending", "Fetching the code…"), ("pending", "Building…"), ("pending", "Pushing the image…"),
        ("pending", "Starting the new version…"), ("success", f"Deployed to {dep.url}"),
    ]
    assert {s["context"] for s in statuses} == {f"slipway/{connected.name}"}
    assert {s["target_url"] for s in statuses} == {dashboard(github_settings, dep_id)}

    (gh_dep,) = github_standin.deployments(REPO)
    assert gh_dep["sha"] == sha and gh_dep["environment"] == "Production"
    assert dep.github_deployment_id == gh_dep["id"]
    gh_statuses = github_standin.deployment_statuses(gh_dep["id"])
    assert [s["state"] for s in gh_statuses] == ["in_progress"] * 4 + ["success"]
    assert gh_statuses[-1]["environment_url"] == dep.url
    assert gh_statuses[-1]["log_url"] == dashboard(github_settings, dep_id)

    # The token is nowhere it could outlive the fetch: not in the log (live or stored), a column,
    # anything sent to GitHub, or the rq job.
    tokens = list(github_standin.tokens)
    assert tokens
    headers = [base64.b64encode(f"x-access-token:{t}".encode()).decode() for t in tokens]
    job = RqJob.fetch(job_id_for(dep_id, github_settings), connection=redis, serializer=SERIALIZER)
    assert tuple(job.args) == (dep_id,) and not job.kwargs
    places = {
        "build log": log,
        "database": everything_stored(),
        "sent to GitHub": json.dumps([c.body for c in github_standin.calls]),
        "rq job": repr(redis.hgetall(job.key)),
        "live log": repr(redis.xrange(stream_key(dep_id, github_settings.queue_name))),
    }
    for where, text in places.items():
        for secret in tokens + headers:
            assert secret not in text, f"installation token in the {where}"
    assert "$ git fetch --depth 1 " + connected.url in log


def test_a_failing_build_is_a_failure_with_its_reason(github_settings, connected, github_standin,
                                                      send_webhook, run_worker):
    dep_id, sha = push(send_webhook, connected,
                       site_files(github_settings.registry, "x", run="echo about to break && exit 3"))
    run_worker()
    dep = get(dep_id)
    assert dep.state == "failed" and dep.error_id == "build:user:build-failed"
    state, description = commit_statuses(github_standin, sha)[-1]
    assert state == "failure"
    assert description.startswith("The Docker build failed:") and "returned a non-zero code: 3" in description
    assert len(description) <= 140
    (gh_dep,) = github_standin.deployments(REPO)
    assert github_standin.deployment_statuses(gh_dep["id"])[-1]["state"] == "failure"


def test_a_newer_live_version_makes_the_older_environment_inactive(github_settings, connected,
                                                                   github_standin, send_webhook, run_worker):
    first, first_sha = push(send_webhook, connected, site_files(github_settings.registry, "v1\n"))
    run_worker()
    second, second_sha = push(send_webhook, connected, site_files(github_settings.registry, "v2\n"))
    run_worker()
    old, new = get(first), get(second)
    assert (old.state, new.state) == ("superseded", "live"), log_of(second)
    # The older commit did deploy: its status stays success, posted once; its environment is retired.
    assert commit_statuses(github_standin, first_sha)[-1] == ("success", f"Deployed to {old.url}")
    assert [s for s, _ in commit_statuses(github_standin, first_sha)].count("success") == 1
    assert github_standin.deployment_statuses(old.github_deployment_id)[-1]["state"] == "inactive"
    assert github_standin.deployment_statuses(new.github_deployment_id)[-1]["state"] == "success"


class ExpireTokens:
    """A reporter that makes GitHub drop every token of the installation after each state change,
    so each next step meets a token its client still believes in."""

    def __init__(self, standin: GitHubStandIn):
        self.standin = standin
        self.calls = 0

    def report(self, deployment_id: int) -> None:
        self.calls += 1
        self.standin.expire_tokens(INSTALLATION_ID)


def test_a_token_that_expires_mid_run_is_renewed(github_settings, connected, private_git, github_standin):
    sha = connected.commit(site_files(github_settings.registry, "renewed\n"))
    with session_scope() as s:
        project = s.scalar(select(Project).where(Project.name == connected.name))
        dep_id = request_deployment(project, PushedCommit(sha, "main"), "push", session=s).deployment_id
    pipeline = Pipeline.from_settings(github_settings)
    pipeline.github.installation_token(INSTALLATION_ID)  # a client that already holds a token, as a busy worker's would
    expirer = ExpireTokens(github_standin)
    pipeline.reporters.append(expirer)
    pipeline.run(dep_id)

    dep = get(dep_id)
    assert dep.state == "live", f"{dep.error_message}\n{log_of(dep_id)}"
    assert expirer.calls >= 5
    # The fetch met an expired token once, renewed it, and got through.
    assert private_git.verdicts.count("expired") >= 1 and private_git.verdicts[-1] == "ok"
    # Every status still arrived, each after a renewal.
    assert [s for s, _ in commit_statuses(github_standin, sha)] == ["pending"] * 4 + ["success"]
    assert github_standin.tokens_issued(INSTALLATION_ID) >= 6


def test_a_newer_push_cancels_a_queued_one(github_settings, connected, github_standin, send_webhook,
                                           run_worker):
    first, first_sha = push(send_webhook, connected, site_files(github_settings.registry, "first\n"))
    # Shown on the commit as soon as the webhook is answered, before any worker picks it up.
    assert commit_statuses(github_standin, first_sha) == [("pending", "Queued…")]
    second, second_sha = push(send_webhook, connected, site_files(github_settings.registry, "second\n"))
    # The older one is shown superseded at once too, not when a worker gets to its job.
    assert commit_statuses(github_standin, first_sha)[-1] == \
        ("error", f"Superseded by deployment {second} ({second_sha[:7]})")
    run_worker()

    old, new = get(first), get(second)
    assert old.state == "cancelled" and old.error_id == "app:superseded"
    assert new.state == "live", log_of(second)
    assert requests.get(new.url, timeout=5).text == "second\n"
    assert commit_statuses(github_standin, first_sha) == [
        ("pending", "Queued…"), ("error", f"Superseded by deployment {second} ({second_sha[:7]})")]
    assert commit_statuses(github_standin, second_sha)[-1] == ("success", f"Deployed to {new.url}")
    # Only the one that ran became a GitHub Deployment.
    (gh_dep,) = github_standin.deployments(REPO)
    assert gh_dep["sha"] == second_sha


def live_log(redis, dep_id: int, namespace: str) -> str:
    entries = redis.xrange(stream_key(dep_id, namespace))
    return "\n".join(json.loads(fields[b"data"]).get("line", "") for _, fields in entries)


def test_a_newer_push_stops_a_running_build(github_settings, connected, github_standin, send_webhook,
                                            run_worker, redis, docker_client):
    marker = uuid.uuid4().hex  # also keeps the Engine from answering the slow step from its cache
    first, first_sha = push(send_webhook, connected, site_files(
        github_settings.registry, "first\n", run=f"echo slow step started {marker} && sleep 60"))
    pushed: dict[str, object] = {}

    def push_again_mid_build() -> None:
        deadline = time.monotonic() + 120
        started = f"slow step started {marker}"  # the step's output, not its "Step 2/4 : RUN ..." line
        namespace = github_settings.queue_name
        while time.monotonic() < deadline and started not in live_log(redis, first, namespace).split("\n"):
            time.sleep(0.2)
        pushed["at"] = datetime.now(timezone.utc)
        pushed["result"] = push(send_webhook, connected, site_files(github_settings.registry, "second\n"))

    pusher = threading.Thread(target=push_again_mid_build)
    pusher.start()
    run_worker()  # the first job, stopped mid-build, then the second
    pusher.join(timeout=130)
    second, second_sha = pushed["result"]

    old, new = get(first), get(second)
    old_log = log_of(first)
    assert old.state == "cancelled" and old.error_id == "app:superseded", old_log
    assert old.error_message.startswith(f"Superseded by deployment {second} ({second_sha[:7]})")
    assert "build stopped: the deployment was cancelled" in old_log, old_log
    assert f"== cancelled: Superseded by deployment {second}" in old_log
    assert old.image is None  # it never reached the registry
    # The running build noticed within seconds, not after its 60 s step: the next job started soon.
    assert (utc(new.started_at) - pushed["at"]).total_seconds() < 10, old_log
    assert new.state == "live", log_of(second)
    assert requests.get(new.url, timeout=5).text == "second\n"

    assert commit_statuses(github_standin, first_sha) == [
        ("pending", "Queued…"), ("pending", "Fetching the code…"), ("pending", "Building…"),
        ("error", f"Superseded by deployment {second} ({second_sha[:7]})"),
    ]
    assert commit_statuses(github_standin, second_sha)[-1] == ("success", f"Deployed to {new.url}")
    by_sha = {d["sha"]: d for d in github_standin.deployments(REPO)}
    assert github_standin.deployment_statuses(by_sha[first_sha]["id"])[-1]["state"] == "inactive"
    assert github_standin.deployment_statuses(by_sha[second_sha]["id"])[-1]["state"] == "success"
    # The Engine cancelled the build: no container is still sleeping through the slow step.
    def sleeping() -> list:
        # Sparse (the listing's own "Command"): inspecting each container fails when another test removes one meanwhile.
        containers = docker_client.containers.list(all=True, sparse=True)
        return [c for c in containers if marker in (c.attrs.get("Command") or "")]

    deadline = time.monotonic() + 10
    while sleeping() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert sleeping() == []


# -- branch heads are read as the installation too ------------------------------------

def hook_path(name: str) -> str:
    from click.testing import CliRunner

    from slipway.cli import main

    r = CliRunner().invoke(main, ["project", "hook", name], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return "/hooks/" + r.output.split("/hooks/", 1)[1].split()[0]


def test_a_hook_and_a_cli_deploy_read_the_private_branch_head_with_the_installation_token(
        github_settings, connected, private_git, client, queue):
    # Before the one road, both read the head without a token: the private repository answered 401.
    from click.testing import CliRunner

    from slipway.cli import main

    sha = connected.commit({"a.txt": "1"})
    resp = client.post(hook_path(connected.name))
    assert resp.status_code == 201, resp.json
    assert (resp.json["sha"], resp.json["branch"]) == (sha, "main")
    newer = connected.commit({"a.txt": "2"})
    r = CliRunner().invoke(main, ["deploy", connected.name], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    with session_scope() as s:
        deps = list(s.scalars(select(Deployment).join(Project).where(Project.name == connected.name)
                              .order_by(Deployment.id)))
    assert [(d.sha, d.trigger, d.state) for d in deps] == [(sha, "hook", "cancelled"), (newer, "cli", "queued")]
    assert deps[0].error_id == "app:superseded"
    # Every read of the repository carried a live installation token.
    assert private_git.verdicts and set(private_git.verdicts) == {"ok"}
    for d in deps:
        assert "x-access-token" not in f"{d.error_message} {d.branch}"


def test_a_project_whose_installation_the_app_lacks_is_refused_clearly(github_settings, connected, client, queue):
    with session_scope() as s:
        s.scalar(select(Project).where(Project.name == connected.name)).installation_id = 424242
    connected.commit({"a.txt": "1"})
    resp = client.post(hook_path(connected.name))
    assert resp.status_code == 502, resp.json
    assert "Slipway's GitHub App cannot read" in resp.json["error"] and connected.url in resp.json["error"]
    with session_scope() as s:
        assert s.scalars(select(Deployment).join(Project).where(Project.name == connected.name)).all() == []
    assert queue.job_ids == []
