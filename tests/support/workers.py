"""Real rq workers for tests, started exactly as the Procfile starts them, and waiting on what they do."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import fields
from pathlib import Path

import pytest

from slipway.db import session_scope
from slipway.models import Deployment
from slipway.settings import Settings

ROOT = Path(__file__).resolve().parent.parent.parent
# The bound the issue sets: no deployment non-final more than a minute after its worker died.
SETTLED_WITHIN_S = 60


def worker_command() -> str:
    """The Procfile's worker line, run exactly as written."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith("worker:"):
            return line.partition(":")[2].strip()
    raise AssertionError("the Procfile has no worker line")


class Workers:
    """rq worker processes started as the Procfile starts them, with this test's settings."""

    def __init__(self, settings: Settings, log_dir: Path):
        self.env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
        for f in fields(Settings):
            self.env[f.metadata["env"]] = str(getattr(settings, f.name))
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen] = []

    def start(self) -> subprocess.Popen:
        out = open(self.log_dir / f"worker-{len(self.procs)}.log", "wb")
        # Not run from the checkout: a job gone wrong must never touch the source tree.
        proc = subprocess.Popen(["bash", "-c", f"exec {worker_command()}"], env=self.env, cwd=self.log_dir,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen) -> None:
        """SIGKILL a worker, its work-horse and its scheduler: each runs in a process group of its own."""
        groups = {os.getpgid(pid) for pid in children(proc.pid)} | {proc.pid}
        for group in groups:
            try:
                os.killpg(group, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait()

    def kill_horse(self, proc: subprocess.Popen) -> None:
        """SIGKILL only a worker's work-horse (as the OOM killer would): the one child in a group of its own."""
        (horse,) = [pid for pid in children(proc.pid) if os.getpgid(pid) != proc.pid]
        os.killpg(horse, signal.SIGKILL)

    def output(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted(self.log_dir.glob("worker-*.log")))

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                self.kill(proc)


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields_ = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields_[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def state_of(dep_id: int) -> Deployment:
    with session_scope() as s:
        return s.get(Deployment, dep_id)


def wait_for(condition, within_s: float, what: str, workers: Workers):
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"{what} (not within {within_s} s)\n--- worker output ---\n{workers.output()}")
