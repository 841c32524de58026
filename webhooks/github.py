"""GitHub deliveries in: ``receive(settings, body, headers) -> Outcome``, with no web framework.

The signature is checked over the raw body before anything is parsed. Each
``X-GitHub-Delivery`` is recorded once (its id is unique), in the same transaction as the
deployments it creates, so a redelivery never builds twice. Jobs are enqueued only after that
transaction commits. ``web/webhooks.py`` turns the outcome into the HTTP answer.

Most deliveries change nothing: a push to a branch no project deploys, a ping, an event Slipway
does not use. Their outcome is presumed from the payload (``PRESUMED``), and the delivery is
recorded with it in one statement that commits on its own and also checks the presumption (for a
push: that no project deploys the branch). Everything else runs its handler in one transaction.
"""

from __future__ import annotations

import json
import logging
import re
import weakref
from collections.abc import Callable, Mapping
from urllib.parse import parse_qs

from sqlalchemy import ColumnElement, bindparam, delete, insert, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from slipway.db import Prepared, held_connection, queued_writes, session_scope
from slipway.deployments import DeployRequestError, enqueue_committed
from slipway.github.app import webhook_secrets
from slipway.github.client import verify_webhook_signature
from slipway.github.events import installations, pull_requests, push
from slipway.github.events.outcome import Outcome, Presumed
from slipway.models import WebhookDelivery, utcnow
from slipway.settings import Settings

log = logging.getLogger(__name__)

__all__ = ["Outcome", "receive", "report_queued"]

# One module per event; each handler takes the open session and the parsed payload.
HANDLERS: dict[str, Callable[[Session, dict], Outcome]] = {
    "push": push.handle,
    "pull_request": pull_requests.handle,
    "installation": installations.handle_installation,
    "installation_repositories": installations.handle_installation_repositories,
}

# What an event's deliveries come to when they change nothing, from the payload alone; None when
# they may change something (then the handler above runs).
PRESUMED: dict[str, Callable[[dict], Presumed | None]] = {
    "ping": lambda payload: Presumed(Outcome(200, f"pong: {payload.get('zen', 'hello')}")),
    "push": push.presumed,
}


def receive(settings: Settings, body: bytes, headers: Mapping[str, str]) -> Outcome:
    """Check, record and act on one delivery. ``headers`` is looked up by GitHub's header names."""
    if not settings.github_webhook_secret and not webhook_secrets(settings):
        return Outcome.refuse(503, "SLIPWAY_GITHUB_WEBHOOK_SECRET is not set; run `slipway init` or set it.")
    signature = headers.get("X-Hub-Signature-256")
    if not signature:
        return Outcome.refuse(401, "missing X-Hub-Signature-256 header: set the webhook's secret in GitHub")
    if not _signed_by_us(settings, body, signature):
        return Outcome.refuse(401, "X-Hub-Signature-256 does not match: the webhook secret differs from Slipway's")

    event = (headers.get("X-GitHub-Event") or "").strip()
    delivery_id = (headers.get("X-GitHub-Delivery") or "").strip()
    if not event or not delivery_id:
        return Outcome.refuse(400, "missing X-GitHub-Event or X-GitHub-Delivery header")
    if len(delivery_id) > 100:
        return Outcome.refuse(400, "X-GitHub-Delivery is too long")

    payload, problem = parse_payload(body, _mimetype(headers.get("Content-Type")))
    presumed = Presumed(Outcome(400, problem)) if problem else _presumed(event, payload)
    if presumed is not None:
        recorded = _record(settings, delivery_id, event, presumed)
        if recorded is not None:
            return recorded
    return _record_and_handle(settings, delivery_id, event, payload)


def _presumed(event: str, payload: dict) -> Presumed | None:
    presume = PRESUMED.get(event)
    if presume is not None:
        return presume(payload)
    if event not in HANDLERS:
        return Presumed(Outcome(202, f"event {event!r} is not used by Slipway; ignored"))
    return None


def _record(settings: Settings, delivery_id: str, event: str, presumed: Presumed) -> Outcome | None:
    """``_record_presumed`` on this thread's connection, and on a new one if the server had dropped that one.

    The thread's connection is not pinged before each use (``db.held_connection``): after a
    database restart its first use fails. The statement is a transaction of its own, so it either
    never happened or committed before the answer was lost; then the second try finds the delivery
    id taken and answers as for a replay.
    """
    try:
        return _record_presumed(_receivers_connection(settings), delivery_id, event, presumed)
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
    return _record_presumed(_receivers_connection(settings), delivery_id, event, presumed)


