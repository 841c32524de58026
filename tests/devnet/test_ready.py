"""`slipway devnet wait` (what scripts/up.sh runs): the first deploy finds a funded funding wallet and
providers that answer."""

from __future__ import annotations

from dataclasses import replace

import pytest
from click.testing import CliRunner

from deployer.akash.wallet import wallet_from_mnemonic
from devnet import config
from devnet.node import start
from devnet.provider import build_providers
from devnet.provider.control import Supervisor
from slipway.cli import main
from slipway.settings import set_settings
from tests.support.devnet import MNEMONIC, Client, devnet_port


@pytest.mark.docker
def test_wait_funds_a_chain_made_before_the_funding_mnemonic_and_waits_for_the_providers(settings) -> None:
    s = replace(settings, devnet_port=str(devnet_port()), devnet_block_time="0.2", akash_funding_mnemonic="",
                akash_chain_id=config.CHAIN_ID, akash_network="local")
    node = start(s)  # genesis without a funding wallet: it holds nothing
    s = replace(s, akash_funding_mnemonic=MNEMONIC)
    set_settings(s)
    supervisor = Supervisor(s.devnet_path, build_providers(node.rest_url, s), interval_s=0.1)
    funding = wallet_from_mnemonic(MNEMONIC, 0).address
    client = Client(node.rest.url, node.chain.chain_id)
    try:
        assert client.balance(funding, "uakt") == 0
        early = CliRunner().invoke(main, ["devnet", "wait", "--timeout", "1"])
        assert early.exit_code == 1
        assert "Error: the devnet is not ready after 1 s: provider cedar does not answer" in early.output
        assert client.balance(funding, "uakt") == config.FUNDING_GENESIS_UAKT  # funded on the way

        supervisor.start()
        ready = CliRunner().invoke(main, ["devnet", "wait", "--timeout", "60"])
        assert ready.exit_code == 0, ready.output
        assert "devnet ready" in ready.output and "sending it" not in ready.output  # funded once only
        assert client.balance(funding, "uakt") == config.FUNDING_GENESIS_UAKT
    finally:
        supervisor.stop()
        node.stop()


def test_wait_says_when_no_devnet_answers(settings) -> None:
    set_settings(replace(settings, devnet_port=str(devnet_port()), akash_network="local",
                         akash_funding_mnemonic=MNEMONIC))
    result = CliRunner().invoke(main, ["devnet", "wait", "--timeout", "0.5"])
    assert result.exit_code == 1
    assert "the devnet is not ready after 0.5 s: the devnet's REST API does not answer on http://127.0.0.1:" in result.output
