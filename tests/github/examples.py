"""GitHub's own example webhook payloads (``@octokit/webhooks-examples``), for receiver tests."""

from __future__ import annotations

import copy
import functools
import hashlib
import hmac
import json
import uuid
from pathlib import Path
from typing import Any

EXAMPLES_PATH = Path(__file__).parents[1] / "oracle/node_modules/@octokit/webhooks-examples/api.github.com/index.json"


@functools.cache
def _index() -> dict[str, list[dict[str, Any]]]:
    if not EXAMPLES_PATH.exists():
        raise FileNotFoundError(f"{EXAMPLES_PATH} missing: run scripts/test.sh (it runs npm ci in tests/oracle)")
    return {event["name"]: event["examples"] for event in json.loads(EXAMPLES_PATH.read_text())}


def webhook_examples(event: str, action: str | None = None) -> list[dict[str, Any]]:
    """Every example payload of ``event`` (e.g. "push"), optionally only those with ``action``."""
    examples = _index()[event]
    return [copy.deepcopy(e) for e in examples if action is None or e.get("action") == action]


def webhook_example(event: str, action: str | None = None, *, with_installation: bool = False) -> dict[str, Any]:
    """The first example of ``event``/``action``; ``with_installation`` picks one sent to an App."""
    for example in webhook_examples(event, action):
        if not with_installation or "installation" in example:
            return example
    raise LookupError(f"no example {event}/{action} (with_installation={with_installation})")


def webhook_delivery(event: str, payload: dict[str, Any], secret: str) -> tuple[bytes, dict[str, str]]:
    """The raw body and headers GitHub would POST for ``payload``, signed with ``secret``.

    Signed here with hmac directly, independently of slipway.github.client, so tests of the
    receiver's verification are not circular.
    """
    body = json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/044aadd",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-GitHub-Hook-ID": "292430182",
        "X-Hub-Signature": "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest(),
        "X-Hub-Signature-256": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
    }
    return body, headers