def _receivers_connection(settings: Settings) -> Connection:
    """This thread's connection for deliveries that change nothing; on PostgreSQL, without waiting for the disk.

    Its commits do not wait for their WAL record to be flushed (``synchronous_commit``), as SQLite's
    ``synchronous=NORMAL`` (``db._sqlite_pragmas``) does not for any commit: a crash of the database
    server may lose the last few such records, never a deployment (those take
    ``_record_and_handle``'s road, which waits). A lost record only means that a redelivery of the
    same id is handled as a new one: it had built nothing, so it cannot build twice. Waiting cost
    every delivery an fsync and about a third of its PostgreSQL CPU.
    """
    conn = held_connection(settings)
    if conn.dialect.name == "postgresql":
        dbapi_conn = conn.connection.dbapi_connection
        if dbapi_conn not in _ASYNC_COMMIT:
            _ASYNC_COMMIT_OFF.execute(conn, {})
            _ASYNC_COMMIT.add(dbapi_conn)
    return conn


# The driver connections that were told (once each) not to wait for the WAL flush.
_ASYNC_COMMIT: weakref.WeakSet = weakref.WeakSet()
_ASYNC_COMMIT_OFF = Prepared(text("SET synchronous_commit TO off"))


def _record_presumed(conn: Connection, delivery_id: str, event: str, presumed: Presumed) -> Outcome | None:
    """Record a delivery with its presumed outcome in one statement, committed when it returns.

    None if the presumption did not hold (nothing was recorded). Not in SQLite's write queue
    (``queued_writes``): a statement that is its own transaction holds SQLite's write lock only
    inside the driver's C code, for less time than the queue's lock file took, and the rare writer
    that finds it busy waits in SQLite's busy handler.
    """
    statement = _RECORD_UNLESS.get(presumed.unless)
    if statement is None:
        statement = _RECORD_UNLESS[presumed.unless] = _record_unless(presumed.unless)
    try:
        recorded = statement.execute(conn, {**presumed.params, "new_id": delivery_id, "new_event": event,
                                            "new_received_at": utcnow(), "new_outcome": _outcome_text(presumed.outcome)})
    except IntegrityError:
        if conn.scalar(_RECEIVED, {"of_id": delivery_id}) is None:
            raise  # some other constraint: a bug of ours, not a replay
        return _replay(delivery_id)
    return presumed.outcome if recorded else None


def _record_and_handle(settings: Settings, delivery_id: str, event: str, payload: dict) -> Outcome:
    try:
        with queued_writes(settings), session_scope(settings) as session:
            # Plain statements, not the unit of work: the record comes first, so a redelivery
            # stops at the unique delivery id before its handler changes anything.
            conn = session.connection()
            conn.execute(_RECORD, {"new_id": delivery_id, "new_event": event, "new_received_at": utcnow(),
                                   "new_outcome": "", "new_deployment_id": None})
            outcome = HANDLERS[event](session, payload)
            session.flush()
            conn.execute(_RECORD_OUTCOME, {
                "of_id": delivery_id, "new_outcome": _outcome_text(outcome),
                "new_deployment_id": outcome.deployment_ids[0] if outcome.deployment_ids else None,
            })
    except DeployRequestError as exc:
        # A payload no check above caught: nothing of it was kept, the delivery included.
        return Outcome.refuse(exc.status, str(exc))
    except IntegrityError:
        with session_scope(settings) as session:
            if session.scalar(_RECEIVED, {"of_id": delivery_id}) is None:
                raise  # some other constraint: a bug of ours, not a replay
        return _replay(delivery_id)

    # Only now that the transaction is committed may workers see its rows.
    failed = enqueue_committed(outcome.deployment_ids)
    jobs_failed = _run_jobs(outcome.jobs)
    if failed or jobs_failed:
        # Forget the delivery so that GitHub's redelivery is processed again, not skipped as a replay.
        with session_scope(settings) as session:
            session.execute(delete(WebhookDelivery).where(WebhookDelivery.delivery_id == delivery_id))
        detail = f"deployments {failed} were marked failed; " if failed else ""
        return Outcome.refuse(503, f"could not queue work (is Redis running?): {detail}"
                                   "redeliver this webhook once it is back")
    return outcome


