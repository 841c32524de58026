"""The `slipway` command: what an operator does without the dashboard."""

from __future__ import annotations

import json
import sys
import time

import click
from sqlalchemy import select

from slipway import settings as settings_mod
from slipway.db import session_scope
from slipway.models import BuildLog, Deployment, Project


class _Slipway(click.Group):
    def resolve_command(self, ctx, args):
        ctx.meta["slipway.help"] = "--help" in args  # the help of a machine-only command shows even when remote
        return super().resolve_command(ctx, args)


@click.group(cls=_Slipway)
def main() -> None:
    """Slipway: git push to deploy."""
    from slipway.errors import UserError, render

    try:
        settings_mod.get_settings()  # settings that cannot work are refused before any command runs
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
    ctx = click.get_current_context()
    command = ctx.invoked_subcommand
    if command in LOCAL_ONLY and not ctx.meta.get("slipway.help"):
        remote = _remote()
        if remote is not None:
            raise click.ClickException(render(UserError.CLI_LOCAL_ONLY, command=command, url=remote.url))


# Commands the JSON API has no route for: they work on the Slipway machine's own data, Docker and registry.
LOCAL_ONLY = frozenset({"init", "db", "settings", "reap", "registry", "devnet", "akash", "sdl"})


@main.command()
def init() -> None:
    """Create the data dir, generate secrets once, and migrate the database."""
    from slipway.migrate import upgrade

    path = settings_mod.init_env_file(settings_mod.default_data_dir())
    settings_mod.set_settings(None)
    upgrade()
    click.echo(f"settings: {path}")


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply all migrations."""
    from slipway.migrate import upgrade

    upgrade()
    click.echo("database is up to date")


@main.command("settings")
def show_settings() -> None:
    """Print the settings in force (secrets hidden)."""
    s = settings_mod.get_settings()
    for env, _default, secret, _doc in settings_mod.Settings.documented():
        name = next(f for f in s.__dataclass_fields__.values() if f.metadata["env"] == env).name
        value = getattr(s, name)
        click.echo(f"{env}={'(set)' if secret and value else '(unset)' if secret else value}")


@main.command("plan")
@click.argument("directory", default=".", type=click.Path(exists=True, file_okay=False))
@click.option("--dockerfile", default="Dockerfile", show_default=True, help="The project's Dockerfile path.")
@click.option("--context", "build_context", default=".", show_default=True, help="The project's build context.")
def plan(directory: str, dockerfile: str, build_context: str) -> None:
    """Print the build plan of a repository: its own Dockerfile, or the Dockerfile Slipway generates."""
    from pathlib import Path

    from builder.plan import make_plan
    from slipway.errors import UserError
    from slipway.jobs import plan_images

    try:
        found = make_plan(Path(directory), dockerfile=dockerfile, context=build_context,
                          images=plan_images(settings_mod.get_settings()))
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(found.describe(), nl=False)


@main.group()
def project() -> None:
    """Create and list projects."""


AKASH_WARNING = ("Note: on Akash the provider that runs the app can read its environment variables "
                 "(`slipway env set`); keep only what that provider may see in them.")


def akash_options(func):
    """The options of a project's own Akash settings (left out: the installation's SLIPWAY_AKASH_*)."""
    options = [
        click.option("--cpu", help="Akash: CPUs for the app, like 0.5 or 500m."),
        click.option("--memory", help="Akash: memory, like 512Mi or 1Gi."),
        click.option("--storage", help="Akash: disk, like 1Gi."),
        click.option("--gpu", help="Akash: number of GPUs (0: none)."),
        click.option("--gpu-model", help="Akash: nvidia GPU model, like rtx4090 (any model when not given)."),
        click.option("--max-price", "max_price_uact", help="Akash: most the app may cost, in uact per block."),
        click.option("--budget", "budget_uact", help="Akash: uact the project may draw for deposits, in total "
                                                     "(or per 30 days with --budget-monthly)."),
        click.option("--budget-monthly/--budget-total", "budget_monthly", default=None,
                     help="Akash: whether --budget renews every 30 days."),
        click.option("--providers", help="Akash: trusted provider addresses, comma-separated (\"\": any)."),
        click.option("--attributes", help="Akash: provider attributes the lease needs, key=value,... "),
        click.option("--auditors", help="Akash: auditor addresses that must have signed the provider's attributes."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _akash_raw(values: dict) -> dict[str, str | None]:
    from slipway.akash_settings import FIELDS

    raw = {key: values.pop(key, None) for key in FIELDS}
    if raw["budget_monthly"] is not None:
        raw["budget_monthly"] = "monthly" if raw["budget_monthly"] else "total"
    return raw


def _akash_summary(values: dict | None) -> str:
    from slipway.akash_settings import as_text

    shown = {k: v for k, v in as_text(values or {}).items() if v}
    return ", ".join(f"{k} {v}" for k, v in shown.items()) or "the installation's (SLIPWAY_AKASH_*)"


@project.command("create")
@click.argument("name")
@click.option("--repo", "repo_url", help="git URL to clone (https://..., a path, ...).")
@click.option("--git-push", is_flag=True, help="Deploy from Slipway's own git remote (git push) instead of --repo.")
@click.option("--github", "github_repo", help="owner/name of the GitHub repository whose pushes deploy it.")
@click.option("--branch", default="main", show_default=True, help="Branch whose pushes deploy.")
@click.option("--dockerfile", default="Dockerfile", show_default=True, help="Dockerfile path in the repo.")
@click.option("--context", "build_context", default=".", show_default=True, help="Build context dir in the repo.")
@click.option("--target", default=None, help="Where it runs: local or akash (of those SLIPWAY_TARGETS offers).")
@click.option("--health-path", default="/", show_default=True, help="HTTP path that must answer before going live.")
@click.option("--team", "team_slug", help="The team whose members see and deploy it (`slipway team create`).")
@akash_options
def project_create(name, repo_url, git_push, github_repo, branch, dockerfile, build_context, target,
                   health_path, team_slug, **akash) -> None:
    """Create project NAME (lowercase letters, digits and dashes)."""
    from slipway.akash_settings import parse_akash_settings
    from slipway.errors import UserError
    from slipway.git_remote import ensure_repository, repository_path
    from slipway.github.installations import installation_granting
    from slipway.projects import ProjectSpec, connect_project, create_project

    settings = settings_mod.get_settings()
    if git_push and (repo_url or github_repo):
        raise click.ClickException("--git-push projects build from Slipway's own repository: "
                                   "leave out --repo and --github")
    if not git_push and not repo_url and not github_repo:
        raise click.ClickException("give --github owner/name (a repository the GitHub App is installed on), "
                                   "--repo URL, or --git-push to deploy with `git push` to Slipway")
    remote = _remote()
    if remote is not None:
        _remote_project_create(remote, name, repo_url, github_repo, branch, target, team_slug,
                                {"dockerfile": dockerfile, "build_context": build_context, "health_path": health_path},
                                _akash_raw(akash))
        return
    if git_push:
        repo_url = str(repository_path(settings, name))
    try:
        own = parse_akash_settings(_akash_raw(akash))
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
    spec = ProjectSpec(
        name=name, repo_url=repo_url or "", github_repo=github_repo, branch=branch, dockerfile=dockerfile,
        build_context=build_context, target=target or settings_mod.get_settings().default_target,
        health_path=health_path, akash_settings=own or None,
    )
    with session_scope() as session:
        team = _team_or_fail(session, team_slug) if team_slug else None
        installation = installation_granting(session, github_repo) if github_repo else None
        if github_repo and installation is None and not repo_url and github_repo.count("/") == 1:
            raise click.ClickException(str(UserError(
                UserError.PROJECT_APP_NOT_INSTALLED, repo=github_repo, url=f"{settings.public_url.rstrip('/')}/github")))
        if installation is not None and not repo_url:
            spec.repo_url = f"{settings.github_url.rstrip('/')}/{github_repo}.git"
        try:
            p = connect_project(session, spec, installation) if installation else create_project(session, spec)
        except (ValueError, UserError) as exc:
            raise click.ClickException(str(exc)) from None
        if team is not None:
            from slipway.accounts.teams import assign

            assign(session, p, team)
        _audit(session, "project.create", p, team=team_slug)
        click.echo(f"created project {p.name} (id {p.id}){f' for team {team_slug}' if team else ''}")
        if installation is not None:
            click.echo(f"connected to {github_repo} through the GitHub App's installation on "
                       f"{installation.account_login}: pushes to {p.branch} deploy it")
        if p.target == "akash":
            click.echo(f"Akash settings: {_akash_summary(p.akash_settings)}")
            click.echo(AKASH_WARNING)
        if git_push:
            ensure_repository(settings, p.name, p.branch)
            click.echo(f"push to deploy: run `slipway project token {p.name}` for its git remote and token")


def _remote_project_create(remote, name, repo_url, github_repo, branch, target, team_slug, shape, akash) -> None:
    """`project create` through the API: a GitHub repository of the App's installations, a URL to clone (with
    --github, the repository whose plain webhook deploys it), or a git-push project whose remote and token the
    API shows this once."""
    source = "url" if repo_url else "github" if github_repo else "git"
    made = _call(remote, "POST", "/projects", {
        "name": name, "source": source, "repo": repo_url or github_repo or "", "branch": branch, "target": target,
        "team": team_slug or "", "github_repo": (github_repo or "") if repo_url else ""})
    team = f" for team {made['team']}" if made.get("team") else ""
    click.echo(f"created project {made['name']}{team}")
    if source == "url":
        click.echo(f"it builds {made['repo_url']}: `slipway deploy {name}` deploys the head of {made['branch']}")
    elif made.get("github_repo"):
        click.echo(f"connected to {made['github_repo']} through the GitHub App: pushes to {made['branch']} deploy it")
    changed = {k: v for k, v in shape.items() if v != {"dockerfile": "Dockerfile", "build_context": ".",
                                                        "health_path": "/"}[k]}
    if changed:
        _call(remote, "PATCH", f"/projects/{_quote(name)}/settings", changed)
    if any(v is not None for v in akash.values()):
        _remote_akash_set(remote, name, akash)
    elif made["target"] == "akash":
        click.echo(AKASH_WARNING)
    if made.get("token"):
        _print_push_token(name, made["remote"], made["token"], made["branch"])


def _remote_akash_set(remote, name: str, akash: dict) -> None:
    """The API's PUT replaces all of a project's Akash settings: keep those not given."""
    current = _call(remote, "GET", f"/projects/{_quote(name)}/akash")
    values = _call(remote, "PUT", f"/projects/{_quote(name)}/akash",
                   {**current, **{k: v for k, v in akash.items() if v is not None}})
    click.echo(f"Akash settings: {', '.join(f'{k} {v}' for k, v in values.items() if v) or 'the installation’s'}")
    click.echo(AKASH_WARNING)


def _print_push_token(name: str, url: str, token: str, branch: str) -> None:
    click.echo(f"Deploy token for {name} (shown only now; Slipway keeps just its hash, and this "
               "replaces any earlier token):\n")
    click.echo(f"    {token}\n")
    click.echo("In your repository:\n")
    click.echo(f"    git remote add slipway {url}")
    click.echo(f"    git push slipway {branch}\n")
    click.echo("When git asks, give any username and the token as the password. Let a credential helper keep\n"
               "it (your OS keychain, or `git config --global credential.helper cache`) rather than writing\n"
               "it into the remote URL, where it would sit in .git/config in plain text.")
    if url.startswith("http://") and not url.startswith(("http://127.", "http://localhost", "http://[::1]")):
        click.echo("Warning: SLIPWAY_PUBLIC_URL is plain http; the token crosses the network unencrypted. "
                   "Put Slipway behind a TLS proxy.", err=True)


@project.command("token")
@click.argument("name")
def project_token(name: str) -> None:
    """Make a new deploy token for NAME's git remote (the old one stops working)."""
    from slipway.git_remote import issue_push_token, remote_url
    from slipway.projects import get_project_by_name

    remote = _remote()
    if remote is not None:
        made = _call(remote, "POST", f"/projects/{_quote(name)}/token")
        branch = _call(remote, "GET", f"/projects/{_quote(name)}/settings")["branch"]
        _print_push_token(name, made["remote"], made["token"], branch)
        return
    settings = settings_mod.get_settings()
    with session_scope() as session:
        p = get_project_by_name(session, name)
        if p is None:
            raise click.ClickException(f"no project named {name!r}; see `slipway project list`")
        try:
            token = issue_push_token(p, settings)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        _audit(session, "project.token", p)
        branch = p.branch
    _print_push_token(name, remote_url(settings, name), token, branch)


