"""``POST /webhooks/github``: the HTTP side of ``webhooks.github.receive``.

Reads the body (no more than ``SLIPWAY_WEBHOOK_MAX_BYTES``), hands it over with the headers, and
answers with the outcome as JSON. GitHub hears back before the queued commits are reported to it.
"""

from __future__ import annotations

from functools import partial

from flask import Blueprint, current_app, jsonify, request

from web.bodies import BodyTooLarge, read_limited
from webhooks.github import Outcome, receive, report_queued

bp = Blueprint("webhooks", __name__)


@bp.post("/webhooks/github")
def github_webhook():
    settings = current_app.config["SLIPWAY_SETTINGS"]
    try:
        body = read_limited(request, settings.webhook_max_bytes_n)
    except BodyTooLarge:
        outcome = Outcome.refuse(413, f"payload larger than {settings.webhook_max_bytes_n} bytes")
    else:
        outcome = receive(settings, body, request.headers)
    response = jsonify(outcome.body())
    response.status_code = outcome.status
    if outcome.report_ids:
        # After the answer is sent: GitHub waits for nobody, and the commit shows "Queued" at once.
        response.call_on_close(partial(report_queued, settings, tuple(outcome.report_ids)))
    return response
