"""A deployment's log: stored in the database, streamed through Redis for live viewers.

Every line passes through the secret masker first, so a token or password that a
build prints never reaches the database, the stream or a browser. The stored copy is capped
(``SLIPWAY_BUILD_LOG_MAX_LINES``): a build that prints without end keeps its first lines and
its newest, with one line saying how many were cut between.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from typing import Iterable, Iterator
from urllib.parse import quote, quote_plus

from redis import Redis
from sqlalchemy import delete, func, select

from slipway.db import session_scope
from slipway.models import BuildLog
from slipway.settings import Settings

MASK = "********"
STREAM_MAXLEN = 50_000
STREAM_TTL_AFTER_END = 3600
# A capped log keeps this many first lines (what ran, the plan) besides its newest.
HEAD_LINES = 200
# Longer lines are cut (a build can print megabytes without a newline).
MAX_LINE_CHARS = 4000


def stream_key(deployment_id: int, namespace: str) -> str:
    # Namespaced like job ids, so instances sharing a Redis never mix their logs.
    return f"slipway:{namespace}:deployment:{deployment_id}:log"


# Shorter values would mask ordinary words; real secrets are long.
MIN_SECRET_LENGTH = 6


def encoded_forms(secret: str) -> set[str]:
    """The ways a secret shows up in text: as is, URL-encoded, and base64 (alone or inside a blob).

    Inside a longer base64 text (an ``Authorization: Basic`` header, a docker config) the secret's
    encoding depends on its offset modulo 3; for each offset only the characters it fully decides
    are kept, which is what any base64 text containing the secret contains.
    """
    raw = secret.encode()
    forms = {secret, quote(secret, safe=""), quote_plus(secret), quote(secret)}
    for offset in range(3):
        padded = b"\0" * offset + raw
        start = (4 * offset + 2) // 3
        end = (len(padded) * 8) // 6
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            part = encode(padded).decode()[start:end]
            if len(part) >= MIN_SECRET_LENGTH:
                forms.add(part)
    return forms


class SecretMasker:
    """Replaces every known secret with a fixed mask: plain, URL-encoded or base64, in any case.

    Matching ignores case because tools change it (Docker upper-cases a Dockerfile's first word).
    """

    def __init__(self, secrets: Iterable[str] = ()):
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self.add(*secrets)

    def add(self, *secrets: str) -> None:
        new = {s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH} - self._secrets
        if not new:
            return
        self._secrets |= new
        forms = set().union(*(encoded_forms(s) for s in self._secrets))
        # Longest first, so a secret that contains another is masked whole.
        alternatives = sorted(forms, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(f) for f in alternatives), re.IGNORECASE)

    def __call__(self, text: str) -> str:
        return self._pattern.sub(MASK, text) if self._pattern is not None else text


class BuildLogWriter:
    """Appends lines to one deployment's log.

    Lines go to the Redis stream at once (live viewers) and to the database in
    small batches (history); ``close`` flushes and marks the stream's end.
    """

    def __init__(self, deployment_id: int, settings: Settings, redis: Redis, masker: SecretMasker,
                 flush_every: float = 0.5, flush_lines: int = 100):
        self.deployment_id = deployment_id
        self._key = stream_key(deployment_id, settings.queue_name)
        self._settings = settings
        self._redis = redis
        self.masker = masker
        self._pending: list[BuildLog] = []
        self._lock = threading.Lock()
        self._flush_every = flush_every
        self._flush_lines = flush_lines
        self._max_lines = settings.build_log_max_lines_n
        self._head = min(HEAD_LINES, self._max_lines // 2)
        self._last_flush = time.monotonic()
        with session_scope(settings) as session:
            self._seq = session.scalar(
                select(func.coalesce(func.max(BuildLog.seq), 0)).where(BuildLog.deployment_id == deployment_id)
            )
        if self._seq == 0:
            # A stream left by a database that was reset would mix another run's lines in.
            try:
                self._redis.delete(self._key)
            except Exception:  # noqa: BLE001 - live view is best effort
                pass

    def write(self, text: str) -> None:
        """Log one or more lines (split on newlines, trailing whitespace dropped)."""
        for raw in text.splitlines() or [""]:
            line = self.masker(raw.rstrip())
            if len(line) > MAX_LINE_CHARS:
                line = f"{line[:MAX_LINE_CHARS]} [... line cut at {MAX_LINE_CHARS} characters]"
            with self._lock:
                self._seq += 1
                self._pending.append(BuildLog(deployment_id=self.deployment_id, seq=self._seq, line=line))
                seq = self._seq
            self._publish({"seq": seq, "line": line})
        if len(self._pending) >= self._flush_lines or time.monotonic() - self._last_flush >= self._flush_every:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
            self._last_flush = time.monotonic()
        if pending:
            with session_scope(self._settings) as session:
                session.add_all(pending)
                session.flush()
                self._cut(session, pending[-1].seq)

    def _cut(self, session, last_seq: int) -> None:
        """Past the cap, drop the lines between the head and the newest, leaving one line that says so."""
        tail_from = last_seq - (self._max_lines - self._head) + 1  # the first of the newest lines kept
        if tail_from <= self._head + 2:
            return
        session.execute(delete(BuildLog).where(BuildLog.deployment_id == self.deployment_id,
                                               BuildLog.seq > self._head, BuildLog.seq < tail_from))
        cut = tail_from - 1 - self._head
        session.add(BuildLog(deployment_id=self.deployment_id, seq=tail_from - 1, line=(
            f"[... {cut} lines cut here: the stored log keeps its first {self._head} and newest "
            f"{self._max_lines - self._head} lines (SLIPWAY_BUILD_LOG_MAX_LINES) ...]")))

    def state(self, state: str) -> None:
        """Tell live viewers the deployment moved on (a step), without them asking the database."""
        self._publish({"state": state})

    def close(self, state: str) -> None:
        self.flush()
        self._publish({"end": state})
        try:
            self._redis.expire(self._key, STREAM_TTL_AFTER_END)
        except Exception:  # noqa: BLE001 - the database copy is the record
            pass

    def _publish(self, entry: dict) -> None:
        try:
            self._redis.xadd(self._key, {"data": json.dumps(entry)},
                             maxlen=STREAM_MAXLEN, approximate=True)
        except Exception:  # noqa: BLE001 - live view is best effort; the database keeps every line
            pass


def follow(redis: Redis, key: str, after_seq: int = 0, block_ms: int = 15000) -> Iterator[dict]:
    """Yield stream entries ({"seq", "line"}, {"state"} or {"end"}) after ``after_seq``.

    Yields ``{"idle": True}`` when nothing arrived for ``block_ms`` so callers can
    send keep-alives or re-check the database.
    """
    last_id = "0"
    while True:
        result = redis.xread({key: last_id}, block=block_ms, count=500)
        if not result:
            yield {"idle": True}
            continue
        for entry_id, fields in result[0][1]:
            last_id = entry_id
            entry = json.loads(fields[b"data"])
            if "seq" in entry and entry["seq"] <= after_seq:
                continue
            yield entry
            if "end" in entry:
                return
