"""``POST /webhooks/github``: GitHub events in.

The signature is checked over the raw body before anything is parsed. Each
``X-GitHub-Delivery`` is recorded once, in the same transaction as the
deployments it creates, so a redelivery never builds twice. Jobs are enqueued
only after that transaction commits, and the answer goes back in milliseconds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from flask import Blueprint, current_app, jsonify, request
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import RequestEntityTooLarge

from slipway.db import session_scope
from slipway.deployments import create_deployment, enqueue_committed
from slipway.github import verify_webhook_signature
from slipway.models import WebhookDelivery
from slipway.projects import projects_for_push
from slipway.settings import Settings

bp = Blueprint("webhooks", __name__)

ZERO_SHA = "0" * 40


@dataclass
class Outcome:
    status: int
    message: str
    deployment_ids: list[int] = field(default_factory=list)

    def response(self):
        body = {"message": self.message}
        if self.deployment_ids:
            body["deployments"] = self.deployment_ids
        return jsonify(body), self.status


def _settings() -> Settings:
    return current_app.config["SLIPWAY_SETTINGS"]


def _error(status: int, message: str):
    return jsonify({"error": message}), status


@bp.post("/webhooks/github")
def github_webhook():
    settings = _settings()
    if not settings.github_webhook_secret:
        return _error(503, "SLIPWAY_GITHUB_WEBHOOK_SECRET is not set; run `slipway init` or set it.")
    request.max_content_length = settings.webhook_max_bytes_n
    try:
        body = request.get_data(cache=True)
    except RequestEntityTooLarge:
        return _error(413, f"payload larger than {settings.webhook_max_bytes_n} bytes")

    signature = request.headers.get("X-Hub-Signature-256")
    if not signature:
        return _error(401, "missing X-Hub-Signature-256 header: set the webhook's secret in GitHub")
    if not verify_webhook_signature(settings.github_webhook_secret, body, signature):
        return _error(401, "X-Hub-Signature-256 does not match: the webhook secret differs from Slipway's")

    event = request.headers.get("X-GitHub-Event", "").strip()
    delivery_id = request.headers.get("X-GitHub-Delivery", "").strip()
    if not event or not delivery_id:
        return _error(400, "missing X-GitHub-Event or X-GitHub-Delivery header")
    if len(delivery_id) > 100:
        return _error(400, "X-GitHub-Delivery is too long")

    payload, problem = _parse_payload(body, request.mimetype)
    outcome: Outcome
    enqueue: list[int] = []
    try:
        with session_scope(settings) as session:
            delivery = WebhookDelivery(delivery_id=delivery_id, event=event)
            session.add(delivery)
            session.flush()  # a redelivery stops here, on the unique delivery id
            if problem:
                outcome = Outcome(400, problem)
            else:
                outcome = _dispatch(session, event, payload)
            delivery.outcome = f"{outcome.status} {outcome.message}"[:500]
            if outcome.deployment_ids:
                delivery.deployment_id = outcome.deployment_ids[0]
                enqueue = outcome.deployment_ids
    except IntegrityError:
        return jsonify({"message": f"delivery {delivery_id} was already received; nothing to do"}), 200

    failed = enqueue_committed(enqueue)
    if failed:
        return _error(503, f"deployments {failed} could not be queued (is Redis running?); they are marked failed")
    return outcome.response()


def _parse_payload(body: bytes, mimetype: str) -> tuple[dict | None, str | None]:
    """GitHub sends JSON, or a form with a ``payload`` field when so configured."""
    try:
        if mimetype == "application/x-www-form-urlencoded":
            values = parse_qs(body.decode("utf-8"), strict_parsing=True).get("payload")
            if not values:
                return None, "form-encoded delivery without a payload field"
            data = json.loads(values[0])
        else:
            data = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        return None, f"body is not valid JSON: {exc}"
    if not isinstance(data, dict):
        return None, "payload must be a JSON object"
    return data, None


def _dispatch(session, event: str, payload: dict) -> Outcome:
    if event == "ping":
        return Outcome(200, f"pong: {payload.get('zen', 'hello')}")
    if event == "push":
        return _push(session, payload)
    return Outcome(202, f"event {event!r} is not used by Slipway; ignored")


def _push(session, payload: dict) -> Outcome:
    ref = payload.get("ref")
    repo = payload.get("repository") if isinstance(payload.get("repository"), dict) else {}
    full_name = repo.get("full_name")
    after = payload.get("after")
    if not isinstance(ref, str) or not isinstance(full_name, str):
        return Outcome(400, "push payload needs 'ref' and 'repository.full_name'")
    if not ref.startswith("refs/heads/"):
        return Outcome(202, f"{ref} is not a branch; only branch pushes deploy")
    branch = ref.removeprefix("refs/heads/")
    if payload.get("deleted") or after == ZERO_SHA:
        return Outcome(200, f"branch {branch} was deleted; nothing to build")
    if not isinstance(after, str) or len(after) != 40 or any(c not in "0123456789abcdef" for c in after):
        return Outcome(400, "push payload 'after' must be a 40-character commit sha")
    projects = projects_for_push(session, full_name, branch)
    if not projects:
        return Outcome(202, f"no project deploys {full_name} branch {branch}")
    ids = [create_deployment(session, p, after, branch, "push").id for p in projects]
    names = ", ".join(p.name for p in projects)
    return Outcome(202, f"queued deployment of {after[:7]} for {names}", ids)
