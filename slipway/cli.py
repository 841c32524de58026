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


@main.group()
def project() -> None:
    """Create and list projects."""


@project.command("create")
@click.argument("name")
@click.option("--repo", "repo_url", required=True, help="git URL to clone (https://..., a path, ...).")
@click.option("--github", "github_repo", help="owner/name of the GitHub repository whose pushes deploy it.")
@click.option("--branch", default="main", show_default=True, help="Branch whose pushes deploy.")
@click.option("--dockerfile", default="Dockerfile", show_default=True, help="Dockerfile path in the repo.")
@click.option("--context", "build_context", default=".", show_default=True, help="Build context dir in the repo.")
@click.option("--target", type=click.Choice(["local", "akash"]), default=None, help="Where it runs.")
@click.option("--health-path", default="/", show_default=True, help="HTTP path that must answer before going live.")
def project_create(name, repo_url, github_repo, branch, dockerfile, build_context, target, health_path) -> None:
    """Create project NAME (lowercase letters, digits and dashes)."""
    from slipway.projects import ProjectSpec, create_project

    spec = ProjectSpec(
        name=name, repo_url=repo_url, github_repo=github_repo, branch=branch, dockerfile=dockerfile,
        build_context=build_context, target=target or settings_mod.get_settings().default_target,
        health_path=health_path,
    )
    with session_scope() as session:
        try:
            p = create_project(session, spec)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"created project {p.name} (id {p.id})")


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


@main.command()
@click.argument("project_name")
@click.option("--sha", help="Commit to deploy (default: the head of the project's branch).")
def deploy(project_name: str, sha: str | None) -> None:
    """Deploy PROJECT_NAME's branch head (or --sha) now."""
    from slipway.deployments import DeployRequestError, request_deployment

    try:
        dep_id = request_deployment(project_name, sha=sha, trigger="cli")
    except DeployRequestError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"deployment {dep_id} queued; follow it with: slipway logs {dep_id} --follow")


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
            click.echo(
                f"{d.id:6} {d.project.name:20} {d.short_sha} {d.branch:15} {d.state:10} "
                f"{d.url or d.error_message or ''}"
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
    """Fail deployments left unfinished by a worker that died (run at start-up)."""
    from slipway.jobs import reap_stale_deployments

    ids = reap_stale_deployments()
    click.echo(f"failed {len(ids)} abandoned deployment(s){': ' + ', '.join(map(str, ids)) if ids else ''}")


def _register_optional() -> None:
    from deployer.akash.cli import sdl

    main.add_command(sdl)


_register_optional()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
