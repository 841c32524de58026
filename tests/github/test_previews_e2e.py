"""Pull-request previews end to end on the real Redis, Docker Engine, registry and git, with
the strict api.github.com stand-in: signed pull_request deliveries (GitHub's own examples,
re-pointed) -> rq jobs -> a container per pull request beside production -> one PR comment
kept up to date -> the preview removed when the pull request closes."""

from __future__ import annotations

import uuid

import pytest
import requests
from git import Repo
from sqlalchemy import select

from deployer.local import LABEL_PROJECT, LABEL_SLOT
from slipway.db import session_scope
from slipway.models import Deployment, Installation, InstallationRepository, Project, PullRequestPreview
from tests.support.gitrepos import GitServer, SourceRepo
from tests.support.github import INSTALLATION_ID, REPO
from tests.support.payloads import pr_payload, push_payload
from tests.support.pipeline import dockerfile, log_of
from tests.support.web import dashboard_app

pytestmark = pytest.mark.docker


@pytest.fixture
def app(github_settings):
    return dashboard_app(github_settings)


@pytest.fixture
def site(github_settings, git_server: GitServer, github_standin, docker_client):
    """A project connected to the installation's repository, its code served by the local git server."""
    name = f"pv-{uuid.uuid4().hex[:8]}"
    repo = git_server.create(name)
    with session_scope() as s:
        inst = Installation(id=INSTALLATION_ID, account_login="octo-org", account_type="Organization")
        inst.repositories.append(InstallationRepository(repo_id=github_standin.repo(REPO).id, full_name=REPO))
        s.add(inst)
        s.add(Project(name=name, repo_url=repo.url, github_repo=REPO, installation_id=INSTALLATION_ID))
    yield repo
    for c in docker_client.containers.list(all=True, filters={"label": f"{LABEL_PROJECT}={name}"}):
        c.remove(force=True)


def files(registry: str, text: str) -> dict[str, str]:
    return {"Dockerfile": dockerfile(registry), "www/index.html": text}


def get(dep_id: int) -> Deployment:
    with session_scope() as s:
        return s.get(Deployment, dep_id)


def containers(docker_client, project: str, slot: str) -> list:
    labels = [f"{LABEL_PROJECT}={project}", f"{LABEL_SLOT}={slot}"]
    return docker_client.containers.list(all=True, filters={"label": labels})


def open_pr(send_webhook, action: str, number: int, sha: str, **fields) -> list[int]:
    resp = send_webhook("pull_request", pr_payload(action, number, sha, **fields))
    assert resp.status_code == 202, resp.json
    return resp.json.get("deployments", [])


def fork_commit(git_server: GitServer, base: SourceRepo, number: int, text: str, registry: str) -> str:
    """A commit made in a fork, which GitHub also keeps in the base repository as refs/pull/<n>/head."""
    fork = git_server.create(f"fork-{uuid.uuid4().hex[:8]}")
    sha = fork.commit(files(registry, text), branch="patch-1")
    fork.repo.git.push(str(git_server.root / f"{base.name}.git"), f"{sha}:refs/pull/{number}/head")
    assert Repo(git_server.root / f"{base.name}.git").commit(sha)  # there, though on no branch of the base
    return sha


def answers(url: str) -> str | None:
    try:
        return requests.get(url, timeout=3).text
    except requests.ConnectionError:
        return None


