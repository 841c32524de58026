"""A devnet running in-process (short blocks, a free port) and an independent client of it (tests/support/devnet.py)."""

from __future__ import annotations

import pytest

from devnet import config
from devnet import node as devnet_node
from tests.support.devnet import BLOCK_TIME, Client, devnet_settings


@pytest.fixture(scope="module")
def devnet(tmp_path_factory):
    """A devnet for a test module: 0.2 s blocks, REST on a free loopback port."""
    settings = devnet_settings(tmp_path_factory.mktemp("devnet"))
    node = devnet_node.start(settings, port=0, block_time=BLOCK_TIME)
    yield node
    node.stop()


@pytest.fixture(scope="module")
def client(devnet) -> Client:
    return Client(devnet.rest.url, devnet.chain.chain_id)


@pytest.fixture(scope="module")
def act(client, devnet) -> int:
    """The funding wallet mints ACT once per module (settled at the next mint epoch)."""
    before = client.balance(client.address(0), "uact")
    client.submit_ok(0, [{
        "@type": "/akash.bme.v1.MsgMintACT", "owner": client.address(0), "to": client.address(0),
        "coins_to_burn": {"denom": "uakt", "amount": "200000000"},
    }])
    client.wait_height(client.height() + config.MINT_EPOCH_BLOCKS + 1)
    after = client.balance(client.address(0), "uact")
    assert after > before
    return after
