"""The devnet's transaction throughput and latency, through its REST API.

    .venv/bin/python bench/devnet_tx.py [--seconds 20] [--senders 8] [--block-time 1]

A devnet runs in this process on a free loopback port with a fresh data dir (SQLite, as
`slipway devnet` runs it); this script produces its blocks every ``--block-time`` seconds and
notes the wall time each block commits. ``--senders`` threads, each with its own funded account,
sign bank sends with Slipway's ``build_tx`` and broadcast them over HTTP (sync mode) as fast as
CheckTx answers, counting their own sequence. Afterwards every transaction's block is read back
with ``GET /cosmos/tx/v1beta1/txs/{hash}``. Printed: transactions included per second, CheckTx
(broadcast) rate, and broadcast -> inclusion (block commit) latency p50/p99. Inclusion waits for
the next block, so latency sits between 0 and one block time plus the block's own work.
"""

from __future__ import annotations

import argparse
import base64
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests
from cosmpy.protos.cosmos.bank.v1beta1.tx_pb2 import MsgSend
from cosmpy.protos.cosmos.base.v1beta1.coin_pb2 import Coin

from bench.common import run_main
from deployer.akash.chain import build_tx
from deployer.akash.wallet import wallet_from_mnemonic
from devnet import node as devnet_node
from slipway.settings import Settings

MNEMONIC = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"
GAS, FEE = 100_000, [Coin(denom="uakt", amount="250")]


def say(text: str) -> None:
    print(f"bench: {text}", flush=True)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument("--block-time", type=float, default=1.0)
    args = parser.parse_args()

    data = Path(tempfile.mkdtemp(prefix="devnet-bench-"))
    settings = Settings.load({"SLIPWAY_DATA_DIR": str(data)}, akash_funding_mnemonic=MNEMONIC)
    node = devnet_node.start(settings, port=0, blocks=False)
    chain, url = node.chain, node.rest.url
    committed: dict[int, float] = {}
    stop_blocks = threading.Event()

    def blocks() -> None:
        while not stop_blocks.wait(args.block_time):
            height = chain.produce_block()
            committed[height] = time.time()

    block_thread = threading.Thread(target=blocks, daemon=True)
    block_thread.start()
    try:
        funding = wallet_from_mnemonic(MNEMONIC, 0)
        senders = [wallet_from_mnemonic(MNEMONIC, i + 1) for i in range(args.senders)]
        fund = [MsgSend(from_address=funding.address, to_address=w.address, amount=[Coin(denom="uakt", amount="10000000000")])
                for w in senders]
        setup = build_tx(funding, fund, chain_id=chain.chain_id, account_number=0, sequence=0,
                         gas_limit=2_000_000, fee=[Coin(denom="uakt", amount="5000")])
        r = requests.post(f"{url}/cosmos/tx/v1beta1/txs", json={"tx_bytes": base64.b64encode(setup).decode(),
                                                                "mode": "BROADCAST_MODE_SYNC"}, timeout=30)
        assert r.json()["tx_response"]["code"] == 0, r.text
        chain.wait_for_height(chain.height + 2)
        numbers = {w.address: int(requests.get(f"{url}/cosmos/auth/v1beta1/accounts/{w.address}", timeout=30)
                                   .json()["account"]["account_number"]) for w in senders}
        say(f"devnet at height {chain.height}, {args.senders} senders funded; sending for {args.seconds:.0f} s")

        sent: list[tuple[str, float]] = []
        refused = [0]
        lock = threading.Lock()
        deadline = time.time() + args.seconds

        def send(wallet) -> None:
            session = requests.Session()
            sequence = 0
            target = senders[0].address
            while time.time() < deadline:
                msg = MsgSend(from_address=wallet.address, to_address=target, amount=[Coin(denom="uakt", amount="1")])
                tx = build_tx(wallet, [msg], chain_id=chain.chain_id, account_number=numbers[wallet.address],
                              sequence=sequence, gas_limit=GAS, fee=FEE)
                at = time.time()
                resp = session.post(f"{url}/cosmos/tx/v1beta1/txs", timeout=30,
                                    json={"tx_bytes": base64.b64encode(tx).decode(), "mode": "BROADCAST_MODE_SYNC"})
                result = resp.json()["tx_response"]
                with lock:
                    if result["code"] == 0:
                        sent.append((result["txhash"], at))
                        sequence += 1
                    else:
                        refused[0] += 1

        threads = [threading.Thread(target=send, args=(w,)) for w in senders]
        started = time.time()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        sending = time.time() - started
        last = max(at for _, at in sent)
        while chain.mempool_size():
            time.sleep(args.block_time / 4)
        chain.wait_for_height(chain.height + 1)

        latencies, heights = [], []
        session = requests.Session()
        for txhash, at in sent:
            tx = session.get(f"{url}/cosmos/tx/v1beta1/txs/{txhash}", timeout=30).json()["tx_response"]
            height = int(tx["height"])
            heights.append(height)
            latencies.append(committed[height] - at)
        first_block, last_block = min(heights), max(heights)
        span = committed[last_block] - started
        say(f"broadcast (CheckTx accepted): {len(sent)} txs in {sending:.1f} s = {len(sent) / sending:.0f} tx/s"
            f" ({refused[0]} refused)")
        say(f"included: {len(sent)} txs in blocks {first_block}..{last_block}, {len(sent) / span:.0f} tx/s"
            f" (first broadcast to the last block's commit, {span:.1f} s; block time {args.block_time} s)")
        say(f"broadcast -> inclusion: p50 {percentile(latencies, 0.5) * 1000:.0f} ms, "
            f"p99 {percentile(latencies, 0.99) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms"
            f" (mean {statistics.mean(latencies) * 1000:.0f} ms)")
        del last
        return 0
    finally:
        stop_blocks.set()
        block_thread.join(timeout=10)
        node.stop()


if __name__ == "__main__":
    run_main(main, say)
