"""Database engine and sessions."""

from __future__ import annotations

import fcntl
import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from slipway.settings import Settings, get_settings

_engines: dict[str, Engine] = {}
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


# Room for every thread of a web worker (the Procfile runs 8) and then some. Past pool_size a
# returned connection is closed, so with the default of 5 a burst of webhooks opened a new
# connection (a forked PostgreSQL backend; SQLite's pragmas and schema) for many requests.
_POOL = {"pool_size": 16, "max_overflow": 16}


def _create_engine(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30}, **_POOL)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, **_POOL)


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
    for engine in _engines.values():
        engine.dispose()
    _engines.clear()
    _factories.clear()
    for pid, _lock_, fd in _writers.values():
        if pid == os.getpid():
            os.close(fd)
    _writers.clear()
