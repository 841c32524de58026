"""The chain's state: a key-value store kept in memory and written to SQLite once per block.

``Store`` is the committed state; ``Cache`` layers writes over a parent (the store or another
cache) and charges gas for every read and write the way the Cosmos SDK's gas KV store does,
so simulation reports gas a real node would (roughly) and a low gas limit runs out.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

from google.protobuf.message import Message

from devnet import errors

M = TypeVar("M", bound=Message)

# cosmos-sdk store/types/gas.go KVGasConfig.
READ_COST_FLAT, READ_COST_PER_BYTE = 1000, 3
WRITE_COST_FLAT, WRITE_COST_PER_BYTE = 2000, 30
DELETE_COST = 1000
ITER_NEXT_COST_FLAT = 30


class GasMeter:
    """Counts gas; past ``limit`` (None: infinite) raises out of gas, as the SDK's meter panics."""

    def __init__(self, limit: int | None = None):
        self.limit, self.consumed = limit, 0

    def consume(self, amount: int, descriptor: str) -> None:
        self.consumed += amount
        if self.limit is not None and self.consumed > self.limit:
            raise errors.OUT_OF_GAS(
                f"out of gas in location: {descriptor}; gasWanted: {self.limit}, gasUsed: {self.consumed}"
            )


class Store:
    """Committed state: every key in memory, persisted to ``path`` (SQLite) by ``commit``."""

    def __init__(self, path: Path | None):
        self._data: dict[str, bytes] = {}
        self._db = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL)")
            self._data = dict(self._db.execute("SELECT key, value FROM kv"))

    @property
    def db(self) -> sqlite3.Connection | None:
        return self._db

    def get(self, key: str) -> bytes | None:
        return self._data.get(key)

    def keys(self, prefix: str) -> list[str]:
        return sorted(k for k in self._data if k.startswith(prefix))

    def apply(self, writes: dict[str, bytes | None], extra_sql: list[tuple[str, tuple]] = ()) -> None:
        """Write a block's changes (and its block/tx rows) in one SQLite transaction."""
        if self._db is not None:
            with self._db:
                self._db.execute("BEGIN")
                for key, value in writes.items():
                    if value is None:
                        self._db.execute("DELETE FROM kv WHERE key = ?", (key,))
                    else:
                        self._db.execute("INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)", (key, value))
                for sql, args in extra_sql:
                    self._db.execute(sql, args)
        for key, value in writes.items():
            if value is None:
                self._data.pop(key, None)
            else:
                self._data[key] = value

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


class Cache:
    """Writes layered over ``parent``; ``write()`` pushes them down, dropping the cache discards them."""

    def __init__(self, parent: Store | Cache, gas: GasMeter | None = None):
        self.parent = parent
        self.gas = gas or GasMeter()
        self.writes: dict[str, bytes | None] = {}

    # -- raw ----------------------------------------------------------------
    def _raw(self, key: str) -> bytes | None:
        if key in self.writes:
            return self.writes[key]
        return self.parent._raw(key) if isinstance(self.parent, Cache) else self.parent.get(key)

    def get(self, key: str) -> bytes | None:
        value = self._raw(key)
        self.gas.consume(READ_COST_FLAT, "ReadFlat")
        self.gas.consume(READ_COST_PER_BYTE * (len(key) + len(value or b"")), "ReadPerByte")
        return value

    def set(self, key: str, value: bytes) -> None:
        self.gas.consume(WRITE_COST_FLAT, "WriteFlat")
        self.gas.consume(WRITE_COST_PER_BYTE * (len(key) + len(value)), "WritePerByte")
        self.writes[key] = value

    def delete(self, key: str) -> None:
        self.gas.consume(DELETE_COST, "Delete")
        self.writes[key] = None

    def _keys(self, prefix: str) -> set[str]:
        below = self.parent._keys(prefix) if isinstance(self.parent, Cache) else set(self.parent.keys(prefix))
        for key, value in self.writes.items():
            if key.startswith(prefix):
                (below.add if value is not None else below.discard)(key)
        return below

    def keys(self, prefix: str) -> list[str]:
        found = sorted(self._keys(prefix))
        self.gas.consume(ITER_NEXT_COST_FLAT * len(found), "IterNextFlat")
        return found

    # -- typed ----------------------------------------------------------------
    def get_msg(self, key: str, cls: type[M]) -> M | None:
        raw = self.get(key)
        return None if raw is None else cls.FromString(raw)

    def set_msg(self, key: str, msg: Message) -> None:
        self.set(key, msg.SerializeToString(deterministic=True))

    def iter_msgs(self, prefix: str, cls: type[M]) -> Iterator[tuple[str, M]]:
        for key in self.keys(prefix):
            raw = self._raw(key)
            if raw is not None:
                yield key, cls.FromString(raw)

    def get_int(self, key: str) -> int:
        raw = self.get(key)
        return int(raw.decode()) if raw else 0

    def set_int(self, key: str, value: int) -> None:
        if value == 0:
            self.delete(key)
        else:
            self.set(key, str(value).encode())
