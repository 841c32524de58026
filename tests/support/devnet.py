"""Helpers for tests of the local Akash network: settings, an independent client, free ports.

The client signs with @cosmjs/proto-signing and encodes messages with chain-sdk's codecs
(tests/oracle/devnet_oracle.mjs), and talks to the devnet only over its REST API.
"""

from __future__ import annotations

import base64
import itertools
import socket
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from deployer.akash.wallet import wallet_from_mnemonic
from deployer.local import free_port
from devnet import config
from slipway.settings import Settings
from tests.oracle import oracle_available, run_node

# A public test mnemonic: the funding wallet is index 0, test deployers take the next indexes.
MNEMONIC = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"
BLOCK_TIME = 0.2

needs_oracle = pytest.mark.skipif(not oracle_available(), reason="npm oracles not installed (scripts/test.sh)")


def devnet_settings(data_dir: Path) -> Settings:
    return Settings.load({"SLIPWAY_DATA_DIR": str(data_dir)}, akash_funding_mnemonic=MNEMONIC)


class Client:
    """An independent Akash client: cosmjs signing, REST only."""

    def __init__(self, url: str, chain_id: str):
        self.url, self.chain_id = url, chain_id
        self._indexes = itertools.count(1)

    # -- REST -----------------------------------------------------------------
    def get(self, path: str, **params) -> requests.Response:
        return requests.get(self.url + path, params=params, timeout=30)

    def account(self, address: str) -> dict | None:
        r = self.get(f"/cosmos/auth/v1beta1/accounts/{address}")
        return r.json()["account"] if r.status_code == 200 else None

    def balance(self, address: str, denom: str) -> int:
        for coin in self.get(f"/cosmos/bank/v1beta1/balances/{address}").json()["balances"]:
            if coin["denom"] == denom:
                return int(coin["amount"])
        return 0

    def height(self) -> int:
        return int(self.get("/cosmos/base/tendermint/v1beta1/blocks/latest").json()["block"]["header"]["height"])

    def block_time(self) -> datetime:
        self.wait_height(1)  # a chain just started has made no block yet, so no block time either
        when = self.get("/cosmos/base/tendermint/v1beta1/blocks/latest").json()["block"]["header"]["time"]
        return datetime.fromisoformat(when)

    def wait_height(self, height: int, timeout: float = 60) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            now = self.height()
            if now >= height:
                return now
            time.sleep(BLOCK_TIME / 2)
        raise AssertionError(f"the devnet did not reach height {height}")

    def broadcast(self, tx_b64: str) -> dict:
        r = requests.post(self.url + "/cosmos/tx/v1beta1/txs", json={"tx_bytes": tx_b64, "mode": "BROADCAST_MODE_SYNC"}, timeout=30)
        assert r.status_code == 200, r.text
        return r.json()["tx_response"]

    def simulate(self, tx_b64: str) -> requests.Response:
        return requests.post(self.url + "/cosmos/tx/v1beta1/simulate", json={"tx_bytes": tx_b64}, timeout=30)

    def wait_tx(self, txhash: str, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = self.get(f"/cosmos/tx/v1beta1/txs/{txhash}")
            if r.status_code == 200:
                return r.json()["tx_response"]
            assert r.status_code == 404, r.text
            time.sleep(BLOCK_TIME / 2)
        raise AssertionError(f"tx {txhash} was not included")

    # -- signing ---------------------------------------------------------------------
    def new_index(self) -> int:
        return next(self._indexes)

    @staticmethod
    def address(index: int, mnemonic: str = MNEMONIC) -> str:
        return wallet_from_mnemonic(mnemonic, index).address

    def sign(self, index: int, messages: list[dict], *, gas: int = 400_000, fee: list[dict] | None = None,
             granter: str = "", sequence: int | None = None, mnemonic: str = MNEMONIC, **extra) -> str:
        """A signed TxRaw (base64) from HD ``index``; sequence and account number from the node by default."""
        address = self.address(index, mnemonic)
        account = self.account(address) or {"account_number": "0", "sequence": "0"}
        if fee is None:
            fee = [{"denom": "uakt", "amount": str(int(gas * config.MIN_GAS_PRICE) + 1)}]
        item = {
            "op": "sign", "mnemonic": mnemonic, "hd_index": index, "chain_id": self.chain_id,
            "account_number": str(account["account_number"]),
            "sequence": str(account["sequence"] if sequence is None else sequence),
            "messages": messages, "fee": {"amount": fee, "gas_limit": str(gas), "granter": granter},
            **extra,
        }
        return self.oracle([item])[0]["b64"]

    def oracle(self, items: list[dict]) -> list[dict]:
        results = run_node("devnet_oracle.mjs", {"items": items})["results"]
        for result in results:
            assert "error" not in result, result["error"]
        return results

    def submit(self, index: int, messages: list[dict], **kw) -> dict:
        """Sign, broadcast, wait for the block; the included tx's response."""
        checked = self.broadcast(self.sign(index, messages, **kw))
        assert checked["code"] == 0, checked
        return self.wait_tx(checked["txhash"])

    def submit_ok(self, index: int, messages: list[dict], **kw) -> dict:
        included = self.submit(index, messages, **kw)
        assert included["code"] == 0, included
        return included

    # -- the funding wallet's set-up ------------------------------------------------------
    def funded_deployer(self, uakt: int = 50_000_000) -> int:
        """A new deployer account (HD index), sent uakt by the funding wallet."""
        index = self.new_index()
        self.submit_ok(0, [{
            "@type": "/cosmos.bank.v1beta1.MsgSend", "from_address": self.address(0), "to_address": self.address(index),
            "amount": [{"denom": "uakt", "amount": str(uakt)}],
        }])
        return index


def expiry(days: float = 1) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def devnet_port() -> int:
    """A free port whose provider ports (+11, +12) are free too."""
    for _ in range(100):
        port = free_port("127.0.0.1")
        if port < 65000 and all(_port_free(port + spec.port_offset) for spec in config.PROVIDERS):
            return port
    raise RuntimeError("no free port range for the devnet")
