"""Deploy hooks: a secret URL that deploys the branch head, against real git over HTTP and real Redis."""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import replace

import pytest
import requests
from click.testing import CliRunner
from sqlalchemy import select

from slipway.cli import main
from slipway.crypto import decrypt
from slipway.db import session_scope
from slipway.models import BuildLog, Deployment, Project
from slipway.projects import ProjectSpec, create_project, get_project_by_name
from slipway.queue import job_id_for
from slipway.settings import set_settings
from web.hooks import RedactTokens

pytestmark = pytest.mark.both_databases


def cli(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def hook_of(name: str, *extra: str) -> str:
    r = cli("project", "hook", name, *extra)
    assert r.exit_code == 0, r.output
    (url,) = re.findall(r"https?://\S+/hooks/deploy/\S+", r.output)
    return url


def path_of(url: str) -> str:
    return "/hooks/" + url.split("/hooks/", 1)[1]


@pytest.fixture
def site(settings, git_server):
    """A project on a repository served over smart HTTP (as GitHub would), with one commit on main."""
    name = f"h-{uuid.uuid4().hex[:8]}"
    repo = git_server.create(name)
    repo.head_sha = repo.commit({"Dockerfile": "FROM scratch\n"})
    with session_scope() as s:
        create_project(s, ProjectSpec(name=name, repo_url=repo.url, github_repo=f"acme/{name}"))
    return repo


def deployments(name: str) -> list[Deployment]:
    with session_scope() as s:
        return list(s.scalars(select(Deployment).join(Project).where(Project.name == name).order_by(Deployment.id)))


def test_post_deploys_the_branch_head(settings, client, site, queue):
    url = hook_of(site.name)
    assert url.startswith(f"{settings.public_url}/hooks/deploy/hook_")
    resp = client.post(path_of(url))
    assert resp.status_code == 201, resp.json
    (dep,) = deployments(site.name)
    assert (dep.sha, dep.branch, dep.trigger, dep.state) == (site.head_sha, "main", "hook", "queued")
    assert resp.json["deployment_id"] == dep.id
    assert resp.json["dashboard_url"] == f"{settings.public_url}/deployments/{dep.id}"
    assert queue.job_ids == [job_id_for(dep.id)]


def test_the_head_is_read_at_call_time_and_a_newer_call_supersedes(client, site, queue):
    path = path_of(hook_of(site.name))
    first = client.post(path).json["deployment_id"]
    newer_sha = site.commit({"a.txt": "2"})
    resp = client.post(path)
    assert resp.status_code == 201 and resp.json["replaced"] == [first]
    old, new = deployments(site.name)
    assert old.state == "cancelled" and old.error_id == "app:superseded"
    assert new.sha == newer_sha and new.state == "queued"


def test_the_token_may_come_in_a_header_instead(client, site, queue):
    token = path_of(hook_of(site.name)).rsplit("/", 1)[1]
    assert client.post("/hooks/deploy", headers={"Authorization": f"Bearer {token}"}).status_code == 201
    assert client.post("/hooks/deploy", headers={"Authorization": "Bearer hook_1_" + "x" * 43}).status_code == 404
    assert client.post("/hooks/deploy").status_code == 401
    assert len(deployments(site.name)) == 1


def test_regenerating_invalidates_the_old_url(client, site, queue):
    old = hook_of(site.name)
    assert hook_of(site.name) == old  # shown again, unchanged
    new = hook_of(site.name, "--regenerate")
    assert new != old
    resp = client.post(path_of(old))
    assert resp.status_code == 404 and "no deploy hook" in resp.json["error"]
    assert deployments(site.name) == []
    assert client.post(path_of(new)).status_code == 201


def test_unknown_or_malformed_tokens_are_404(client, site, queue):
    real = path_of(hook_of(site.name)).rsplit("/", 1)[1]
    project_id, secret = re.match(r"hook_(\d+)_(.+)", real).groups()
    for token in (f"hook_{project_id}_{secret[:-1]}X", f"hook_{int(project_id) + 1}_{secret}", "hook_x", "nope",
                  real[:-1], f"hook_999999999_{secret}", f"hook_{2**63}_{secret}"):
        assert client.post(f"/hooks/deploy/{token}").status_code == 404, token
    assert deployments(site.name) == [] and queue.job_ids == []


def test_get_is_refused_with_a_hint(client, site):
    path = path_of(hook_of(site.name))
    resp = client.get(path)
    assert resp.status_code == 405 and resp.headers["Allow"] == "POST"
    assert "POST" in resp.json["error"]
    assert deployments(site.name) == []


def test_an_unreadable_repository_is_502_and_nothing_is_queued(settings, client, git_server, queue):
    with session_scope() as s:
        create_project(s, ProjectSpec(name="gone", repo_url=f"{git_server.base_url}/does-not-exist.git"))
    resp = client.post(path_of(hook_of("gone")))
    assert resp.status_code == 502
    assert "could not read branch 'main'" in resp.json["error"] and "does-not-exist.git" in resp.json["error"]
    assert deployments("gone") == [] and queue.job_ids == []


def test_credentials_in_a_repository_url_are_not_echoed(settings, client, git_server, queue):
    with session_scope() as s:
        create_project(s, ProjectSpec(name="creds", repo_url="http://user:s3cret-pass@127.0.0.1:1/x.git"))
    resp = client.post(path_of(hook_of("creds")))
    assert resp.status_code == 502 and "s3cret-pass" not in resp.text and "***@127.0.0.1:1" in resp.text
    assert deployments("creds") == []


def test_a_missing_branch_is_reported_and_nothing_is_queued(settings, client, site, queue):
    with session_scope() as s:
        get_project_by_name(s, site.name).branch = "release"
    resp = client.post(path_of(hook_of(site.name)))
    assert resp.status_code == 422 and "no branch 'release'" in resp.json["error"]
    assert deployments(site.name) == [] and queue.job_ids == []


def test_a_git_push_project_without_commits_is_409_and_no_server_path_is_shown(settings, client, queue):
    import shutil

    from slipway.git_remote import repository_path

    assert cli("project", "create", "empty", "--git-push").exit_code == 0
    path = path_of(hook_of("empty"))
    resp = client.post(path)
    assert resp.status_code == 409, resp.json
    assert "has no commits yet" in resp.json["error"] and "push to main first" in resp.json["error"]
    assert f"{settings.public_url}/git/empty.git" in resp.json["error"]
    # Its repository gone altogether: still nothing of the server's file system in the answer.
    shutil.rmtree(repository_path(settings, "empty"))
    resp = client.post(path)
    assert resp.status_code == 502 and f"{settings.public_url}/git/empty.git" in resp.json["error"], resp.json
    for answer in (resp.text, client.post(path).text):
        assert str(settings.data_path.resolve()) not in answer and "/tmp/" not in answer
    assert deployments("empty") == [] and queue.job_ids == []


def test_an_empty_repository_elsewhere_is_409_too(settings, client, git_server, queue):
    name = f"e-{uuid.uuid4().hex[:8]}"
    repo = git_server.create(name)
    with session_scope() as s:
        create_project(s, ProjectSpec(name=name, repo_url=repo.url))
    resp = client.post(path_of(hook_of(name)))
    assert resp.status_code == 409 and f"the repository {repo.url} has no commits yet" in resp.json["error"]
    assert deployments(name) == []


def test_redis_down_is_503_and_the_deployment_is_not_left_queued(settings, client, site, queue):
    path = path_of(hook_of(site.name))
    set_settings(replace(settings, redis_url="redis://127.0.0.1:1/0"))
    resp = client.post(path)
    assert resp.status_code == 503 and "could not be queued" in resp.json["error"]
    (dep,) = deployments(site.name)
    assert dep.state == "failed"


def test_the_hook_is_stored_encrypted(settings, site):
    url = hook_of(site.name)
    token = url.rsplit("/", 1)[1]
    with session_scope() as s:
        stored = get_project_by_name(s, site.name).deploy_hook_enc
    assert token not in stored and decrypt(stored) == token


def test_cli_hook_for_an_unknown_project(settings):
    r = cli("project", "hook", "nope")
    assert r.exit_code == 1 and "no project named 'nope'" in r.output


# -- tokens stay out of logs ------------------------------------------------------

class Capture(logging.Handler):
    """Every record Slipway's side logs (the test's own HTTP client, urllib3, is the caller, not us)."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record):
        if not record.name.startswith("urllib3"):
            self.lines.append(self.format(record))



@pytest.mark.docker
def test_the_token_is_in_no_log_line(settings, server, site, queue, run_worker):
    capture = Capture()
    root, werkzeug_log = logging.getLogger(), logging.getLogger("werkzeug")
    levels = root.level, werkzeug_log.level
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    werkzeug_log.setLevel(logging.INFO)
    try:
        url = hook_of(site.name)
        token = url.rsplit("/", 1)[1]
        resp = requests.post(server + path_of(url), timeout=30)
        assert resp.status_code == 201
        requests.get(server + path_of(url), timeout=30)
        requests.post(f"{server}/hooks/deploy/{token}x", timeout=30)
        run_worker()  # the build fails (FROM scratch, nothing to run) and logs plenty
    finally:
        root.removeHandler(capture)
        root.setLevel(levels[0])
        werkzeug_log.setLevel(levels[1])
    # The request lines were logged (so this test would see a token), masked.
    assert any("POST /hooks/deploy/hook_" in line and "_[redacted] HTTP/1.1" in line for line in capture.lines), \
        capture.lines
    assert not [line for line in capture.lines if token in line or token[-20:] in line]
    with session_scope() as s:
        stored = list(s.scalars(select(BuildLog.line))) + [
            f"{d.error_message} {d.url} {d.target_ref}" for d in s.scalars(select(Deployment))
        ]
    assert stored and not [line for line in stored if token[-20:] in line]


def test_the_filter_masks_gunicorn_access_lines():
    from gunicorn.glogging import SafeAtoms

    token = "hook_12_" + "A" * 43
    atoms = SafeAtoms({"r": f"POST /hooks/deploy/{token} HTTP/1.1", "U": f"/hooks/deploy/{token}", "s": "201"})
    record = logging.LogRecord("gunicorn.access", logging.INFO, __file__, 1, '%(r)s %(U)s %(s)s', (), None)
    record.args = atoms
    RedactTokens().filter(record)
    line = record.getMessage()
    assert token not in line and line == "POST /hooks/deploy/hook_12_[redacted] HTTP/1.1 /hooks/deploy/hook_12_[redacted] 201"
