"""What the `slipway` command shows people and scripts: tables, relative times, --json, values from stdin."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

from click.testing import CliRunner

from slipway.cli import main
from slipway.db import session_scope
from slipway.models import Deployment, Installation, InstallationRepository, Project
from slipway.tables import ago, duration, table

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)


def run(*args, **kwargs):
    return CliRunner().invoke(main, list(args), catch_exceptions=False, **kwargs)


def test_relative_times_and_durations_read_as_people_say_them():
    assert ago(NOW - timedelta(seconds=3), NOW) == "just now"
    assert ago(NOW - timedelta(seconds=42), NOW) == "42 s ago"
    assert ago(NOW - timedelta(minutes=3, seconds=20), NOW) == "3 min ago"
    assert ago(NOW - timedelta(hours=5), NOW) == "5 h ago"
    assert ago(NOW - timedelta(days=1), NOW) == "1 day ago"
    assert ago(NOW - timedelta(days=400), NOW) == "2025-03-27"
    assert ago((NOW - timedelta(minutes=2)).replace(tzinfo=None), NOW) == "2 min ago"  # SQLite's naive UTC
    assert ago(None) == "-"
    assert [duration(s) for s in (4.23, 185, 3720, None)] == ["4.2s", "3m05s", "1h02m", "-"]


def test_tables_have_headers_and_aligned_columns():
    out = table(["id", "project", "url"], [(7, "shop", "http://a"), (12, "a-longer-name", None)]).splitlines()
    assert out[0].split() == ["ID", "PROJECT", "URL"]
    assert [line.index(word) for line, word in zip(out, ["PROJECT", "shop", "a-longer-name"])] == [4, 4, 4]
    assert out[2].endswith("-")


def _history(settings):
    with session_scope() as s:
        p = Project(name="shop", repo_url="https://example.com/shop.git", github_repo="acme/shop")
        s.add(p)
        now = datetime.now(timezone.utc)
        s.add_all([
            Deployment(project=p, sha="a" * 40, branch="main", trigger="push", state="live", url="http://127.0.0.1:4001",
                       created_at=now - timedelta(minutes=3), started_at=now - timedelta(minutes=3),
                       finished_at=now - timedelta(minutes=3) + timedelta(seconds=42)),
            Deployment(project=p, sha="b" * 40, branch="feature", pr_number=5, trigger="pull_request", state="failed",
                       error_message="The Docker build failed: boom", created_at=now - timedelta(seconds=30),
                       started_at=now - timedelta(seconds=30), finished_at=now - timedelta(seconds=20)),
        ])


def test_deployments_show_when_how_long_and_where(settings):
    _history(settings)
    lines = run("deployments").output.splitlines()
    assert lines[0].split() == ["ID", "PROJECT", "COMMIT", "BRANCH", "TRIGGER", "STATE", "CREATED", "TOOK", "URL", "/",
                                "REASON"]
    assert "PR #5" in lines[1] and "30 s ago" in lines[1] and "10.0s" in lines[1] and "boom" in lines[1]
    assert "3 min ago" in lines[2] and "42.0s" in lines[2] and lines[2].endswith("http://127.0.0.1:4001")
    items = json.loads(run("deployments", "shop", "--json").output)
    assert [(d["state"], d["pr_number"], d["duration_s"], d["url"]) for d in items] == [
        ("failed", 5, 10.0, None), ("live", None, 42.0, "http://127.0.0.1:4001")]
    assert items[1]["created_at"].endswith("+00:00")
    assert run("deployments", "nope").exit_code == 1


def test_projects_show_their_last_deployment_and_live_url(settings):
    _history(settings)
    run("project", "create", "empty", "--repo", "https://example.com/e.git")
    lines = run("project", "list").output.splitlines()
    assert lines[0].split() == ["NAME", "TARGET", "BRANCH", "SOURCE", "LAST", "DEPLOY", "URL"]
    assert lines[1].split()[0] == "empty" and lines[1].rstrip().endswith("-")
    assert "failed 30 s ago" in lines[2] and lines[2].endswith("http://127.0.0.1:4001")
    items = {p["name"]: p for p in json.loads(run("project", "list", "--json").output)}
    assert items["shop"]["live_url"] == "http://127.0.0.1:4001" and items["shop"]["last_deployment"]["pr_number"] == 5
    assert items["empty"]["last_deployment"] is None
    assert json.loads(run("deployments", "empty", "--json").output) == []


def _installation(settings, suspended=False):
    with session_scope() as s:
        inst = Installation(id=4242, account_login="acme", account_type="Organization", suspended=suspended)
        inst.repositories.append(InstallationRepository(repo_id=99, full_name="Acme/Shop"))
        s.add(inst)


def test_create_with_github_ties_the_project_to_the_apps_installation(settings):
    _installation(settings)
    r = run("project", "create", "shop", "--github", "acme/shop")
    assert r.exit_code == 0, r.output
    assert "through the GitHub App's installation on acme" in r.output
    with session_scope() as s:
        p = s.query(Project).filter_by(name="shop").one()
        assert (p.installation_id, p.github_repo, p.repo_url) == (4242, "acme/shop",
                                                                  f"{settings.github_url}/acme/shop.git")


def test_create_with_github_says_plainly_when_the_app_is_not_installed(settings):
    _installation(settings)
    r = run("project", "create", "other", "--github", "acme/other")
    assert r.exit_code == 1
    assert "The GitHub App is not installed on acme/other" in r.output and f"{settings.public_url}/github" in r.output
    with session_scope() as s:
        assert s.query(Project).count() == 0


def test_create_with_github_refuses_a_suspended_installation(settings):
    _installation(settings, suspended=True)
    r = run("project", "create", "shop", "--github", "acme/shop")
    assert r.exit_code == 1 and "suspended" in r.output
    with session_scope() as s:
        assert s.query(Project).count() == 0


def _cli_env(settings) -> dict[str, str]:
    return {**os.environ, "SLIPWAY_DATA_DIR": settings.data_dir, "DATABASE_URL": settings.database_url,
            "SLIPWAY_SECRET_KEY": settings.secret_key, "SLIPWAY_QUEUE": settings.queue_name}


def _value_of(settings, name):
    from slipway.envvars import decrypted

    with session_scope() as s:
        project = s.query(Project).filter_by(name="envs").one()
        return decrypted(s, project.id)[name]


def test_env_set_reads_a_piped_value_without_warnings(settings):
    run("project", "create", "envs", "--repo", "https://example.com/x.git")
    proc = subprocess.run([sys.executable, "-m", "slipway.cli", "env", "set", "envs", "TOKEN"],
                          input="s3cret-from-a-pipe\n", env=_cli_env(settings), capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "" and "s3cret" not in proc.stdout and "set TOKEN on envs" in proc.stdout
    assert _value_of(settings, "TOKEN") == "s3cret-from-a-pipe"
    r = run("env", "set", "envs", "A", "B", input="x\n")
    assert r.exit_code == 1 and "one KEY" in r.output


def test_env_set_at_a_terminal_prompts_without_echo(settings):
    run("project", "create", "envs", "--repo", "https://example.com/x.git")
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "slipway.cli", "env", "set", "envs", "TOKEN"],
                            stdin=follower, stdout=follower, stderr=follower, env=_cli_env(settings))
    os.close(follower)
    seen = _read_until(leader, b"value of TOKEN")
    os.write(leader, b"typed-s3cret-value\n")
    seen += _read_until(leader, b"deploy again")
    assert proc.wait(timeout=60) == 0
    os.close(leader)
    assert b"typed-s3cret-value" not in seen and b"Warning" not in seen
    assert _value_of(settings, "TOKEN") == "typed-s3cret-value"


def _read_until(fd: int, marker: bytes, timeout: float = 60) -> bytes:
    out, deadline = b"", time.monotonic() + timeout
    while marker not in out and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                out += os.read(fd, 4096)
            except OSError:
                break
    return out
