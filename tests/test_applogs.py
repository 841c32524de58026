"""What the running app prints, read back from its container and masked like build logs."""

from __future__ import annotations

import itertools

import pytest
from click.testing import CliRunner

from slipway.applogs import app_log
from slipway.cli import main
from slipway.db import session_scope
from slipway.envvars import set_vars
from slipway.projects import get_project_by_name
from slipway.targets import targets_from_settings
from tests.support.pipeline import deploy, dockerfile, log_of

pytestmark = pytest.mark.docker

SECRET = "s3cr3t-app-token-4711"
# Prints its variable once, then a numbered line every 0.2 s, beside the web server.
TICKING = ('echo "starting with token $API_TOKEN"; '
           '(i=0; while true; do echo "tick $i"; i=$((i+1)); sleep 0.2; done) & '
           'exec busybox httpd -f -p "$PORT" -h /www')


@pytest.fixture
def ticking(settings, site, send_webhook, run_worker):
    with session_scope() as s:
        set_vars(s, get_project_by_name(s, site.name), {"API_TOKEN": SECRET})
    dep = deploy(send_webhook, run_worker, site, {"Dockerfile": dockerfile(settings.registry, cmd=TICKING),
                                                 "www/index.html": "hi"})
    assert dep.state == "live", log_of(dep.id)
    return dep


def test_what_the_app_prints_reaches_the_cli_a_follow_stream_and_its_page_with_secrets_masked(
        settings, ticking, site, client):
    # One deployment for all three readers: each build costs seconds.
    result = CliRunner().invoke(main, ["logs", site.name, "--app"])
    assert result.exit_code == 0, result.output
    assert "starting with token ***" in result.output and SECRET not in result.output
    assert "tick 0" in result.output
    by_id = CliRunner().invoke(main, ["logs", str(ticking.id), "--app"])
    assert "starting with token ***" in by_id.output

    none = CliRunner().invoke(main, ["logs", "no-such-project", "--app"])
    assert none.exit_code != 0 and "no live production deployment" in none.output
    assert "is not a deployment id" in CliRunner().invoke(main, ["logs", site.name]).output

    # Following: the last line there was, then three more as the app printed them.
    lines = app_log(settings, targets_from_settings(settings), ticking.id, follow=True, tail=1)
    try:
        ticks = [int(line.split()[1]) for line in itertools.islice((x for x in lines if x.startswith("tick")), 4)]
    finally:
        lines.close()
    assert ticks == list(range(ticks[0], ticks[0] + 4))

    # The deployment's page streams it (server-sent events), masked too.
    page = client.get(f"/deployments/{ticking.id}")
    assert b"App output" in page.data and f"/deployments/{ticking.id}/app-log".encode() in page.data
    resp = client.get(f"/deployments/{ticking.id}/app-log")
    assert resp.mimetype == "text/event-stream"
    first = b""
    for chunk in resp.response:
        first += chunk
        if b"tick" in first:
            break
    resp.close()
    assert b"starting with token ***" in first and SECRET.encode() not in first


def test_the_apps_output_reaches_the_cli_of_a_remote_slipway_through_the_api(settings, ticking, site, server,
                                                                            tmp_path, docker_client):
    """`slipway logs NAME --app [--follow]` logged in to a remote Slipway, and the API routes under it."""
    import json
    import os
    import signal
    import subprocess
    import sys
    import threading
    from dataclasses import replace

    import requests

    from slipway.settings import set_settings

    set_settings(replace(settings, cli_login_file=str(tmp_path / "login.json")))
    assert CliRunner().invoke(main, ["login", server], input=f"{settings.admin_password}\n").exit_code == 0
    by_name = CliRunner().invoke(main, ["logs", site.name, "--app"])
    assert by_name.exit_code == 0, by_name.output
    assert "starting with token ***" in by_name.output and SECRET not in by_name.output and "tick 0" in by_name.output
    by_id = CliRunner().invoke(main, ["logs", str(ticking.id), "--app"])
    assert by_id.exit_code == 0 and "starting with token ***" in by_id.output
    none = CliRunner().invoke(main, ["logs", "no-such-project", "--app"])
    assert none.exit_code != 0 and "not found" in none.output

    admin = {"Authorization": f"Bearer {settings.admin_password}"}
    last = requests.get(f"{server}/api/deployments/{ticking.id}/app-log?tail=1", headers=admin, timeout=30).json()
    assert last["deployment_id"] == ticking.id and len(last["lines"]) == 1 and last["none"] is None
    with requests.get(f"{server}/api/projects/{site.name}/app-log?follow=true&tail=1", headers=admin,
                      stream=True, timeout=30) as resp:
        assert resp.headers["Content-Type"] == "application/x-ndjson"
        ticks = []
        for raw in resp.iter_lines():
            ticks.append(int(json.loads(raw)["line"].split()[1]))
            if len(ticks) == 4:
                break
    assert ticks == list(range(ticks[0], ticks[0] + 4))  # the last line there was, then new ones as printed

    # Following from the CLI: new lines as the app prints them, until interrupted.
    cli = subprocess.Popen([sys.executable, "-m", "slipway.cli", "logs", site.name, "--app", "--follow"],
                           env={**os.environ, "SLIPWAY_CLI_LOGIN_FILE": str(tmp_path / "login.json")},
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watchdog = threading.Timer(120, cli.kill)  # only a hung test is stopped by it; nothing is timed
    watchdog.start()
    followed: list[str] = []
    try:
        # The last lines there were, then ones the app prints after the stream above was read.
        while not followed or not followed[-1].startswith("tick") or int(followed[-1].split()[1]) < ticks[-1] + 2:
            followed.append(cli.stdout.readline())
            assert followed[-1], "the CLI stopped following"
        cli.send_signal(signal.SIGINT)
        out, err = cli.communicate()
    finally:
        watchdog.cancel()
    assert cli.returncode == 0, err
    followed_ticks = [int(line.split()[1]) for line in followed if line.startswith("tick")]
    assert followed_ticks == list(range(followed_ticks[0], followed_ticks[0] + len(followed_ticks)))
    assert SECRET not in "".join(followed) + out

    # An app that stops ends the following, as on the Slipway machine (it is not asked for again and again).
    docker_client.containers.get(ticking.target_ref["container_id"]).stop(timeout=1)
    cli = subprocess.Popen([sys.executable, "-m", "slipway.cli", "logs", str(ticking.id), "--app", "--follow"],
                           env={**os.environ, "SLIPWAY_CLI_LOGIN_FILE": str(tmp_path / "login.json")},
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watchdog = threading.Timer(120, cli.kill)
    watchdog.start()
    try:
        out, err = cli.communicate()
    finally:
        watchdog.cancel()
    assert cli.returncode == 0, err
    assert "tick" in out and SECRET not in out
