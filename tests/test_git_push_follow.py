"""`git push` follows its deployment, as Heroku's does: the build's lines and how it ended, in the pusher's terminal."""

from __future__ import annotations

import re
import subprocess
import threading
import time
import uuid
from dataclasses import replace

import pytest
from click.testing import CliRunner
from werkzeug.serving import make_server

from slipway.cli import main
from slipway.db import session_scope
from slipway.git_remote.follow import wants_follow
from slipway.git_remote.smart_http import pkt_line, push_options
from slipway.models import Deployment, Project
from slipway.settings import set_settings
from tests.support.gitrepos import Checkout


def cli(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def pushed_project(settings):
    name = f"f-{uuid.uuid4().hex[:8]}"
    assert cli("project", "create", name, "--git-push").exit_code == 0
    (token,) = set(re.findall(r"slw_[A-Za-z0-9_-]+", cli("project", "token", name).output))
    return name, token


def serve(settings):
    """The app over real HTTP with these settings; returns (base URL, stop)."""
    from web import create_app

    srv = make_server("127.0.0.1", 0, create_app(settings), threaded=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{srv.server_port}", srv.shutdown


def remote(server: str, name: str, token: str) -> str:
    return f"http://slipway:{token}@{server.removeprefix('http://')}/git/{name}.git"


def deployment_of(name: str) -> Deployment | None:
    with session_scope() as s:
        return s.query(Deployment).join(Project).filter(Project.name == name).one_or_none()


def test_push_options_are_read_after_the_commands():
    cmd = b"0" * 40 + b" " + b"1" * 40 + b" refs/heads/main"
    head = (pkt_line(cmd + b"\0report-status side-band-64k push-options agent=git/2") + b"0000"
            + pkt_line(b"slipway.follow=false\n") + pkt_line(b"ci.skip") + b"0000" + b"PACK...")
    assert push_options(head) == ["slipway.follow=false", "ci.skip"]
    assert push_options(pkt_line(cmd + b"\0report-status") + b"0000" + pkt_line(b"x=y") + b"0000") == []
    assert push_options(b"") == [] and push_options(b"zzzz") == []


def test_following_is_on_unless_the_pusher_or_the_setting_says_no(settings):
    assert wants_follow(settings, []) and wants_follow(settings, ["other=false"])
    assert not wants_follow(settings, ["slipway.follow=false"]) and not wants_follow(settings, ["Slipway.Follow = no"])
    assert not wants_follow(replace(settings, git_push_follow_timeout="0"), [])


@pytest.mark.docker
def test_the_push_prints_the_build_log_and_that_it_failed(settings, pushed_project, run_worker, tmp_path):
    name, token = pushed_project
    server, stop = serve(settings)
    set_settings(replace(settings, internal_url=server))  # the worker fetches from this server
    checkout = Checkout(tmp_path / "dev")
    sha = checkout.commit({"Dockerfile": f"FROM {settings.registry}/base/busybox:latest\n"
                                         "RUN echo compiling-the-app && echo broken-on-purpose >&2 && exit 3\n"})
    try:
        push = subprocess.Popen(["git", "push", remote(server, name, token), "main"], cwd=checkout.path,
                                env=checkout.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while deployment_of(name) is None and push.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert push.poll() is None, push.communicate()  # still open: it waits for the build
        run_worker()
        _, err = push.communicate(timeout=120)
    finally:
        stop()
    dep = deployment_of(name)
    assert dep.state == "failed" and push.returncode == 0  # git stored the push; the build failed after
    lines = [line.rstrip() for line in err.splitlines()]
    assert f"remote: Slipway: deployment {dep.id} of {sha[:7]} (main) queued: " \
           f"{settings.public_url}/deployments/{dep.id}" in lines
    assert "remote: compiling-the-app" in lines and "broken-on-purpose" in err  # the build's own output
    assert f"remote: Slipway: deployment {dep.id} FAILED: {dep.error_message} " \
           f"({settings.public_url}/deployments/{dep.id})" in lines
    assert "main -> main" in lines[-1]
    assert lines.index("remote: compiling-the-app") < lines.index(f"remote: Slipway: deployment {dep.id} FAILED: "
                                                                  f"{dep.error_message} "
                                                                  f"({settings.public_url}/deployments/{dep.id})")


def test_a_pusher_who_opts_out_gets_the_prompt_back_at_once(settings, pushed_project, tmp_path):
    name, token = pushed_project
    server, stop = serve(settings)
    checkout = Checkout(tmp_path / "dev")
    checkout.commit({"Dockerfile": "FROM scratch\n"})
    try:
        out = checkout.git("push", "-o", "slipway.follow=false", remote(server, name, token), "main")
    finally:
        stop()
    dep = deployment_of(name)
    assert dep.state == "queued"  # nothing ran it, and the push did not wait for it
    assert f"deployment {dep.id} of" in out.stderr and "following" not in out.stderr


def test_the_wait_is_bounded_by_the_follow_timeout(settings, pushed_project, tmp_path):
    name, token = pushed_project
    server, stop = serve(replace(settings, git_push_follow_timeout="1"))
    checkout = Checkout(tmp_path / "dev")
    checkout.commit({"Dockerfile": "FROM scratch\n"})
    try:
        out = checkout.git("push", remote(server, name, token), "main")
    finally:
        stop()
    dep = deployment_of(name)
    assert dep.state == "queued"
    assert f"remote: Slipway: following deployment {dep.id}'s build" in out.stderr
    assert "remote: Slipway: stopped following after 1 s (SLIPWAY_GIT_PUSH_FOLLOW_TIMEOUT); the deployment goes " \
           f"on: {settings.public_url}/deployments/{dep.id}" in out.stderr


def test_a_few_pushes_are_followed_at_once_and_a_cancelled_deployment_ends_its_push(settings, tmp_path):
    from web.git_remote import MAX_FOLLOWERS

    server, stop = serve(settings)
    projects, pushes = [], []
    try:
        for i in range(MAX_FOLLOWERS + 1):
            name = f"m{i}-{uuid.uuid4().hex[:6]}"
            assert cli("project", "create", name, "--git-push").exit_code == 0
            (token,) = set(re.findall(r"slw_[A-Za-z0-9_-]+", cli("project", "token", name).output))
            checkout = Checkout(tmp_path / name)
            checkout.commit({"Dockerfile": "FROM scratch\n"})
            projects.append((name, token, checkout))
        for name, token, checkout in projects[:MAX_FOLLOWERS]:
            pushes.append(subprocess.Popen(["git", "push", remote(server, name, token), "main"], cwd=checkout.path,
                                           env=checkout.env, stderr=subprocess.PIPE, text=True))
            deadline = time.monotonic() + 60
            while deployment_of(name) is None and time.monotonic() < deadline:
                time.sleep(0.05)
        assert all(p.poll() is None for p in pushes)  # each one is waiting for its deployment
        name, token, checkout = projects[-1]
        out = checkout.git("push", remote(server, name, token), "main")  # answered at once
        dep = deployment_of(name)
        assert f"remote: Slipway: {MAX_FOLLOWERS} pushes are being followed already on this server; follow this " \
               f"one at {settings.public_url}/deployments/{dep.id}" in out.stderr
        for (name, _, _), push in zip(projects, pushes):
            assert cli("cancel", str(deployment_of(name).id)).exit_code == 0
            _, err = push.communicate(timeout=60)
            assert f"remote: Slipway: deployment {deployment_of(name).id} CANCELLED: Cancelled by a user." in err
    finally:
        for push in pushes:
            if push.poll() is None:
                push.kill()
        stop()
