"""`slipway devnet wait`: until the local network can take a first deploy.

Ready means: the REST API answers with blocks being made, the funding wallet holds AKT to mint
ACT and pay gas (topped up from the faucet when it does not, e.g. a chain made before the funding
mnemonic existed), and every devnet provider is registered on chain and answers on its address.
``scripts/up.sh`` runs it after starting the devnet, so the first push after ``up.sh`` can deploy.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable

import requests

from deployer.akash.lcd import Lcd, LcdError
from deployer.akash.wallet import wallet_from_mnemonic
from devnet import config
from devnet.keys import provider_wallet
from slipway.settings import Settings

POLL_S = 0.25


class NotReady(RuntimeError):
    pass


def funding_floor(settings: Settings) -> int:
    """uakt the funding wallet needs for its first mint above the reserve, and gas."""
    return int(settings.akash_akt_reserve) + int(settings.akash_mint)


def wait_ready(settings: Settings, timeout_s: float, say: Callable[[str], None] = print) -> None:
    """Return once the devnet can take a deploy; NotReady says what is still missing."""
    from devnet.faucet import FaucetError, send

    if not settings.akash_funding_mnemonic:
        raise NotReady("SLIPWAY_AKASH_FUNDING_MNEMONIC is not set (`slipway init` generates it on the local network)")
    rest = f"http://127.0.0.1:{settings.devnet_port_n}"
    lcd = Lcd(f"rest+{rest}", timeout_s=5)
    funding = wallet_from_mnemonic(settings.akash_funding_mnemonic, 0, "funding").address
    deadline = time.monotonic() + timeout_s
    missing = f"the devnet's REST API does not answer on {rest}"
    funded = False
    while time.monotonic() < deadline:
        try:
            first = lcd.height()
            if not funded:
                have = lcd.balance(funding, config.GAS_DENOM)
                if have < funding_floor(settings):
                    say(f"funding wallet {funding} holds {have} uakt: sending it "
                        f"{config.FUNDING_GENESIS_UAKT} uakt from the devnet's faucet")
                    send(settings, funding, config.FUNDING_GENESIS_UAKT)
                funded = True
            missing = _providers_missing(lcd)
            if not missing and lcd.height() > first:
                return
            missing = missing or "the devnet makes no blocks"
        except (LcdError, requests.RequestException, FaucetError) as exc:
            missing = f"the devnet's REST API does not answer on {rest} ({type(exc).__name__})"
        time.sleep(POLL_S)
    raise NotReady(f"not ready after {timeout_s:g} s: {missing}")


def _providers_missing(lcd: Lcd) -> str:
    for spec in config.PROVIDERS:
        owner = provider_wallet(spec).address
        uri = lcd.provider_host_uri(owner)
        if not uri:
            return f"provider {spec.name} is not registered on chain"
        try:
            # Unauthenticated, as any client may ask; only whether the provider answers matters here.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                requests.get(f"{uri}/status", timeout=5, verify=False)
        except requests.RequestException:
            return f"provider {spec.name} does not answer on {uri}"
    return ""