@project.command("hook")
@click.argument("name")
@click.option("--regenerate", is_flag=True, help="Make a new URL; the old one stops working.")
@click.option("--remove", is_flag=True, help="Remove the hook: its URL stops working.")
def project_hook(name: str, regenerate: bool, remove: bool) -> None:
    """Print NAME's deploy hook URL (POST to it to deploy the branch head)."""
    from slipway.git_remote import hook_token, hook_url, issue_hook_token
    from slipway.projects import get_project_by_name

    if remove:
        _remove_hook(name)
        return
    remote = _remote()
    if remote is not None:
        from slipway.remote import RemoteError

        path = f"/projects/{_quote(name)}/hook"
        shown = None
        if not regenerate:  # the hook there is, as on the Slipway machine; none yet: a new one
            try:
                shown = remote.call("GET", path)
            except RemoteError as exc:
                if str(exc) != f"{name} has no deploy hook":
                    raise click.ClickException(str(exc)) from None
        fresh = shown is None
        made = shown or _call(remote, "POST", path)
        url, branch = made["url"], made["branch"]
    else:
        settings = settings_mod.get_settings()
        with session_scope() as session:
            p = get_project_by_name(session, name)
            if p is None:
                raise click.ClickException(f"no project named {name!r}; see `slipway project list`")
            token = None if regenerate else hook_token(p)
            fresh = token is None
            if fresh:
                token = issue_hook_token(p)
                _audit(session, "project.hook", p)
            branch = p.branch
        url = hook_url(settings, token)
    click.echo(url)
    click.echo(f"{'new ' if fresh else ''}deploy hook of {name}: `curl -X POST <url>` deploys the head of {branch}. "
               "Keep it secret: anyone with the URL can deploy. "
               f"`slipway project hook {name} --regenerate` replaces it.", err=True)


