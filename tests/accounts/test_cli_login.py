"""`slipway login URL`: the CLI against a remote Slipway over HTTP, through the JSON API."""

from __future__ import annotations

import json
import stat

from click.testing import CliRunner

from slipway.accounts import tokens
from slipway.cli import main
from slipway.db import session_scope


def run(*args, input=None):
    result = CliRunner().invoke(main, list(args), input=input)
    return result


def test_login_with_the_admin_password_stores_only_a_token_readable_by_its_owner(cli_settings, server, settings,
                                                                               two_teams):
    result = run("login", server, input=f"{settings.admin_password}\n")
    assert result.exit_code == 0, result.output
    assert "as admin" in result.output
    path = cli_settings.cli_login_path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = json.loads(path.read_text())
    assert stored["url"] == server and stored["token"].startswith("slp_")
    assert settings.admin_password not in path.read_text()
    listed = run("project", "list")
    assert listed.exit_code == 0 and "red-app" in listed.output and "blue-app" in listed.output
    assert run("logout").exit_code == 0 and not path.exists()


def test_a_users_token_sees_and_does_only_what_the_user_may(cli_settings, server, two_teams):
    with session_scope() as s:
        _t, text = tokens.create(s, two_teams.users["red-member"], "laptop", "admin", 7)
    assert run("login", server, input=f"{text}\n").exit_code == 0
    listed = run("project", "list")
    rows = [line.split() for line in listed.output.splitlines()[1:]]
    assert [(row[0], row[-2], row[-1]) for row in rows] == [("red-app", "member", "red")]
    assert run("env", "set", "red-app", "GREETING=hi").exit_code == 0
    assert run("env", "list", "red-app").output.split() == ["GREETING", "runtime"]
    refused = run("env", "list", "blue-app")
    assert refused.exit_code != 0 and "not found" in refused.output


def test_a_wrong_credential_is_refused_and_nothing_stored(cli_settings, server, two_teams):
    result = run("login", server, input="not-the-password\n")
    assert result.exit_code != 0 and "login URL" in result.output
    assert not cli_settings.cli_login_path.exists()


def test_rollback_and_logs_work_against_the_remote(cli_settings, server, two_teams, queue):
    from sqlalchemy import select

    from slipway.models import BuildLog, Deployment

    with session_scope() as s:
        s.add_all([BuildLog(deployment_id=two_teams.red_deployment, seq=i, line=f"step {i}") for i in (1, 2)])
        _t, text = tokens.create(s, two_teams.users["red-member"], "laptop", "deploy", 7)
    assert run("login", server, input=f"{text}\n").exit_code == 0
    shown = run("logs", str(two_teams.red_deployment), "--follow")
    assert shown.exit_code == 0 and shown.output.splitlines()[:2] == ["step 1", "step 2"], shown.output
    assert "-- failed" in shown.output  # --follow ends with the deployment's final state
    assert run("logs", str(two_teams.blue_deployment)).exit_code != 0
    # red has no live production version to go back from, but --to names an image to run again.
    nothing = run("rollback", "red-app")
    assert nothing.exit_code != 0 and "no earlier production version" in nothing.output
    rolled = run("rollback", "red-app", "--to", str(two_teams.red_deployment))
    assert rolled.exit_code == 0 and "queued" in rolled.output, rolled.output
    new_id = int(rolled.output.split()[1])
    with session_scope() as s:
        new = s.get(Deployment, new_id)
        assert new.image == "127.0.0.1:5000/red-app:aaaaaaa" and new.trigger != "git"
        assert s.scalars(select(BuildLog).where(BuildLog.deployment_id == new_id)).all() == []
    refused = run("rollback", "red-app", "--to", str(two_teams.blue_deployment))
    assert refused.exit_code != 0 and "is not a deployment of red-app" in refused.output
