"""`slipway login URL`: the CLI against a remote Slipway over HTTP, through the JSON API."""

from __future__ import annotations

import json
import stat
from dataclasses import replace

import pytest
from click.testing import CliRunner

from slipway.accounts import tokens
from slipway.cli import main
from slipway.db import session_scope
from slipway.settings import set_settings


@pytest.fixture
def cli_settings(settings, server, tmp_path):
    """The CLI's settings: its own login file (the server keeps the settings it started with)."""
    s = replace(settings, cli_login_file=str(tmp_path / "cli" / "login.json"))
    set_settings(s)
    return s


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