def _remove_hook(name: str) -> None:
    from slipway.projects import get_project_by_name

    remote = _remote()
    if remote is not None:
        _call(remote, "DELETE", f"/projects/{_quote(name)}/hook", missing=f"{name} has no deploy hook")
    else:
        with session_scope() as session:
            p = get_project_by_name(session, name)
            if p is None:
                raise click.ClickException(f"no project named {name!r}; see `slipway project list`")
            if not p.deploy_hook_enc:
                raise click.ClickException(f"{name} has no deploy hook")
            p.deploy_hook_enc = None
            _audit(session, "project.hook", p, removed=True)
    click.echo(f"removed {name}'s deploy hook: its URL no longer deploys")


@project.command("set")
@click.argument("name")
@click.option("--branch", help="Branch whose pushes deploy.")
@click.option("--dockerfile", help="Dockerfile path in the repo.")
@click.option("--context", "build_context", help="Build context dir in the repo.")
@click.option("--health-path", help="HTTP path that must answer before going live.")
@click.option("--previews/--no-previews", "previews_enabled", default=None, help="Build pull-request previews.")
@click.option("--fork-previews", type=click.Choice(["never", "collaborators", "always"]),
              help="Which pull requests from forks are built: by nobody, owners/members/collaborators, anyone.")
@akash_options
def project_set(name, **changes) -> None:
    """Change project NAME's settings ("" gives an Akash setting back to the installation's)."""
    from slipway.errors import UserError
    from slipway.projects import set_akash_settings, update_project

    akash = _akash_raw(changes)
    remote = _remote()
    if remote is not None:
        path = f"/projects/{_quote(name)}/settings"
        given = {k: v for k, v in changes.items() if v is not None}
        p = _call(remote, "PATCH", path, given) if given else _call(remote, "GET", path)
        if any(v is not None for v in akash.values()):
            _remote_akash_set(remote, name, akash)
        click.echo(f"{name}: branch {p['branch']}, Dockerfile {p['dockerfile']} (context {p['build_context']}), "
                   f"health {p['health_path']}, previews {'on' if p['previews_enabled'] else 'off'}, "
                   f"fork previews {p['fork_previews']}")
        return
    with session_scope() as session:
        try:
            p = update_project(session, name, **changes)
            if any(v is not None for v in akash.values()):
                p = set_akash_settings(session, name, akash)
                click.echo(f"Akash settings: {_akash_summary(p.akash_settings)}")
                click.echo(AKASH_WARNING)
        except (ValueError, UserError) as exc:
            raise click.ClickException(str(exc)) from None
        _audit(session, "settings.project", p, fields=sorted(k for k, v in {**changes, **akash}.items()
                                                              if v is not None))
        click.echo(f"{p.name}: branch {p.branch}, Dockerfile {p.dockerfile} (context {p.build_context}), "
                   f"health {p.health_path}, previews {'on' if p.previews_enabled else 'off'}, "
                   f"fork previews {p.fork_previews}")


@project.command("delete")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def project_delete(name: str, yes: bool) -> None:
    """Delete project NAME: stop what it runs, remove its images, git remote and history."""
    from slipway.projects import delete_project

    if not yes:
        click.confirm(f"Delete {name}, stop its deployments and remove its history?", abort=True)
    remote = _remote()
    if remote is not None:
        _call(remote, "DELETE", f"/projects/{_quote(name)}")
        click.echo(f"deleted {name}")
        return
    from slipway.errors import AppError

    try:
        delete_project(settings_mod.get_settings(), name, click.echo)
    except (ValueError, AppError) as exc:
        raise click.ClickException(str(exc)) from None


@project.command("team")
@click.argument("name")
@click.argument("slug", required=False)
@click.option("--none", "no_team", is_flag=True, help="Belong to no team (then GitHub access and the admin reach it).")
def project_team(name: str, slug: str | None, no_team: bool) -> None:
    """Give project NAME to team SLUG (one you own, against a remote Slipway), or with --none to no team."""
    from slipway.projects import get_project_by_name

    if (slug is None) == (not no_team):
        raise click.ClickException(f"give a team's slug or --none: slipway project team {name} SLUG")
    remote = _remote()
    if remote is not None:
        _call(remote, "PUT", f"/projects/{_quote(name)}/team", {"team": slug})
    else:
        from slipway.accounts.teams import assign

        with session_scope() as session:
            p = get_project_by_name(session, name)
            if p is None:
                raise click.ClickException(f"no project named {name!r}; see `slipway project list`")
            assign(session, p, _team_or_fail(session, slug) if slug else None)
            _audit(session, "project.team", p, team=slug)
    click.echo(f"{name} belongs to {f'team {slug}' if slug else 'no team'}")


@project.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (one array of objects) for scripts.")
def project_list(as_json: bool) -> None:
    """List projects: where they deploy from, their last deployment and what is live."""
    from slipway.tables import ago, iso, table

    remote = _remote()
    if remote is not None:
        found = _call(remote, "GET", "/projects")
        if as_json:
            click.echo(json.dumps(found, indent=2))
        elif not found:
            click.echo("no projects you can see")
        else:
            click.echo(table(["name", "target", "branch", "source", "role", "team"],
                             [(p["name"], p["target"], p["branch"], p["github_repo"] or p["repo_url"], p["role"],
                               p["team"]) for p in found]))
        return
    with session_scope() as session:
        rows = session.scalars(select(Project).order_by(Project.name)).all()
        last = _latest_deployments(session, [p.id for p in rows], live=False)
        live = _latest_deployments(session, [p.id for p in rows], live=True)
        items = [{
            "name": p.name, "target": p.target, "branch": p.branch, "source": p.github_repo or p.repo_url,
            "github_repo": p.github_repo, "installation_id": p.installation_id,
            "disconnected": p.disconnected_reason,
            "last_deployment": _deployment_item(last[p.id]) if p.id in last else None,
            "live_url": live[p.id].url if p.id in live else None,
            "created_at": iso(p.created_at),
        } for p in rows]
        shown = [(p.name, p.target, p.branch, p.github_repo or p.repo_url,
                  f"{last[p.id].state} {ago(last[p.id].created_at)}" if p.id in last else None,
                  live[p.id].url if p.id in live else None) for p in rows]
    if as_json:
        click.echo(json.dumps(items, indent=2))
    elif not rows:
        click.echo("no projects yet: slipway project create NAME --repo URL")
    else:
        click.echo(table(["name", "target", "branch", "source", "last deploy", "url"], shown))


def _latest_deployments(session, project_ids: list[int], live: bool) -> dict[int, Deployment]:
    """Each project's newest deployment (or newest live production one), by project id, in one query."""
    from sqlalchemy import func

    newest = select(func.max(Deployment.id)).where(Deployment.project_id.in_(project_ids))
    if live:
        newest = newest.where(Deployment.state == "live", Deployment.pr_number.is_(None))
    newest = newest.group_by(Deployment.project_id)
    return {d.project_id: d for d in session.scalars(select(Deployment).where(Deployment.id.in_(newest)))}


def _deployment_item(d: Deployment) -> dict:
    from slipway.tables import elapsed, iso

    seconds = elapsed(d.started_at, d.finished_at) if d.started_at else None
    return {
        "id": d.id, "project": d.project.name, "sha": d.sha, "branch": d.branch, "pr_number": d.pr_number,
        "environment": d.environment, "trigger": d.trigger, "state": d.state, "health": d.health,
        "url": d.url, "error_id": d.error_id, "error_message": d.error_message,
        "created_at": iso(d.created_at), "started_at": iso(d.started_at), "finished_at": iso(d.finished_at),
        "duration_s": round(seconds, 1) if seconds is not None else None,
    }


