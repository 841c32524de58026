"""Small helpers every bench script uses: loopback ports, signed webhooks, rq's timestamps, and
the way a bench ends (Ctrl-C stops and removes what it started)."""

from __future__ import annotations

import hashlib
import hmac
import socket
import sys
from datetime import datetime, timezone
from typing import Callable


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sign(secret: str, body: bytes) -> str:
    """GitHub's ``X-Hub-Signature-256`` of ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def rq_time(value: bytes | None) -> float | None:
    """An rq job timestamp (as stored in its hash) as a Unix time."""
    if not value:
        return None
    return datetime.strptime(value.decode(), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()


def run_main(main: Callable[[], int], say: Callable[[str], None]) -> None:
    """Exit with ``main()``'s status; on Ctrl-C (whose cleanup ``main`` did) say so and exit 130."""
    try:
        sys.exit(main())
    except KeyboardInterrupt as exc:
        say(f"interrupted ({exc or 'Ctrl-C'}); everything it started is stopped and removed")
        sys.exit(130)