def _replay(delivery_id: str) -> Outcome:
    return Outcome(200, f"delivery {delivery_id} was already received; nothing to do")


def _outcome_text(outcome: Outcome) -> str:
    return f"{outcome.status} {outcome.message}"[:500]


_DELIVERIES = WebhookDelivery.__table__
_RECORD = insert(_DELIVERIES).values(delivery_id=bindparam("new_id"), event=bindparam("new_event"),
                                     received_at=bindparam("new_received_at"), outcome=bindparam("new_outcome"),
                                     deployment_id=bindparam("new_deployment_id"))
_RECORD_OUTCOME = (update(_DELIVERIES).where(_DELIVERIES.c.delivery_id == bindparam("of_id"))
                   .values(outcome=bindparam("new_outcome"), deployment_id=bindparam("new_deployment_id")))
_RECEIVED = select(_DELIVERIES.c.id).where(_DELIVERIES.c.delivery_id == bindparam("of_id"))


def _record_unless(unless: ColumnElement[bool] | None) -> Prepared:
    """INSERT of a delivery and its outcome, of no row when ``unless`` holds."""
    columns = ("delivery_id", "event", "received_at", "outcome")
    values = select(*(bindparam(name, type_=_DELIVERIES.c[column].type) for name, column in
                      zip(("new_id", "new_event", "new_received_at", "new_outcome"), columns)))
    if unless is not None:
        values = values.where(~unless)
    return Prepared(insert(_DELIVERIES).from_select(columns, values))


# One statement per presumption's condition, built and compiled once.
_RECORD_UNLESS: dict[ColumnElement[bool] | None, Prepared] = {}


def _signed_by_us(settings: Settings, body: bytes, signature: str) -> bool:
    """Signed with the configured secret or the App's; the App's is read only if the first does not match."""
    if verify_webhook_signature(settings.github_webhook_secret, body, signature):
        return True
    return any(verify_webhook_signature(secret, body, signature)
               for secret in webhook_secrets(settings) if secret != settings.github_webhook_secret)


def report_queued(settings: Settings, deployment_ids: tuple[int, ...]) -> None:
    """Tell GitHub about deployments a delivery queued or superseded; run once the answer is sent."""
    from slipway.reporters import default_reporters

    try:
        reporters = default_reporters(settings)
    except Exception:
        log.exception("could not set up reporters for deployments %s", deployment_ids)
        return
    for dep_id in deployment_ids:
        for reporter in reporters:
            reporter.report(dep_id)  # reporters never raise


def _run_jobs(jobs) -> int:
    failures = 0
    for job in jobs:
        try:
            job()
        except Exception:
            log.exception("could not queue a job for a webhook delivery")
            failures += 1
    return failures


# GitHub's payloads nest a handful of levels; Python's parser recurses once per level.
MAX_JSON_DEPTH = 64
_JSON_STRING_RE = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS_RE = re.compile(r"[^\[\]{}]+")


def json_depth_exceeds(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """True if arrays and objects in ``text`` nest deeper than ``limit`` (brackets in strings do not count).

    Checked before ``json.loads``, which would raise RecursionError some thousand levels down.
    """
    if text.count("[") + text.count("{") <= limit:
        return False  # too few openings to nest that deep: most payloads, and no regex over them
    depth = 0
    for ch in _NOT_BRACKETS_RE.sub("", _JSON_STRING_RE.sub('""', text)):
        depth += 1 if ch in "[{" else -1
        if depth > limit:
            return True
    return False


def _mimetype(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def parse_payload(body: bytes, mimetype: str) -> tuple[dict | None, str | None]:
    """``(payload, None)`` or ``(None, problem)``. GitHub sends JSON, or a form with a ``payload`` field."""
    try:
        if mimetype == "application/x-www-form-urlencoded":
            values = parse_qs(body.decode("utf-8"), strict_parsing=True).get("payload")
            if not values:
                return None, "form-encoded delivery without a payload field"
            text = values[0]
        else:
            text = body.decode("utf-8")
        if json_depth_exceeds(text):
            return None, f"body is JSON nested more than {MAX_JSON_DEPTH} deep; GitHub's payloads never are"
        data = json.loads(text)
    except (UnicodeDecodeError, ValueError) as exc:
        return None, f"body is not valid JSON: {exc}"
    if not isinstance(data, dict):
        return None, "payload must be a JSON object"
    return data, None
