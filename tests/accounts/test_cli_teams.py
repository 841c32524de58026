"""The operator's CLI on the Slipway machine: teams, team projects, and the audit log ("cli")."""

from __future__ import annotations

from dataclasses import replace

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from slipway.accounts.models import AuditEntry
from slipway.cli import main
from slipway.db import session_scope
from slipway.settings import set_settings


@pytest.fixture
def local_cli(settings, tmp_path):
    s = replace(settings, cli_login_file=str(tmp_path / "no-login.json"))  # no remote: the CLI works locally
    set_settings(s)
    return s


def run(*args):
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_teams_own_git_push_projects_and_the_cli_is_audited(local_cli, app, browser_as):
    run("team", "create", "web", "--owner", "alice")
    run("team", "member", "web", "bob", "viewer")
    run("project", "create", "shop", "--git-push", "--team", "web")
    run("env", "set", "shop", "TOKEN_SECRET=hunter2")
    assert "alice (owner)" in run("team", "list") and "projects: shop" in run("team", "list")
    refused = CliRunner().invoke(main, ["team", "member", "web", "alice", "remove"])
    assert refused.exit_code != 0 and "at least one owner" in refused.output
    with session_scope() as s:
        entries = [(e.actor, e.action, e.project_name, e.detail) for e in s.scalars(select(AuditEntry)
                                                                                     .order_by(AuditEntry.id))]
    assert entries == [
        ("cli", "team.create", None, {"team": "web"}),
        ("cli", "team.member", None, {"team": "web", "login": "bob", "role": "viewer"}),
        ("cli", "project.create", "shop", {"team": "web"}),
        ("cli", "env.set", "shop", {"name": "TOKEN_SECRET"}),
    ]
    assert "hunter2" not in str(entries)