@main.group()
def env() -> None:
    """A project's environment variables (encrypted at rest; given to the app when it runs)."""


def _project_or_fail(session, name: str) -> Project:
    from slipway.projects import get_project_by_name

    project = get_project_by_name(session, name)
    if project is None:
        raise click.ClickException(f"no project named {name!r}; see `slipway project list`")
    return project


@env.command("list")
@click.argument("project_name")
def env_list(project_name: str) -> None:
    """List PROJECT_NAME's variables and who gets each: the running app, the build, or both (values are never printed)."""
    from slipway.envvars import scopes

    remote = _remote()
    if remote is not None:
        found = _call(remote, "GET", f"/projects/{_quote(project_name)}/env")["scopes"]
        if not found:
            click.echo(f"{project_name} has no variables")
        width = max(map(len, found), default=0)
        for name, scope in found.items():
            click.echo(f"{name:{width}}  {scope}")
        return
    with session_scope() as session:
        found = scopes(session, _project_or_fail(session, project_name).id)
    if not found:
        click.echo(f"{project_name} has no variables: slipway env set {project_name} KEY")
    width = max(map(len, found), default=0)
    for name, scope in found.items():
        click.echo(f"{name:{width}}  {scope}")


@env.command("set")
@click.argument("project_name")
@click.argument("assignments", nargs=-1, required=True)
@click.option("--runtime", "scope", flag_value="runtime", help="Given to the running app (the default for a new variable).")
@click.option("--build", "scope", flag_value="build", help="Given to the build only, as a build argument of the "
              "Dockerfile's build stages (never of its final stage, so never in the image).")
@click.option("--both", "scope", flag_value="both", help="Given to the build and to the running app.")
def env_set(project_name: str, assignments: tuple[str, ...], scope: str | None) -> None:
    """Set variables: KEY=VALUE, or just KEY to type the value (hidden, kept out of shell history).

    Without a terminal, a lone KEY takes its value from standard input
    (`printf %s "$TOKEN" | slipway env set app TOKEN`; one trailing newline is dropped).
    Changes apply from the next deployment. Without --runtime, --build or --both a variable keeps
    its scope (a new one: --runtime).
    """
    from slipway.envvars import check_name, set_vars

    values = {}
    bare = [item for item in assignments if "=" not in item]
    for item in assignments:
        name, sep, value = item.partition("=")
        try:
            check_name(name)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        values[name] = value if sep else _read_value(name, len(bare))
    remote = _remote()
    if remote is not None:
        for name, value in values.items():
            _call(remote, "PUT", f"/projects/{_quote(project_name)}/env/{name}",
                  {"value": value, **({"scope": scope} if scope else {})})
        click.echo(f"set {', '.join(values)} on {project_name}; deploy again to use them")
        return
    with session_scope() as session:
        p = _project_or_fail(session, project_name)
        try:
            set_vars(session, p, values, scope)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        for name in values:
            _audit(session, "env.set", p, name=name, **({"scope": scope} if scope else {}))
    given = {"runtime": " for the running app", "build": " for the build", "both": " for the build and the running app"}
    click.echo(f"set {', '.join(values)} on {project_name}{given.get(scope, '')}; deploy again to use them")


def _read_value(name: str, bare: int) -> str:
    """A value typed at a terminal (not echoed), or standard input's whole text when it is not one."""
    stdin = sys.stdin
    if stdin.isatty():
        return click.prompt(f"value of {name}", hide_input=True)
    if bare > 1:
        raise click.ClickException("standard input holds one value: give one KEY without =VALUE at a time "
                                   "when piping values in")
    value = stdin.read()
    return value[:-2] if value.endswith("\r\n") else value.removesuffix("\n")


@env.command("unset")
@click.argument("project_name")
@click.argument("names", nargs=-1, required=True)
def env_unset(project_name: str, names: tuple[str, ...]) -> None:
    """Remove variables."""
    from slipway.envvars import unset_vars

    remote = _remote()
    if remote is not None:
        for name in names:
            _call(remote, "DELETE", f"/projects/{_quote(project_name)}/env/{name}")
        click.echo(f"removed {', '.join(names)} from {project_name}; deploy again to drop them")
        return
    with session_scope() as session:
        p = _project_or_fail(session, project_name)
        missing = unset_vars(session, p, list(names))
        for name in set(names) - set(missing):
            _audit(session, "env.unset", p, name=name)
    if missing:
        raise click.ClickException(f"not set on {project_name}: {', '.join(missing)}")
    click.echo(f"removed {', '.join(names)} from {project_name}; deploy again to drop them")


@main.group()
def domain() -> None:
    """A project's custom domains: its production over HTTPS, through the proxy."""


def _domain_change(project_name: str, change, action: str, name: str) -> None:
    from slipway.errors import UserError
    from slipway.proxy import sync_routes

    settings = settings_mod.get_settings()
    with session_scope() as session:
        project = _project_or_fail(session, project_name)
        try:
            change(session, settings, project)
        except UserError as exc:
            raise click.ClickException(str(exc)) from None
        _audit(session, action, project, domain=name)
    if not sync_routes(settings, say=lambda line: click.echo(line, err=True)):
        click.echo("the proxy will pick it up once it answers", err=True)


@domain.command("add")
@click.argument("project_name")
@click.argument("name")
def domain_add(project_name: str, name: str) -> None:
    """Serve PROJECT_NAME's production at NAME over HTTPS (point NAME's DNS at this server)."""
    from slipway.domains import add_domain, certificate_note, domain_url, normalise

    remote = _remote()
    if remote is not None:
        added = _call(remote, "POST", f"/projects/{_quote(project_name)}/domains", {"domain": name})
        click.echo(f"{project_name} answers at {added['url']} ({added['certificate']})")
        return
    _domain_change(project_name, lambda session, settings, project: add_domain(session, settings, project, name),
                   "domain.add", name)
    settings = settings_mod.get_settings()
    name = normalise(name)
    click.echo(f"{project_name} answers at {domain_url(settings, name)} ({certificate_note(name)})")


@domain.command("remove")
@click.argument("project_name")
@click.argument("name")
def domain_remove(project_name: str, name: str) -> None:
    """Stop serving PROJECT_NAME at NAME."""
    from slipway.domains import remove_domain

    remote = _remote()
    if remote is not None:
        _call(remote, "DELETE", f"/projects/{_quote(project_name)}/domains/{_quote(name)}")
        click.echo(f"removed {name} from {project_name}")
        return
    _domain_change(project_name, lambda session, settings, project: remove_domain(session, project, name),
                   "domain.remove", name)
    click.echo(f"removed {name} from {project_name}")


@domain.command("list")
@click.argument("project_name")
def domain_list(project_name: str) -> None:
    """List PROJECT_NAME's custom domains, with the URL each answers at."""
    from slipway.domains import certificate_note, domain_url

    remote = _remote()
    if remote is not None:
        shown = [(d["url"], d["certificate"]) for d in _call(remote, "GET", f"/projects/{_quote(project_name)}/domains")]
    else:
        settings = settings_mod.get_settings()
        with session_scope() as session:
            names = [d.name for d in _project_or_fail(session, project_name).domains]
        shown = [(domain_url(settings, name), certificate_note(name)) for name in names]
    if not shown:
        click.echo(f"{project_name} has no custom domains: slipway domain add {project_name} www.example.com")
    for url, note in shown:
        click.echo(f"{url:45} {note}")


