"""The bare endpoint ``bench/ingest.py`` measures Slipway's receiver against.

A Flask app with one route that does what any webhook receiver must: read the raw body, check its
``X-Hub-Signature-256`` with Slipway's own function, and answer 202. No database, no queue.
Run as gunicorn ``--pythonpath bench ingest_bare:app`` with ``SLIPWAY_GITHUB_WEBHOOK_SECRET`` set.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from flask import Flask, jsonify, request

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from slipway.github.client import verify_webhook_signature  # noqa: E402

SECRET = os.environ["SLIPWAY_GITHUB_WEBHOOK_SECRET"]
app = Flask(__name__)


@app.post("/webhooks/github")
def github_webhook():
    body = request.get_data(cache=True)
    if not verify_webhook_signature(SECRET, body, request.headers.get("X-Hub-Signature-256")):
        return jsonify({"error": "X-Hub-Signature-256 does not match"}), 401
    return jsonify({"message": "accepted"}), 202
