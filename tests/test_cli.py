"""The `slipway` command: what an operator does without the dashboard."""

import uuid

import pytest
from click.testing import CliRunner

from slipway.cli import main
from slipway.db import session_scope
from slipway.models import BuildLog, Deployment, Project
from slipway.queue import job_id_for

pytestmark = pytest.mark.both_databases


def run(*args):
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result


def test_create_and_list_projects(settings):
    r = run("project", "create", "shop", "--repo", "https://example.com/shop.git", "--github", "acme/shop",
            "--branch", "prod")
    assert r.exit_code == 0 and "created project shop" in r.output
    r = run("project", "list")
    assert "shop" in r.output and "prod" in r.output and "acme/shop" in r.output


def test_create_refuses_bad_input_with_the_reason(settings):
    r = run("project", "create", "Bad Name", "--repo", "x")
    assert r.exit_code == 1 and "lowercase" in r.output
    run("project", "create", "dup", "--repo", "x")
    r = run("project", "create", "dup", "--repo", "x")
    assert r.exit_code == 1 and "already exists" in r.output


def test_deployments_and_logs(settings):
    with session_scope() as s:
        p = Project(name="api", repo_url="x")
        d = Deployment(project=p, sha="abcdef0" + "1" * 33, branch="main", trigger="cli", state="failed",
                       error_message="The Docker build failed: boom")
        s.add(d)
        s.flush()
        s.add_all([BuildLog(deployment_id=d.id, seq=1, line="Step 1/2"), BuildLog(deployment_id=d.id, seq=2, line="boom")])
        dep_id = d.id
    r = run("deployments")
    assert "api" in r.output and "abcdef0" in r.output and "failed" in r.output and "boom" in r.output
    r = run("logs", str(dep_id))
    assert r.output.splitlines() == ["Step 1/2", "boom"]
    r = run("logs", "999")
    assert r.exit_code == 1 and "no deployment 999" in r.output


def test_settings_hides_secrets(settings):
    r = run("settings")
    assert "SLIPWAY_REGISTRY=" in r.output
    for secret in settings.secret_values():
        assert secret not in r.output


def test_deploy_unknown_project(settings):
    r = run("deploy", "nope")
    assert r.exit_code == 1 and "no project named 'nope'" in r.output


def test_deploy_resolves_branch_head_and_queues(settings, git_server, queue):
    repo = git_server.create(f"cli-deploy-{uuid.uuid4().hex[:6]}")
    sha = repo.commit({"Dockerfile": "FROM scratch\n"})
    run("project", "create", "cli-deploy", "--repo", repo.url)
    r = run("deploy", "cli-deploy")
    assert r.exit_code == 0, r.output
    with session_scope() as s:
        (d,) = s.query(Deployment).all()
        assert d.sha == sha and d.trigger == "cli" and d.state == "queued"
    assert queue.job_ids == [job_id_for(d.id)]
    r = run("project", "create", "no-branch", "--repo", repo.url, "--branch", "nope")
    r = run("deploy", "no-branch")
    assert r.exit_code == 1 and "no branch 'nope'" in r.output


def test_reap_reports_what_it_failed(settings, redis):
    from datetime import timedelta

    from slipway.models import utcnow

    with session_scope() as s:
        p = Project(name="reap", repo_url="x")
        d = Deployment(project=p, sha="b" * 40, branch="main", trigger="cli", state="deploying")
        s.add(d)
        s.flush()
        d.updated_at = utcnow() - timedelta(hours=2)
        dep_id = d.id
    r = run("reap")
    assert r.exit_code == 0 and f"failed 1 abandoned deployment(s): {dep_id}" in r.output
    with session_scope() as s:
        assert s.get(Deployment, dep_id).error_id == "app:worker-lost"


def test_project_set_changes_settings_and_refuses_bad_values(settings):
    run("project", "create", "setme", "--repo", "https://example.com/x.git")
    r = run("project", "set", "setme", "--fork-previews", "always", "--no-previews", "--branch", "prod")
    assert r.exit_code == 0, r.output
    assert "fork previews always" in r.output and "previews off" in r.output
    with session_scope() as s:
        p = s.query(Project).filter_by(name="setme").one()
        assert (p.fork_previews, p.previews_enabled, p.branch, p.dockerfile) == ("always", False, "prod", "Dockerfile")
    r = run("project", "set", "setme", "--dockerfile", "../x")
    assert r.exit_code == 1 and "relative path" in r.output
    r = run("project", "set", "setme", "--fork-previews", "sometimes")
    assert r.exit_code == 2
    r = run("project", "set", "nope", "--branch", "x")
    assert r.exit_code == 1 and "no project named 'nope'" in r.output


def test_project_delete_asks_first_and_removes_rows_and_git_remote(settings):
    from slipway.git_remote import repository_path

    assert run("project", "create", "gone", "--git-push").exit_code == 0
    run("project", "token", "gone")
    run("env", "set", "gone", "KEY=value-123456")
    assert repository_path(settings, "gone").exists()
    with session_scope() as s:
        p = s.query(Project).filter_by(name="gone").one()
        d = Deployment(project=p, sha="d" * 40, branch="main", trigger="git", state="building")
        s.add(d)
        s.flush()
        s.add(BuildLog(deployment_id=d.id, seq=1, line="x"))
    refused = CliRunner().invoke(main, ["project", "delete", "gone"], input="n\n")
    assert refused.exit_code == 1 and "Aborted" in refused.output
    r = run("project", "delete", "gone", "--yes")
    assert r.exit_code == 0 and "deleted project gone" in r.output
    with session_scope() as s:
        assert s.query(Project).count() == 0 and s.query(Deployment).count() == 0
        assert s.query(BuildLog).count() == 0
    assert not repository_path(settings, "gone").exists()
    assert run("project", "delete", "gone", "--yes").exit_code == 1


def test_rollback_says_why_it_cannot(settings):
    run("project", "create", "rb", "--repo", "https://example.com/x.git")
    r = run("rollback", "rb")
    assert r.exit_code == 1 and "no earlier production version" in r.output
    with session_scope() as s:
        p = s.query(Project).filter_by(name="rb").one()
        d = Deployment(project=p, sha="e" * 40, branch="main", trigger="push", state="failed")
        s.add(d)
        s.flush()
        dep_id = d.id
    r = run("rollback", "rb", "--to", str(dep_id))
    assert r.exit_code == 1 and "has no image to redeploy" in r.output
    r = run("rollback", "rb", "--to", "999")
    assert r.exit_code == 1 and "not a deployment of rb" in r.output
