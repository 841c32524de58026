"""`slipway devnet`: run the local Akash network and look after it."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

import click

from devnet.provider.commands import provider as provider_commands
from slipway import settings as settings_mod


def _settings():
    """The settings in force; on the local network a funding mnemonic is generated once if unset."""
    s = settings_mod.get_settings()
    if s.akash_network == settings_mod.LOCAL_AKASH_NETWORK and not s.akash_funding_mnemonic:
        settings_mod.init_env_file(s.data_path)
        settings_mod.set_settings(None)
        s = settings_mod.get_settings()
    return s


@click.group(invoke_without_command=True)
@click.pass_context
def devnet(ctx: click.Context) -> None:
    """The local Akash network: without a subcommand, run it (chain, REST API, providers)."""
    if ctx.invoked_subcommand is not None:
        return
    from devnet.chain import DevnetDataMismatch
    from devnet.node import DevnetBusy, run

    s = _settings()
    if s.akash_network != settings_mod.LOCAL_AKASH_NETWORK:
        raise click.ClickException(
            f"SLIPWAY_AKASH_NETWORK is {s.akash_network!r}: the devnet runs only for the local network"
        )
    try:
        run(s)
    except DevnetBusy as exc:
        raise click.ClickException(str(exc)) from None
    except DevnetDataMismatch as exc:
        raise click.ClickException(f"{exc}; `slipway devnet reset` starts a new chain") from None
    except OSError as exc:  # the REST port is taken
        raise click.ClickException(
            f"cannot serve the devnet's REST API on 127.0.0.1:{s.devnet_port}: {exc.strerror or exc}"
            " (set SLIPWAY_DEVNET_PORT to a free port)"
        ) from None


@devnet.command("status")
def status() -> None:
    """Height, accounts, deployments, leases and providers of the local network."""
    from devnet.status import summary

    s = _settings()
    for line in summary(s):
        click.echo(line)


_AMOUNT = re.compile(r"^(\d+(?:\.\d+)?)(uakt|akt)$", re.IGNORECASE)


def parse_amount(text: str) -> int:
    """``5akt`` or ``5000000uakt`` -> uakt (ACT is minted from AKT with MsgMintACT, never sent)."""
    match = _AMOUNT.match(text.strip())
    if not match:
        raise click.BadParameter("give an amount like 5akt or 5000000uakt (ACT cannot be sent: mint it)")
    try:
        value = Decimal(match.group(1))
    except InvalidOperation:
        raise click.BadParameter("not a number") from None
    uakt = value * (10**6 if match.group(2).lower() == "akt" else 1)
    if uakt != uakt.to_integral_value() or uakt <= 0:
        raise click.BadParameter("the amount must be a positive whole number of uakt")
    return int(uakt)


@devnet.command("wait")
@click.option("--timeout", default=120.0, show_default=True, help="Seconds to wait before giving up.")
def wait(timeout: float) -> None:
    """Wait until the running devnet can take a first deploy: blocks, a funded funding wallet
    (sent AKT from the faucet if it has too little), and every provider registered and answering."""
    from devnet.ready import NotReady, wait_ready

    s = _settings()
    try:
        wait_ready(s, timeout, say=click.echo)
    except NotReady as exc:
        raise click.ClickException(f"the devnet is {exc}") from None
    click.echo(f"devnet ready: REST on http://127.0.0.1:{s.devnet_port_n}, funding wallet funded, "
               "providers answering")


@devnet.command("fund")
@click.argument("address")
@click.argument("amount")
def fund(address: str, amount: str) -> None:
    """Send AMOUNT (5akt, 5000000uakt) from the devnet's faucet to ADDRESS, in a transaction."""
    from devnet.faucet import FaucetError, send

    s = _settings()
    uakt = parse_amount(amount)
    try:
        txhash = send(s, address, uakt)
    except FaucetError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"sent {uakt}uakt to {address} (tx {txhash})")


@devnet.command("reset")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def reset(yes: bool) -> None:
    """Delete the local network's state; its next start begins again from genesis."""
    from devnet.node import DevnetBusy
    from devnet.node import reset as reset_state

    s = _settings()
    if not yes:
        click.confirm(f"Delete the devnet's chain under {s.devnet_path}?", abort=True)
    try:
        reset_state(s)
    except DevnetBusy as exc:
        raise click.ClickException(f"{exc}: stop it first") from None
    click.echo("devnet state deleted; `slipway devnet` starts a new chain from genesis")


# `slipway devnet provider list|stop|start NAME`
devnet.add_command(provider_commands, "provider")
