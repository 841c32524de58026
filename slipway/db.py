"""Database engine and sessions."""

from __future__ import annotations

import fcntl
import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql import Executable

from slipway.settings import Settings, get_settings

_engines: dict[str, Engine] = {}
_autocommit: dict[str, Engine] = {}
# One sessionmaker per engine: building one makes a Session subclass and sets up its events,
# which cost more than the rest of a short request's session.
_factories: dict[str, sessionmaker[Session]] = {}
_lock = threading.Lock()


def get_engine(settings: Settings | None = None) -> Engine:
    url = (settings or get_settings()).database_url
    engine = _engines.get(url)
    if engine is None:
        with _lock:
            engine = _engines.get(url) or _create_engine(url)
            _engines[url] = engine
    return engine


def autocommit_engine(settings: Settings | None = None) -> Engine:
    """The engine of ``held_connection``: the same database, a pool of its own.

    Its connections never switch isolation level, which took a statement of its own on SQLite
    each time a connection went back to a shared pool. On PostgreSQL they are pinged only after
    sitting unused (``ping_when_idle``), so after a server restart the first use of each fails
    with ``connection_invalidated`` set: try once more, the pool has started afresh.
    """
    url = (settings or get_settings()).database_url
    engine = _autocommit.get(url)
    if engine is None:
        with _lock:
            # Nothing to roll back when a connection goes back to the pool: psycopg's no-op rollback
            # cost a third of a webhook's statement in CPU.
            engine = _autocommit.get(url) or _create_engine(url, pre_ping=False, isolation_level="AUTOCOMMIT",
                                                            pool_reset_on_return=None)
            _autocommit[url] = engine
    return engine


# Per (thread, engine): (pid, the pool it came from, connection, when last used). A thread that
# ends leaves its connection to the next thread given its ident; dispose_engines closes them all.
_held: dict[tuple[int, Engine], tuple[int, object, Connection, float]] = {}


def held_connection(settings: Settings | None = None) -> Connection:
    """This thread's own autocommit connection (``autocommit_engine``), kept out of the pool.

    For the statement every webhook runs: checking a connection out of the pool and back in
    (SQLAlchemy's ``Connection``, the pool's lock, its events) took half as much CPU as the
    statement. A web thread holds one for as long as it lives (the pool has room for all of
    them). As with ``ping_when_idle``, it is pinged after sitting unused and replaced if the server
    has closed it; one dropped while in use fails once with ``connection_invalidated`` set, and the
    next call here brings a new one. Do not close it.
    """
    engine = autocommit_engine(settings)
    key = (threading.get_ident(), engine)
    pid, pool, conn, used_at = _held.get(key) or (0, None, None, 0.0)
    now = time.monotonic()
    if conn is not None and (pid != os.getpid() or pool is not engine.pool or conn.invalidated or conn.closed):
        if pid == os.getpid():
            conn.invalidate()  # its pool was disposed, or the server dropped it: closed for good
        conn = None
    elif conn is not None and now - used_at >= PING_AFTER_IDLE_SECONDS:
        try:
            engine.dialect.do_ping(conn.connection.dbapi_connection)
        except Exception:  # noqa: BLE001 - any failure: replace it
            conn.invalidate()
            conn = None
    if conn is None:
        conn = engine.connect()
    elif conn.in_transaction():
        conn.rollback()  # SQLAlchemy's autobegin after a plain execute; on the server, nothing is open
    _held[key] = (os.getpid(), engine.pool, conn, now)
    return conn


# Room for every thread of a web worker (the Procfile runs 8) and then some. Past pool_size a
# returned connection is closed, so with the default of 5 a burst of webhooks opened a new
# connection (a forked PostgreSQL backend; SQLite's pragmas and schema) for many requests.
_POOL = {"pool_size": 16, "max_overflow": 16}


def _create_engine(url: str, pre_ping: bool = True, **options: object) -> Engine:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30}, **_POOL, **options)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if pre_ping:
        return create_engine(url, pool_pre_ping=True, **_POOL, **options)
    engine = create_engine(url, **_POOL, **options)
    ping_when_idle(engine)
    return engine


# A connection that sat unused in the pool may have been closed by the server (a restart, an idle
# timeout), so it is pinged before use, as pool_pre_ping does. One that was in use a moment ago is
# not: under load pool_pre_ping cost a round trip per webhook. Should the server go away all the
# same, the first use of each pooled connection fails: for the autocommit engine only, whose one
# user (webhooks/github.py) tries once more on a new connection.
PING_AFTER_IDLE_SECONDS = 5.0


