"""Queue latency: from a push webhook accepted to its deployment job running on a worker.

    .venv/bin/python bench/queue_latency.py [--deliveries 100] [--warmup 5]

A real web server (gunicorn with the Procfile's flags) and a real worker (the Procfile's ``rq
worker`` command) run with a database, queue and Redis database of their own, against the test
instance's Redis (scripts/test.sh starts it). The project's repository is unreachable, so each
job fails at its first step, in milliseconds: what is measured is the road to the job, not the
build. Deliveries go one at a time, each after the previous job has ended, as pushes arrive on a
quiet instance. For each: POST -> 202 answer (client clock), 202 -> rq's ``enqueued_at`` (the job
is queued before the answer is sent, so this is negative) and 202 -> rq's ``started_at``, which the
work horse stamps when it begins the job. Same machine, same clock. See bench/README.md.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from redis import Redis  # noqa: E402

from bench.common import free_port, procfile_gunicorn, rq_time, run_main  # noqa: E402
from slipway.settings import Settings  # noqa: E402

VENV_BIN = Path(sys.executable).parent
REDIS_DB = 12  # its own Redis database: job ids restart with the bench's own deployment ids


def say(text: str) -> None:
    print(f"[queue_latency] {text}", file=sys.stderr, flush=True)


def stop_process(name: str, proc: subprocess.Popen) -> None:
    """SIGTERM, then (rq's cold shutdown) SIGTERM again, then SIGKILL the process group we created."""
    if proc.poll() is None:
        for wait in (15, 10):
            try:
                os.kill(proc.pid, signal.SIGTERM)
                proc.wait(timeout=wait)
                break
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        say(f"{name} (pid {proc.pid}) did not exit")


def wait_until(what: str, check, timeout: float, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except (requests.RequestException, OSError):
            pass
        time.sleep(interval)
    raise TimeoutError(f"{what}: nothing after {timeout:.0f} s")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


class Bench:
    def __init__(self, stack: ExitStack):
        self.stack = stack
        self.run_id = uuid.uuid4().hex[:6]
        self.tmp = Path(tempfile.mkdtemp(prefix=f"slipway-bench-queue-{self.run_id}-"))
        stack.callback(shutil.rmtree, self.tmp, True)
        test_dir = os.environ.get("SLIPWAY_TEST_DATA_DIR") or "/tmp/slipway-test"
        base = Settings.load(environ={"SLIPWAY_DATA_DIR": test_dir})
        redis_url = base.redis_url.split("?")[0] + f"?db={REDIS_DB}" if base.redis_url.startswith("unix://") \
            else base.redis_url.rsplit("/", 1)[0] + f"/{REDIS_DB}"
        data_dir = self.tmp / "data"
        data_dir.mkdir()
        self.secret = secrets.token_urlsafe(24)
        self.web_port = free_port()
        self.web_url = f"http://127.0.0.1:{self.web_port}"
        drop = ("SLIPWAY_", "DATABASE_URL", "REDIS_URL", "DOCKER_HOST", "DOCKER_CONFIG")
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(drop)},
            "SLIPWAY_DATA_DIR": str(data_dir),
            "DATABASE_URL": f"sqlite:///{data_dir / 'slipway.db'}",
            "REDIS_URL": redis_url,
            "SLIPWAY_REDIS_PASSWORD": base.redis_password,
            "SLIPWAY_QUEUE": f"bench-queue-{self.run_id}",
            "SLIPWAY_DOCKER_HOST": base.docker_host,
            "SLIPWAY_REGISTRY": base.registry,
            "SLIPWAY_REGISTRY_USERNAME": base.registry_username,
            "SLIPWAY_REGISTRY_PASSWORD": base.registry_password,
            "SLIPWAY_SECRET_KEY": secrets.token_urlsafe(32),
            "SLIPWAY_ADMIN_PASSWORD": secrets.token_urlsafe(24),
            "SLIPWAY_GITHUB_WEBHOOK_SECRET": self.secret,
            "SLIPWAY_BIND": f"127.0.0.1:{self.web_port}",
            "SLIPWAY_PUBLIC_URL": self.web_url,
            "PYTHONPATH": str(ROOT),
        }
        self.settings = Settings.load(environ=self.env)
        self.redis = Redis.from_url(redis_url, password=base.redis_password or None)
        self.http = requests.Session()

    def start(self) -> None:
        self.redis.ping()
        subprocess.run([str(VENV_BIN / "slipway"), "db", "upgrade"], env=self.env, check=True, timeout=120,
                       capture_output=True)
        from slipway.db import dispose_engines, session_scope
        from slipway.projects import ProjectSpec, create_project

        # Nothing listens on port 1: the job's fetch fails at once, and the job ends.
        with session_scope(self.settings) as session:
            create_project(session, ProjectSpec(name="site", repo_url="http://127.0.0.1:1/site.git",
                                                github_repo="bench/site"))
        dispose_engines()
        self.stack.callback(self.forget_redis_keys)
        logs = self.tmp / "logs"
        logs.mkdir()
        # Exactly as the Procfile runs them.
        flags, app = procfile_gunicorn()
        self.web = self.spawn("web", [str(VENV_BIN / "gunicorn"), "--bind", f"127.0.0.1:{self.web_port}", *flags, app],
                              logs / "web.log")
        self.worker = self.spawn("worker", [str(VENV_BIN / "rq"), "worker", "--config", "slipway.rqconfig",
                                            "--serializer", "json", "--worker-class", "slipway.worker.Worker",
                                            "--with-scheduler", self.settings.queue_name], logs / "worker.log")
        self.logs = logs
        wait_until("web server /healthz", lambda: self.http.get(f"{self.web_url}/healthz", timeout=2).ok, 60)
        from rq import Queue, Worker

        queue = Queue(self.settings.queue_name, connection=self.redis)
        wait_until("rq worker listening", lambda: any(w.state == "idle" for w in Worker.all(queue=queue)), 60)

    def spawn(self, name: str, argv: list[str], log_path: Path) -> subprocess.Popen:
        log = open(log_path, "ab")
        self.stack.callback(log.close)
        proc = subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        self.stack.callback(stop_process, name, proc)
        return proc

    def forget_redis_keys(self) -> None:
        # Job ids, registries and the queue all carry the run's queue name.
        keys = list(self.redis.scan_iter(match=f"*{self.settings.queue_name}*", count=1000))
        if keys:
            self.redis.delete(*keys)
        self.redis.srem("rq:queues", f"rq:queue:{self.settings.queue_name}")

    def deliver(self, n: int) -> dict[str, float]:
        from slipway.queue import job_id_for

        sha = uuid.uuid4().hex + uuid.uuid4().hex[:8]
        body = json.dumps({"ref": "refs/heads/main", "before": "0" * 40, "after": sha, "deleted": False,
                           "repository": {"full_name": "bench/site", "clone_url": "http://127.0.0.1:1/site.git"},
                           "head_commit": {"id": sha, "message": f"delivery {n}"}}).encode()
        signature = "sha256=" + hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
        headers = {"X-GitHub-Event": "push", "X-GitHub-Delivery": str(uuid.uuid4()),
                   "Content-Type": "application/json", "X-Hub-Signature-256": signature}
        sent = time.time()
        resp = self.http.post(f"{self.web_url}/webhooks/github", data=body, headers=headers, timeout=30)
        answered = time.time()
        if resp.status_code != 202:
            raise RuntimeError(f"delivery {n}: {resp.status_code} {resp.text[:300]}")
        (dep_id,) = resp.json()["deployments"]
        key = f"rq:job:{job_id_for(dep_id, self.settings)}"
        # Wait for the job to end, so the next delivery finds the worker idle, as a single push does.
        def ended() -> dict | None:
            job = self.redis.hgetall(key)
            return job if job.get(b"ended_at") else None

        job = wait_until(f"job of deployment {dep_id} ended", ended, 60, 0.005)
        return {"post": answered - sent, "enqueued": rq_time(job[b"enqueued_at"]) - answered,
                "started": rq_time(job[b"started_at"]) - answered,
                "pickup": rq_time(job[b"started_at"]) - rq_time(job[b"enqueued_at"]),
                "status": job.get(b"status", b"").decode()}