@main.command()
@click.argument("project_name")
@click.option("--sha", help="Commit to deploy: a sha, or a branch or tag name (default: the head of the "
              "project's branch).")
def deploy(project_name: str, sha: str | None) -> None:
    """Deploy PROJECT_NAME's branch head (or --sha) now."""
    from slipway.deployments import BranchHead, DeployRequestError, GivenCommit, request_deployment

    remote = _remote()
    if remote is not None:
        dep = _call(remote, "POST", f"/projects/{_quote(project_name)}/deployments", {"sha": sha} if sha else {})
        click.echo(f"deployment {dep['deployment_id']} of {dep['sha'][:7]} queued: {dep['dashboard_url']}")
        return
    try:
        dep = request_deployment(project_name, GivenCommit(sha) if sha is not None else BranchHead(), "cli")
    except DeployRequestError as exc:
        raise click.ClickException(str(exc)) from None
    _audit_deployment("deploy", dep.deployment_id)
    click.echo(f"deployment {dep.deployment_id} of {dep.sha[:7]} queued; "
               f"follow it with: slipway logs {dep.deployment_id} --follow")
    if dep.replaced:
        click.echo(f"it supersedes unfinished deployment(s) {', '.join(map(str, dep.replaced))}")


@main.command()
@click.argument("project_name")
@click.option("--to", "deployment_id", type=int, help="Deployment whose image to run again (default: the one "
              "before the version live now).")
def rollback(project_name: str, deployment_id: int | None) -> None:
    """Run an earlier version of PROJECT_NAME again, from its image: no rebuild."""
    from slipway.deployments import DeployRequestError, request_redeploy, rollback_source

    remote = _remote()
    if remote is not None:
        dep = _call(remote, "POST", f"/projects/{_quote(project_name)}/rollback",
                    {"to": deployment_id} if deployment_id is not None else {})
        click.echo(f"deployment {dep['deployment_id']} queued: {dep['sha'][:7]} again, from an earlier image; "
                   f"follow it with: slipway logs {dep['deployment_id']} --follow")
        return
    with session_scope() as session:
        project = _project_or_fail(session, project_name)
        if deployment_id is None:
            source = rollback_source(session, project)
            if source is None:
                raise click.ClickException(f"{project_name} has no earlier production version to go back to")
            deployment_id = source.id
        else:
            source = session.get(Deployment, deployment_id)
            if source is None or source.project_id != project.id:
                raise click.ClickException(f"deployment {deployment_id} is not a deployment of {project_name}")
        sha = source.short_sha
    try:
        new_id = request_redeploy(deployment_id)
    except DeployRequestError as exc:
        raise click.ClickException(str(exc)) from None
    _audit_deployment("rollback", new_id, of=deployment_id)
    click.echo(f"deployment {new_id} queued: {sha} again, from deployment {deployment_id}'s image; "
               f"follow it with: slipway logs {new_id} --follow")


@main.command()
@click.argument("deployment_id", type=int)
def redeploy(deployment_id: int) -> None:
    """Run deployment DEPLOYMENT_ID's image again, without building (a rollback when it is older than what is live)."""
    from slipway.deployments import DeployRequestError, request_redeploy

    remote = _remote()
    if remote is not None:
        dep = _call(remote, "POST", f"/deployments/{deployment_id}/redeploy")
        click.echo(f"deployment {dep['deployment_id']} of {dep['project']} queued: {dep['dashboard_url']}")
        return
    try:
        new_id = request_redeploy(deployment_id)
    except DeployRequestError as exc:
        raise click.ClickException(str(exc)) from None
    _audit_deployment("rollback", new_id, of=deployment_id)
    click.echo(f"deployment {new_id} queued (the image of {deployment_id}); follow it with: "
               f"slipway logs {new_id} --follow")


@main.command()
@click.argument("project_name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (one array of objects) for scripts.")
def audit(project_name: str, as_json: bool) -> None:
    """Who did what to PROJECT_NAME (deploys, rollbacks, settings, variables, tokens, domains), newest first."""
    from slipway.tables import ago, iso, table

    remote = _remote()
    if remote is not None:
        found = _call(remote, "GET", f"/projects/{_quote(project_name)}/audit")
    else:
        from slipway.accounts.audit import entries

        with session_scope() as session:
            found = [{"at": iso(e.at), "actor": e.actor, "action": e.action, "project": e.project_name,
                      "detail": e.detail} for e in entries(session, _project_or_fail(session, project_name).id)]
    if as_json:
        click.echo(json.dumps(found, indent=2))
    elif not found:
        click.echo(f"nothing recorded for {project_name} yet")
    else:
        from datetime import datetime

        click.echo(table(["when", "who", "action", "detail"],
                         [(ago(datetime.fromisoformat(e["at"])) if e["at"] else "-", e["actor"], e["action"],
                           " ".join(f"{k}={v}" for k, v in (e["detail"] or {}).items())) for e in found]))


@main.command()
@click.argument("deployment_id", type=int)
def cancel(deployment_id: int) -> None:
    """Cancel an unfinished deployment: a queued one never starts, a running one stops at its next step."""
    from slipway.deployments import DeployRequestError, cancel_deployment

    remote = _remote()
    if remote is not None:
        dep = _call(remote, "POST", f"/deployments/{deployment_id}/cancel")
        click.echo(f"deployment {dep['id']} of {dep['project']} ({dep['sha'][:7]}) {dep['state']}")
        return
    try:
        dep = cancel_deployment(deployment_id)
    except DeployRequestError as exc:
        raise click.ClickException(str(exc)) from None
    _audit_deployment("cancel", deployment_id)
    click.echo(f"deployment {dep.deployment_id} of {dep.project} ({dep.sha[:7]}) cancelled")