def ping_when_idle(engine: Engine, idle_seconds: float = PING_AFTER_IDLE_SECONDS) -> None:
    """Ping a pooled connection before use if it sat unused for ``idle_seconds``; replace it if dead."""

    @event.listens_for(engine, "checkin")
    def _idle_from_now(_dbapi_conn, record) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_conn, record, _proxy) -> None:
        idle_since = record.info.pop("idle_since", None)
        if idle_since is None or time.monotonic() - idle_since < idle_seconds:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:  # noqa: BLE001 - any failure: the pool replaces the connection
            raise DisconnectionError(f"connection idle for {time.monotonic() - idle_since:.0f} s is gone") from exc


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    # WAL lets the web server read while a worker writes log lines.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    # In WAL mode NORMAL syncs at checkpoints, not at every commit: the database is never corrupted,
    # and a power cut can lose the last commits, as Redis (appendfsync everysec) loses the last
    # second of the queue. FULL cost an fsync per webhook delivery, 1-8 ms on a busy disk.
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def session_factory(settings: Settings | None = None) -> sessionmaker[Session]:
    url = (settings or get_settings()).database_url
    factory = _factories.get(url)
    if factory is None:
        factory = _factories[url] = sessionmaker(get_engine(settings), expire_on_commit=False)
    return factory


class Prepared:
    """A Core statement compiled once per database and run on the driver's cursor itself.

    For the statement every webhook runs (``webhooks/github.py``): SQLAlchemy's work around each
    execution (execution context, events, result set-up) took more CPU than the statement itself,
    twice as much on PostgreSQL. Parameters still go through the column types' bind processors,
    and driver errors come out as SQLAlchemy's (a unique key as ``IntegrityError``). Only for
    statements that return no rows.
    """

    def __init__(self, statement: Executable):
        self.statement = statement
        self._by_dialect: dict[str, tuple] = {}

    def _compiled(self, dialect) -> tuple:
        compiled = self._by_dialect.get(dialect.name)
        if compiled is None:
            c = self.statement.compile(dialect=dialect)
            processors = {}
            for name, bind in c.binds.items():
                processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
                if processor is not None:
                    processors[name] = processor
            compiled = self._by_dialect[dialect.name] = (c, c.string, c.positiontup, processors)
        return compiled

    def execute(self, conn: Connection, params: dict[str, object]) -> int:
        """Run on ``conn``'s driver connection; how many rows it changed."""
        compiled, sql, positions, processors = self._compiled(conn.dialect)
        values = compiled.construct_params(params)
        for name, processor in processors.items():
            values[name] = processor(values[name])
        args = values if positions is None else tuple(values[name] for name in positions)
        dbapi_conn = conn.connection.dbapi_connection
        cursor = dbapi_conn.cursor()
        try:
            cursor.execute(sql, args)
            return cursor.rowcount
        except conn.dialect.loaded_dbapi.Error as exc:
            gone = conn.dialect.is_disconnect(exc, dbapi_conn, cursor)
            if gone:
                # As SQLAlchemy does on a lost connection: the pool's other connections are most
                # likely gone too (a server restart), so the pool starts afresh.
                conn.invalidate(exc)
                conn.engine.dispose()
            raise DBAPIError.instance(sql, args, exc, conn.dialect.loaded_dbapi.Error, hide_parameters=True,
                                      connection_invalidated=gone, dialect=conn.dialect) from exc
        finally:
            cursor.close()


@contextmanager
def session_scope(settings: Settings | None = None) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    session = session_factory(settings)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# Per SQLite file: (pid, lock for this process's threads, open lock file shared with other processes).
_writers: dict[str, tuple[int, threading.Lock, int]] = {}


@contextmanager
def queued_writes(settings: Settings | None = None) -> Iterator[None]:
    """Around a short write transaction: on SQLite, writers wait their turn in a queue, not in SQLite.

    SQLite has one writer at a time, and a writer that finds it busy sleeps 1, 2, 5 ... up to 100 ms
    before each retry, so under a burst of webhooks most of the time went to sleeping and the slowest
    answers took a second. Here this process's threads queue on a lock and processes on an flock of
    a file beside the database, and each wakes as soon as the one before commits. A no-op on
    PostgreSQL, whose row locks need no queue.
    """
    url = (settings or get_settings()).database_url
    if not url.startswith("sqlite:///"):
        yield
        return
    pid, lock, fd = _writers.get(url) or (0, None, -1)
    if pid != os.getpid():  # first use in this process (a forked one must not share the parent's file)
        with _lock:
            pid, lock, fd = _writers.get(url) or (0, None, -1)
            if pid != os.getpid():
                path = url.removeprefix("sqlite:///") + ".writers"
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                pid, lock, fd = os.getpid(), threading.Lock(), os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                _writers[url] = (pid, lock, fd)
    with lock:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)


def dispose_engines() -> None:
    for pid, _pool, conn, _used_at in _held.values():
        if pid == os.getpid():
            conn.invalidate()
    _held.clear()
    for engine in (*_engines.values(), *_autocommit.values()):
        engine.dispose()
    _engines.clear()
    _autocommit.clear()
    _factories.clear()
    for pid, _lock_, fd in _writers.values():
        if pid == os.getpid():
            os.close(fd)
    _writers.clear()
