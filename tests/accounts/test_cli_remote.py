"""The CLI's project, domain, notification and team commands against a remote Slipway (`slipway login URL`):
each goes through the JSON API, so the token's role and scope decide, and the audit log names the user
(commands run locally are recorded as ``cli`` and check no role)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from slipway.accounts import tokens
from slipway.accounts.models import AuditEntry
from slipway.cli import main
from slipway.db import session_scope
from slipway.models import Project


def run(*args, input=None):
    return CliRunner().invoke(main, list(args), input=input)


def login_as(server, world, login: str, scope: str = "admin") -> None:
    with session_scope() as s:
        _t, text = tokens.create(s, world.users[login], "laptop", scope, 7)
    assert run("login", server, input=f"{text}\n").exit_code == 0


def actors(action: str) -> list[str]:
    with session_scope() as s:
        return s.scalars(select(AuditEntry.actor).where(AuditEntry.action == action).order_by(AuditEntry.id)).all()


def test_a_git_push_project_is_made_changed_and_deleted_through_the_api(cli_settings, server, two_teams):
    login_as(server, two_teams, "red-owner")
    made = run("project", "create", "green-app", "--git-push", "--team", "red", "--health-path", "/up")
    assert made.exit_code == 0, made.output
    assert "created project green-app for team red" in made.output
    remote_line = next(line for line in made.output.splitlines() if "git remote add slipway" in line)
    assert "green-app" in remote_line.split()[-1]  # SLIPWAY_PUBLIC_URL's git remote for it
    token = made.output.split("earlier token):", 1)[1].split()[0]
    assert token.startswith("slp") or len(token) > 20
    assert actors("project.create")[-1].startswith("github:red-owner")
    with session_scope() as s:
        p = s.scalars(select(Project).where(Project.name == "green-app")).one()
        assert p.health_path == "/up"
    again = run("project", "token", "green-app")
    assert again.exit_code == 0 and "git push slipway main" in again.output
    assert actors("project.token")[-1].startswith("github:red-owner")
    changed = run("project", "set", "green-app", "--branch", "dev", "--no-previews")
    assert changed.exit_code == 0 and "branch dev" in changed.output and "previews off" in changed.output
    assert actors("settings.project")[-1].startswith("github:red-owner")
    made_hook = run("project", "hook", "green-app")  # none yet: made, as on the Slipway machine
    assert made_hook.exit_code == 0 and "new deploy hook of green-app" in made_hook.output, made_hook.output
    shown = run("project", "hook", "green-app")  # then the same URL again, as on the Slipway machine
    assert shown.exit_code == 0 and "new deploy hook" not in shown.output
    assert shown.output.splitlines()[0] == made_hook.output.splitlines()[0]
    hook = run("project", "hook", "green-app", "--regenerate")
    assert hook.exit_code == 0 and hook.output.startswith("http") and "deploys the head of dev" in hook.output
    assert hook.output.splitlines()[0] != shown.output.splitlines()[0]
    assert len(actors("project.hook")) == 2  # made, then made again; showing changes nothing
    old_url = shown.output.splitlines()[0]
    assert run("logout").exit_code == 0  # the Slipway machine's own CLI shows the same URL
    assert run("project", "hook", "green-app").output.splitlines()[0] == hook.output.splitlines()[0]
    login_as(server, two_teams, "red-owner")
    assert old_url not in run("project", "hook", "green-app").output  # the replaced URL is gone
    gone = run("project", "delete", "green-app", "--yes")
    assert gone.exit_code == 0, gone.output
    with session_scope() as s:
        assert s.scalars(select(Project).where(Project.name == "green-app")).first() is None
    assert actors("project.delete")[-1].startswith("github:red-owner")
    assert token not in hook.output + gone.output


def test_deployments_without_a_project_lists_every_one_the_user_can_see(cli_settings, server, two_teams):
    login_as(server, two_teams, "red-viewer")
    listed = run("deployments")
    assert listed.exit_code == 0, listed.output
    header, *rows = listed.output.splitlines()
    assert header.split()[:6] == ["ID", "PROJECT", "COMMIT", "BRANCH", "TRIGGER", "STATE"]
    assert [row.split()[:6] for row in rows] == [[str(two_teams.red_deployment), "red-app", "aaaaaaa", "main", "git",
                                                  "failed"]]
    as_json = run("deployments", "--json", "-n", "5")
    assert [d["project"] for d in json.loads(as_json.output)] == ["red-app"]
    assert "blue-app" not in listed.output + as_json.output
    login_as(server, two_teams, "blue-member")
    assert "red-app" not in run("deployments").output and "blue-app" in run("deployments").output


def test_app_logs_through_the_api_say_why_there_are_none_and_hide_other_teams(cli_settings, server, two_teams):
    login_as(server, two_teams, "red-viewer")  # viewers read logs
    none = run("logs", "red-app", "--app")
    assert none.exit_code != 0 and "red-app has no live production deployment" in none.output, none.output
    ended = run("logs", str(two_teams.red_deployment), "--app", "--follow")
    assert ended.exit_code != 0 and f"deployment {two_teams.red_deployment} runs nothing (failed)" in ended.output
    for args in (("logs", "blue-app", "--app"), ("logs", str(two_teams.blue_deployment), "--app", "--follow")):
        hidden = run(*args)
        assert hidden.exit_code != 0 and "not found" in hidden.output, (args, hidden.output)


def test_roles_and_scopes_limit_the_remote_commands(cli_settings, server, two_teams):
    login_as(server, two_teams, "red-viewer")
    for args in (("project", "set", "red-app", "--branch", "x"), ("project", "token", "red-app"),
                 ("project", "hook", "red-app", "--regenerate"), ("domain", "add", "red-app", "www.red.example"),
                 ("notify", "list", "red-app"), ("project", "delete", "red-app", "--yes")):
        refused = run(*args)
        assert refused.exit_code != 0 and "Error:" in refused.output, (args, refused.output)
    with session_scope() as s:
        assert s.scalars(select(Project.branch).where(Project.name == "red-app")).one() == "main"
    login_as(server, two_teams, "red-member")  # a member: settings yes, deleting the project no
    assert run("project", "delete", "red-app", "--yes").exit_code != 0
    hidden = run("domain", "list", "blue-app")
    assert hidden.exit_code != 0 and "not found" in hidden.output
    login_as(server, two_teams, "red-owner", scope="deploy")  # the owner, through a deploy-only token
    narrowed = run("project", "create", "other-app", "--git-push", "--team", "red")
    assert narrowed.exit_code != 0 and "deploy" in narrowed.output, narrowed.output
    assert run("domain", "add", "red-app", "www.red.example").exit_code != 0
    with session_scope() as s:
        assert s.scalars(select(Project).where(Project.name.in_(["red-app", "other-app"]))).all()[0].name == "red-app"
        assert len(s.scalars(select(Project).where(Project.name == "other-app")).all()) == 0


def test_domains_and_notifications_through_the_api_never_echo_a_target(cli_settings, server, two_teams):
    login_as(server, two_teams, "red-member")
    added = run("domain", "add", "red-app", "WWW.Red.Example")
    assert added.exit_code == 0 and "red-app answers at https://www.red.example" in added.output, added.output
    assert run("domain", "list", "red-app").output.split()[0].startswith("https://www.red.example")
    assert actors("domain.add")[-1].startswith("github:red-member")
    assert run("domain", "remove", "red-app", "www.red.example").exit_code == 0
    assert "no custom domains" in run("domain", "list", "red-app").output
    hook = run("notify", "add", "red-app", "ops", "webhook", "--on-success", input="https://8.8.8.8/hooks/SECRETPATH\n")
    assert hook.exit_code == 0, hook.output
    assert "SECRETPATH" not in hook.output and "https://8.8.8.8/…" in hook.output
    assert "Signing secret (shown only now" in hook.output
    listed = run("notify", "list", "red-app")
    assert listed.exit_code == 0 and "ops" in listed.output and "failure,success" in listed.output
    assert "SECRETPATH" not in listed.output
    assert actors("notification.add")[-1].startswith("github:red-member")
    assert run("notify", "remove", "red-app", "ops").exit_code == 0
    missing = run("notify", "remove", "red-app", "ops")
    assert missing.exit_code != 0 and "no channel named 'ops'" in missing.output


def test_teams_through_the_api(cli_settings, server, two_teams):
    login_as(server, two_teams, "red-member")
    listed = run("team", "list")
    assert listed.exit_code == 0 and listed.output.startswith("red: ") and "projects: red-app" in listed.output
    assert "blue" not in listed.output
    refused = run("team", "member", "red", "blue-member", "viewer")  # only an owner manages members
    assert refused.exit_code != 0
    login_as(server, two_teams, "red-owner")
    assert run("team", "member", "red", "blue-member", "viewer").exit_code == 0
    assert "blue-member (viewer)" in run("team", "list").output


@pytest.mark.parametrize("args", [("init",), ("reap",), ("registry", "gc"), ("db", "upgrade"), ("settings",)])
def test_commands_without_an_api_say_they_run_on_the_slipway_machine(cli_settings, server, two_teams, args):
    login_as(server, two_teams, "red-owner")
    refused = run(*args)
    assert refused.exit_code != 0 and "runs on the Slipway machine" in refused.output, refused.output
    assert server in refused.output


def test_the_help_of_a_machine_only_command_still_shows_when_logged_in(cli_settings, server, two_teams):
    login_as(server, two_teams, "red-owner")
    shown = run("reap", "--help")
    assert shown.exit_code == 0 and "Usage: main reap" in shown.output, shown.output


def test_a_github_project_is_created_through_the_api_for_whoever_may_import_it(cli_settings, server, settings,
                                                                             two_teams):
    from slipway.models import Installation, InstallationRepository

    with session_scope() as s:
        inst = Installation(id=1001, account_login="octo-org", account_type="Organization")
        inst.repositories.append(InstallationRepository(repo_id=5, full_name="octo-org/hello", private=True))
        s.add(inst)
    login_as(server, two_teams, "red-member")  # cannot push to it on GitHub: not theirs to import
    refused = run("project", "create", "hello", "--github", "octo-org/hello", "--team", "red")
    assert refused.exit_code != 0 and "choose one of the repositories listed" in refused.output, refused.output
    assert run("login", server, input=f"{settings.admin_password}\n").exit_code == 0
    made = run("project", "create", "hello", "--github", "Octo-Org/Hello")
    assert made.exit_code == 0, made.output
    assert "connected to octo-org/hello through the GitHub App: pushes to main deploy it" in made.output
    assert "token" not in made.output.lower()
    with session_scope() as s:
        assert s.scalar(select(Project.installation_id).where(Project.name == "hello")) == 1001
    assert actors("project.create")[-1].startswith("admin (token")


def test_a_project_cloned_from_a_url_is_created_through_the_api_for_public_repositories(
        cli_settings, server, settings, two_teams, git_server, queue):
    login_as(server, two_teams, "red-member")
    for url, why in (("/srv/git/blue-app.git", "not an https:// or http:// URL"),
                     ("file:///srv/git/blue-app.git", "not an https:// or http:// URL"),
                     ("git@github.com:octo-org/hello.git", "not an https:// or http:// URL"),
                     ("ssh://git@example.com/x.git", "not an https:// or http:// URL"),
                     ("https://127.0.0.1:5000/x.git", "127.0.0.1 is at 127.0.0.1, not an address on the public"),
                     ("http://10.1.2.3/x.git", "not an address on the public internet")):
        refused = run("project", "create", "cloned", "--repo", url, "--team", "red")
        assert refused.exit_code != 0 and why in refused.output, (url, refused.output)
    tied = run("project", "create", "cloned", "--repo", "https://93.184.216.34/x.git", "--github", "octo-org/hello",
               "--team", "red")
    assert tied.exit_code != 0 and "only Slipway's operator ties" in tied.output
    with session_scope() as s:
        assert s.scalars(select(Project).where(Project.name == "cloned")).first() is None
    made = run("project", "create", "cloned", "--repo", "https://ci:s3cr3t-pat@93.184.216.34/x.git", "--team", "red",
               "--dockerfile", "web/Dockerfile", "--branch", "trunk")
    assert made.exit_code == 0, made.output
    assert "created project cloned for team red" in made.output and "s3cr3t-pat" not in made.output
    assert "slipway deploy cloned" in made.output and "token" not in made.output.lower()
    with session_scope() as s:
        p = s.scalars(select(Project).where(Project.name == "cloned")).one()
        assert (p.repo_url, p.dockerfile, p.branch, p.github_repo) == (
            "https://ci:s3cr3t-pat@93.184.216.34/x.git", "web/Dockerfile", "trunk", None)
    assert actors("project.create")[-1].startswith("github:red-member")
    listed = run("project", "list", "--json")
    assert "s3cr3t-pat" not in listed.output and "https://***@93.184.216.34/x.git" in listed.output
    # The operator may clone what the Slipway machine reaches, and tie it to a GitHub repository's webhook.
    repo = git_server.create("cloned-here")
    sha = repo.commit({"Dockerfile": "FROM scratch\n"})
    assert run("login", server, input=f"{settings.admin_password}\n").exit_code == 0
    here = run("project", "create", "here", "--repo", repo.url, "--github", "octo-org/here")
    assert here.exit_code == 0, here.output
    deployed = run("deploy", "here")
    assert deployed.exit_code == 0 and f"of {sha[:7]} queued" in deployed.output, deployed.output
    with session_scope() as s:
        assert s.scalar(select(Project.github_repo).where(Project.name == "here")) == "octo-org/here"


def test_redeploy_and_the_audit_log_through_the_api(cli_settings, server, two_teams, queue):
    from slipway.models import Deployment

    login_as(server, two_teams, "red-viewer")
    assert run("redeploy", str(two_teams.red_deployment)).exit_code != 0
    assert run("audit", "red-app").exit_code != 0  # a viewer does not see settings, nor who changed them
    login_as(server, two_teams, "red-member", scope="deploy")
    again = run("redeploy", str(two_teams.red_deployment))
    assert again.exit_code == 0 and "of red-app queued" in again.output, again.output
    new_id = int(again.output.split()[1])
    with session_scope() as s:
        assert s.get(Deployment, new_id).image == "127.0.0.1:5000/red-app:aaaaaaa"
    assert run("redeploy", str(two_teams.blue_deployment)).exit_code != 0
    login_as(server, two_teams, "red-member")
    shown = run("audit", "red-app")
    assert shown.exit_code == 0 and "github:red-member" in shown.output and "rollback" in shown.output, shown.output
    assert f"of={two_teams.red_deployment}" in shown.output
    assert run("audit", "blue-app").exit_code != 0
    assert run("logout").exit_code == 0  # on the Slipway machine the same commands read its database
    local = run("audit", "red-app", "--json")
    assert local.exit_code == 0 and json.loads(local.output)[0]["action"] == "rollback"
    here = run("redeploy", str(two_teams.red_deployment))
    assert here.exit_code == 0 and "queued (the image of" in here.output, here.output
    assert actors("rollback")[-1] == "cli"


def test_project_team_hook_removal_and_api_tokens_through_the_api(cli_settings, server, two_teams):
    from slipway.accounts.models import ApiToken, TeamProject

    login_as(server, two_teams, "red-member")  # a member cannot give the project away
    assert run("project", "team", "red-app", "--none").exit_code != 0
    login_as(server, two_teams, "red-owner")
    given = run("project", "team", "red-app", "blue")  # red's owner owns no blue
    assert given.exit_code != 0 and "blue" in given.output
    assert run("project", "team", "red-app", "--none").exit_code == 0
    with session_scope() as s:
        p = s.scalars(select(Project).where(Project.name == "red-app")).one()
        assert s.get(TeamProject, p.id) is None
    assert actors("project.team")[-1].startswith("github:red-owner")
    lost = run("project", "team", "red-app", "red")  # in no team, red's owner no longer reaches it
    assert lost.exit_code != 0 and "not found" in lost.output
    assert run("logout").exit_code == 0  # on the Slipway machine the operator gives it back
    assert run("project", "team", "red-app", "red").exit_code == 0
    assert actors("project.team")[-1] == "cli"
    login_as(server, two_teams, "red-owner")
    assert run("project", "hook", "red-app", "--regenerate").exit_code == 0
    assert run("project", "hook", "red-app", "--remove").exit_code == 0
    again = run("project", "hook", "red-app", "--remove")
    assert again.exit_code != 0 and "has no deploy hook" in again.output
    made = run("token", "create", "ci", "--scope", "deploy", "--days", "3")
    assert made.exit_code == 0, made.output
    text = made.output.split("shown only now:", 1)[1].split()[0]
    with session_scope() as s:
        stored = s.scalars(select(ApiToken).where(ApiToken.name == "ci")).one()
        assert stored.user_id == two_teams.users["red-owner"] and stored.scope == "deploy"
        assert text.startswith(stored.prefix) and text not in str(stored.__dict__)
    listed = run("token", "list")
    assert listed.exit_code == 0 and "ci" in listed.output and text not in listed.output
    assert run("token", "revoke", str(stored.id)).exit_code == 0
    assert run("token", "revoke", str(stored.id)).exit_code != 0
    assert run("logout").exit_code == 0
    local = run("token", "list")
    assert local.exit_code != 0 and "slipway login URL" in local.output


def test_akash_settings_are_changed_through_the_api_keeping_those_not_given(cli_settings, server, two_teams):
    login_as(server, two_teams, "red-member")
    assert run("project", "set", "red-app", "--cpu", "0.5").exit_code == 0
    changed = run("project", "set", "red-app", "--memory", "1Gi")
    assert changed.exit_code == 0 and "cpu 0.5" in changed.output and "memory 1Gi" in changed.output, changed.output
    with session_scope() as s:
        own = s.scalars(select(Project.akash_settings).where(Project.name == "red-app")).one()
        assert own and len(own) == 2
    assert actors("settings.akash")[-1].startswith("github:red-member")
    login_as(server, two_teams, "red-viewer")
    assert run("project", "set", "red-app", "--cpu", "2").exit_code != 0
