"""The `slipway` command: what an operator does without the dashboard."""

from __future__ import annotations

import sys
import time

import click
from sqlalchemy import select

from slipway import settings as settings_mod
from slipway.db import session_scope
from slipway.models import BuildLog, Deployment, Project


@click.group()
def main() -> None:
    """Slipway: git push to deploy."""
    from slipway.errors import UserError

    try:
        settings_mod.get_settings()  # settings that cannot work are refused before any command runs
    except UserError as exc:
        raise click.ClickException(str(exc)) from None


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
@akash_options
def project_create(name, repo_url, git_push, github_repo, branch, dockerfile, build_context, target,
                   health_path, **akash) -> None:
    """Create project NAME (lowercase letters, digits and dashes)."""
    from slipway.akash_settings import parse_akash_settings
    from slipway.errors import UserError
    from slipway.git_remote import ensure_repository, repository_path
    from slipway.projects import ProjectSpec, create_project

    settings = settings_mod.get_settings()
    if git_push and (repo_url or github_repo):
        raise click.ClickException("--git-push projects build from Slipway's own repository: "
                                   "leave out --repo and --github")
    if not git_push and not repo_url:
        raise click.ClickException("give --repo URL, or --git-push to deploy with `git push` to Slipway")
    if git_push:
        repo_url = str(repository_path(settings, name))
    try:
        own = parse_akash_settings(_akash_raw(akash))
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
    spec = ProjectSpec(
        name=name, repo_url=repo_url, github_repo=github_repo, branch=branch, dockerfile=dockerfile,
        build_context=build_context, target=target or settings_mod.get_settings().default_target,
        health_path=health_path, akash_settings=own or None,
    )
    with session_scope() as session:
        try:
            p = create_project(session, spec)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"created project {p.name} (id {p.id})")
        if p.target == "akash":
            click.echo(f"Akash settings: {_akash_summary(p.akash_settings)}")
            click.echo(AKASH_WARNING)
        if git_push:
            ensure_repository(settings, p.name, p.branch)
            click.echo(f"push to deploy: run `slipway project token {p.name}` for its git remote and token")


@project.command("token")
@click.argument("name")
def project_token(name: str) -> None:
    """Make a new deploy token for NAME's git remote (the old one stops working)."""
    from slipway.git_remote import issue_push_token, remote_url
    from slipway.projects import get_project_by_name

    settings = settings_mod.get_settings()
    with session_scope() as session:
        p = get_project_by_name(session, name)
        if p is None:
            raise click.ClickException(f"no project named {name!r}; see `slipway project list`")
        try:
            token = issue_push_token(p, settings)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        branch = p.branch
    url = remote_url(settings, name)
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


@project.command("hook")
@click.argument("name")
@click.option("--regenerate", is_flag=True, help="Make a new URL; the old one stops working.")
def project_hook(name: str, regenerate: bool) -> None:
    """Print NAME's deploy hook URL (POST to it to deploy the branch head)."""
    from slipway.git_remote import hook_token, hook_url, issue_hook_token
    from slipway.projects import get_project_by_name

    settings = settings_mod.get_settings()
    with session_scope() as session:
        p = get_project_by_name(session, name)
        if p is None:
            raise click.ClickException(f"no project named {name!r}; see `slipway project list`")
        token = None if regenerate else hook_token(p)
        fresh = token is None
        if fresh:
            token = issue_hook_token(p)
        branch = p.branch
    url = hook_url(settings, token)
    click.echo(url)
    click.echo(f"{'new ' if fresh else ''}deploy hook of {name}: `curl -X POST <url>` deploys the head of {branch}. "
               "Keep it secret: anyone with the URL can deploy. "
               f"`slipway project hook {name} --regenerate` replaces it.", err=True)


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
    with session_scope() as session:
        try:
            p = update_project(session, name, **changes)
            if any(v is not None for v in akash.values()):
                p = set_akash_settings(session, name, akash)
                click.echo(f"Akash settings: {_akash_summary(p.akash_settings)}")
                click.echo(AKASH_WARNING)
        except (ValueError, UserError) as exc:
            raise click.ClickException(str(exc)) from None
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
    try:
        delete_project(settings_mod.get_settings(), name, click.echo)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


