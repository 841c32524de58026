"""Transactions and time per deploy on the local Akash network, against the local Docker target.

Run through ``bench/akash_txs`` (it sets up the environment and the services).

For each round, a new project is deployed twice (a first deploy, then an update with a new image and
the same resources) to the Akash target on an in-process devnet (its two providers run the leases on
the same Docker Engine), and the same two releases to the local target. It reports:

* transactions signed by the project's deployer wallet and by the funding wallet, read from the
  chain (an account's sequence counts the transactions it signed): the targets are 2 per first
  deploy and 1 per update once grants exist;
* seconds from ``start`` to the app answering (``deployer.base.deploy``), for both targets. The
  build and push are the same for both targets and are left out: the image is built once per round.

Every wait is bounded; the devnet, its providers' containers and the local containers are removed.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import docker  # noqa: E402

from bench.common import free_port, run_main  # noqa: E402
from deployer.akash.factory import akash_target  # noqa: E402
from deployer.akash.target import deployer_index  # noqa: E402
from deployer.akash.wallet import wallet_from_mnemonic  # noqa: E402
from deployer.base import Release, deploy  # noqa: E402
from devnet import config  # noqa: E402
from devnet.node import start  # noqa: E402
from devnet.provider import build_providers  # noqa: E402
from devnet.provider.cluster import LABEL_PROVIDER  # noqa: E402
from devnet.provider.control import Supervisor  # noqa: E402
from slipway.settings import Settings, set_settings  # noqa: E402
from slipway.targets import targets_from_settings  # noqa: E402

# A public test mnemonic: play money on the local network only.
MNEMONIC = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"


def say(line: str) -> None:
    print(f"akash_txs: {line}", file=sys.stderr, flush=True)


def build_image(client, settings: Settings, text: str) -> str:
    tag = f"{settings.registry}/bench-akash:{uuid.uuid4().hex[:8]}"
    dockerfile = (f"FROM {settings.registry}/base/busybox:latest\n"
                  f'CMD ["sh", "-c", "mkdir -p /tmp/www && echo {text} > /tmp/www/index.html && '
                  'exec busybox httpd -f -p \\"$PORT\\" -h /tmp/www"]\n')
    client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=tag, network_mode="host", rm=True)
    client.images.push(tag, auth_config={"username": settings.registry_username, "password": settings.registry_password})
    return tag


def sequence(lcd, address: str) -> int:
    found = lcd.get(f"/cosmos/auth/v1beta1/accounts/{address}")
    return int(found["account"].get("sequence") or 0) if found else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--block-time", type=float, default=1.0, help="the devnet's seconds per block (default 1)")
    parser.add_argument("--json", help="write every round to this file")
    args = parser.parse_args()

    base = Settings.load()
    workdir = Path(tempfile.mkdtemp(prefix="akash-bench-"))
    port = free_port()
    s = replace(base, data_dir=str(workdir), devnet_port=str(port), devnet_block_time=str(args.block_time),
                akash_network="local", akash_chain_id=config.CHAIN_ID, akash_funding_mnemonic=MNEMONIC,
                akash_rest_url=f"rest+http://127.0.0.1:{port}", akash_gas_price="0.0025", targets="local,akash",
                database_url=f"sqlite:///{workdir / 'bench.db'}", queue_name=f"bench-{uuid.uuid4().hex[:8]}")
    set_settings(s)
    client = docker.DockerClient(base_url=s.docker_host)
    node = start(s)
    providers = build_providers(node.rest_url, s)
    supervisor = Supervisor(s.devnet_path, providers)
    supervisor.apply()
    say(f"devnet on {node.rest_url}, {args.block_time} s blocks, providers {', '.join(p.name for p in providers)}")
    rounds = []
    try:
        akash = akash_target(s)
        local = targets_from_settings(s)["local"]
        funding = wallet_from_mnemonic(MNEMONIC, 0).address
        for n in range(args.rounds):
            v1, v2 = build_image(client, s, f"v1-{n}"), build_image(client, s, f"v2-{n}")
            project = f"bench-{uuid.uuid4().hex[:8]}"
            owner = wallet_from_mnemonic(MNEMONIC, deployer_index(project)).address
            row = {"project": project}
            for phase, image, dep_id in (("first", v1, 1), ("update", v2, 2)):
                previous = row.get("akash_ref")
                f0, d0 = sequence(akash.lcd, funding), sequence(akash.lcd, owner)
                t0 = time.monotonic()
                running = deploy(akash, Release(project, dep_id, image, previous_id=1 if previous else None,
                                                previous_ref=previous), lambda line: None)
                row[f"akash_{phase}_s"] = round(time.monotonic() - t0, 2)
                row[f"akash_{phase}_deployer_txs"] = sequence(akash.lcd, owner) - d0
                row[f"akash_{phase}_funding_txs"] = sequence(akash.lcd, funding) - f0
                row["akash_ref"] = running.ref
                t0 = time.monotonic()
                live = deploy(local, Release(project, dep_id, image), lambda line: None)
                local.retire(Release(project, dep_id, image), live, lambda line: None)
                row[f"local_{phase}_s"] = round(time.monotonic() - t0, 2)
            row["akash_update_same_lease"] = row["akash_ref"]["kind"] == "update"
            akash.remove_all(project, lambda line: None)
            local.remove_all(project, lambda line: None)
            rounds.append(row)
            say(" ".join(f"{k}={v}" for k, v in row.items() if k != "akash_ref"))
    finally:
        supervisor.stop()
        node.stop()
        for provider in providers:
            for c in client.containers.list(all=True, filters={"label": f"{LABEL_PROVIDER}={provider.name}"}):
                c.remove(force=True)
        client.close()
    print(f"{'':24}{'first deploy':>14}{'update':>10}")
    for label, key in (("akash deployer txs", "deployer_txs"), ("akash funding txs", "funding_txs")):
        print(f"{label:24}{statistics.mean(r[f'akash_first_{key}'] for r in rounds):>14.1f}"
              f"{statistics.mean(r[f'akash_update_{key}'] for r in rounds):>10.1f}")
    for label, prefix in (("akash seconds (median)", "akash"), ("local seconds (median)", "local")):
        print(f"{label:24}{statistics.median(r[f'{prefix}_first_s'] for r in rounds):>14.2f}"
              f"{statistics.median(r[f'{prefix}_update_s'] for r in rounds):>10.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(rounds, indent=2))
    return 0


if __name__ == "__main__":
    run_main(main, say)
