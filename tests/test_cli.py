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


def test_deleting_a_local_project_does_not_need_the_akash_network(settings):
    """Akash is offered by default: its network being down must not keep a local project alive."""
    from dataclasses import replace

    from slipway.settings import set_settings

    set_settings(replace(settings, targets="local,akash", akash_rest_url="rest+http://127.0.0.1:9"))
    assert run("project", "create", "here", "--repo", "https://example.com/x.git", "--target", "local").exit_code == 0
    r = run("project", "delete", "here", "--yes")
    assert r.exit_code == 0, r.output
    assert "warning: could not look for what the akash target still runs" in r.output
    assert "deleted project here" in r.output
    with session_scope() as s:
        assert s.query(Project).count() == 0


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


# -- option injection and validation ------------------------------------------------

@pytest.mark.parametrize("sha", ["--upload-pack=touch pwned", "-c", "main..other", "abc", "a" * 41, "deadbeef\n",
                                 "refs/heads/a..b"])
def test_deploy_refuses_a_sha_git_could_read_as_an_option(settings, git_server, queue, tmp_path, sha):
    repo = git_server.create(f"inject-{uuid.uuid4().hex[:6]}")
    repo.commit({"Dockerfile": "FROM scratch\n"})
    run("project", "create", "inject", "--repo", repo.url)
    r = run("deploy", "inject", "--sha", sha)
    assert r.exit_code == 1 and "commit sha" in r.output and "branch or tag" in r.output, r.output
    with session_scope() as s:
        assert s.query(Deployment).count() == 0
    assert queue.job_ids == []


def test_deploy_takes_a_full_or_short_sha_or_a_branch_or_tag_name(settings, git_server, queue):
    repo = git_server.create(f"refs-{uuid.uuid4().hex[:6]}")
    first = repo.commit({"Dockerfile": "FROM scratch\n"})
    repo.repo.git.tag("v1")
    repo.repo.git.push("origin", "v1")
    second = repo.commit({"a.txt": "2"}, branch="feature/x")
    run("project", "create", "refs", "--repo", repo.url)
    for given, expected in [(first, first), (first[:7].upper(), first[:7]), ("feature/x", second), ("v1", first),
                            ("refs/heads/feature/x", second)]:
        r = run("deploy", "refs", "--sha", given)
        assert r.exit_code == 0, (given, r.output)
        with session_scope() as s:
            assert s.query(Deployment).order_by(Deployment.id.desc()).first().sha == expected, given
    r = run("deploy", "refs", "--sha", "no-such-branch")
    assert r.exit_code == 1 and "no branch or tag 'no-such-branch'" in r.output


def test_the_builder_never_runs_a_sha_as_an_option(tmp_path, git_server):
    """Second line of defence: a deployment row with a hostile sha fetches nothing and runs nothing."""
    from builder.git import fetch_commit
    from slipway.errors import UserError

    repo = git_server.create(f"builder-{uuid.uuid4().hex[:6]}")
    repo.commit({"Dockerfile": "FROM scratch\n"})
    local = str(git_server.root / f"{repo.name}.git")  # git runs upload-pack itself for a local path
    dest = tmp_path / "work"
    for sha, branch in [("--upload-pack=touch pwned", "main"), ("0" * 40, "--upload-pack=touch pwned")]:
        with pytest.raises(UserError) as err:
            fetch_commit(local, sha, dest, lambda _line: None, branch=branch)
        assert err.value.message_id == "build:user:bad-ref", err.value
    assert not list(tmp_path.rglob("pwned")) and not list(git_server.root.rglob("pwned"))


@pytest.mark.parametrize("branch", ["a..b", "x" * 5000, "main\n", "-b"])
def test_a_git_push_project_with_a_bad_branch_leaves_nothing_behind(settings, branch):
    from slipway.git_remote import repositories_root, repository_path

    r = run("project", "create", "halfmade", "--git-push", "--branch", branch)
    assert r.exit_code == 1 and "not a valid git branch name" in r.output, r.output
    assert len(r.output) < 400
    assert not repository_path(settings, "halfmade").exists()
    assert not repositories_root(settings).exists() or not any(repositories_root(settings).iterdir())
    with session_scope() as s:
        assert s.query(Project).count() == 0


def test_project_set_refuses_a_bad_branch(settings):
    run("project", "create", "setbranch", "--repo", "https://example.com/x.git")
    for branch in ("a..b", "x" * 5000, "main\n"):
        r = run("project", "set", "setbranch", "--branch", branch)
        assert r.exit_code == 1 and "not a valid git branch name" in r.output
    with session_scope() as s:
        assert s.query(Project).filter_by(name="setbranch").one().branch == "main"


def test_create_refuses_a_repo_url_that_is_an_option(settings):
    r = run("project", "create", "opt", "--repo", "--upload-pack=touch pwned")
    assert r.exit_code == 1 and "must not start with '-'" in r.output
    r = run("project", "create", "opt", "--repo", "ext::sh -c touch% pwned")
    assert r.exit_code == 1 and "transport::address" in r.output


@pytest.mark.parametrize("assignment", ["KEY\n=value", "KEY\n", "\nKEY=value"])
def test_env_names_are_matched_whole(settings, assignment):
    run("project", "create", "envs", "--repo", "https://example.com/x.git")
    r = run("env", "set", "envs", assignment)
    assert r.exit_code == 1 and "not a valid variable name" in r.output
    assert run("env", "list", "envs").output.startswith("envs has no variables")
