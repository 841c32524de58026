"""One devnet process: the chain, its REST API on loopback, then the providers.

``run(settings)`` blocks until interrupted. ``start`` returns a running ``Node`` (tests run one
in-process); it is what the providers' hook gets: the chain (``node.chain``), the REST API's
address for Slipway's chain client (``node.rest_url``, ``rest+http://...``) and the settings.
"""

from __future__ import annotations

import fcntl
import os
import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path

from deployer.akash.proto.akash.audit.v1.audit_pb2 import AuditedProvider
from deployer.akash.proto.akash.base.attributes.v1.attribute_pb2 import Attribute
from deployer.akash.proto.akash.provider.v1beta4.provider_pb2 import Info, Provider
from deployer.akash.wallet import wallet_from_mnemonic
from devnet import config
from devnet.chain import BlockTimer, Chain, Genesis
from devnet.keys import devnet_wallet, provider_wallet
from devnet.rest import RestServer
from slipway.settings import Settings

DB_NAME = "chain.db"
LOCK_NAME = "node.lock"


class DevnetBusy(RuntimeError):
    pass


def genesis(settings: Settings) -> Genesis:
    """Balances for the funding wallet, the faucet, the providers and the auditor; the provider
    registry (host_uri on loopback) and the auditor's records for the audited providers."""
    g = Genesis(chain_id=settings.akash_chain_id)
    if settings.akash_funding_mnemonic:
        funding = wallet_from_mnemonic(settings.akash_funding_mnemonic, 0, "funding").address
        g.balances.append((funding, config.GAS_DENOM, config.FUNDING_GENESIS_UAKT))
        if config.FUNDING_GENESIS_UACT:
            g.balances.append((funding, config.DEPOSIT_DENOM, config.FUNDING_GENESIS_UACT))
    g.balances.append((devnet_wallet(config.FAUCET_INDEX, "faucet").address, config.GAS_DENOM, config.FAUCET_GENESIS_UAKT))
    auditor = devnet_wallet(config.AUDITOR.hd_index, "auditor").address
    g.balances.append((auditor, config.GAS_DENOM, config.AUDITOR_GENESIS_UAKT))
    for spec in config.PROVIDERS:
        owner = provider_wallet(spec).address
        g.balances.append((owner, config.GAS_DENOM, config.PROVIDER_GENESIS_UAKT))
        g.balances.append((owner, config.DEPOSIT_DENOM, config.PROVIDER_GENESIS_UACT))
        attributes = [Attribute(key=k, value=v) for k, v in spec.attributes]
        g.providers.append(Provider(
            owner=owner, host_uri=config.host_uri(spec, settings.devnet_port_n), attributes=attributes,
            info=Info(email=f"{spec.name}@devnet.invalid", website=""),
        ))
        if spec.name in config.AUDITOR.signs:
            g.audits.append(AuditedProvider(owner=owner, auditor=auditor, attributes=attributes))
    return g


@dataclass
class Node:
    settings: Settings
    chain: Chain
    rest: RestServer
    timer: BlockTimer | None
    _lock_file: object = None
    stoppables: list = field(default_factory=list)

    @property
    def rest_url(self) -> str:
        """The address Slipway's chain client (cosmpy) takes: ``rest+http://127.0.0.1:PORT``."""
        return "rest+" + self.rest.url

    def stop(self) -> None:
        for thing in reversed(self.stoppables):
            thing.stop()
        if self.timer is not None:
            self.timer.stop()
        self.rest.stop()
        self.chain.close()
        if self._lock_file is not None:
            self._lock_file.close()


def db_path(settings: Settings) -> Path:
    return settings.devnet_path / DB_NAME


def _take_lock(settings: Settings):
    settings.devnet_path.mkdir(parents=True, exist_ok=True)
    handle = open(settings.devnet_path / LOCK_NAME, "a+")  # noqa: SIM115 - held open while the node runs
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise DevnetBusy(f"a devnet already runs on {settings.devnet_path}") from None
    return handle


def is_running(settings: Settings) -> bool:
    try:
        _take_lock(settings).close()
    except DevnetBusy:
        return True
    return False


def start(settings: Settings, *, port: int | None = None, block_time: float | None = None, blocks: bool = True) -> Node:
    """Open (or create) the chain under the data dir and serve it; blocks start unless ``blocks`` is False."""
    lock = _take_lock(settings)
    try:
        chain = Chain(db_path(settings), genesis(settings))
    except BaseException:
        lock.close()
        raise
    try:
        rest = RestServer(chain, "127.0.0.1", settings.devnet_port_n if port is None else port).start()
    except BaseException:
        chain.close()
        lock.close()
        raise
    interval = settings.devnet_block_time_s if block_time is None else block_time
    timer = BlockTimer(chain, interval).start() if blocks else None
    return Node(settings, chain, rest, timer, lock)


def run(settings: Settings) -> None:
    """``slipway devnet``: the chain, its REST API and the providers, until SIGINT/SIGTERM."""
    from devnet import provider

    node = start(settings)
    print(f"devnet: chain {node.chain.chain_id} at height {node.chain.height}; REST on {node.rest.url}", flush=True)
    # The providers' hook (devnet/provider): started once the chain and its API answer.
    node.stoppables.extend(provider.serve_all(node, settings))
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    try:
        while not done.wait(1):
            pass
    finally:
        node.stop()
        print("devnet: stopped", flush=True)


def reset(settings: Settings) -> None:
    """Delete the devnet's state; the next start begins from genesis."""
    lock = _take_lock(settings)
    try:
        for suffix in ("", "-wal", "-shm"):
            path = Path(str(db_path(settings)) + suffix)
            if path.exists():
                os.unlink(path)
    finally:
        lock.close()
