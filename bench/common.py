"""Small helpers every bench script uses: loopback ports, signed webhooks, rq's timestamps, and
the way a bench ends (Ctrl-C stops and removes what it started)."""

from __future__ import annotations

import hashlib
import hmac
import shlex
import socket
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

PROCFILE = Path(__file__).resolve().parents[1] / "Procfile"


def procfile_gunicorn(procfile: Path = PROCFILE) -> tuple[list[str], str]:
    """The Procfile's ``web:`` gunicorn line as (its flags without ``--bind``, the app): how the benchmarks
    run the web server, so that they measure what the Procfile runs."""
    for line in procfile.read_text().splitlines():
        if line.startswith("web:"):
            argv = shlex.split(line.removeprefix("web:"))
            break
    else:
        raise SystemExit(f"no web line in {procfile}")
    if argv[:1] != ["gunicorn"] or len(argv) < 2:
        raise SystemExit(f"the Procfile's web line does not start gunicorn with an app: {line}")
    flags, rest = [], argv[1:-1]  # the last word is the app
    while rest:
        word = rest.pop(0)
        if word in ("--bind", "-b"):
            if rest:
                rest.pop(0)
        elif not word.startswith(("--bind=", "-b")):
            flags.append(word)
    return flags, argv[-1]


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
