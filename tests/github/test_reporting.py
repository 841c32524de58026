"""What Slipway tells GitHub about a deployment: the state -> status mapping, and the reporter
against the strict api.github.com stand-in (posting each state once, never a secret)."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from slipway.db import session_scope
from slipway.github.client import MAX_DESCRIPTION
from slipway.models import Deployment, Installation, InstallationRepository, Project
from slipway.github.reporting import (
    GitHubReporter,
    Snapshot,
    commit_status,
    deployment_status,
    github_reporters,
    reporting_client,
    status_context,
)
from slipway.states import State, transition
from tests.support.github import INSTALLATION_ID, REPO

SHA = "3f786850e387550fdab836ed7e6dc881de23001b"
NEWER = "89e6c98d92887913cadf06b2adb97f26cde4849b"


def snap(state: State, **kw) -> Snapshot:
    return Snapshot(id=7, project="web", sha=SHA, state=state, **kw)


# -- the mapping ---------------------------------------------------------------------

@pytest.mark.parametrize("state, description", [
    (State.QUEUED, "Queued…"), (State.CLONING, "Fetching the code…"), (State.BUILDING, "Building…"),
    (State.PUSHING, "Pushing the image…"), (State.DEPLOYING, "Starting the new version…"),
])
def test_unfinished_states_are_pending(state, description):
    assert commit_status(snap(state)) == ("pending", description)
    expected = "queued" if state == State.QUEUED else "in_progress"
    assert deployment_status(snap(state)) == (expected, description)


def test_live_is_success_with_its_url():
    live = snap(State.LIVE, url="http://127.0.0.1:41234")
    assert commit_status(live) == ("success", "Deployed to http://127.0.0.1:41234")
    assert deployment_status(live) == ("success", "Deployed to http://127.0.0.1:41234")


def test_a_user_fault_is_a_failure_with_the_first_line_of_its_reason():
    failed = snap(State.FAILED, error_id="build:user:build-failed",
                  error_message="The Docker build failed: exit 3.\nsecond line")
    assert commit_status(failed) == ("failure", "The Docker build failed: exit 3.")
    assert deployment_status(failed) == ("failure", "The Docker build failed: exit 3.")


def test_our_fault_is_an_error():
    failed = snap(State.FAILED, error_id="build:app:registry", error_message="Slipway could not push the image.")
    assert commit_status(failed) == ("error", "Slipway could not push the image.")
    assert deployment_status(failed) == ("error", "Slipway could not push the image.")
    assert commit_status(snap(State.FAILED, error_id="app:unexpected"))[0] == "error"


def test_superseded_while_running_is_an_error_naming_the_newer_commit():
    cancelled = snap(State.CANCELLED, error_id="app:superseded", error_message="A newer push ...",
                     replaced_by=NEWER[:7])
    assert commit_status(cancelled) == ("error", f"Superseded by {NEWER[:7]}")
    assert deployment_status(cancelled) == ("inactive", f"Superseded by {NEWER[:7]}")


def test_a_preview_removed_with_its_pull_request_says_so_not_superseded_by_a_newer_push():
    removed = snap(State.SUPERSEDED, pr_number=7, url="http://127.0.0.1:1", error_id="app:pr-closed",
                   error_message="Removed because pull request #7 was closed.")
    assert not removed.superseded
    assert deployment_status(removed) == ("inactive", "Removed because pull request #7 was closed.")
    assert commit_status(removed) == ("success", "Deployed to http://127.0.0.1:1")  # it did deploy this commit
    cancelled = snap(State.CANCELLED, pr_number=7, error_id="app:pr-closed",
                     error_message="Removed because pull request #7 was closed.")
    assert commit_status(cancelled) == ("error", "Removed because pull request #7 was closed.")


def test_a_user_cancel_says_so():
    cancelled = snap(State.CANCELLED, error_id="app:cancelled-by-user", error_message="Cancelled by a user.")
    assert commit_status(cancelled) == deployment_status(cancelled) == ("error", "Cancelled by a user.")


def test_a_plain_cancel_is_an_error_with_its_reason():
    cancelled = snap(State.CANCELLED, error_id="app:cancelled", error_message="Cancelled.")
    assert commit_status(cancelled) == ("error", "Cancelled.")
    assert deployment_status(cancelled) == ("error", "Cancelled.")


def test_a_live_deployment_replaced_later_keeps_its_success_and_its_environment_goes_inactive():
    old = snap(State.SUPERSEDED, url="http://127.0.0.1:1", replaced_by=NEWER[:7])
    assert commit_status(old) == commit_status(replace(old, state=State.LIVE))
    assert deployment_status(old)[0] == "inactive"


def test_production_and_preview_have_their_own_contexts():
    assert status_context(snap(State.BUILDING)) == "slipway/web"
    assert status_context(snap(State.BUILDING, pr_number=4)) == "slipway/web/preview"


# -- the reporter against the stand-in --------------------------------------------------

def connected_deployment(pr_number: int | None = None, repo: str = REPO, installation_id: int | None = INSTALLATION_ID,
                         state: str = "queued") -> int:
    with session_scope() as s:
        if installation_id is not None and s.get(Installation, installation_id) is None:
            inst = Installation(id=installation_id, account_login=repo.split("/")[0])
            inst.repositories.append(InstallationRepository(repo_id=1, full_name=repo, private=True))
            s.add(inst)
        p = Project(name=f"web-{time.monotonic_ns() % 10**9}", repo_url="http://127.0.0.1:1/x.git",
                    github_repo=repo, installation_id=installation_id)
        d = Deployment(project=p, sha=SHA, branch="main", trigger="push", state=state, pr_number=pr_number,
                       environment="preview" if pr_number else "production")
        s.add(d)
        s.flush()
        return d.id


def move(dep_id: int, *states: State, **values) -> None:
    with session_scope() as s:
        dep = s.get(Deployment, dep_id)
        for state in states:
            transition(dep, state)
        for k, v in values.items():
            setattr(dep, k, v)


@pytest.fixture
def reporter(settings, redis, github_app):
    return GitHubReporter(settings, github_app, redis)


def test_each_state_is_posted_once_however_often_it_is_reported(settings, reporter, github_standin):
    dep_id = connected_deployment()
    move(dep_id, State.CLONING)
    reporter.report(dep_id)
    reporter.report(dep_id)
    move(dep_id, State.BUILDING)
    reporter.report(dep_id)
    reporter.report(dep_id)
    statuses = github_standin.statuses(REPO, SHA)
    assert [(s["state"], s["description"]) for s in statuses] == [("pending", "Fetching the code…"),
                                                                  ("pending", "Building…")]
    assert {s["target_url"] for s in statuses} == {f"{settings.public_url}/deployments/{dep_id}"}
    (created,) = github_standin.deployments(REPO)
    assert created["environment"] == "Production" and created["sha"] == SHA
    assert created["production_environment"] is True and created["transient_environment"] is False
    with session_scope() as s:
        assert s.get(Deployment, dep_id).github_deployment_id == created["id"]
    # Fetching and building are both "in progress" to a GitHub Deployment, with their own descriptions.
    assert [s["state"] for s in github_standin.deployment_statuses(created["id"])] == ["in_progress", "in_progress"]
    deployment_call = next(c for c in github_standin.calls if c.path.endswith("/deployments"))
    assert deployment_call.body["required_contexts"] == [] and deployment_call.body["auto_merge"] is False

    move(dep_id, State.PUSHING, State.DEPLOYING, State.LIVE, url="http://127.0.0.1:40001")
    reporter.report(dep_id)
    reporter.report(dep_id)
    assert github_standin.statuses(REPO, SHA)[-1]["state"] == "success"
    assert len(github_standin.statuses(REPO, SHA)) == 3
    last = github_standin.deployment_statuses(created["id"])[-1]
    assert last["state"] == "success" and last["environment_url"] == "http://127.0.0.1:40001"
    assert last["log_url"] == f"{settings.public_url}/deployments/{dep_id}"
    assert len(github_standin.deployments(REPO)) == 1


def test_a_preview_gets_a_transient_environment_and_its_own_context(reporter, github_standin):
    dep_id = connected_deployment(pr_number=12)
    move(dep_id, State.CLONING)
    reporter.report(dep_id)
    (created,) = github_standin.deployments(REPO)
    assert created["environment"] == "Preview (PR #12)"
    assert created["transient_environment"] is True and created["production_environment"] is False
    assert github_standin.statuses(REPO, SHA)[0]["context"].endswith("/preview")


def test_descriptions_never_carry_a_secret_and_fit_githubs_limit(settings, reporter, github_standin):
    secret = "s3cr3t-registry-password-value"
    from slipway.settings import set_settings

    reporter_settings = replace(settings, registry_password=secret)
    set_settings(reporter_settings)
    leaky = GitHubReporter(reporter_settings, reporter.client, None)
    dep_id = connected_deployment()
    move(dep_id, State.CLONING, State.FAILED, error_id="build:user:build-failed",
         error_message=f"The Docker build failed: curl -u admin:{secret} ghs_abcdefghijklmnop1234 " + "x" * 300)
    leaky.report(dep_id)
    (status,) = github_standin.statuses(REPO, SHA)
    assert status["state"] == "failure"
    assert secret not in status["description"] and "ghs_abcdefghijklmnop1234" not in status["description"]
    assert status["description"].startswith("The Docker build failed: curl -u admin:")
    assert len(status["description"]) <= MAX_DESCRIPTION


def test_a_deployment_cancelled_before_it_started_gets_a_status_but_no_github_deployment(
        reporter, github_standin):
    older = connected_deployment()
    with session_scope() as s:
        dep = s.get(Deployment, older)
        newer = Deployment(project=dep.project, sha=NEWER, branch="main", trigger="push", state="queued")
        s.add(newer)
        s.flush()
        newer_id = newer.id
        transition(dep, State.CANCELLED)
        dep.error_id = "app:superseded"
        dep.error_message = f"Superseded by deployment {newer_id} ({NEWER[:7]})."
    reporter.report(older)
    (status,) = github_standin.statuses(REPO, SHA)
    assert (status["state"], status["description"]) == ("error", f"Superseded by deployment {newer_id} ({NEWER[:7]})")
    assert github_standin.deployments(REPO) == []


def test_a_project_not_connected_through_the_app_is_not_reported(reporter, github_standin):
    dep_id = connected_deployment(installation_id=None)
    move(dep_id, State.CLONING)
    reporter.report(dep_id)
    assert github_standin.requests == []


def test_a_failed_post_is_retried_on_the_next_report_and_never_raises(reporter, github_standin):
    dep_id = connected_deployment()
    move(dep_id, State.CLONING)
    github_standin.fail_next(422, times=1, message="Validation Failed", path_prefix=f"/repos/{REPO}/statuses")
    reporter.report(dep_id)  # the status is refused; the GitHub Deployment still goes through
    assert github_standin.statuses(REPO, SHA) == []
    assert len(github_standin.deployments(REPO)) == 1
    reporter.report(dep_id)
    assert [s["state"] for s in github_standin.statuses(REPO, SHA)] == ["pending"]
    assert len(github_standin.deployment_statuses()) == 1


def test_github_down_does_not_stall_the_worker(settings, redis, github_standin):
    from slipway.settings import set_settings

    app_settings = replace(settings, github_app_id=str(github_standin.app_id),
                           github_app_private_key=github_standin.private_key_pem, github_api_url=github_standin.url)
    set_settings(app_settings)
    (reporter,) = github_reporters(app_settings)
    dep_id = connected_deployment()
    move(dep_id, State.CLONING)
    github_standin.fail_next(503, times=50)
    started = time.monotonic()
    reporter.report(dep_id)
    assert time.monotonic() - started < 10
    assert github_standin.statuses() == [] and github_standin.deployments() == []
    assert reporting_client(app_settings) is not None


def test_no_app_no_reporters(settings):
    assert github_reporters(settings) == []


def test_the_reporting_client_is_shared_so_tokens_are_reused(settings):
    from dataclasses import replace

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from slipway.github.reporting import reporting_client

    assert reporting_client(settings) is None  # no App configured
    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    with_app = replace(settings, github_app_id="4242", github_app_private_key=pem)
    first = reporting_client(with_app)
    assert first is not None and reporting_client(with_app) is first
    other = replace(with_app, github_app_id="4343")
    assert reporting_client(other) is not first
