"""Zero-downtime switches through the real Caddy, and the proxy's own cost.

Run through ``bench/switch`` (it sets up the environment and the services).

1. **Switches**: an open-loop load of ``--rate`` GETs per second (100) on the project's production
   URL, through Caddy, first for ``--baseline`` seconds with nothing deploying, then while
   ``--deploys`` versions (10) are built and deployed one after the other and a rollback runs, all
   through Slipway's real job (``slipway.jobs.Pipeline``, run by an rq ``SimpleWorker``). Each request
   is timed from the moment it was due (so a stall is not hidden by a late send). Requests go on
   kept-alive connections, as a browser's, with no retries: a request that fails, or answers anything
   but 200, is *failed*.
2. **Overhead**: ``wrk`` (``--overhead`` seconds, 2 threads, 8 connections) straight to the live
   app's port, then to the router Caddy alone, then through the proxy as clients go (front and
   router), with the app's host name: requests per second and p99.

Everything runs on loopback; the project, its containers and images are removed at the end.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from rq import SimpleWorker  # noqa: E402

from bench.common import run_main  # noqa: E402
from slipway.db import session_scope  # noqa: E402
from slipway.deployments import BranchHead, request_deployment, request_redeploy, rollback_source  # noqa: E402
from slipway.migrate import upgrade  # noqa: E402
from slipway.models import Deployment  # noqa: E402
from slipway.projects import ProjectSpec, create_project, delete_project, get_project_by_name  # noqa: E402
from slipway.proxy import addresses, upstream_of  # noqa: E402
from slipway.queue import SERIALIZER, get_queue, redis_connection  # noqa: E402
from slipway.settings import Settings, set_settings  # noqa: E402


def say(line: str) -> None:
    print(f"switch: {line}", file=sys.stderr, flush=True)


@dataclass
class Phase:
    name: str
    latencies: list[float] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    bodies: dict[str, int] = field(default_factory=dict)

    def summary(self) -> dict:
        lat = sorted(self.latencies)
        q = (lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000) if lat else (lambda p: float("nan"))
        return {"phase": self.name, "requests": len(self.latencies) + len(self.failed), "failed": len(self.failed),
                "p50_ms": round(q(0.50), 2), "p99_ms": round(q(0.99), 2),
                "max_ms": round(lat[-1] * 1000, 2) if lat else None, "versions_seen": len(self.bodies),
                "failures": self.failed[:5]}


class Load:
    """``rate`` GETs per second on ``url`` (through the proxy at ``proxy``), open loop."""

    def __init__(self, proxy: str, host: str, rate: float):
        self.proxy, self.host, self.rate = proxy, host, rate
        self.phase = Phase("idle")
        self._stop = threading.Event()
        self._local = threading.local()
        self._pool = ThreadPoolExecutor(max_workers=32)
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
        return self._local.session

    def _one(self, due: float, phase: Phase) -> None:
        try:
            r = self._session().get(f"http://{self.proxy}/", headers={"Host": self.host}, timeout=10)
            if r.status_code == 200:
                phase.latencies.append(time.monotonic() - due)
                phase.bodies[r.text] = phase.bodies.get(r.text, 0) + 1
            else:
                phase.failed.append(f"{r.status_code} {r.text[:60]!r}")
        except requests.RequestException as exc:
            phase.failed.append(repr(exc)[:200])

    def _run(self) -> None:
        start = time.monotonic()
        n = 0
        while not self._stop.is_set():
            due = start + n / self.rate
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._pool.submit(self._one, due, self.phase)
            n += 1

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._pool.shutdown(wait=True)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


def commit(repo: Path, settings: Settings, text: str) -> None:
    (repo / "Dockerfile").write_text(
        f"FROM {settings.registry}/base/busybox:latest\nCOPY www /www\n"
        'CMD ["sh", "-c", "exec busybox httpd -f -p \\"$PORT\\" -h /www"]\n')
    (repo / "www").mkdir(exist_ok=True)
    (repo / "www" / "index.html").write_text(text)
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=bench", "-c", "user.email=bench@localhost", "commit", "-qm", text)


CONNECTIONS = 8


def wrk(url: str, host: str | None, seconds: int) -> dict:
    cmd = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", url]
    if host:
        cmd[1:1] = ["-H", f"Host: {host}"]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=seconds + 30).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", out)
    return {"req_per_s": rps, "p99_ms": round(float(p99.group(1)) * scale, 3),
            "errors": errors.group(0) if errors else ""}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=100)
    ap.add_argument("--deploys", type=int, default=10)
    ap.add_argument("--baseline", type=float, default=20, help="seconds of load with nothing deploying")
    ap.add_argument("--overhead", type=int, default=10, help="seconds of each wrk run (0: skip)")
    ap.add_argument("--json")
    args = ap.parse_args()
    logging.getLogger("rq").setLevel(logging.WARNING)

    tmp = Path(tempfile.mkdtemp(prefix="bench-switch-"))
    base = Settings.load()
    settings = replace(base, data_dir=str(tmp / "data"), database_url=f"sqlite:///{tmp / 'bench.db'}",
                       queue_name=f"bench-switch-{uuid.uuid4().hex[:6]}", proxy="caddy", health_timeout="30")
    set_settings(settings)
    upgrade(settings)
    redis = redis_connection(settings)
    queue = get_queue(settings, redis)
    name = f"sw-{uuid.uuid4().hex[:6]}"
    repo = tmp / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    at = addresses(settings)
    host = f"{at.production_host(name)}:{at.port}"

    def run_jobs() -> None:
        SimpleWorker([queue], connection=redis, serializer=SERIALIZER).work(burst=True, logging_level="WARNING")

    def deploy(text: str) -> Deployment:
        commit(repo, settings, text)
        dep_id = request_deployment(name, BranchHead(), "bench").deployment_id
        run_jobs()
        with session_scope(settings) as s:
            dep = s.get(Deployment, dep_id)
            if dep.state != "live":
                raise SystemExit(f"deployment {dep_id} ended {dep.state}: {dep.error_message}")
            return dep

    load = None
    results: dict = {}
    try:
        with session_scope(settings) as s:
            create_project(s, ProjectSpec(name=name, repo_url=str(repo)))
        say(f"first version of {name} (builds the image; not measured)")
        deploy("v0")
        say(f"production: http://{host}/")
        load = Load(settings.proxy_http, host, args.rate)
        load.phase = Phase("no deploy")
        baseline = load.phase
        load.start()
        time.sleep(args.baseline)
        load.phase = during = Phase(f"{args.deploys} deploys + rollback")
        started = time.monotonic()
        for n in range(1, args.deploys + 1):
            deploy(f"v{n}")
            say(f"deploy {n}/{args.deploys} live")
        if args.deploys:
            with session_scope(settings) as s:
                source = rollback_source(s, get_project_by_name(s, name)).id
            request_redeploy(source)
            run_jobs()
            say("rollback live")
        deploy_s = time.monotonic() - started
        load.stop()
        load = None
        results["switch"] = [baseline.summary(), during.summary()]
        results["switch"][1]["seconds"] = round(deploy_s, 1)
        if args.overhead:
            with session_scope(settings) as s:
                live = s.query(Deployment).filter_by(state="live").order_by(Deployment.id.desc()).first()
                upstream = upstream_of(live.target_ref)
            results["overhead"] = {
                "direct": wrk(f"http://{upstream}/", None, args.overhead),
                "router_only": wrk(f"http://{settings.proxy_router}/", host, args.overhead),
                "front_and_router": wrk(f"http://{settings.proxy_http}/", host, args.overhead),
            }
    finally:
        if load is not None:
            load.stop()
        try:
            delete_project(settings, name, lambda line: None)
        except Exception as exc:  # noqa: BLE001
            say(f"could not remove {name}: {exc}")
        queue.empty()

    print(f"{'phase':28} {'requests':>8} {'failed':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for row in results["switch"]:
        print(f"{row['phase']:28} {row['requests']:8} {row['failed']:6} "
              f"{row['p50_ms']:8} {row['p99_ms']:8} {row['max_ms']:8}")
        for f in row["failures"]:
            print(f"    {f}")
    if "overhead" in results:
        for k, v in results["overhead"].items():
            print(f"{k:17} {v['req_per_s']:10.0f} req/s   p99 {v['p99_ms']} ms  {v['errors']}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0 if all(r["failed"] == 0 for r in results["switch"]) else 1


if __name__ == "__main__":
    run_main(main, say)
