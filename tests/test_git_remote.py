"""The built-in git remote, driven by the real git client over HTTP against the real app and Redis."""

from __future__ import annotations

import os
import re
import time
import uuid
from dataclasses import replace

import pytest
import requests
from click.testing import CliRunner
from git import Repo
from sqlalchemy import select
from werkzeug.test import EnvironBuilder, run_wsgi_app

from slipway.cli import main
from slipway.crypto import token_hash
from slipway.db import session_scope
from slipway.git_remote import FETCH_TOKEN_PREFIX, fetch_token, repository_path
from slipway.git_remote.smart_http import asks_for_sideband, pkt_line, with_progress_lines
from slipway.models import Deployment, Project
from slipway.projects import get_project_by_name
from slipway.queue import job_id_for
from slipway.settings import set_settings
from web.bodies import DISCARD_AFTER_ANSWER
from tests.support.gitrepos import Checkout
from tests.support.pipeline import dockerfile, log_of

pytestmark = pytest.mark.both_databases


def cli(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def pushed_project(settings):
    """A project created for `git push`, and its deploy token as the CLI printed it."""
    name = f"p-{uuid.uuid4().hex[:8]}"
    r = cli("project", "create", name, "--git-push")
    assert r.exit_code == 0, r.output
    r = cli("project", "token", name)
    assert r.exit_code == 0, r.output
    (token,) = set(re.findall(r"slw_[A-Za-z0-9_-]+", r.output))
    return name, token


@pytest.fixture
def checkout(tmp_path) -> Checkout:
    """A working copy whose pushes do not wait for their deployment (nothing runs it in these tests):
    `push.pushOption` is git's default for `git push -o` (tests/test_git_push_follow.py follows)."""
    c = Checkout(tmp_path / "dev" / "app")
    c.env.update(GIT_CONFIG_COUNT="1", GIT_CONFIG_KEY_0="push.pushOption", GIT_CONFIG_VALUE_0="slipway.follow=false")
    return c


def remote(server: str, name: str, token: str | None) -> str:
    host = server.removeprefix("http://")
    return f"http://slipway:{token}@{host}/git/{name}.git" if token else f"{server}/git/{name}.git"


def deployments(name: str) -> list[Deployment]:
    with session_scope() as s:
        return list(s.scalars(select(Deployment).join(Project).where(Project.name == name).order_by(Deployment.id)))


def bare_refs(settings, name: str) -> dict[str, str]:
    repo = Repo(repository_path(settings, name))
    try:
        return {ref.path: ref.commit.hexsha for ref in repo.references}
    finally:
        repo.close()


# -- pushing -------------------------------------------------------------------

def test_push_with_the_token_queues_a_deployment_and_says_so(settings, server, pushed_project, checkout, queue):
    name, token = pushed_project
    sha = checkout.commit({"Dockerfile": "FROM scratch\n"}, message="Add the Dockerfile\n\nWith a body.")
    out = checkout.git("push", remote(server, name, token), "main")

    (dep,) = deployments(name)
    assert (dep.sha, dep.branch, dep.trigger, dep.state) == (sha, "main", "git", "queued")
    # the dashboard's lists show the pushed commit's subject and author, read from the stored commit
    assert (dep.commit_message, dep.commit_author) == ("Add the Dockerfile", "Dev")
    assert queue.job_ids == [job_id_for(dep.id)]
    # git shows the server's side-band messages as "remote:" lines
    assert f"remote: Slipway: deployment {dep.id} of {sha[:7]} (main) queued: " \
           f"{settings.public_url}/deployments/{dep.id}" in out.stderr
    assert bare_refs(settings, name) == {"refs/heads/main": sha}
    with session_scope() as s:
        # the builder fetches from the bare repository
        assert get_project_by_name(s, name).repo_url == str(repository_path(settings, name))


@pytest.mark.parametrize("token", [None, "slw_wrong", "wrong-and-short"])
def test_a_wrong_or_missing_token_is_refused_and_nothing_is_stored(settings, server, pushed_project, checkout,
                                                                      queue, token):
    name, _ = pushed_project
    checkout.commit({"a.txt": "1"})
    out = checkout.git("push", remote(server, name, token), "main", check=False)
    assert out.returncode != 0
    assert ("Authentication failed" in out.stderr) if token else ("could not read Username" in out.stderr)
    assert bare_refs(settings, name) == {}
    assert deployments(name) == [] and queue.job_ids == []


def test_401_asks_for_basic_auth_on_every_git_endpoint(server, pushed_project):
    name, token = pushed_project
    for method, path in [("GET", "info/refs?service=git-receive-pack"), ("GET", "info/refs?service=git-upload-pack"),
                         ("POST", "git-receive-pack"), ("POST", "git-upload-pack"), ("GET", "HEAD")]:
        for auth in (None, ("slipway", "slw_not-the-token"), ("slipway", token[:-1])):
            resp = requests.request(method, f"{server}/git/{name}.git/{path}", auth=auth, timeout=10)
            assert resp.status_code == 401, (method, path, auth)
            assert resp.headers["WWW-Authenticate"] == 'Basic realm="Slipway"'
            assert f"slipway project token {name}" in resp.text
    ok = requests.get(f"{server}/git/{name}.git/info/refs?service=git-receive-pack", auth=("any", token), timeout=10)
    assert ok.status_code == 200 and ok.headers["Content-Type"] == "application/x-git-receive-pack-advertisement"


def test_unknown_projects_and_projects_that_build_elsewhere(settings, server, pushed_project):
    _, token = pushed_project
    resp = requests.get(f"{server}/git/nope.git/info/refs?service=git-upload-pack", auth=("x", token), timeout=10)
    assert resp.status_code == 401 and "slipway project token nope" in resp.text

    assert cli("project", "create", "on-github", "--repo", "https://github.com/acme/x.git").exit_code == 0
    r = cli("project", "token", "on-github")
    assert r.exit_code == 1 and "not from Slipway's git remote" in r.output and "slw_" not in r.output
    # Even with a token set some other way, such a project's pushes are refused: the builder would not see them.
    with session_scope() as s:
        get_project_by_name(s, "on-github").deploy_token_hash = token_hash("slw_elsewhere")
    resp = requests.get(f"{server}/git/on-github.git/info/refs?service=git-receive-pack",
                        auth=("x", "slw_elsewhere"), timeout=10)
    assert resp.status_code == 403 and "push there" in resp.text
    assert not repository_path(settings, "on-github").exists()


PROBES = [("GET", "info/refs?service=git-upload-pack"), ("GET", "info/refs?service=git-receive-pack"),
          ("GET", "HEAD"), ("POST", "git-receive-pack"), ("POST", "git-upload-pack")]


def probe(client, name: str) -> list:
    """Everything a stranger sees of /git/<name>.git: status, headers and body, without and with a guessed token."""
    seen = []
    for method, path in PROBES:
        for headers in ({}, {"Authorization": _basic("x", "slw_" + "guess" * 9)}, {"Authorization": "Bearer x"}):
            resp = client.open(f"/git/{name}.git/{path}", method=method, headers=headers, data=b"0000")
            seen.append((method, path, resp.status_code, sorted(resp.headers.items()), resp.data))
    return seen


@pytest.mark.parametrize("create", [("--git-push",), ("--repo", "https://example.com/x.git")])
def test_strangers_cannot_tell_which_project_names_exist(settings, anonymous, create):
    name = f"n-{uuid.uuid4().hex[:8]}"
    unknown = probe(anonymous, name)
    assert cli("project", "create", name, *create).exit_code == 0
    if create[0] == "--git-push":
        cli("project", "token", name)
    assert probe(anonymous, name) == unknown
    assert {status for _, _, status, _, _ in unknown} == {401}


def test_other_branches_and_tags_are_stored_but_not_deployed(settings, server, pushed_project, checkout, queue):
    name, token = pushed_project
    sha = checkout.commit({"a.txt": "1"})
    checkout.git("tag", "v1")
    out = checkout.git("push", remote(server, name, token), "main:feature", "v1")
    assert "remote: Slipway: branch feature stored; only pushes to main deploy." in out.stderr
    assert "remote: Slipway: tag v1 stored; tags do not deploy." in out.stderr
    assert "queued" not in out.stderr
    assert bare_refs(settings, name) == {"refs/heads/feature": sha, "refs/tags/v1": sha}
    assert deployments(name) == [] and queue.job_ids == []


def test_a_second_push_supersedes_the_first(settings, server, pushed_project, checkout, queue):
    name, token = pushed_project
    url = remote(server, name, token)
    first = checkout.commit({"a.txt": "1"})
    checkout.git("push", url, "main")
    second = checkout.commit({"a.txt": "2"})
    out = checkout.git("push", url, "main")

    old, new = deployments(name)
    assert (old.sha, new.sha) == (first, second)
    assert old.state == "cancelled" and old.error_id == "app:superseded"
    assert new.state == "queued"
    assert f"deployment {new.id} of {second[:7]} (main) queued" in out.stderr
    assert f"it replaces unfinished deployment(s) {old.id}." in out.stderr
    assert queue.job_ids == [job_id_for(old.id), job_id_for(new.id)]


def test_force_push_deploys_the_new_head_and_the_deployed_branch_cannot_be_deleted(settings, server, pushed_project,
                                                                                  checkout, queue):
    name, token = pushed_project
    url = remote(server, name, token)
    first = checkout.commit({"a.txt": "1"})
    checkout.git("push", url, "main")
    rewritten = checkout.commit({"a.txt": "rewritten"}, amend=True)
    assert checkout.git("push", url, "main", check=False).returncode != 0  # not a fast-forward
    out = checkout.git("push", "--force", url, "main")
    assert f"of {rewritten[:7]} (main, forced update) queued" in out.stderr
    # The rewritten-away commit is still in the reflog, so an older deployment can be rebuilt.
    bare = Repo(repository_path(settings, name))
    assert first in {entry.newhexsha for entry in bare.refs["main"].log()}
    bare.close()

    # The deployed branch cannot be deleted through the remote (git refuses to delete HEAD); others can.
    out = checkout.git("push", url, ":main", check=False)
    assert out.returncode != 0 and "deletion of the current branch prohibited" in out.stderr
    checkout.git("push", url, "main:feature")
    out = checkout.git("push", url, ":feature")
    assert "remote: Slipway: branch feature deleted." in out.stderr
    assert [d.sha for d in deployments(name)] == [first, rewritten]
    assert bare_refs(settings, name) == {"refs/heads/main": rewritten}


def test_a_push_git_stored_without_deploying_is_deployed_by_the_next_push(settings, server, pushed_project, checkout,
                                                                           queue):
    """If a request dies after git stored the push, nothing is lost: the next push deploys it."""
    name, token = pushed_project
    sha = checkout.commit({"a.txt": "1"})
    # Straight into the bare repository, as if the web request had died right after git took it in.
    checkout.git("-c", "push.pushOption=", "push", str(repository_path(settings, name)), "main")  # no -o for git itself
    assert deployments(name) == []
    out = checkout.git("push", remote(server, name, token), "main:other")
    (dep,) = deployments(name)
    assert dep.sha == sha and f"deployment {dep.id} of {sha[:7]} (main) queued" in out.stderr
    # ... and only once.
    checkout.git("push", remote(server, name, token), "main:third")
    assert len(deployments(name)) == 1


def test_a_push_that_cannot_be_queued_says_so_and_the_next_push_deploys(settings, server, pushed_project,
                                                                         checkout, queue):
    name, token = pushed_project
    sha = checkout.commit({"a.txt": "1"})
    set_settings(replace(settings, redis_url="redis://127.0.0.1:1/0"))  # Redis unreachable
    out = checkout.git("push", remote(server, name, token), "main")
    (failed,) = deployments(name)
    assert failed.state == "failed"
    assert f"remote: Slipway: the push is stored but deployment {failed.id} could not be queued" in out.stderr
    assert f"slipway deploy {name}" in out.stderr

    set_settings(settings)
    out = checkout.git("push", remote(server, name, token), "main:other")
    _, dep = deployments(name)
    assert dep.sha == sha and dep.state == "queued" and queue.job_ids == [job_id_for(dep.id)]
    assert f"deployment {dep.id} of {sha[:7]} (main) queued" in out.stderr


def test_clone_and_fetch_need_the_token(settings, server, pushed_project, checkout, tmp_path):
    name, token = pushed_project
    sha = checkout.commit({"hello.txt": "hi"})
    checkout.git("push", remote(server, name, token), "main")

    checkout.git("clone", remote(server, name, token), str(tmp_path / "clone"))
    assert (tmp_path / "clone" / "hello.txt").read_text() == "hi"
    assert Repo(tmp_path / "clone").head.commit.hexsha == sha

    denied = checkout.git("clone", remote(server, name, None), str(tmp_path / "denied"), check=False)
    assert denied.returncode != 0 and not (tmp_path / "denied" / "hello.txt").exists()
    denied = checkout.git("clone", remote(server, name, "slw_wrong"), str(tmp_path / "denied2"), check=False)
    assert denied.returncode != 0 and "Authentication failed" in denied.stderr


@pytest.mark.parametrize("size", [300_000, 3_000_000])  # below and above git's http.postBuffer (chunked)
def test_a_push_over_the_limit_is_refused_with_a_message_git_shows(app, settings, server, pushed_project, checkout,
                                                                     queue, size):
    name, token = pushed_project
    app.config["SLIPWAY_SETTINGS"] = replace(settings, git_push_max_bytes="100000")
    (checkout.path / "big.bin").write_bytes(os.urandom(size))  # does not compress
    checkout.commit({"Dockerfile": "FROM scratch\n"})
    out = checkout.git("push", remote(server, name, token), "main", check=False)
    assert out.returncode != 0
    assert "remote: Slipway: pushes larger than 0.1 MB are refused (SLIPWAY_GIT_PUSH_MAX_BYTES)" in out.stderr, \
        out.stderr
    assert "error: remote unpack failed: push larger than 0.1 MB (SLIPWAY_GIT_PUSH_MAX_BYTES)" in out.stderr
    assert bare_refs(settings, name) == {} and deployments(name) == [] and queue.job_ids == []


class EndlessBody:
    """A request body that never ends, counting what the server reads of it."""

    def __init__(self, first: bytes):
        self.first, self.read_bytes = first, 0

    def read(self, size: int = -1) -> bytes:
        size = 65536 if size is None or size < 0 else size
        chunk = (self.first + b"P" * size)[:size] if self.read_bytes == 0 else b"P" * size
        self.read_bytes += len(chunk)
        return chunk

    def readline(self, size: int = -1) -> bytes:
        return self.read(size)


def test_an_oversized_chunked_push_is_not_read_past_the_limit(app, settings, pushed_project):
    name, token = pushed_project
    app.config["SLIPWAY_SETTINGS"] = replace(settings, git_push_max_bytes="1000000")
    command = b"0" * 40 + b" " + b"1" * 40 + b" refs/heads/main\0report-status side-band-64k"
    body = EndlessBody(pkt_line(command) + b"0000PACK")
    environ = EnvironBuilder(path=f"/git/{name}.git/git-receive-pack", method="POST",
                             headers={"Authorization": _basic("x", token), "Transfer-Encoding": "chunked",
                                      "Content-Type": "application/x-git-receive-pack-request"}).get_environ()
    environ.pop("CONTENT_LENGTH", None)
    # As a server that decodes chunked bodies itself says (Werkzeug's, gunicorn):
    environ.update({"wsgi.input": body, "wsgi.input_terminated": True})
    app_iter, status, headers = run_wsgi_app(app, environ, buffered=True)
    data = b"".join(app_iter)
    assert status == "200 OK" and headers["Content-Type"] == "application/x-git-receive-pack-result"
    assert b"SLIPWAY_GIT_PUSH_MAX_BYTES" in data and b"ng refs/heads/main push larger than" in data
    # Past the limit only the little read (and dropped) once the answer is out, so that the client sees it.
    assert 1_000_000 < body.read_bytes <= 1_000_000 + 65536 + DISCARD_AFTER_ANSWER


def test_a_body_declared_larger_than_the_limit_is_refused_unread(client, settings, pushed_project):
    name, token = pushed_project
    command = pkt_line(b"0" * 40 + b" " + b"1" * 40 + b" refs/heads/main\0report-status") + b"0000"
    too_long = {"CONTENT_LENGTH": str(int(settings.git_push_max_bytes) + 1)}
    resp = client.post(f"/git/{name}.git/git-receive-pack", data=command, headers={"Authorization": _basic("x", token)},
                       environ_overrides=too_long)
    # Without side-band: the plain report, which git prints as "remote unpack failed" and "[remote rejected]".
    assert resp.status_code == 200 and resp.data.startswith(pkt_line(b"unpack push larger than 256 MB "
                                                                      b"(SLIPWAY_GIT_PUSH_MAX_BYTES)\n"))
    assert b"ng refs/heads/main push larger than 256 MB" in resp.data
    resp = client.post(f"/git/{name}.git/git-upload-pack", data=b"0000", headers={"Authorization": _basic("x", token)},
                       environ_overrides=too_long)
    assert resp.status_code == 413 and "SLIPWAY_GIT_PUSH_MAX_BYTES" in resp.text


def _basic(user: str, password: str) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# -- the CLI -------------------------------------------------------------------

def test_a_workers_fetch_token_clones_that_project_only_and_never_pushes(settings, server, pushed_project, checkout,
                                                                           tmp_path):
    name, token = pushed_project
    sha = checkout.commit({"hello.txt": "hi"})
    checkout.git("push", remote(server, name, token), "main")
    fetch = fetch_token(settings, name)

    checkout.git("clone", remote(server, name, fetch), str(tmp_path / "clone"))
    assert Repo(tmp_path / "clone").head.commit.hexsha == sha

    checkout.commit({"hello.txt": "changed"})
    refused = checkout.git("push", remote(server, name, fetch), "main", check=False)
    assert refused.returncode != 0 and "Authentication failed" in refused.stderr
    assert bare_refs(settings, name)["refs/heads/main"] == sha and len(deployments(name)) == 1
    auth = ("worker", fetch)
    assert requests.get(f"{server}/git/{name}.git/info/refs?service=git-receive-pack", auth=auth,
                        timeout=30).status_code == 401
    assert requests.post(f"{server}/git/{name}.git/git-receive-pack", auth=auth, data=b"0000",
                         timeout=30).status_code == 401

    other = f"p-{uuid.uuid4().hex[:8]}"
    assert cli("project", "create", other, "--git-push").exit_code == 0
    for wrong in (fetch_token(settings, other), fetch_token(settings, name, now=time.time() - 3600),
                  fetch_token(replace(settings, secret_key="another-key"), name),
                  fetch[:-1] + ("1" if fetch.endswith("0") else "0")):  # tampered: last digit changed
        denied = checkout.git("clone", remote(server, name, wrong), str(tmp_path / "denied"), check=False)
        assert denied.returncode != 0 and "Authentication failed" in denied.stderr, wrong[:20]


def test_token_is_shown_once_and_only_its_hash_is_kept(settings, pushed_project):
    name, _ = pushed_project
    r = cli("project", "token", name)
    (token,) = re.findall(r"slw_[A-Za-z0-9_-]+", r.output)
    assert r.output.count(token) == 1
    assert f"git remote add slipway {settings.public_url}/git/{name}.git" in r.output
    assert token not in r.output.split("git remote add", 1)[1]  # never suggested inside the URL
    with session_scope() as s:
        stored = get_project_by_name(s, name).deploy_token_hash
    assert stored != token and stored == token_hash(token)

    again = cli("project", "token", name)
    (newer,) = re.findall(r"slw_[A-Za-z0-9_-]+", again.output)
    assert newer != token
    with session_scope() as s:
        assert get_project_by_name(s, name).deploy_token_hash == token_hash(newer)


def test_regenerating_the_token_locks_out_the_old_one(settings, server, pushed_project, checkout):
    name, old = pushed_project
    cli("project", "token", name)
    checkout.commit({"a.txt": "1"})
    out = checkout.git("push", remote(server, name, old), "main", check=False)
    assert out.returncode != 0 and "Authentication failed" in out.stderr


def test_create_for_git_push_refuses_a_repo_too(settings):
    r = cli("project", "create", "both", "--git-push", "--repo", "https://example.com/x.git")
    assert r.exit_code == 1 and "leave out --repo" in r.output
    r = cli("project", "create", "neither")
    assert r.exit_code == 1 and "--git-push" in r.output


# -- pkt-line plumbing -----------------------------------------------------------

def test_progress_lines_go_before_the_final_flush_and_odd_answers_are_left_alone():
    answer = pkt_line(b"\x01" + pkt_line(b"unpack ok\n") + pkt_line(b"ok refs/heads/main\n") + b"0000") + b"0000"
    out = with_progress_lines(answer, ["hello"])
    assert out == answer[:-4] + pkt_line(b"\x02hello\n") + b"0000"
    for odd in (b"", b"0000garbage", answer[:-1], b"zzzz", answer + b"0001"):
        assert with_progress_lines(odd, ["hello"]) == odd


def test_sideband_is_read_from_the_first_command_line():
    cmd = b"0" * 40 + b" " + b"1" * 40 + b" refs/heads/main"
    assert asks_for_sideband(pkt_line(cmd + b"\0report-status side-band-64k agent=git/2") + b"0000")
    assert not asks_for_sideband(pkt_line(cmd + b"\0report-status") + b"0000")
    assert not asks_for_sideband(pkt_line(cmd) + b"0000") and not asks_for_sideband(b"\x1f\x8b")


# -- the whole road ----------------------------------------------------------------

@pytest.mark.docker
def test_git_push_goes_live(settings, server, pushed_project, checkout, run_worker):
    import docker

    from deployer.local import LABEL_PROJECT

    name, token = pushed_project
    # The worker reaches the web server here (not at SLIPWAY_PUBLIC_URL), as one on another machine would.
    set_settings(replace(settings, internal_url=server))
    client = docker.DockerClient(base_url=settings.docker_host)
    try:
        sha = checkout.commit({"Dockerfile": dockerfile(settings.registry), "www/index.html": "pushed with git\n"})
        out = checkout.git("push", remote(server, name, token), "main")
        (dep,) = deployments(name)
        assert f"deployment {dep.id} of {sha[:7]} (main) queued" in out.stderr
        run_worker()
        (dep,) = deployments(name)
        assert dep.state == "live", dep.error_message
        assert requests.get(dep.url, timeout=5).text == "pushed with git\n"
        assert dep.image == f"{settings.registry}/{name}:{sha[:7]}"
        # Fetched over the remote's URL with a fetch token, which no log line shows.
        log = log_of(dep.id)
        assert f"$ git fetch --depth 1 {server}/git/{name}.git {sha}" in log
        assert FETCH_TOKEN_PREFIX not in log and str(repository_path(settings, name)) not in log
    finally:
        for c in client.containers.list(all=True, filters={"label": f"{LABEL_PROJECT}={name}"}):
            c.remove(force=True)
        client.close()
