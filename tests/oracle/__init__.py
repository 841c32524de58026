"""Run the npm reference implementations (installed in tests/oracle/node_modules).

Each oracle is a small ES module script in this folder that reads one JSON value
on stdin and writes one JSON value on stdout. Those built on batch.mjs's ``answerEach`` also
serve requests line by line (``--serve``): one such process per script stays up for the test
process, since starting node and loading cosmjs and chain-sdk took a second or more per call.
"""

from __future__ import annotations

import atexit
import functools
import json
import select
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any

ORACLE_DIR = Path(__file__).parent


class OracleError(AssertionError):
    pass


def oracle_available() -> bool:
    return shutil.which("node") is not None and (ORACLE_DIR / "node_modules" / "@akashnetwork" / "chain-sdk").exists()


def run_node(script: str, payload: Any, timeout: float = 120) -> Any:
    """Run ``tests/oracle/<script>`` with ``payload`` as JSON on stdin; return its JSON output."""
    if not oracle_available():
        raise OracleError("npm oracles missing: run scripts/test.sh (it runs npm ci in tests/oracle)")
    if _serves(script):
        return _SERVERS.ask(script, payload, timeout)
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


@functools.cache
def _serves(script: str) -> bool:
    return "answerEach(" in (ORACLE_DIR / script).read_text()


class _Servers:
    """One ``node SCRIPT --serve`` per script, started on first use, asked one request at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._procs: dict[str, tuple[subprocess.Popen, IO[bytes]]] = {}

    def ask(self, script: str, payload: Any, timeout: float) -> Any:
        with self._lock:
            proc, stderr = self._running(script)
            try:
                proc.stdin.write(json.dumps(payload).encode() + b"\n")
                proc.stdin.flush()
                line = self._line(proc, timeout)
            except (OSError, TimeoutError) as exc:
                self._stop(script)
                raise OracleError(f"{script}: {exc}: {_tail(stderr)}") from None
            if not line:
                self._stop(script)
                raise OracleError(f"{script} failed ({proc.wait()}): {_tail(stderr)}")
            return json.loads(line)

    def _running(self, script: str) -> tuple[subprocess.Popen, IO[bytes]]:
        found = self._procs.get(script)
        if found and found[0].poll() is None:
            return found
        stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed with its process
        proc = subprocess.Popen(["node", str(ORACLE_DIR / script), "--serve"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=stderr, cwd=ORACLE_DIR)
        self._procs[script] = (proc, stderr)
        return proc, stderr

    @staticmethod
    def _line(proc: subprocess.Popen, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        chunks = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([proc.stdout], [], [], left)[0]:
                raise TimeoutError(f"no answer within {timeout} s")
            chunk = proc.stdout.read1(1 << 20)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
            if chunk.endswith(b"\n"):
                return b"".join(chunks)

    def _stop(self, script: str) -> None:
        proc, stderr = self._procs.pop(script)
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        stderr.close()

    def close(self) -> None:
        with self._lock:
            for script in list(self._procs):
                proc = self._procs[script][0]
                proc.stdin.close()  # the script ends at the end of its input
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
                self._stop(script)


def _tail(stderr: IO[bytes]) -> str:
    stderr.seek(0)
    return stderr.read().decode(errors="replace").strip()[-4000:]


_SERVERS = _Servers()
atexit.register(_SERVERS.close)
