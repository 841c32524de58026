"""Webhook ingestion: Slipway's receiver against a bare Flask endpoint, same machine, same run.

    .venv/bin/python bench/ingest.py [--rounds 5] [--seconds 5] [--databases sqlite,postgresql]

Both servers run under gunicorn with the Procfile's flags (read from its ``web:`` line) on free
loopback ports. The load is a validly signed GitHub ``push`` for a branch no project deploys (an
8 KB body), sent by wrk (2 threads x 32 connections) with a new ``X-GitHub-Delivery`` on every
request, so Slipway records each one instead of answering a replay. The bare endpoint
(``bench/ingest_bare.py``) checks the signature with the same function and answers 202: what a
receiver costs with nothing behind it. Rounds alternate between the two (ABBA, after one warm-up
round each), and the figures are medians over the rounds, for Slipway on SQLite and on PostgreSQL.
``--baseline DIR`` adds Slipway from another checkout (say, main) to the same rounds (ABCCBA), so a
change is measured against its starting point under the same load. See bench/README.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from sqlalchemy import create_engine, func, select, text  # noqa: E402

from bench.common import free_port, procfile_gunicorn, run_main, sign  # noqa: E402
from slipway.settings import Settings  # noqa: E402

VENV_BIN = Path(sys.executable).parent


GUNICORN_FLAGS = procfile_gunicorn()[0]
DEFAULT_POSTGRES_URL = "postgresql+psycopg://slipway_test:slipway_test@127.0.0.1:5432/slipway_test"

# wrk's script: one new delivery id per request (run prefix, thread, counter), every status counted,
# and one JSON line of figures at the end. Filled in by wrk_script().
WRK_LUA = r"""
local body = assert(io.open(BODY_PATH, "rb")):read("*a")
local threads = {}
local counter = 0

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_no", #threads)
end

function init(args)
  prefix = args[1] .. "-" .. thread_no
  statuses = {}
end

