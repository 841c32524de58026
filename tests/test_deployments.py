"""One road for every deployment (slipway.deployments.request_deployment), on real git, Redis and databases:
whichever way a deployment comes in, a newer one of the same slot supersedes the older, and an ending
says what happened."""

from __future__ import annotations

import uuid

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from slipway.cli import main
from slipway.db import session_scope
from slipway.deployments import (
    DeployRequestError,
    EarlierImage,
    GivenCommit,
    PushedCommit,
    enqueue_committed,
    request_deployment,
)
from slipway.models import Deployment, Project
from slipway.projects import ProjectSpec, create_project
from slipway.queue import job_id_for
from tests.support.payloads import push_payload

pytestmark = pytest.mark.both_databases


@pytest.fixture
def site(settings, git_server):
    """A project connected to ``acme/<name>`` whose repository is served over smart HTTP, one commit on main."""
    name = f"r-{uuid.uuid4().hex[:8]}"
    repo = git_server.create(name)
    repo.full_name = f"acme/{name}"
    repo.first = repo.commit({"Dockerfile": "FROM scratch\n"})
    with session_scope() as s:
        create_project(s, ProjectSpec(name=name, repo_url=repo.url, github_repo=repo.full_name))
    return repo


def cli(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def get(dep_id: int) -> Deployment:
    with session_scope() as s:
        return s.get(Deployment, dep_id)


def ids_of(name: str) -> list[int]:
    with session_scope() as s:
        return list(s.scalars(select(Deployment.id).join(Project).where(Project.name == name).order_by(Deployment.id)))


def deploy_now(client, name: str) -> None:
    page = client.get(f"/projects/{name}").data.decode()
    token = page.split('name="csrf" value="')[1].split('"')[0]
    assert client.post(f"/projects/{name}/deploy", data={"csrf": token}).status_code == 302


def assert_superseded(old_id: int, new_id: int) -> None:
    old, new = get(old_id), get(new_id)
    assert (old.state, old.error_id) == ("cancelled", "app:superseded")
    assert old.error_message.startswith(f"Superseded by deployment {new_id} ({new.short_sha})")
    assert new.state == "queued"


@pytest.mark.parametrize("way", ["cli", "dashboard"])
def test_a_cli_or_dashboard_deploy_queued_after_a_push_supersedes_it(site, send_webhook, client, queue, way):
    # Before the one road, these deploys never superseded: whichever finished last went live,
    # possibly the older commit.
    resp = send_webhook("push", push_payload(site.full_name, site.first))
    (pushed,) = resp.json["deployments"]
    newer = site.commit({"a.txt": "2"})
    if way == "cli":
        r = cli("deploy", site.name)
        assert r.exit_code == 0 and f"it supersedes unfinished deployment(s) {pushed}" in r.output, r.output
    else:
        deploy_now(client, site.name)
    _, deployed = ids_of(site.name)
    assert get(deployed).sha == newer
    assert_superseded(pushed, deployed)
    assert queue.job_ids == [job_id_for(pushed), job_id_for(deployed)]


def test_a_push_after_a_cli_deploy_supersedes_it(site, send_webhook, queue):
    assert cli("deploy", site.name, "--sha", site.first).exit_code == 0
    (deployed,) = ids_of(site.name)
    newer = site.commit({"a.txt": "2"})
    resp = send_webhook("push", push_payload(site.full_name, newer))
    assert resp.status_code == 202
    (pushed,) = resp.json["deployments"]
    assert_superseded(deployed, pushed)


def test_a_rollback_supersedes_in_its_own_slot_only(site, send_webhook, queue):
    with session_scope() as s:
        project = s.scalar(select(Project).where(Project.name == site.name))
        earlier = Deployment(project=project, sha=site.first, branch="main", trigger="push", state="superseded",
                             image=f"registry/{site.name}:old")
        s.add(earlier)
        s.flush()
        earlier_id = earlier.id
    pushed = send_webhook("push", push_payload(site.full_name, site.commit({"b.txt": "1"}))).json["deployments"][0]
    preview = request_deployment(site.name, PushedCommit("c" * 40, "feature"), "pull_request", 5).deployment_id
    rollback = request_deployment(site.name, EarlierImage(earlier_id), "rollback")
    assert (get(rollback.deployment_id).image, get(rollback.deployment_id).sha) == (f"registry/{site.name}:old",
                                                                                    site.first)
    assert rollback.replaced == [pushed]
    assert get(preview).state == "queued"  # another slot: untouched


def test_with_a_session_nothing_is_queued_until_the_caller_commits_and_enqueues(site, queue):
    with session_scope() as s:
        requested = request_deployment(site.name, PushedCommit(site.first, "main"), "push", session=s)
        assert queue.job_ids == []
    assert get(requested.deployment_id).state == "queued" and queue.job_ids == []
    assert enqueue_committed([requested.deployment_id]) == []
    assert queue.job_ids == [job_id_for(requested.deployment_id)]


def test_a_rolled_back_transaction_leaves_no_deployment(site, queue):
    with pytest.raises(RuntimeError), session_scope() as s:
        request_deployment(site.name, PushedCommit(site.first, "main"), "push", session=s)
        raise RuntimeError("the delivery failed after the row was added")
    assert ids_of(site.name) == [] and queue.job_ids == []


def test_a_disconnected_project_is_refused_with_the_reason(site, queue):
    with session_scope() as s:
        s.scalar(select(Project).where(Project.name == site.name)).disconnected_reason = "the App was uninstalled"
        project = s.scalar(select(Project).where(Project.name == site.name))
        earlier = Deployment(project=project, sha=site.first, branch="main", trigger="push", state="superseded",
                             image=f"registry/{site.name}:old")
        s.add(earlier)
        s.flush()
        earlier_id = earlier.id
    r = cli("deploy", site.name)
    assert r.exit_code == 1 and "disconnected" in r.output and "the App was uninstalled" in r.output
    assert ids_of(site.name) == [earlier_id]
    # Its image needs nothing of GitHub: a rollback still runs.
    assert cli("rollback", site.name, "--to", str(earlier_id)).exit_code == 0


@pytest.mark.parametrize("source, pr_number, fragment", [
    (PushedCommit("abc1234", "main"), None, "not a full commit id"),
    (PushedCommit("A" * 40, "main"), None, "not a full commit id"),
    (PushedCommit("a" * 40, "--upload-pack=x"), None, "not a branch name git accepts"),
    (PushedCommit("a" * 40, "main"), 0, "not a pull request number"),
    (GivenCommit("--upload-pack=x"), None, "neither a commit sha"),
])
def test_a_source_git_could_misread_is_refused_before_anything_is_recorded(site, queue, source, pr_number,
                                                                             fragment):
    with pytest.raises(DeployRequestError, match=fragment):
        request_deployment(site.name, source, "cli", pr_number)
    assert ids_of(site.name) == [] and queue.job_ids == []


# -- a user's cancel ----------------------------------------------------------------

def test_a_user_cancels_from_the_cli_and_the_page_says_so_not_why_it_failed(site, client, queue):
    assert cli("deploy", site.name).exit_code == 0
    (dep_id,) = ids_of(site.name)
    r = cli("cancel", str(dep_id))
    assert r.exit_code == 0 and f"deployment {dep_id} of {site.name}" in r.output
    dep = get(dep_id)
    assert (dep.state, dep.error_id, dep.error_message) == ("cancelled", "app:cancelled-by-user", "Cancelled by a user.")
    page = client.get(f"/deployments/{dep_id}").data.decode()
    assert "Cancelled by a user." in page and "Why it failed" not in page
    assert "Why it was cancelled" in page
    again = cli("cancel", str(dep_id))
    assert again.exit_code == 1 and "already ended (cancelled)" in again.output
    assert cli("cancel", "999999").exit_code == 1


def test_a_superseded_deployment_page_names_its_successor_not_a_failure(site, client, queue):
    assert cli("deploy", site.name).exit_code == 0
    assert cli("deploy", site.name).exit_code == 0
    old, new = ids_of(site.name)
    page = client.get(f"/deployments/{old}").data.decode()
    assert f"Superseded by deployment {new}" in page and "Why it failed" not in page


def test_the_dashboard_cancel_button(site, client, queue):
    assert cli("deploy", site.name).exit_code == 0
    (dep_id,) = ids_of(site.name)
    page = client.get(f"/deployments/{dep_id}").data.decode()
    assert ">Cancel deployment</button>" in page
    token = page.split('name="csrf" value="')[1].split('"')[0]
    assert client.post(f"/deployments/{dep_id}/cancel", data={"csrf": "forged"}).status_code == 400
    assert get(dep_id).state == "queued"
    assert client.post(f"/deployments/{dep_id}/cancel", data={"csrf": token}).status_code == 302
    assert get(dep_id).error_id == "app:cancelled-by-user"
    assert ">Cancel deployment</button>" not in client.get(f"/deployments/{dep_id}").data.decode()
    assert client.post("/deployments/999999/cancel", data={"csrf": token}).status_code == 404