def summary(name: str, values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return (f"  {name:34} p50 {percentile(ms, 50):7.1f} ms   p99 {percentile(ms, 99):7.1f} ms   "
            f"min {min(ms):6.1f}   max {max(ms):7.1f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/queue_latency.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=100, help="measured deliveries (default 100)")
    parser.add_argument("--warmup", type=int, default=5, help="unmeasured deliveries first (default 5)")
    parser.add_argument("--json", type=Path, help="also write every delivery's figures to this file")
    args = parser.parse_args(argv)

    def on_term(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_term)
    with ExitStack() as stack:
        bench = Bench(stack)
        bench.start()
        say(f"run {bench.run_id}: web {bench.web_url}, worker on queue {bench.settings.queue_name}; "
            f"{args.warmup} warm-up + {args.deliveries} deliveries")
        runs = []
        for n in range(args.warmup + args.deliveries):
            run = bench.deliver(n)
            if n >= args.warmup:
                runs.append(run)
        statuses = sorted({r["status"] for r in runs})
        print()
        print(f"queue latency: {len(runs)} push deliveries one at a time, gunicorn {' '.join(procfile_gunicorn()[0])} and the "
              f"Procfile's rq worker, SQLite, {os.cpu_count()} CPUs; job statuses {statuses}")
        print(summary("POST -> 202 answered", [r["post"] for r in runs]))
        print(summary("202 answered -> job running", [r["started"] for r in runs]))
        print(summary("job enqueued -> job running", [r["pickup"] for r in runs]))
        p50 = percentile([r["started"] * 1000 for r in runs], 50)
        print(f"  target: 202 -> running p50 < 100 ms: {'met' if p50 < 100 else 'NOT met'} ({p50:.1f} ms)")
        if args.json:
            args.json.write_text(json.dumps(runs, indent=1))
    return 0


if __name__ == "__main__":
    run_main(main, say)