function request()
  counter = counter + 1
  return wrk.format("POST", "/webhooks/github", {
    ["Content-Type"] = "application/json",
    ["X-GitHub-Event"] = "push",
    ["X-GitHub-Delivery"] = prefix .. "-" .. counter,
    ["X-Hub-Signature-256"] = SIGNATURE,
  }, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local totals = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      totals[status] = (totals[status] or 0) + n
    end
  end
  local counts = {}
  for status, n in pairs(totals) do
    counts[#counts + 1] = string.format('"%d": %d', status, n)
  end
  local e = summary.errors
  io.write(string.format(
    '@@ {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "max_us": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}, "statuses": {%s}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.timeout, table.concat(counts, ", ")))
end
"""


# -- small helpers -----------------------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes so far (a process that is gone counts nothing)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


def process_group(pgid: int) -> list[int]:
    """The processes of a group: gunicorn's master and its workers (each server has a session of its own)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getpgid(int(entry)) == pgid:
                    pids.append(int(entry))
            except OSError:
                pass
    return pids


def say(text: str) -> None:
    print(f"[ingest] {text}", file=sys.stderr, flush=True)


def push_body(size: int) -> bytes:
    """A push of three commits to ``refs/heads/unused``, its messages padded to about ``size`` bytes."""
    sha = hashlib.sha1(b"ingest").hexdigest()

    def payload(message: str) -> dict:
        commits = [{"id": hashlib.sha1(f"{i}".encode()).hexdigest() if i else sha, "message": message,
                    "timestamp": "2026-01-01T00:00:00Z", "added": [], "removed": [],
                    "author": {"name": "Bench", "email": "bench@example.com", "username": "bench"},
                    "modified": [f"src/module_{i}.py"]} for i in (2, 1, 0)]
        return {
            "ref": "refs/heads/unused", "before": "0" * 40, "after": sha, "created": False, "deleted": False,
            "forced": False, "compare": "https://github.com/acme/site/compare/0000000...1234567",
            "repository": {"id": 1, "name": "site", "full_name": "acme/site", "private": True,
                           "clone_url": "https://github.com/acme/site.git", "default_branch": "main"},
            "pusher": {"name": "bench", "email": "bench@example.com"},
            "sender": {"login": "bench", "id": 1, "type": "User"},
            "commits": commits, "head_commit": commits[-1],  # GitHub repeats the head commit
        }

    base = len(json.dumps(payload("")).encode())
    return json.dumps(payload("x" * max(0, (size - base) // 4))).encode()


def ensure_wrk() -> str:
    path = shutil.which("wrk")
    if path:
        return path
    if os.geteuid() == 0 and shutil.which("apt-get"):
        say("wrk is not installed; apt-get install -y wrk")
        if subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], capture_output=True, timeout=300).returncode:
            subprocess.run(["apt-get", "update", "-q"], capture_output=True, timeout=300)
            subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True, capture_output=True, timeout=300)
        path = shutil.which("wrk")
    if not path:
        raise SystemExit("ingest: wrk is not installed; run `apt-get install -y wrk` (Debian's package)")
    return path


def stop_process(name: str, proc: subprocess.Popen) -> None:
    """SIGTERM (gunicorn's graceful stop), then SIGKILL the process group we created."""
    if proc.poll() is None:
        try:
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # leftovers in its session: gunicorn's workers
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        say(f"{name} (pid {proc.pid}) did not exit")


def wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: the server exited ({proc.returncode}); its log:\n{log.read_text()[-3000:]}")
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url}: no answer after {timeout:.0f} s; log in {log}")


# -- the servers -------------------------------------------------------------------------------

@dataclass
class Server:
    name: str
    url: str
    proc: subprocess.Popen
    database_url: str | None = None  # Slipway's, when on PostgreSQL: its backends are counted too


@dataclass
class Round:
    server: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    errors: dict[str, int]
    statuses: dict[str, int]
    cpu_us: float = 0.0  # CPU (user + system) of the server's processes per request
    db_cpu_us: float = 0.0  # of its PostgreSQL backends per request (SQLite's is in cpu_us)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


@dataclass
class Comparison:
    database: str
    rounds: list[Round] = field(default_factory=list)
    recorded: dict[str, int] = field(default_factory=dict)  # delivery rows each Slipway wrote


class Bench:
    def __init__(self, args: argparse.Namespace, stack: ExitStack):
        self.args = args
        self.stack = stack
        self.run_id = uuid.uuid4().hex[:6]
        self.tmp = Path(tempfile.mkdtemp(prefix=f"slipway-bench-ingest-{self.run_id}-"))
        stack.callback(shutil.rmtree, self.tmp, True)
        (self.tmp / "logs").mkdir()
        # The test instance's Redis (scripts/test.sh): only Slipway's app factory connects to it;
        # a push for a branch nobody deploys queues nothing.
        test_dir = os.environ.get("SLIPWAY_TEST_DATA_DIR") or "/tmp/slipway-test"
        self.base = Settings.load(environ={"SLIPWAY_DATA_DIR": test_dir})
        self.secret = secrets.token_urlsafe(24)
        self.body = push_body(args.body_bytes)
        self.body_path = self.tmp / "body.json"
        self.body_path.write_bytes(self.body)
        self.lua = self.tmp / "push.lua"
        self.lua.write_text(f"BODY_PATH = {json.dumps(str(self.body_path))}\n"
                            f"SIGNATURE = {json.dumps(sign(self.secret, self.body))}\n" + WRK_LUA)
        self.wrk = ensure_wrk()
        self.round_no = 0
        self._admin = None

    def _clean_env(self) -> dict[str, str]:
        drop = ("SLIPWAY_", "DATABASE_URL", "REDIS_URL", "DOCKER_HOST", "DOCKER_CONFIG")
        return {k: v for k, v in os.environ.items() if not k.startswith(drop)}

    def _spawn(self, name: str, app: str, env: dict[str, str], extra: list[str] = (), root: Path = ROOT) -> Server:
        port = free_port()
        log_path = self.tmp / "logs" / f"{name}.log"
        log = open(log_path, "ab")
        self.stack.callback(log.close)
        argv = [str(VENV_BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", *GUNICORN_FLAGS, *extra, app]
        proc = subprocess.Popen(argv, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        self.stack.callback(stop_process, name, proc)
        url = f"http://127.0.0.1:{port}"
        # GET on the POST-only route: 405 from the bare app, and from Slipway once it is up.
        wait_healthy(f"{url}/webhooks/github", proc, log_path)
        return Server(name, url, proc)

    def start_bare(self) -> Server:
        env = {**self._clean_env(), "SLIPWAY_GITHUB_WEBHOOK_SECRET": self.secret}
        return self._spawn("bare", "ingest_bare:app", env, ["--pythonpath", str(ROOT / "bench")])

    def start_slipway(self, database: str, database_url: str, label: str = "slipway", root: Path = ROOT) -> Server:
        data_dir = self.tmp / f"data-{label}-{database}"
        data_dir.mkdir()
        env = {
            **self._clean_env(),
            "SLIPWAY_DATA_DIR": str(data_dir),
            "DATABASE_URL": database_url,
            "REDIS_URL": self.base.redis_url,
            "SLIPWAY_REDIS_PASSWORD": self.base.redis_password,
            "SLIPWAY_QUEUE": f"bench-ingest-{self.run_id}",
            "SLIPWAY_SECRET_KEY": secrets.token_urlsafe(32),
            "SLIPWAY_ADMIN_PASSWORD": secrets.token_urlsafe(24),
            "SLIPWAY_GITHUB_WEBHOOK_SECRET": self.secret,
            "PYTHONPATH": str(root),  # ahead of the venv's own install: the checkout under test
        }
        subprocess.run([str(VENV_BIN / "slipway"), "db", "upgrade"], cwd=root, env=env, check=True, timeout=120,
                       capture_output=True)
        # One project, on the pushed repository but another branch: the receiver looks it up and
        # finds nothing to deploy, as for most pushes to a busy repository.
        from slipway.db import dispose_engines, session_scope
        from slipway.projects import ProjectSpec, create_project

        settings = Settings.load(environ=env)
        with session_scope(settings) as session:
            create_project(session, ProjectSpec(name="site", repo_url="https://github.com/acme/site.git",
                                                github_repo="acme/site", branch="main"))
        dispose_engines()
        server = self._spawn(f"{label}-{database}", "web:create_app()", env, root=root)
        server.name = label
        return server

    # -- load ------------------------------------------------------------------------------------
    def load(self, server: Server, seconds: float) -> Round:
        """One round of wrk; with the CPU the server (and its PostgreSQL backends) spent per request.

        CPU per request is the steadier figure on a shared machine: other work slows the server's
        answers, but hardly changes how much CPU each one takes.
        """
        pids, backends = process_group(server.proc.pid), self._backends(server)
        before, db_before = cpu_seconds(pids), cpu_seconds(backends)
        r = self._wrk(server, seconds)
        backends = sorted(set(backends) | set(self._backends(server)))  # the pool may open more meanwhile
        if r.requests:
            r.cpu_us = (cpu_seconds(process_group(server.proc.pid)) - before) / r.requests * 1e6
            r.db_cpu_us = (cpu_seconds(backends) - db_before) / r.requests * 1e6
        return r

    def _backends(self, server: Server) -> list[int]:
        """PostgreSQL backends serving this Slipway (their application_name is its schema's name)."""
        if not server.database_url or not server.database_url.startswith("postgresql"):
            return []
        name = server.database_url.rsplit("application_name=", 1)[-1]
        engine = self.admin_engine()
        with engine.connect() as conn:
            return list(conn.scalars(text("SELECT pid FROM pg_stat_activity WHERE application_name = :name"),
                                     {"name": name}))

    def admin_engine(self):
        if self._admin is None:
            self._admin = create_engine(os.environ.get("SLIPWAY_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL)
            self.stack.callback(self._admin.dispose)
        return self._admin

    def _wrk(self, server: Server, seconds: float) -> Round:
        self.round_no += 1
        prefix = f"{self.run_id}-{self.round_no}"
        argv = [self.wrk, "-t", str(self.args.threads), "-c", str(self.args.connections), "-d", f"{seconds:g}s",
                "--timeout", "10s", "-s", str(self.lua), server.url, "--", prefix]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
        line = next((ln for ln in out.stdout.splitlines() if ln.startswith("@@ ")), None)
        if out.returncode or line is None:
            raise RuntimeError(f"wrk failed ({out.returncode}): {out.stdout[-2000:]} {out.stderr[-2000:]}")
        data = json.loads(line[3:])
        return Round(server.name, data["requests"], data["duration_us"] / 1e6, data["p50_us"] / 1e3,
                     data["p99_us"] / 1e3, data["max_us"] / 1e3, data["errors"], data["statuses"])

    def compare(self, database: str, bare: Server, slipways: list[tuple[Server, str]]) -> Comparison:
        """Rounds over every server, forwards then backwards (ABBA, or ABCCBA with a baseline)."""
        result = Comparison(database)
        servers = [bare] + [server for server, _url in slipways]
        for server in servers:
            self.load(server, self.args.warmup_seconds)
        say(f"{database}: warm-up done; {self.args.rounds} rounds of {self.args.seconds:g} s each")
        for rnd in range(self.args.rounds):
            for server in servers if rnd % 2 == 0 else servers[::-1]:
                r = self.load(server, self.args.seconds)
                result.rounds.append(r)
                say(f"{database} round {rnd + 1}/{self.args.rounds} {r.server:8} {r.rps:7.0f} req/s  "
                    f"p50 {r.p50_ms:6.1f} ms  p99 {r.p99_ms:6.1f} ms  CPU/request {r.cpu_us:4.0f} us"
                    + (f" + database {r.db_cpu_us:4.0f} us" if r.db_cpu_us else "") + f"  statuses {r.statuses}"
                    + (f"  errors {r.errors}" if any(r.errors.values()) else ""))
        for server, url in slipways:
            engine = create_engine(url)
            try:
                with engine.connect() as conn:
                    result.recorded[server.name] = conn.scalar(select(func.count()).select_from(text("webhook_deliveries")))
            finally:
                engine.dispose()
        return result


# -- PostgreSQL ---------------------------------------------------------------------------------

def postgres_schema(stack: ExitStack, run_id: str) -> str | None:
    """A schema of the bench's own in the tests' PostgreSQL database, dropped at the end; its URL."""
    url = os.environ.get("SLIPWAY_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL
    admin = create_engine(url)
    try:
        admin.connect().close()
    except Exception:  # noqa: BLE001 - start the tests' cluster once, as scripts/test.sh does
        if url == DEFAULT_POSTGRES_URL and os.geteuid() == 0:
            subprocess.run([str(ROOT / "scripts" / "test_postgres.sh")], capture_output=True, timeout=120)
        try:
            admin.connect().close()
        except Exception as exc:  # noqa: BLE001
            say(f"PostgreSQL at {url.split('@')[-1]} does not answer ({type(exc).__name__}); "
                "run scripts/test_postgres.sh or set SLIPWAY_TEST_POSTGRES_URL. Skipped.")
            admin.dispose()
            return None
    schema = f"bench_ingest_{run_id}"
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))

    def drop() -> None:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()

    stack.callback(drop)
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}&application_name={schema}"


# -- report --------------------------------------------------------------------------------------

def report(comparisons: list[Comparison], args: argparse.Namespace, body_bytes: int) -> str:
    lines = [f"webhook ingestion: signed {body_bytes}-byte push for a branch nobody deploys; gunicorn "
             f"{' '.join(GUNICORN_FLAGS)}; wrk {args.threads} threads x {args.connections} connections; "
             f"{args.rounds} rounds of {args.seconds:g} s each, alternating; {os.cpu_count()} CPUs"]
    if args.baseline:
        lines.append(f"baseline: Slipway from {args.baseline}")
    for c in comparisons:
        by_server: dict[str, list[Round]] = {}
        for r in c.rounds:
            by_server.setdefault(r.server, []).append(r)
        bare = by_server.pop("bare")
        lines.append(f"{c.database} ({len(bare)} rounds)")
        for name, rs in (("bare", bare), *by_server.items()):
            rps = [r.rps for r in rs]
            p99 = [r.p99_ms for r in rs]
            lines.append(f"  {name:8} median {statistics.median(rps):7.0f} req/s (min {min(rps):.0f}, max {max(rps):.0f})"
                         f"   p99 median {statistics.median(p99):6.1f} ms (min {min(p99):.1f}, max {max(p99):.1f})"
                         f"   p50 median {statistics.median(r.p50_ms for r in rs):5.1f} ms"
                         f"   CPU/request median {statistics.median(r.cpu_us + r.db_cpu_us for r in rs):4.0f} us"
                         + (f" (database {statistics.median(r.db_cpu_us for r in rs):.0f})"
                            if any(r.db_cpu_us for r in rs) else ""))
        for name, rs in by_server.items():
            ratios = [s.rps / b.rps for b, s in zip(bare, rs)]
            med = statistics.median(ratios)
            p99 = statistics.median(r.p99_ms for r in rs)
            lines.append(f"  ratio {name}/bare: median {med:.2f} (min {min(ratios):.2f}, max {max(ratios):.2f})"
                         f"   target >= 0.5x: {'met' if med >= 0.5 else 'NOT met'};"
                         f" p99 < 50 ms: {'met' if p99 < 50 else 'NOT met'}")
            # What the throughput ratio would be if CPU were all that limits both (on 2 shared cores
            # it is): bare's CPU per request over Slipway's, its database's included.
            cpu_ratios = [b.cpu_us / (s.cpu_us + s.db_cpu_us) for b, s in zip(bare, rs) if s.cpu_us + s.db_cpu_us]
            if cpu_ratios:
                lines.append(f"  CPU per request bare/{name}: median {statistics.median(cpu_ratios):.2f} "
                             f"(min {min(cpu_ratios):.2f}, max {max(cpu_ratios):.2f})")
            answered: dict[str, int] = {}
            for r in rs:
                for status, n in r.statuses.items():
                    answered[status] = answered.get(status, 0) + n
            lines.append(f"  {name} answers (warm-up excluded): {answered}; delivery rows recorded (warm-up "
                         f"included): {c.recorded.get(name)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/ingest.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds per server (default 5)")
    parser.add_argument("--seconds", type=float, default=5, help="seconds of load per round (default 5)")
    parser.add_argument("--warmup-seconds", type=float, default=2, help="one unmeasured round each first (default 2)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--body-bytes", type=int, default=8192, help="size of the push body (default 8192)")
    parser.add_argument("--databases", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    parser.add_argument("--json", type=Path, help="also write every round to this file")
    parser.add_argument("--gunicorn-flags", help="instead of the Procfile's, for both servers (to try other settings),"
                                                 " e.g. '--workers 4 --threads 4 --timeout 120'")
    parser.add_argument("--baseline", type=Path,
                        help="also run Slipway from this checkout (e.g. `git worktree add --detach /tmp/base main`),"
                             " in the same rounds, as 'baseline'")
    args = parser.parse_args(argv)
    if args.gunicorn_flags:
        GUNICORN_FLAGS[:] = shlex.split(args.gunicorn_flags)
    if args.baseline and not (args.baseline / "web" / "__init__.py").is_file():
        parser.error(f"--baseline {args.baseline}: not a Slipway checkout")
    databases = [d.strip() for d in args.databases.split(",") if d.strip()]
    if unknown := set(databases) - {"sqlite", "postgresql"}:
        parser.error(f"unknown database(s) {sorted(unknown)}: use sqlite and/or postgresql")

    def on_term(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_term)
    comparisons: list[Comparison] = []
    with ExitStack() as stack:
        bench = Bench(args, stack)
        say(f"run {bench.run_id}: temp dir {bench.tmp}; body {len(bench.body)} bytes")
        bare = bench.start_bare()
        for database in databases:
            with ExitStack() as per_db:
                slipways = []
                for label, root in [("slipway", ROOT)] + ([("baseline", args.baseline.resolve())] if args.baseline else []):
                    if database == "sqlite":
                        url = f"sqlite:///{bench.tmp / f'data-{label}-sqlite' / 'slipway.db'}"
                    else:
                        url = postgres_schema(stack, f"{bench.run_id}_{label}")
                        if url is None:
                            break
                    server = bench.start_slipway(database, url, label, root)
                    server.database_url = url
                    per_db.callback(stop_process, server.name, server.proc)
                    slipways.append((server, url))
                else:
                    say(f"{database}: " + ", ".join(f"{s.name} {s.url}" for s in [bare] + [s for s, _ in slipways]))
                    comparisons.append(bench.compare(database, bare, slipways))
        print()
        print(report(comparisons, args, len(bench.body)))
        if args.json:
            args.json.write_text(json.dumps([{"database": c.database, "recorded": c.recorded,
                                              "rounds": [{**r.__dict__, "rps": r.rps} for r in c.rounds]}
                                             for c in comparisons], indent=1))
    return 0


if __name__ == "__main__":
    run_main(main, say)
