"""Run the npm reference implementations (installed in tests/oracle/node_modules).

Each oracle is a small ES module script in this folder that reads one JSON value
on stdin and writes one JSON value on stdout.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

ORACLE_DIR = Path(__file__).parent


class OracleError(AssertionError):
    pass


def oracle_available() -> bool:
    return shutil.which("node") is not None and (ORACLE_DIR / "node_modules" / "@akashnetwork" / "chain-sdk").exists()


def run_node(script: str, payload: Any, timeout: float = 120) -> Any:
    """Run ``tests/oracle/<script>`` with ``payload`` as JSON on stdin; return its JSON output."""
    if not oracle_available():
        raise OracleError("npm oracles missing: run scripts/test.sh (it runs npm ci in tests/oracle)")
    proc = subprocess.run(
        ["node", str(ORACLE_DIR / script)],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        cwd=ORACLE_DIR,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise OracleError(f"{script} failed ({proc.returncode}): {proc.stderr.strip()[-4000:]}")
    return json.loads(proc.stdout)
