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


# -- `slipway akash ...`: the funding wallet, grants and open deployments ----------------------

# Akash makes a block about every 6 seconds: the chain's prices are per block.
BLOCKS_PER_MONTH = 30 * 24 * 3600 // 6


@click.group()
def akash() -> None:
    """The Akash target: funding wallet, grants and open deployments."""


def _target():
    from deployer.akash.config import AkashNotConfigured
    from deployer.akash.factory import akash_target
    from slipway.settings import get_settings

    try:
        return akash_target(get_settings())
    except (AkashNotConfigured, ValueError) as exc:
        raise click.ClickException(str(exc)) from None


def _escrow_left(info: dict) -> str:
    state = (info.get("escrow_account") or {}).get("state") or {}
    funds = [f for f in state.get("funds") or [] if f.get("denom") == "uact"]
    if not funds:
        return "?"
    from deployer.akash.lcd import price_value

    return f"{int(sum(price_value(f['amount']) for f in funds))} uact"


# Of each project, the newest lease events `slipway akash status` lists.
EVENTS_SHOWN = 10


def _events(settings, project: str) -> list[str]:
    """The project's newest lease events, oldest first, one line each."""
    from sqlalchemy import select

    from slipway.db import session_scope
    from slipway.models import Deployment, LeaseEvent, Project

    with session_scope(settings) as session:
        rows = session.scalars(select(LeaseEvent).join(Deployment).join(Project).where(Project.name == project)
                               .order_by(LeaseEvent.id.desc()).limit(EVENTS_SHOWN)).all()
        lines = []
        for e in reversed(rows):
            parts = [f"{e.at:%Y-%m-%d %H:%M:%S}", e.kind, f"deployment {e.dseq}" if e.dseq else "",
                     f"on {e.network}" if e.network else "", f"provider {e.provider}" if e.provider else "",
                     f"{e.price_uact} uact per block" if e.price_uact else "",
                     f"{e.amount_uact} uact" if e.amount_uact else "", f"({e.detail})" if e.detail else ""]
            lines.append("event " + " ".join(p for p in parts if p))
        return lines


@akash.command("status")
def akash_status() -> None:
    """Funding wallet balances, each Akash project's grants and its open deployments with their cost."""
    from sqlalchemy import select

    from deployer.akash.lcd import LcdError, price_value
    from slipway.db import session_scope
    from slipway.models import Project
    from slipway.settings import get_settings

    target = _target()
    settings = get_settings()
    lcd = target.lcd
    funding = target.funding.wallet.address
    try:
        click.echo(f"network {settings.akash_network} ({settings.akash_chain_id}), node {lcd.url}")
        click.echo(f"funding wallet {funding}: {lcd.balance(funding, 'uakt')} uakt, {lcd.balance(funding, 'uact')} uact")
        with session_scope(settings) as session:
            names = list(session.scalars(select(Project.name).where(Project.target == "akash").order_by(Project.name)))
        if not names:
            click.echo("no project deploys to Akash")
        for name in names:
            owner = target.wallet(name).address
            grants = target.funding.grants_of(owner)
            fee = "none" if grants.fee_left is None else f"{grants.fee_left} uakt until {grants.fee_expires:%Y-%m-%d}"
            dep = "none" if grants.deposit_left is None else f"{grants.deposit_left} uact until {grants.deposit_expires:%Y-%m-%d}"
            click.echo(f"{name}: wallet {owner}; gas grant {fee}; deposit grant {dep}")
            for dseq in lcd.active_deployments(owner):
                info = lcd.deployment(owner, dseq) or {}
                for lease in lcd.leases(owner, dseq) or [{}]:
                    provider = (lease.get("id") or {}).get("provider", "no lease")
                    price = price_value((lease.get("price") or {}).get("amount", "0"))
                    click.echo(f"  deployment {dseq}: provider {provider}, {price.normalize():f} uact per block "
                               f"(~{int(price * BLOCKS_PER_MONTH)} uact per month), escrow left {_escrow_left(info)}")
            for line in _events(settings, name):
                click.echo(f"  {line}")
    except LcdError as exc:
        raise click.ClickException(str(exc)) from None


@akash.command("close")
@click.argument("name")
def akash_close(name: str) -> None:
    """Close every open Akash deployment of project NAME (their deposits return to the funding wallet)."""
    from sqlalchemy import select

    from slipway import lease_events
    from slipway.db import session_scope
    from slipway.errors import SlipwayError
    from slipway.models import Project

    target = _target()
    try:
        ended = target.remove_all(name, click.echo)
    except SlipwayError as exc:
        raise click.ClickException(str(exc)) from None
    with session_scope() as session:
        project_id = session.scalar(select(Project.id).where(Project.name == name))
        if project_id is not None:
            lease_events.record_where_held(session, project_id, ended.events)
    click.echo(f"{name}: no Akash deployment open")