@main.command()
@click.argument("project_name", required=False)
@click.option("-n", "limit", default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (one array of objects) for scripts.")
def deployments(project_name: str | None, limit: int, as_json: bool) -> None:
    """List deployments, newest first."""
    from datetime import datetime

    from slipway.tables import table

    remote = _remote()
    if remote is not None:
        path = f"/projects/{_quote(project_name)}/deployments" if project_name else "/deployments"
        items = _call(remote, "GET", f"{path}?limit={max(1, min(limit, 200))}")
        rows = [_deployment_row(d["id"], d["project"], d["sha"], d["pr_number"], d["branch"], d["trigger"],
                                d["state"], d["health"], d["health_detail"],
                                *(datetime.fromisoformat(d[k]) if d[k] else None
                                  for k in ("created_at", "started_at", "finished_at")),
                                d["url"], d["error"]) for d in items]
    else:
        from slipway.wake import own_url_answers, wakeable_images

        with session_scope() as session:
            q = select(Deployment).join(Project).order_by(Deployment.id.desc()).limit(limit)
            if project_name:
                _project_or_fail(session, project_name)
                q = q.where(Project.name == project_name)
            found = session.scalars(q).all()
            items = [_deployment_item(d) for d in found]
            wakeable = set().union(*(wakeable_images(session, settings_mod.get_settings(), p)
                                     for p in {d.project_id for d in found if d.state == "superseded"}))
            rows = [_deployment_row(d.id, d.project.name, d.sha, d.pr_number, d.branch, d.trigger, d.state, d.health,
                                    d.health_detail, d.created_at, d.started_at, d.finished_at, d.url,
                                    d.error_message, wakes=own_url_answers(d, wakeable)) for d in found]
    if as_json:
        click.echo(json.dumps(items, indent=2))
    elif not rows:
        click.echo(f"no deployments{' of ' + project_name if project_name else ''} yet")
    else:
        click.echo(table(["id", "project", "commit", "branch", "trigger", "state", "created", "took", "url / reason"],
                         rows))


def _deployment_row(id_, project, sha, pr_number, branch, trigger, state, health, health_detail, created_at,
                    started_at, finished_at, url, error, wakes: bool | None = None) -> tuple:
    """One line of `slipway deployments`, from the database or the remote's API; ``wakes``: whether a
    replaced deployment's own URL starts it on a visit (None: not known)."""
    from slipway.tables import ago, duration, elapsed

    down = state == "live" and health == "down"
    outcome = url if state == "live" else error or url
    if state == "superseded" and url and not error and wakes is not None:
        outcome += " (starts on a visit)" if wakes else " (no longer running)"
    return (id_, project, sha[:7], f"PR #{pr_number}" if pr_number else branch, trigger,
            state + (" (down)" if down else ""), ago(created_at), duration(elapsed(started_at, finished_at)),
            f"{outcome or ''}{f' down: {health_detail}' if down else ''}")


@main.command()
@click.argument("deployment")
@click.option("--follow", "-f", is_flag=True, help="Keep printing until the deployment finishes (with --app: "
              "until interrupted).")
@click.option("--app", is_flag=True, help="What the running app prints instead: DEPLOYMENT is a deployment id or a "
              "project name (its live production).")
def logs(deployment: str, follow: bool, app: bool) -> None:
    """Print a deployment's build and deploy log, or (--app) what its app prints, secrets masked."""
    if app:
        remote = _remote()
        if remote is not None:
            _remote_app_logs(remote, deployment, follow)
        else:
            _app_logs(deployment, follow)
        return
    if not deployment.isdigit():
        raise click.ClickException(f"{deployment!r} is not a deployment id (give --app to read a project's app)")
    deployment_id = int(deployment)
    remote = _remote()
    if remote is not None:
        _remote_logs(remote, deployment_id, follow)
        return
    seq = 0
    while True:
        with session_scope() as session:
            dep = session.get(Deployment, deployment_id)
            if dep is None:
                raise click.ClickException(f"no deployment {deployment_id}")
            lines = session.scalars(
                select(BuildLog).where(BuildLog.deployment_id == deployment_id, BuildLog.seq > seq)
                .order_by(BuildLog.seq)
            ).all()
            for line in lines:
                click.echo(line.line)
                seq = line.seq
            final = dep.state_enum.final
            state, message = dep.state, dep.error_message
        if not follow or final:
            break
        time.sleep(0.5)
    if follow:
        click.echo(f"-- {state}{': ' + message if message else ''}", err=True)


def _remote_logs(remote, deployment_id: int, follow: bool) -> None:
    """The build log through the remote's API, asking for the lines after the last one shown."""
    from slipway.states import FINAL_STATES

    final_states = {s.value for s in FINAL_STATES}
    seq = 0
    while True:
        for line in _call(remote, "GET", f"/deployments/{deployment_id}/log?after={seq}"):
            click.echo(line["line"])
            seq = line["seq"]
        dep = _call(remote, "GET", f"/deployments/{deployment_id}")
        if not follow or dep["state"] in final_states:
            break
        time.sleep(0.5)
    if follow:
        click.echo(f"-- {dep['state']}{': ' + dep['error'] if dep['error'] else ''}", err=True)


# How long a remote's app log may say nothing before the CLI asks again (its streams end after 300 s).
APP_LOG_QUIET_S = 330


def _remote_app_logs(remote, deployment: str, follow: bool) -> None:
    """What the app prints, through the remote's API: a deployment id, or a project's live production."""
    from slipway.remote import RemoteError

    path = f"/deployments/{deployment}/app-log" if deployment.isdigit() else f"/projects/{_quote(deployment)}/app-log"
    if not follow:
        got = _call(remote, "GET", path)
        if got["none"]:
            raise click.ClickException(got["none"])
        for line in got["lines"]:
            click.echo(line)
        return
    tail, ended = 200, False
    try:
        while not ended:  # each stream ends after a while (or a quiet spell): ask again for what is new
            for item in remote.stream(f"{path}?follow=true&tail={tail}", quiet_s=APP_LOG_QUIET_S):
                if "none" in item:
                    raise click.ClickException(item["none"])
                ended = "end" in item  # the app stopped: as locally, following ends with its output
                if not ended:
                    click.echo(item["line"])
            tail = 0
    except RemoteError as exc:
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:
        pass


def _app_logs(deployment: str, follow: bool) -> None:
    from slipway.applogs import NoAppLog, app_log, live_deployment_of
    from slipway.targets import targets_from_settings

    settings = settings_mod.get_settings()
    deployment_id = int(deployment) if deployment.isdigit() else live_deployment_of(settings, deployment)
    if deployment_id is None:
        raise click.ClickException(f"{deployment} has no live production deployment; "
                                   f"see `slipway deployments {deployment}`")
    try:
        for line in app_log(settings, targets_from_settings(settings), deployment_id, follow=follow):
            click.echo(line)
    except NoAppLog as exc:
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:
        pass


@main.command()
def reap() -> None:
    """Settle deployments a dead worker or an emptied Redis left behind, and check the health of live ones
    that are due (workers do this every 15 s)."""
    from slipway.reconcile import reconcile

    outcome = reconcile(wait_s=30)
    if outcome is None:
        raise click.ClickException("another reconciler pass is still running; try again")

    def line(what: str, found: list[int]) -> str:
        return what.format(n=len(found)) + (": " + ", ".join(map(str, found)) if found else "")

    click.echo(line("failed {n} abandoned deployment(s)", outcome.failed))
    click.echo(line("queued again {n} deployment(s) Redis had lost", outcome.requeued))
    click.echo(line("removed the containers of {n} ended deployment(s)", outcome.removed))
    click.echo(line(f"checked the health of {len(outcome.checked)} live deployment(s); {{n}} down", outcome.down))
    click.echo(line("failed {n} notification(s) whose worker stopped mid-send", outcome.notifications_failed))
    click.echo(line("queued again {n} notification(s) Redis had lost", outcome.notifications_requeued))


@main.group()
def registry() -> None:
    """The private registry Slipway pushes images to."""


@registry.command("gc")
@click.option("--delete-orphans", is_flag=True, help="Also delete the images of repositories named like a "
              "project that no longer exists (projects deleted before Slipway cleaned the registry).")
def registry_gc(delete_orphans: bool) -> None:
    """Delete every project's old images and collect the registry's unused layers now."""
    from builder.images import RegistryAuth
    from builder.registry import RegistryClient, RegistryError
    from slipway.jobs import KEEP_IMAGES
    from slipway.queue import redis_connection
    from slipway.registry_gc import ServicesScript, clean_all, collect_blobs, delete_all_images, orphans

    settings = settings_mod.get_settings()
    client = RegistryClient(RegistryAuth(settings.registry, settings.registry_username, settings.registry_password))
    try:
        deleted = clean_all(settings, client, KEEP_IMAGES, click.echo)
        click.echo(f"deleted {deleted} old image(s)")
        left = orphans(settings, client)
        if left and delete_orphans:
            for name in left:
                delete_all_images(client, name, click.echo)
        elif left:
            click.echo(f"{len(left)} repositories belong to no project: {', '.join(left)}; "
                       "`slipway registry gc --delete-orphans` deletes their images")
        if not collect_blobs(settings, redis_connection(settings), ServicesScript(), click.echo):
            raise click.ClickException("deployments are using the registry (or a collection runs): "
                                       "try again when they have finished")
    except RegistryError as exc:
        raise click.ClickException(f"the registry failed: {exc}") from None


@main.group()
def notify() -> None:
    """Tell people how a project's deployments end: Slack, Discord, email, or a signed webhook."""


@notify.command("add")
@click.argument("project_name")
@click.argument("name")
@click.argument("kind", type=click.Choice(["slack", "discord", "email", "webhook"]))
@click.argument("target", required=False)
@click.option("--on-success/--no-on-success", default=False, show_default=True, help="Also when one goes live.")
@click.option("--on-failure/--no-on-failure", default=True, show_default=True, help="When one fails.")
def notify_add(project_name: str, name: str, kind: str, target: str | None, on_success: bool, on_failure: bool) -> None:
    """Add channel NAME to PROJECT_NAME: a KIND webhook URL or email address TARGET.

    Leave TARGET out to type it (hidden) or pipe it in: webhook URLs hold tokens, and a command
    line ends up in shell history. Stored encrypted; lists show only its host.
    """
    from slipway.notifications import add_channel, shown_target

    if target is None:
        target = _read_value("the " + ("email address" if kind == "email" else f"{kind} webhook URL"), 1).strip()
    events = " and ".join(e for e, on in (("failure", on_failure), ("success", on_success)) if on)
    remote = _remote()
    if remote is not None:
        made = _call(remote, "POST", f"/projects/{_quote(project_name)}/notifications",
                     {"name": name, "kind": kind, "target": target, "on_failure": on_failure, "on_success": on_success})
        shown, secret = made["to"], made.get("secret")
    else:
        with session_scope() as session:
            try:
                _channel, secret = add_channel(session, settings_mod.get_settings(),
                                               _project_or_fail(session, project_name), name, kind, target,
                                               on_failure=on_failure, on_success=on_success)
            except ValueError as exc:
                raise click.ClickException(str(exc)) from None
        shown = shown_target(kind, target)
    click.echo(f"{project_name} tells {name} ({kind}, {shown}) of each deployment's {events}")
    if secret:
        click.echo(f"\nSigning secret (shown only now; Slipway keeps it encrypted):\n\n    {secret}\n\n"
                   "Each request carries X-Slipway-Signature-256: sha256=<HMAC-SHA256 of the raw body under this "
                   "secret, hex>; compare it in constant time before trusting the body.")


@notify.command("list")
@click.argument("project_name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (one array of objects) for scripts.")
def notify_list(project_name: str, as_json: bool) -> None:
    """List PROJECT_NAME's channels and how their last notification went (targets shown by host only)."""
    from slipway.tables import table

    remote = _remote()
    if remote is not None:
        items, rows = [], []
        for c in _call(remote, "GET", f"/projects/{_quote(project_name)}/notifications"):
            last = c["last"]
            on = [e for e, flag in (("failure", c["on_failure"]), ("success", c["on_success"])) if flag]
            items.append({"name": c["name"], "kind": c["kind"], "to": c["to"], "on": on, "last": last})
            rows.append((c["name"], c["kind"], ",".join(on), c["to"], "-" if last is None else
                         f"{last['status']} (deployment {last['deployment_id']}, {last['attempts']} attempt"
                         f"{'s' if last['attempts'] != 1 else ''})" + (f": {last['error']}" if last["error"] else "")))
    else:
        items, rows = _local_channels(project_name)
    if as_json:
        click.echo(json.dumps(items, indent=2))
    elif not rows:
        click.echo(f"{project_name} notifies nobody: slipway notify add {project_name} NAME slack|discord|email|webhook")
    else:
        click.echo(table(["name", "kind", "on", "to", "last notification"], rows))


def _local_channels(project_name: str) -> tuple[list[dict], list[tuple]]:
    from slipway.notifications import channels_of, last_delivery, shown_target, target_of
    from slipway.tables import ago, iso

    with session_scope() as session:
        items, rows = [], []
        for c in channels_of(session, _project_or_fail(session, project_name).id):
            last = last_delivery(session, c.id)
            to = shown_target(c.kind, target_of(c))
            on = [e for e, flag in (("failure", c.on_failure), ("success", c.on_success)) if flag]
            items.append({"name": c.name, "kind": c.kind, "to": to, "on": on, "last": None if last is None else {
                "deployment_id": last.deployment_id, "event": last.event, "status": last.status,
                "attempts": last.attempts, "error": last.last_error, "at": iso(last.sent_at or last.created_at)}})
            rows.append((c.name, c.kind, ",".join(on), to, "-" if last is None else
                         f"{last.status} {ago(last.sent_at or last.created_at)} (deployment {last.deployment_id}, "
                         f"{last.attempts} attempt{'s' if last.attempts != 1 else ''})"
                         + (f": {last.last_error}" if last.last_error else "")))
    return items, rows


@notify.command("remove")
@click.argument("project_name")
@click.argument("name")
def notify_remove(project_name: str, name: str) -> None:
    """Remove channel NAME from PROJECT_NAME."""
    from slipway.notifications import remove_channel

    remote = _remote()
    if remote is not None:
        _call(remote, "DELETE", f"/projects/{_quote(project_name)}/notifications/{_quote(name)}",
              missing=f"{project_name} has no channel named {name!r} (or you cannot see {project_name}); "
                      f"see `slipway notify list {project_name}`")
        click.echo(f"removed {name} from {project_name}")
        return
    with session_scope() as session:
        if not remove_channel(session, _project_or_fail(session, project_name), name):
            raise click.ClickException(f"{project_name} has no channel named {name!r}; see `slipway notify list "
                                       f"{project_name}`")
    click.echo(f"removed {name} from {project_name}")


def _register_optional() -> None:
    from deployer.akash.cli import akash, sdl
    from devnet.cli import devnet

    main.add_command(sdl)
    main.add_command(devnet)
    main.add_command(akash)


_register_optional()



# -- a remote Slipway (slipway/remote.py) ---------------------------------------------------

def _remote():
    """The remote Slipway this CLI is logged in to, or None (then commands work locally)."""
    from slipway.remote import load

    return load(settings_mod.get_settings())


def _call(remote, method: str, path: str, body: dict | None = None, missing: str | None = None):
    """One API call; its ``{"error": ...}`` becomes the command's error (``missing`` words a bare 404)."""
    from slipway.remote import RemoteError

    try:
        return remote.call(method, path, body)
    except RemoteError as exc:
        if missing and str(exc) in ("HTTP 404", "not found"):
            raise click.ClickException(missing) from None
        raise click.ClickException(str(exc)) from None


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")


@main.command()
@click.argument("url")
@click.option("--days", type=int, default=None, help="Lifetime of the API token made from an admin password "
              "(default SLIPWAY_API_TOKEN_DAYS).")
def login(url: str, days: int | None) -> None:
    """Work against the Slipway at URL: give an API token (slp_...) or its admin password on standard input
    or at the prompt. Only an API token is stored, in SLIPWAY_CLI_LOGIN_FILE (mode 0600)."""
    from slipway.remote import RemoteError
    from slipway.remote import login as remote_login

    settings = settings_mod.get_settings()
    credential = (sys.stdin.readline() if not sys.stdin.isatty() else
                  click.prompt("API token (or the admin password)", hide_input=True)).strip()
    if not credential:
        raise click.ClickException("give an API token (slp_...) or the admin password")
    try:
        remote, me = remote_login(settings, url, credential, days or settings.api_token_days_n)
    except RemoteError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"logged in to {remote.url} as {me['login']}; the CLI now works against it "
               f"(`slipway logout` to work locally again)")


