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