@project.command("list")
def project_list() -> None:
    """List projects."""
    with session_scope() as session:
        rows = session.scalars(select(Project).order_by(Project.name)).all()
        if not rows:
            click.echo("no projects yet: slipway project create NAME --repo URL")
        for p in rows:
            src = p.github_repo or p.repo_url
            click.echo(f"{p.name:20} {p.target:6} {p.branch:15} {src}")


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
    """List PROJECT_NAME's variables (names only: values are never printed)."""
    from slipway.envvars import names

    with session_scope() as session:
        found = names(session, _project_or_fail(session, project_name).id)
    click.echo("\n".join(found) if found else f"{project_name} has no variables: slipway env set {project_name} KEY")


@env.command("set")
@click.argument("project_name")
@click.argument("assignments", nargs=-1, required=True)
def env_set(project_name: str, assignments: tuple[str, ...]) -> None:
    """Set variables: KEY=VALUE, or just KEY to type the value (hidden, kept out of shell history).

    Changes apply from the next deployment.
    """
    from slipway.envvars import check_name, set_vars

    values = {}
    for item in assignments:
        name, sep, value = item.partition("=")
        try:
            check_name(name)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        values[name] = value if sep else click.prompt(f"value of {name}", hide_input=True)
    with session_scope() as session:
        try:
            set_vars(session, _project_or_fail(session, project_name), values)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"set {', '.join(values)} on {project_name}; deploy again to use them")


@env.command("unset")
@click.argument("project_name")
@click.argument("names", nargs=-1, required=True)
def env_unset(project_name: str, names: tuple[str, ...]) -> None:
    """Remove variables."""
    from slipway.envvars import unset_vars

    with session_scope() as session:
        missing = unset_vars(session, _project_or_fail(session, project_name), list(names))
    if missing:
        raise click.ClickException(f"not set on {project_name}: {', '.join(missing)}")
    click.echo(f"removed {', '.join(names)} from {project_name}; deploy again to drop them")


@main.command()
@click.argument("project_name")
@click.option("--sha", help="Commit to deploy: a sha, or a branch or tag name (default: the head of the "
              "project's branch).")
def deploy(project_name: str, sha: str | None) -> None:
    """Deploy PROJECT_NAME's branch head (or --sha) now."""
    from slipway.deployments import BranchHead, DeployRequestError, GivenCommit, request_deployment

    try:
        dep = request_deployment(project_name, GivenCommit(sha) if sha is not None else BranchHead(), "cli")
    except DeployRequestError as exc:
        raise click.ClickException(str(exc)) from None
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
    click.echo(f"deployment {new_id} queued: {sha} again, from deployment {deployment_id}'s image; "
               f"follow it with: slipway logs {new_id} --follow")


@main.command()
@click.argument("deployment_id", type=int)
def cancel(deployment_id: int) -> None:
    """Cancel an unfinished deployment: a queued one never starts, a running one stops at its next step."""
    from slipway.deployments import DeployRequestError, cancel_deployment

    try:
        dep = cancel_deployment(deployment_id)
    except DeployRequestError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"deployment {dep.deployment_id} of {dep.project} ({dep.sha[:7]}) cancelled")


@main.command()
@click.argument("project_name", required=False)
@click.option("-n", "limit", default=20, show_default=True)
def deployments(project_name: str | None, limit: int) -> None:
    """List deployments, newest first."""
    with session_scope() as session:
        q = select(Deployment).join(Project).order_by(Deployment.id.desc()).limit(limit)
        if project_name:
            q = q.where(Project.name == project_name)
        for d in session.scalars(q):
            down = d.state == "live" and d.health == "down"
            click.echo(
                f"{d.id:6} {d.project.name:20} {d.short_sha} {d.branch:15} {d.state + (' (down)' if down else ''):11} "
                f"{d.url or d.error_message or ''}{f' down: {d.health_detail}' if down else ''}"
            )


@main.command()
@click.argument("deployment_id", type=int)
@click.option("--follow", "-f", is_flag=True, help="Keep printing until the deployment finishes.")
def logs(deployment_id: int, follow: bool) -> None:
    """Print a deployment's build and deploy log."""
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


def _register_optional() -> None:
    from deployer.akash.cli import akash, sdl
    from devnet.cli import devnet

    main.add_command(sdl)
    main.add_command(devnet)
    main.add_command(akash)


_register_optional()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