@main.command()
def logout() -> None:
    """Forget the remote Slipway (`slipway login`); the CLI works locally again."""
    from slipway.remote import forget

    click.echo("logged out" if forget(settings_mod.get_settings()) else "not logged in to a remote Slipway")


@main.group()
def token() -> None:
    """Your API tokens on the remote Slipway you are logged in to (`slipway login URL`)."""


def _logged_in():
    remote = _remote()
    if remote is None:
        raise click.ClickException("API tokens belong to a user of a Slipway: `slipway login URL` first (on the "
                                   "Slipway machine itself, the CLI needs none)")
    return remote


@token.command("list")
def token_list() -> None:
    """Your API tokens: name, first characters, scope, expiry, last use (never their text)."""
    from slipway.tables import table

    found = _call(_logged_in(), "GET", "/tokens")
    if not found:
        click.echo("no API tokens: slipway token create NAME --scope read|deploy|admin")
        return
    click.echo(table(["id", "name", "prefix", "scope", "expires", "last used"],
                     [(t["id"], t["name"], t["prefix"], t["scope"], (t["expires_at"] or "-")[:10],
                       (t["last_used_at"] or "-")[:16]) for t in found]))


@token.command("create")
@click.argument("name")
@click.option("--scope", type=click.Choice(["read", "deploy", "admin"]), required=True,
              help="What it may do, at most (never more than your role).")
