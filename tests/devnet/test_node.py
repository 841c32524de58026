"""The node: blocks, the mempool, persistence and the operator's commands.

A devnet without its block timer (``blocks=False``) lets a test produce each block itself, so
"not yet included" and "settled at a later block" are checked without timing.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from devnet import config
from devnet import node as devnet_node
from slipway import settings as settings_mod
from tests.devnet.conftest import Client, devnet_settings, needs_oracle

pytestmark = needs_oracle


@pytest.fixture
def manual(tmp_path):
    settings = devnet_settings(tmp_path / "data")
    node = devnet_node.start(settings, port=0, blocks=False)
    yield node
    node.stop()


def send(client: Client, amount: int, to_index: int = 40) -> dict:
    return {"@type": "/cosmos.bank.v1beta1.MsgSend", "from_address": client.address(0),
            "to_address": client.address(to_index), "amount": [{"denom": "uakt", "amount": str(amount)}]}


def test_a_transaction_is_known_only_once_a_block_includes_it(manual):
    client = Client(manual.rest.url, manual.chain.chain_id)
    checked = client.broadcast(client.sign(0, [send(client, 5)]))
    assert checked["code"] == 0
    missing = client.get(f"/cosmos/tx/v1beta1/txs/{checked['txhash']}")
    assert missing.status_code == 404
    assert missing.json() == {"code": 5, "message": f"tx not found: {checked['txhash']}", "details": []}
    assert client.balance(client.address(40), "uakt") == 0
    height = manual.chain.produce_block()
    included = client.get(f"/cosmos/tx/v1beta1/txs/{checked['txhash']}").json()["tx_response"]
    assert (included["code"], included["height"]) == (0, str(height))
    assert client.balance(client.address(40), "uakt") == 5
    latest = client.get("/cosmos/base/tendermint/v1beta1/blocks/latest").json()["block"]["header"]
    assert (latest["height"], latest["chain_id"]) == (str(height), config.CHAIN_ID)


def test_the_mempool_orders_an_accounts_transactions_by_sequence(manual):
    client = Client(manual.rest.url, manual.chain.chain_id)
    first = client.broadcast(client.sign(0, [send(client, 1)], sequence=0))
    second = client.broadcast(client.sign(0, [send(client, 2)], sequence=1))
    assert first["code"] == 0 and second["code"] == 0
    manual.chain.produce_block()
    assert client.balance(client.address(40), "uakt") == 3
    assert client.account(client.address(0))["sequence"] == "2"


def test_minted_act_arrives_at_the_next_mint_epoch(manual):
    client = Client(manual.rest.url, manual.chain.chain_id)
    owner = client.address(0)
    burn, fee = 20_000_000, 1001
    uakt_before = client.balance(owner, "uakt")
    client.broadcast(client.sign(0, [{"@type": "/akash.bme.v1.MsgMintACT", "owner": owner, "to": owner,
                                      "coins_to_burn": {"denom": "uakt", "amount": str(burn)}}],
                                 fee=[{"denom": "uakt", "amount": str(fee)}]))
    height = manual.chain.produce_block()
    assert height % config.MINT_EPOCH_BLOCKS != 0
    assert client.balance(owner, "uact") == 0
    assert client.balance(owner, "uakt") == uakt_before - burn - fee
    while height % config.MINT_EPOCH_BLOCKS != config.MINT_EPOCH_BLOCKS - 1:
        height = manual.chain.produce_block()
        assert client.balance(owner, "uact") == 0
    manual.chain.produce_block()
    minted = int(burn * config.MINT_PRICE)
    assert client.balance(owner, "uact") == minted - minted * config.MINT_SPREAD_BPS // 10_000


def test_state_survives_a_restart(tmp_path):
    settings = devnet_settings(tmp_path / "data")
    node = devnet_node.start(settings, port=0, blocks=False)
    client = Client(node.rest.url, node.chain.chain_id)
    client.broadcast(client.sign(0, [send(client, 7)]))
    height = node.chain.produce_block()
    node.stop()

    again = devnet_node.start(settings, port=0, blocks=False)
    try:
        client = Client(again.rest.url, again.chain.chain_id)
        assert client.height() == height
        assert client.balance(client.address(40), "uakt") == 7
        assert client.account(client.address(0))["sequence"] == "1"
        # The next transaction continues from there: a replay of sequence 0 is refused.
        replay = client.broadcast(client.sign(0, [send(client, 7)], sequence=0))
        assert replay["code"] == 32
        assert again.chain.produce_block() == height + 1
    finally:
        again.stop()


def test_one_devnet_per_data_dir(manual):
    with pytest.raises(devnet_node.DevnetBusy):
        devnet_node.start(manual.settings, port=0, blocks=False)


def test_genesis_funds_the_funding_wallet_and_registers_the_providers(manual):
    client = Client(manual.rest.url, manual.chain.chain_id)
    assert client.balance(client.address(0), "uakt") == config.FUNDING_GENESIS_UAKT
    providers = client.get("/akash/provider/v1beta4/providers").json()["providers"]
    by_owner = {p["owner"]: p for p in providers}
    for spec in config.PROVIDERS:
        owner = devnet_node.provider_wallet(spec).address
        assert by_owner[owner]["host_uri"] == config.host_uri(spec, manual.settings.devnet_port_n)
        assert {a["key"]: a["value"] for a in by_owner[owner]["attributes"]}["region"] == dict(spec.attributes)["region"]
        one = client.get(f"/akash/provider/v1beta4/providers/{owner}").json()["provider"]
        assert one == by_owner[owner]
    audited = client.get("/akash/audit/v1/audit/attributes/list").json()["providers"]
    assert {a["owner"] for a in audited} == {devnet_node.provider_wallet(s).address for s in config.PROVIDERS if s.audited}
    missing = client.get("/akash/provider/v1beta4/providers/akash1nothere")
    assert missing.status_code == 404 and missing.json()["code"] == 5


def test_status_fund_and_reset_commands(tmp_path):
    from devnet.cli import devnet as devnet_cli

    settings = devnet_settings(tmp_path / "data")
    runner = CliRunner()
    settings_mod.set_settings(settings)
    try:
        node = devnet_node.start(settings, port=0)
        try:
            # `fund` reaches the running node over REST: point it at this one.
            port = node.rest.port
            settings_mod.set_settings(settings_mod.Settings(**{**settings.__dict__, "devnet_port": str(port)}))
            target = Client(node.rest.url, node.chain.chain_id).address(41)
            funded = runner.invoke(devnet_cli, ["fund", target, "2akt"])
            assert funded.exit_code == 0, funded.output
            assert Client(node.rest.url, node.chain.chain_id).balance(target, "uakt") == 2_000_000
            status = runner.invoke(devnet_cli, ["status"])
            assert status.exit_code == 0, status.output
            assert "chain slipway-local-1 (local)" in status.output and "cedar" in status.output
            busy = runner.invoke(devnet_cli, ["reset", "--yes"])
            assert busy.exit_code != 0 and "stop it first" in busy.output
            bad = runner.invoke(devnet_cli, ["fund", target, "2uact"])
            assert bad.exit_code != 0 and "mint it" in bad.output
        finally:
            node.stop()
        reset = runner.invoke(devnet_cli, ["reset", "--yes"])
        assert reset.exit_code == 0, reset.output
        assert not devnet_node.db_path(settings).exists()
    finally:
        settings_mod.set_settings(None)
