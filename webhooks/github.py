"""``POST /webhooks/github``: GitHub events in.

The signature is checked over the raw body before anything is parsed. Each
``X-GitHub-Delivery`` is recorded once, in the same transaction as the
deployments it creates, so a redelivery never builds twice. Jobs are enqueued
only after that transaction commits, and the answer goes back in milliseconds.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Callable
from urllib.parse import parse_qs

from flask import Blueprint, current_app, jsonify, request
from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from slipway.db import queued_writes, session_scope
from slipway.deployments import DeployRequestError, enqueue_committed
from slipway.github.client import verify_webhook_signature
from slipway.github.app import webhook_secrets
from slipway.models import WebhookDelivery, utcnow
from slipway.settings import Settings
from web.bodies import BodyTooLarge, read_limited
from slipway.github.events import installations, pull_requests, push
from webhooks.outcome import Outcome

bp = Blueprint("webhooks", __name__)
log = logging.getLogger(__name__)


def _settings() -> Settings:
    return current_app.config["SLIPWAY_SETTINGS"]


def _error(status: int, message: str):
    return jsonify({"error": message}), status


@bp.post("/webhooks/github")
def github_webhook():
    settings = _settings()
    if not settings.github_webhook_secret and not webhook_secrets(settings):
        return _error(503, "SLIPWAY_GITHUB_WEBHOOK_SECRET is not set; run `slipway init` or set it.")
    try:
        body = read_limited(request, settings.webhook_max_bytes_n)
    except BodyTooLarge:
        return _error(413, f"payload larger than {settings.webhook_max_bytes_n} bytes")

    signature = request.headers.get("X-Hub-Signature-256")
    if not signature:
        return _error(401, "missing X-Hub-Signature-256 header: set the webhook's secret in GitHub")
    if not _signed_by_us(settings, body, signature):
        return _error(401, "X-Hub-Signature-256 does not match: the webhook secret differs from Slipway's")

    event = request.headers.get("X-GitHub-Event", "").strip()
    delivery_id = request.headers.get("X-GitHub-Delivery", "").strip()
    if not event or not delivery_id:
        return _error(400, "missing X-GitHub-Event or X-GitHub-Delivery header")
    if len(delivery_id) > 100:
        return _error(400, "X-GitHub-Delivery is too long")

    payload, problem = _parse_payload(body, request.mimetype)
    outcome: Outcome
    try:
        with queued_writes(settings), session_scope(settings) as session:
            # Plain statements, not the unit of work: this runs for every delivery GitHub sends.
            conn = session.connection()
            conn.execute(_RECORD, {"new_id": delivery_id, "new_event": event, "new_received_at": utcnow()})
            # A redelivery stopped there, on the unique delivery id.
            outcome = Outcome(400, problem) if problem else _dispatch(session, event, payload)
            session.flush()
            conn.execute(_RECORD_OUTCOME, {
                "of_id": delivery_id, "new_outcome": f"{outcome.status} {outcome.message}"[:500],
                "new_deployment_id": outcome.deployment_ids[0] if outcome.deployment_ids else None,
            })
    except DeployRequestError as exc:
        # A payload no check above caught: nothing of it was kept, the delivery included.
        return _error(exc.status, str(exc))
    except IntegrityError:
        if not _already_received(settings, delivery_id):
            raise  # some other constraint: a bug of ours, not a replay
        return jsonify({"message": f"delivery {delivery_id} was already received; nothing to do"}), 200

    # Only now that the transaction is committed may workers see its rows.
    failed = enqueue_committed(outcome.deployment_ids)
    jobs_failed = _run_jobs(outcome.jobs)
    if failed or jobs_failed:
        # Forget the delivery so that GitHub's redelivery is processed again, not skipped as a replay.
        with session_scope(settings) as session:
            session.execute(delete(WebhookDelivery).where(WebhookDelivery.delivery_id == delivery_id))
        detail = f"deployments {failed} were marked failed; " if failed else ""
        return _error(503, f"could not queue work (is Redis running?): {detail}redeliver this webhook once it is back")
    response, status = outcome.response()
    if outcome.report_ids:
        # After the answer is sent: GitHub waits for nobody, and the commit shows "Queued" at once.
        response.call_on_close(lambda ids=tuple(outcome.report_ids): _report(settings, ids))
    return response, status


_DELIVERIES = WebhookDelivery.__table__
_RECORD = insert(_DELIVERIES).values(delivery_id=bindparam("new_id"), event=bindparam("new_event"),
                                     received_at=bindparam("new_received_at"), outcome="")
_RECORD_OUTCOME = (update(_DELIVERIES).where(_DELIVERIES.c.delivery_id == bindparam("of_id"))
                   .values(outcome=bindparam("new_outcome"), deployment_id=bindparam("new_deployment_id")))


def _signed_by_us(settings: Settings, body: bytes, signature: str) -> bool:
    """Signed with the configured secret or the App's; the App's is read only if the first does not match."""
    if verify_webhook_signature(settings.github_webhook_secret, body, signature):
        return True
    return any(verify_webhook_signature(secret, body, signature)
               for secret in webhook_secrets(settings) if secret != settings.github_webhook_secret)


def _already_received(settings: Settings, delivery_id: str) -> bool:
    with session_scope(settings) as session:
        return session.scalar(select(WebhookDelivery.id).where(WebhookDelivery.delivery_id == delivery_id)) is not None


def _report(settings: Settings, deployment_ids: tuple[int, ...]) -> None:
    from slipway.reporters import default_reporters

    try:
        reporters = default_reporters(settings)
    except Exception:  # noqa: BLE001 - the job reports again when it runs
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
        except Exception:  # noqa: BLE001 - counted and answered with 503
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
    depth = 0
    for ch in _NOT_BRACKETS_RE.sub("", _JSON_STRING_RE.sub('""', text)):
        depth += 1 if ch in "[{" else -1
        if depth > limit:
            return True
    return False


def _parse_payload(body: bytes, mimetype: str) -> tuple[dict | None, str | None]:
    """GitHub sends JSON, or a form with a ``payload`` field when so configured."""
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


# One module per event; each handler takes the open session and the parsed payload.
HANDLERS: dict[str, Callable[[Session, dict], Outcome]] = {
    "ping": lambda _session, payload: Outcome(200, f"pong: {payload.get('zen', 'hello')}"),
    "push": push.handle,
    "pull_request": pull_requests.handle,
    "installation": installations.handle_installation,
    "installation_repositories": installations.handle_installation_repositories,
}


def _dispatch(session: Session, event: str, payload: dict) -> Outcome:
    handler = HANDLERS.get(event)
    if handler is None:
        return Outcome(202, f"event {event!r} is not used by Slipway; ignored")
    return handler(session, payload)
