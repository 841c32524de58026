"""`slipway sdl ...`: SDL tools for operators and users."""

from __future__ import annotations

from typing import IO, Any

import click

from deployer.akash.manifest import deployment_hash_hex, group_specs, manifest_sorted_json
from deployer.akash.sdl import SDLError, parse_sdl


def _load(file: IO[str]) -> dict[str, Any]:
    try:
        return parse_sdl(file)
    except SDLError as exc:
        name = "stdin" if file.name == "<stdin>" else file.name
        click.echo(f"{name}: invalid SDL", err=True)
        for problem in exc.problems:
            click.echo(f"  {problem}", err=True)
        raise SystemExit(1) from None


@click.group()
def sdl() -> None:
    """Check SDL files and print their manifests."""


@sdl.command("check")
@click.argument("file", type=click.File("r"))
def check(file: IO[str]) -> None:
    """Validate FILE (- for stdin); print its deployment hash and a summary."""
    data = _load(file)
    click.echo(f"hash: {deployment_hash_hex(data)}")
    for group in group_specs(data):
        click.echo(f"placement {group['name']}:")
        for svc_name, placements in data["deployment"].items():
            if group["name"] in placements:
                dep = placements[group["name"]]
                click.echo(f"  {svc_name}: {data['services'][svc_name]['image']} x{dep['count']} (profile {dep['profile']})")
        for unit in group["resources"]:
            price = unit["price"]
            click.echo(f"  price {price['amount']}{price['denom']}/block x{unit['count']}")


@sdl.command("manifest")
@click.argument("file", type=click.File("r"))
def manifest_cmd(file: IO[str]) -> None:
    """Print FILE's (- for stdin) provider manifest as sorted JSON, exactly as it is hashed and sent."""
    click.echo(manifest_sorted_json(_load(file)))


@sdl.command("export")
@click.argument("project_name")
@click.option("--image", help="Image to run (default: the project's most recently pushed image).")
@click.option("--reveal", is_flag=True, help="Write the registry password instead of a placeholder.")
def export(project_name: str, image: str | None, reveal: bool) -> None:
    """Print the SDL Slipway would deploy PROJECT_NAME with (credentials redacted unless --reveal)."""
    from ipaddress import ip_address

    from sqlalchemy import select

    from deployer.akash.export import project_sdl
    from slipway.db import session_scope
    from slipway.models import Deployment, Project
    from slipway.settings import get_settings

    settings = get_settings()
    with session_scope() as session:
        project = session.scalar(select(Project).where(Project.name == project_name))
        if project is None:
            raise click.ClickException(f"no project named {project_name!r}")
        if image is None:
            image = session.scalar(
                select(Deployment.image).where(Deployment.project_id == project.id, Deployment.image.is_not(None))
                .order_by(Deployment.id.desc()).limit(1)
            )
        if image is None:
            raise click.ClickException(f"{project_name} has no pushed image yet: deploy it once, or pass --image")
        click.echo(project_sdl(project, image, settings, reveal=reveal), nl=False)
    host = settings.registry.rsplit(":", 1)[0]
    try:
        loopback = host == "localhost" or ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if loopback:
        click.echo(f"warning: the registry {settings.registry} is on loopback; Akash providers cannot pull from it. "
                   "Set SLIPWAY_REGISTRY to a public address.", err=True)