@click.option("--days", type=int, default=None, help="Lifetime (default SLIPWAY_API_TOKEN_DAYS on the remote).")
def token_create(name: str, scope: str, days: int | None) -> None:
    """Make an API token NAME, e.g. for CI: shown only now, the remote keeps just its hash."""
    made = _call(_logged_in(), "POST", "/tokens", {"name": name, "scope": scope, "days": days})
    click.echo(f"API token {made['id']} ({made['scope']}, until {(made['expires_at'] or '-')[:10]}); shown only now:\n")
    click.echo(f"    {made['token']}\n")


@token.command("revoke")
@click.argument("token_id", type=int)
def token_revoke(token_id: int) -> None:
    """Revoke your API token TOKEN_ID (see `slipway token list`)."""
    _call(_logged_in(), "DELETE", f"/tokens/{token_id}", missing=f"you have no API token {token_id}; "
                                                                  "see `slipway token list`")
    click.echo(f"revoked API token {token_id}")


# -- teams and the audit log (slipway/accounts) --------------------------------------------------

def _audit(session, action: str, project=None, **detail) -> None:
    """Commands run on the Slipway machine are the operator's: recorded as ``cli``."""
    from slipway.accounts import audit

    audit.record(session, audit.CLI, action, project, **detail)


def _audit_deployment(action: str, deployment_id: int, **detail) -> None:
    with session_scope() as session:
        d = session.get(Deployment, deployment_id)
        _audit(session, action, d.project if d is not None else None, deployment_id=deployment_id, **detail)


def _team_or_fail(session, slug: str):
    from slipway.accounts.teams import by_slug

    team = by_slug(session, slug)
    if team is None:
        raise click.ClickException(f"no team {slug!r}; see `slipway team list`")
    return team


@main.group()
def team() -> None:
    """Teams: their members (by GitHub login) see and deploy the team's projects."""


@team.command("create")
@click.argument("slug")
@click.option("--name", help="A longer name to show.")
@click.option("--owner", "owner_login", help="GitHub login of its first owner.")
def team_create(slug: str, name: str | None, owner_login: str | None) -> None:
    """Create team SLUG (lowercase letters, digits and dashes)."""
    from slipway.accounts.access import Actor
    from slipway.accounts.teams import TeamError, create, set_member

    remote = _remote()
    if remote is not None:
        _call(remote, "POST", "/teams", {"slug": slug, "name": name})
        if owner_login:
            _call(remote, "PUT", f"/teams/{_quote(slug)}/members/{_quote(owner_login)}", {"role": "owner"})
        click.echo(f"created team {slug}{f' owned by {owner_login}' if owner_login else ''}")
        return
    with session_scope() as session:
        try:
            t = create(session, Actor.admin(), slug, name)
            if owner_login:
                set_member(session, t, owner_login, "owner")
        except TeamError as exc:
            raise click.ClickException(str(exc)) from None
        _audit(session, "team.create", team=slug)
    click.echo(f"created team {slug}{f' owned by {owner_login}' if owner_login else ''}")


@team.command("member")
@click.argument("slug")
@click.argument("login")
@click.argument("role", type=click.Choice(["owner", "member", "viewer", "remove"]))
def team_member(slug: str, login: str, role: str) -> None:
    """Add LOGIN (a GitHub login) to team SLUG as ROLE, change their role, or remove them."""
    from slipway.accounts.teams import TeamError, set_member

    remote = _remote()
    if remote is not None:
        path = f"/teams/{_quote(slug)}/members/{_quote(login)}"
        _call(remote, "DELETE", path) if role == "remove" else _call(remote, "PUT", path, {"role": role})
        click.echo(f"{login}: {'removed from' if role == 'remove' else role + ' of'} team {slug}")
        return
    with session_scope() as session:
        try:
            set_member(session, _team_or_fail(session, slug), login, None if role == "remove" else role)
        except TeamError as exc:
            raise click.ClickException(str(exc)) from None
        _audit(session, "team.member", team=slug, login=login, role=None if role == "remove" else role)
    click.echo(f"{login}: {'removed from' if role == 'remove' else role + ' of'} team {slug}")


@team.command("list")
def team_list() -> None:
    """Teams, their members and projects."""
    from sqlalchemy import select as select_

    from slipway.accounts.models import Membership, Team, TeamProject

    remote = _remote()
    if remote is not None:
        found = _call(remote, "GET", "/teams")
        by_team: dict[str, list[str]] = {}
        for p in _call(remote, "GET", "/projects"):
            if p.get("team"):
                by_team.setdefault(p["team"], []).append(p["name"])
        if not found:
            click.echo("no teams yet: slipway team create SLUG --owner GITHUB_LOGIN")
        for t in found:
            members = ", ".join(f"{m['login']} ({m['role']})" for m in t["members"]) or "no members"
            click.echo(f"{t['slug']}: {members}; projects: {', '.join(sorted(by_team.get(t['slug'], []))) or 'none'}")
        return
    with session_scope() as session:
        teams_ = session.scalars(select_(Team).order_by(Team.slug)).all()
        if not teams_:
            click.echo("no teams yet: slipway team create SLUG --owner GITHUB_LOGIN")
        for t in teams_:
            members = session.scalars(select_(Membership).where(Membership.team_id == t.id)).all()
            projects = session.scalars(select_(Project.name).join(TeamProject, TeamProject.project_id == Project.id)
                                       .where(TeamProject.team_id == t.id).order_by(Project.name)).all()
            click.echo(f"{t.slug}: {', '.join(f'{m.user.login} ({m.role})' for m in members) or 'no members'}; "
                       f"projects: {', '.join(projects) or 'none'}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
