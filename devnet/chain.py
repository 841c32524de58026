"""The devnet's node: mempool, blocks on a timer, committed state and transaction results in SQLite.

A transaction broadcast to ``Chain.broadcast`` is checked (CheckTx) against the mempool's state and
waits in the mempool; ``produce_block`` (called every block time by ``BlockTimer``) runs the
mempool in order in a new block, runs the end blocker (escrow payments, mints) and commits
everything, the block and the transaction results in one SQLite transaction. Only then does
``tx(hash)`` know the transaction, as a node's tx index does.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cosmpy.protos.cosmos.base.v1beta1.coin_pb2 import Coin

from deployer.akash.proto.akash.audit.v1.audit_pb2 import AuditedProvider
from deployer.akash.proto.akash.provider.v1beta4.provider_pb2 import Provider
from devnet import app as appmod
from devnet.app import App, BlockInfo, TxOutcome
from devnet.errors import ChainError
from devnet.store import Cache, GasMeter, Store

log = logging.getLogger(__name__)

MAX_TXS_PER_BLOCK = 10_000

SCHEMA = (
    (
        "CREATE TABLE IF NOT EXISTS blocks (height INTEGER PRIMARY KEY, time TEXT NOT NULL, hash TEXT NOT NULL,"
        " num_txs INTEGER NOT NULL)"
    ),
    (
        "CREATE TABLE IF NOT EXISTS txs (hash TEXT PRIMARY KEY, height INTEGER NOT NULL, idx INTEGER NOT NULL,"
        " tx BLOB NOT NULL, code INTEGER NOT NULL, codespace TEXT NOT NULL, log TEXT NOT NULL,"
        " gas_wanted INTEGER NOT NULL, gas_used INTEGER NOT NULL, events TEXT NOT NULL, time TEXT NOT NULL)"
    ),
)
INSERT_TX = (
    "INSERT OR REPLACE INTO txs (hash, height, idx, tx, code, codespace, log, gas_wanted, gas_used, events, time)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


@dataclass
class Genesis:
    """The state at height 0: balances, the provider registry and audit records."""

    chain_id: str
    balances: list[tuple[str, str, int]] = field(default_factory=list)  # (address, denom, amount)
    providers: list[Provider] = field(default_factory=list)
    audits: list[AuditedProvider] = field(default_factory=list)


@dataclass(frozen=True)
class IncludedTx:
    hash: str
    height: int
    index: int
    tx_bytes: bytes
    outcome: TxOutcome
    time: str


@dataclass(frozen=True)
class CheckResult:
    hash: str
    code: int = 0
    codespace: str = ""
    log: str = ""
    gas_wanted: int = 0
    gas_used: int = 0


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Chain:
    def __init__(self, db_path: Path, genesis: Genesis):
        self.app = App(genesis.chain_id)
        self.chain_id = genesis.chain_id
        self.store = Store(db_path)
        for statement in SCHEMA:
            self.store.db.execute(statement)
        self._lock = threading.RLock()
        self.new_block = threading.Condition(self._lock)
        if self.store.get(appmod.K_HEIGHT) is None:
            self._init_genesis(genesis)
        stored_chain_id = self.store.db.execute("SELECT value FROM kv WHERE key = 'chain/id'").fetchone()
        if stored_chain_id and stored_chain_id[0].decode() != genesis.chain_id:
            raise ValueError(f"the devnet's data holds chain {stored_chain_id[0].decode()!r}, not {genesis.chain_id!r}")
        self._mempool: list[tuple[str, bytes]] = []
        self._check_state = Cache(self.store)

    # -- genesis ----------------------------------------------------------------
    def _init_genesis(self, genesis: Genesis) -> None:
        s = Cache(self.store, GasMeter(None))
        for address, denom, amount in genesis.balances:
            self.app.mint(s, address, denom, amount)
        for provider in genesis.providers:
            self.app.ensure_account(s, provider.owner)
            s.set_msg(appmod.k_provider(provider.owner), provider)
        for record in genesis.audits:
            s.set_msg(appmod.k_audit(record.owner, record.auditor), record)
        s.set(appmod.K_HEIGHT, b"0")
        s.set(appmod.K_TIME, _iso(datetime.now(UTC)).encode())
        s.set("chain/id", genesis.chain_id.encode())
        self.store.apply(s.writes)

    # -- reading ----------------------------------------------------------------
    @property
    def height(self) -> int:
        return int(self.store.get(appmod.K_HEIGHT).decode())

    @property
    def block_time(self) -> datetime:
        return datetime.fromisoformat(self.store.get(appmod.K_TIME).decode().replace("Z", "+00:00"))  # noqa: FURB162 - stored with Z

    def view(self) -> Cache:
        """A read-only view of the committed state (queries)."""
        return Cache(self.store, GasMeter(None))

    def read(self, fn):
        with self._lock:
            return fn(self.view())

    def _next_block(self) -> BlockInfo:
        return BlockInfo(self.height + 1, datetime.now(UTC))

    # -- transactions -------------------------------------------------------------
    def broadcast(self, tx_bytes: bytes) -> CheckResult:
        """CheckTx; on success the transaction waits in the mempool for the next block."""
        txhash = appmod.tx_hash(tx_bytes)
        with self._lock:
            if any(h == txhash for h, _ in self._mempool):
                return CheckResult(txhash, 19, "sdk", "tx already exists in cache")
            try:
                _, wanted, used = self.app.check_tx(self._check_state, tx_bytes, self._next_block())
            except ChainError as err:
                return CheckResult(txhash, err.code, err.codespace, err.log)
            self._mempool.append((txhash, tx_bytes))
            return CheckResult(txhash, 0, "", "", wanted, used)

    def simulate(self, tx_bytes: bytes) -> int:
        """Gas used; raises ChainError when the node would refuse the transaction."""
        with self._lock:
            gas_used, _ = self.app.simulate(self._check_state, tx_bytes, self._next_block())
            return gas_used

    def mempool_size(self) -> int:
        with self._lock:
            return len(self._mempool)

    def tx(self, txhash: str) -> IncludedTx | None:
        with self._lock:
            row = self.store.db.execute(
                "SELECT hash, height, idx, tx, code, codespace, log, gas_wanted, gas_used, events, time"
                " FROM txs WHERE hash = ?",
                (txhash.upper(),),
            ).fetchone()
        if row is None:
            return None
        outcome = TxOutcome(row[4], row[5], row[6], row[7], row[8], json.loads(row[9]))
        return IncludedTx(row[0], row[1], row[2], row[3], outcome, row[10])

    def block(self, height: int | None = None) -> tuple[int, str, str, int] | None:
        """(height, time, hash, number of txs) of a block (the latest by default)."""
        with self._lock:
            if height is None:
                row = self.store.db.execute("SELECT height, time, hash, num_txs FROM blocks ORDER BY height DESC LIMIT 1").fetchone()
            else:
                row = self.store.db.execute("SELECT height, time, hash, num_txs FROM blocks WHERE height = ?", (height,)).fetchone()
        return tuple(row) if row else None

    def block_txs(self, height: int) -> list[bytes]:
        with self._lock:
            rows = self.store.db.execute("SELECT tx FROM txs WHERE height = ? ORDER BY idx", (height,)).fetchall()
        return [row[0] for row in rows]

    # -- blocks ------------------------------------------------------------------
    def produce_block(self) -> int:
        with self._lock:
            block = self._next_block()
            batch, self._mempool = self._mempool[:MAX_TXS_PER_BLOCK], self._mempool[MAX_TXS_PER_BLOCK:]
            state = Cache(self.store, GasMeter(None))
            results = []
            for index, (txhash, tx_bytes) in enumerate(batch):
                outcome = self.app.deliver_tx(state, tx_bytes, block)
                results.append((txhash, index, tx_bytes, outcome))
            end = Cache(state, GasMeter(None))
            try:
                self.app.end_block(end, block)
                state.writes.update(end.writes)
            except Exception:
                log.exception("end blocker of block %d failed", block.height)
            when = _iso(block.time)
            state.set(appmod.K_HEIGHT, str(block.height).encode())
            state.set(appmod.K_TIME, when.encode())
            block_hash = hashlib.sha256(
                f"{self.chain_id}/{block.height}/{when}/{','.join(h for h, *_ in results)}".encode()
            ).hexdigest().upper()
            sql = [("INSERT INTO blocks (height, time, hash, num_txs) VALUES (?, ?, ?, ?)",
                    (block.height, when, block_hash, len(results)))]
            for txhash, index, tx_bytes, o in results:
                sql.append((
                    INSERT_TX,
                    (txhash, block.height, index, tx_bytes, o.code, o.codespace, o.log, o.gas_wanted,
                     o.gas_used, json.dumps(o.events), when),
                ))
            self.store.apply(state.writes, sql)
            self._recheck()
            self.new_block.notify_all()
            return block.height

    def _recheck(self) -> None:
        """The mempool's state starts again from the committed state; what is left in it is re-checked."""
        self._check_state = Cache(self.store)
        kept = []
        for txhash, tx_bytes in self._mempool:
            try:
                self.app.check_tx(self._check_state, tx_bytes, self._next_block())
                kept.append((txhash, tx_bytes))
            except ChainError:
                pass
        self._mempool = kept

    def wait_for_height(self, height: int, timeout: float = 30) -> bool:
        with self.new_block:
            return self.new_block.wait_for(lambda: self.height >= height, timeout)

    # -- operations ---------------------------------------------------------------
    def fund(self, address: str, amount: Coin) -> None:
        """Credit ``amount`` to ``address`` in the next block's state (``slipway devnet fund``)."""
        appmod._valid_address(address)
        with self._lock:
            s = Cache(self.store, GasMeter(None))
            self.app.mint(s, address, amount.denom, int(amount.amount))
            self.store.apply(s.writes)
            self._recheck()

    def close(self) -> None:
        with self._lock:
            self.store.close()


class BlockTimer:
    """Produces a block every ``interval`` seconds on its own thread."""

    def __init__(self, chain: Chain, interval: float):
        self.chain, self.interval = chain, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="devnet-blocks", daemon=True)

    def start(self) -> BlockTimer:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.chain.produce_block()
            except Exception:
                log.exception("block production failed")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
