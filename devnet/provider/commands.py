"""``slipway devnet provider ...``: list the devnet's providers, stop one, start it again."""

from __future__ import annotations

import click

from slipway import settings as settings_mod

WAIT_S = 30.0


def _spec(name: str):
    from devnet import config

    try:
        return config.provider_spec(name)
    except KeyError as exc:
        raise click.ClickException(str(exc.args[0])) from None


def _running(settings) -> bool:
    from devnet.node import is_running

    return is_running(settings)


@click.group("provider")
def provider() -> None:
    """The devnet's providers: stop one to try failover, start it again."""


@provider.command("list")
def provider_list() -> None:
    """Each provider: name, address, API address, attributes, and whether it runs."""
    from deployer.akash.wallet import wallet_from_mnemonic
    from devnet import config
    from devnet.provider import control

    settings = settings_mod.get_settings()
    up = _running(settings)
    for spec in config.PROVIDERS:
        address = wallet_from_mnemonic(config.DEVNET_MNEMONIC, spec.hd_index, spec.name).address
        wanted = not (control.provider_dir(settings.devnet_path, spec.name) / "stopped").exists()
        state = (control.state(settings.devnet_path, spec.name) or "-") if up else "devnet not running"
        attributes = ",".join(f"{k}={v}" for k, v in spec.attributes)
        audited = " audited" if spec.audited else ""
        click.echo(f"{spec.name}\t{address}\t{config.host_uri(spec, settings.devnet_port_n)}\t{state}"
                   f"{'' if wanted else ' (stop requested)'}\t{attributes}{audited}")


def _switch(name: str, running: bool) -> None:
    from devnet.provider import control

    spec = _spec(name)
    settings = settings_mod.get_settings()
    control.request(settings.devnet_path, spec.name, running)
    wanted = control.RUNNING if running else control.STOPPED
    if not _running(settings):
        click.echo(f"{spec.name} will be {wanted} when the devnet starts (slipway devnet)")
        return
    if not control.wait_for(settings.devnet_path, spec.name, wanted, WAIT_S):
        raise click.ClickException(f"the devnet did not report {spec.name} {wanted} within {int(WAIT_S)} s; "
                                   "see the devnet's output")
    click.echo(f"{spec.name} {wanted}")


@provider.command("stop")
@click.argument("name")
def provider_stop(name: str) -> None:
    """Stop provider NAME: its API answers nothing, it stops bidding and its containers stop."""
    _switch(name, running=False)


@provider.command("start")
@click.argument("name")
def provider_start(name: str) -> None:
    """Start provider NAME again (its leases' containers come back)."""
    _switch(name, running=True)