def test_a_pull_request_gets_a_preview_beside_production_one_comment_and_is_removed_on_close(
        github_settings, site, send_webhook, run_worker, github_standin, docker_client):
    registry = github_settings.registry
    prod_sha = site.commit(files(registry, "production\n"))
    resp = send_webhook("push", push_payload(REPO, prod_sha))
    (prod_id,) = resp.json["deployments"]
    run_worker()
    production = get(prod_id)
    assert production.state == "live", log_of(prod_id)
    (prod_container,) = containers(docker_client, site.name, "production")

    # opened: a preview in slot pr-5, and one comment pointing at it.
    sha1 = site.commit(files(registry, "preview one\n"), branch="feature")
    (first,) = open_pr(send_webhook, "opened", 5, sha1, head_ref="feature")
    run_worker()
    preview = get(first)
    assert preview.state == "live", log_of(first)
    assert (preview.environment, preview.pr_number, preview.branch, preview.trigger) == \
        ("preview", 5, "feature", "pull_request")
    assert answers(preview.url) == "preview one\n"
    (pr_container,) = containers(docker_client, site.name, "pr-5")
    assert pr_container.name == f"slipway-{site.name}-pr-5-{first}"
    assert [c.id for c in containers(docker_client, site.name, "production")] == [prod_container.id]
    assert answers(production.url) == "production\n"
    (comment,) = github_standin.comments(REPO, 5)
    assert "✅ Ready" in comment["body"] and f"[Visit preview]({preview.url})" in comment["body"]
    assert f"{github_settings.public_url}/deployments/{first}" in comment["body"] and sha1[:7] in comment["body"]
    first_body = comment["body"]

    # synchronize twice before the worker runs: the middle one never builds, the newest replaces the first.
    sha2 = site.commit(files(registry, "preview two\n"), branch="feature")
    (second,) = open_pr(send_webhook, "synchronize", 5, sha2, head_ref="feature")
    sha3 = site.commit(files(registry, "preview three\n"), branch="feature")
    (third,) = open_pr(send_webhook, "synchronize", 5, sha3, head_ref="feature")
    run_worker()
    assert (get(second).state, get(second).error_id) == ("cancelled", "app:superseded")
    newest = get(third)
    assert newest.state == "live", log_of(third)
    assert get(first).state == "superseded"
    assert answers(newest.url) == "preview three\n" and answers(preview.url) is None
    assert [c.name for c in containers(docker_client, site.name, "pr-5")] == [f"slipway-{site.name}-pr-5-{third}"]
    (comment_after,) = github_standin.comments(REPO, 5)
    assert comment_after["id"] == comment["id"] and comment_after["body"] != first_body
    assert f"[Visit preview]({newest.url})" in comment_after["body"] and sha3[:7] in comment_after["body"]
    assert [c.method for c in github_standin.calls if c.path.endswith("/issues/5/comments")] == ["POST"]

    # closed (merged): the preview's container goes, the comment says so, production keeps serving.
    open_pr(send_webhook, "closed", 5, sha3, head_ref="feature", merged=True)
    run_worker()
    assert containers(docker_client, site.name, "pr-5") == []
    assert answers(newest.url) is None
    assert get(third).state == "superseded"
    (comment_closed,) = github_standin.comments(REPO, 5)
    assert comment_closed["id"] == comment["id"] and "was removed" in comment_closed["body"]
    assert [c.id for c in containers(docker_client, site.name, "production")] == [prod_container.id]
    assert answers(production.url) == "production\n" and get(prod_id).state == "live"
    with session_scope() as s:
        assert s.scalar(select(PullRequestPreview.state).where(PullRequestPreview.pr_number == 5)) == "closed"


@pytest.mark.parametrize("association", ["NONE", "CONTRIBUTOR"])
def test_a_fork_by_an_outsider_is_not_built_and_the_comment_says_how_to_allow_it(
        github_settings, site, git_server, send_webhook, run_worker, github_standin, docker_client,
        association):
    sha = fork_commit(git_server, site, 9, "from a stranger\n", github_settings.registry)
    assert open_pr(send_webhook, "opened", 9, sha, head_ref="patch-1", head_repo="mallory/hello",
                   association=association) == []
    run_worker()
    with session_scope() as s:
        assert s.scalars(select(Deployment)).all() == []
    assert containers(docker_client, site.name, "pr-9") == []
    (comment,) = github_standin.comments(REPO, 9)
    assert "did not build" in comment["body"] and "`mallory/hello`" in comment["body"]
    assert f"`{association}`" in comment["body"] and "fork previews** to `always`" in comment["body"]

    # A new push to the fork: still not built, still one comment.
    open_pr(send_webhook, "synchronize", 9, sha, head_ref="patch-1", head_repo="mallory/hello",
            association=association)
    run_worker()
    assert len(github_standin.comments(REPO, 9)) == 1


def test_a_fork_by_a_collaborator_is_built_from_the_base_repository(
        github_settings, site, git_server, send_webhook, run_worker, github_standin, docker_client):
    sha = fork_commit(git_server, site, 11, "from a collaborator's fork\n", github_settings.registry)
    (dep_id,) = open_pr(send_webhook, "opened", 11, sha, head_ref="patch-1", head_repo="carol/hello",
                        association="COLLABORATOR")
    run_worker()
    dep = get(dep_id)
    assert dep.state == "live", log_of(dep_id)
    assert answers(dep.url) == "from a collaborator's fork\n"
    assert f"$ git fetch --depth 1 {site.url} {sha}" in log_of(dep_id)
    assert len(containers(docker_client, site.name, "pr-11")) == 1
    (comment,) = github_standin.comments(REPO, 11)
    assert "✅ Ready" in comment["body"]
    assert "comes from the fork `carol/hello`; it was built because its author is a repository collaborator" \
        in comment["body"]
