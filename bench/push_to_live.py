"""Push to live: Slipway against a plain shell pipeline, same machine, same run.

Run through ``bench/push_to_live`` (it sets up the environment and the services).

For each round, and for a *cold* commit (the RUN layer is not cached) and a *warm* one (only the
COPYed page changes), it times:

* **Slipway**: from the signed push webhook POST to a real web server (gunicorn, as the Procfile
  runs it) until the new version answers HTTP at the URL its live log announces, with a real
  ``rq worker`` (as the Procfile runs it) already listening.
* **plain**: ``git clone --depth 1`` + ``docker build`` + ``docker push`` + ``docker pull`` +
  ``docker run`` + wait for HTTP, as a bash script with the docker CLI.

Both pipelines fetch from the same git smart-HTTP server, build on the same Docker Engine and push
to the same registry. Each has its own repository and image name, and its own cache-busting token
in the Dockerfile, so neither ever reuses a layer the other built (the classic builder's cache is
keyed by content, not by image name). The order within a round alternates (ABBA) so drift on a
shared machine falls on both sides evenly. Every wait is bounded; everything started is stopped.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import docker  # noqa: E402
import requests  # noqa: E402
from redis import Redis  # noqa: E402
from werkzeug.serving import WSGIRequestHandler, make_server  # noqa: E402

from slipway.git_remote.smart_http import GitHttpBackend  # noqa: E402
from bench.common import free_port, procfile_gunicorn, rq_time, run_main, sign  # noqa: E402
from slipway.settings import Settings  # noqa: E402

VENV_BIN = ROOT / ".venv" / "bin"
LABEL_BENCH = "slipway.bench"

PLAIN_SCRIPT = r"""
set -euo pipefail
# Every output line gets a timestamp ($EPOCHREALTIME: no fork) for the phase breakdown.
stamp() { while IFS= read -r line; do printf '%s %s\n' "$EPOCHREALTIME" "$line"; done; }
mark() { printf '%s @@ %s\n' "$EPOCHREALTIME" "$1"; }
mark clone
git clone --quiet --depth 1 --no-tags --branch main "$REPO_URL" "$CHECKOUT" 2>&1 | stamp
mark build
DOCKER_BUILDKIT=0 docker build --network host -t "$TAG" "$CHECKOUT" 2>&1 | stamp
mark push
docker push "$TAG" 2>&1 | stamp
mark pull
docker pull "$TAG" 2>&1 | stamp
mark run
docker run -d --network host -e PORT="$PORT" -e HOST=127.0.0.1 --name "$NAME" --label "$LABEL" "$TAG" 2>&1 | stamp
mark started
"""


# -- small helpers -----------------------------------------------------------------------------


def wait_until(what: str, check, timeout: float, interval: float = 0.05):
    """Call ``check`` until it returns something truthy; TimeoutError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except (requests.RequestException, OSError) as exc:
            last_exc = exc
        time.sleep(interval)
    raise TimeoutError(f"{what}: nothing after {timeout:.0f} s" + (f" (last error: {last_exc})" if last_exc else ""))


def answers(url: str, expect: str) -> bool:
    resp = requests.get(url, timeout=2, allow_redirects=False)
    if resp.status_code == 200 and expect not in resp.text:
        raise RuntimeError(f"{url} answers with an older page: {resp.text[:80]!r}, expected {expect!r}")
    return resp.status_code == 200


# -- the source repositories -------------------------------------------------------------------

class QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:
        pass


class GitServer:
    """Bare repositories served over git smart HTTP on loopback, as GitHub would serve them."""

    def __init__(self, root: Path):
        self.root = root
        self._server = make_server("127.0.0.1", 0, GitHttpBackend(root), threaded=True,
                                   request_handler=QuietHandler)
        self.base_url = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, name="git-http", daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def create(self, name: str) -> "SourceRepo":
        bare = self.root / f"{name}.git"
        work = self.root / "work" / name
        git("init", "-q", "--bare", "--initial-branch=main", str(bare))
        git("init", "-q", "--initial-branch=main", str(work))
        git("-C", str(work), "remote", "add", "origin", str(bare))
        return SourceRepo(name, f"{self.base_url}/{name}.git", work)


def git(*args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
           "GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "bench@example.com"}
    return subprocess.run(["git", *args], env=env, check=True, capture_output=True, text=True, timeout=60).stdout


@dataclass
class SourceRepo:
    name: str
    url: str
    work: Path

    def commit(self, files: dict[str, str], message: str) -> str:
        for path, content in files.items():
            target = self.work / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
        git("-C", str(self.work), "add", "-A")
        git("-C", str(self.work), "commit", "-q", "-m", message)
        git("-C", str(self.work), "push", "-q", "--force", "origin", "HEAD:refs/heads/main")
        return git("-C", str(self.work), "rev-parse", "HEAD").strip()


def dockerfile(registry: str, seed: str) -> str:
    # The RUN line carries the seed: a new seed is a cold build of every layer above the base.
    return (
        f"FROM {registry}/base/busybox:latest\n"
        f'RUN echo "{seed}" > /etc/bench-seed && dd if=/dev/zero bs=1M count=64 2>/dev/null | sha256sum > /etc/bench-work\n'
        "COPY www /www\n"
        'CMD ["sh", "-c", "exec busybox httpd -f -p \\"$PORT\\" -h /www"]\n'
    )


# -- one measured run --------------------------------------------------------------------------

@dataclass
class Run:
    pipeline: str  # "slipway" or "plain"
    kind: str  # "cold" or "warm"
    round: int
    seconds: float
    phases: dict[str, float] = field(default_factory=dict)  # phase name -> seconds


# Lines that start a phase: Slipway's build log (the Redis stream ids are timestamps), and the
# plain script's marks; "Step N/M" lines of the classic builder split the build for both.
SLIPWAY_MARKS = [
    ("fetch (git)", "== cloning"),
    ("build: login, client, context upload", "== building"),
    ("push", "== pushing"),
    ("deploy: docker client", "== deploying"),
    ("deploy: pull + create + start", "pulling "),
    ("deploy: health wait", "started container"),
    ("deploy: retire old + commit live", "answers; retiring"),
    ("live -> URL seen by the bench", "== live at"),
]
# Slipway's phases with no counterpart in the plain pipeline: its own overhead, measured directly.
SLIPWAY_ONLY = ("webhook: POST -> job enqueued", "queue: enqueued -> job started", "job: started -> first log line",
                "deploy: docker client", "deploy: retire old + commit live", "live -> URL seen by the bench",
                "URL seen -> app answers bench")
PLAIN_MARKS = [
    ("fetch (git)", "@@ clone"),
    ("build: CLI, context upload", "@@ build"),
    ("push", "@@ push"),
    ("deploy: pull", "@@ pull"),
    ("deploy: run", "@@ run"),
]


def phase_of(line: str, marks: list[tuple[str, str]]) -> str | None:
    for name, needle in marks:
        if line.startswith(needle) or (needle.startswith("answers") and needle in line):
            return name
    if line.startswith("Step ") and " : " in line:
        number, _, instruction = line.partition(" : ")
        return f"build: {number.split('/')[0].lower()} {instruction.split()[0]}"
    if line.startswith("Successfully built"):
        return "build: image committed -> tagged"
    return None


def points_of(lines: list[tuple[float, str]], marks: list[tuple[str, str]]) -> list[tuple[str, float]]:
    """(time, line) -> the first (phase, time) of each phase."""
    seen: dict[str, float] = {}
    for t, line in lines:
        name = phase_of(line, marks)
        if name and name not in seen:
            seen[name] = t
    return list(seen.items())


class Bench:
    def __init__(self, args: argparse.Namespace, stack: ExitStack):
        self.args = args
        self.stack = stack
        self.run_id = uuid.uuid4().hex[:6]
        self.project = f"bench-{self.run_id}"
        self.tmp = Path(tempfile.mkdtemp(prefix=f"slipway-bench-{self.run_id}-"))
        stack.callback(shutil.rmtree, self.tmp, True)
        base = Settings.load()
        self.base = base
        self.redis_url = os.environ.get("SLIPWAY_BENCH_REDIS_URL") or base.redis_url
        self.web_port = free_port()
        data_dir = self.tmp / "data"
        data_dir.mkdir()
        self.webhook_secret = secrets.token_urlsafe(24)
        # Everything Slipway reads, in the environment of its web server and worker.
        self.env = {
            **os.environ,
            "SLIPWAY_DATA_DIR": str(data_dir),
            "DATABASE_URL": f"sqlite:///{data_dir / 'slipway.db'}",
            "REDIS_URL": self.redis_url,
            "SLIPWAY_REDIS_PASSWORD": base.redis_password,
            "SLIPWAY_QUEUE": f"bench-{self.run_id}",
            "SLIPWAY_DOCKER_HOST": base.docker_host,
            "SLIPWAY_REGISTRY": base.registry,
            "SLIPWAY_REGISTRY_USERNAME": base.registry_username,
            "SLIPWAY_REGISTRY_PASSWORD": base.registry_password,
            "SLIPWAY_SECRET_KEY": secrets.token_urlsafe(32),
            "SLIPWAY_ADMIN_PASSWORD": secrets.token_urlsafe(24),  # the API, read when a run fails
            "SLIPWAY_GITHUB_WEBHOOK_SECRET": self.webhook_secret,
            "SLIPWAY_BIND": f"127.0.0.1:{self.web_port}",
            "SLIPWAY_PUBLIC_URL": f"http://127.0.0.1:{self.web_port}",
            "PYTHONPATH": str(ROOT),
        }
        self.settings = Settings.load(environ=self.env)
        self.web_url = f"http://127.0.0.1:{self.web_port}"
        self.docker = docker.DockerClient(base_url=base.docker_host, timeout=120)
        stack.callback(self.docker.close)
        self.redis = Redis.from_url(self.redis_url, password=base.redis_password or None)
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {self.settings.admin_password}"
        self.deployment_ids: list[int] = []
        self.plain_containers: list[str] = []
        self.last_slipway_seed = ""
        self.last_plain_seed = ""

    # -- setup ---------------------------------------------------------------------------------
    def start(self) -> None:
        say(f"run {self.run_id}: temp dir {self.tmp}")
        self.docker.ping()
        self.redis.ping()
        self.git = GitServer(self.tmp / "git")
        self.stack.callback(self.git.close)
        self.slipway_repo = self.git.create(self.project)
        self.plain_repo = self.git.create(f"{self.project}-plain")

        # The database and the project, as `slipway init` + `slipway project add` would leave them.
        subprocess.run([str(VENV_BIN / "slipway"), "db", "upgrade"], env=self.env, check=True, timeout=120,
                       capture_output=True)
        from slipway.db import session_scope
        from slipway.projects import ProjectSpec, create_project

        with session_scope(self.settings) as session:
            create_project(session, ProjectSpec(name=self.project, repo_url=self.slipway_repo.url,
                                                github_repo=f"bench/{self.project}"))
        self.stack.callback(self._remove_containers_and_images)
        self.stack.callback(self._forget_redis_keys)

        # The plain pipeline logs in once, to a docker config of its own; the password goes on stdin.
        self.docker_config = self.tmp / "docker-config"
        self.docker_config.mkdir(mode=0o700)
        self.plain_env = {**os.environ, "DOCKER_HOST": self.base.docker_host, "DOCKER_CONFIG": str(self.docker_config)}
        subprocess.run(["docker", "login", "--username", self.base.registry_username, "--password-stdin",
                        self.base.registry], input=self.base.registry_password, text=True, env=self.plain_env,
                       check=True, capture_output=True, timeout=60)

        # The web server and the worker, exactly as the Procfile runs them.
        logs = self.tmp / "logs"
        logs.mkdir()
        flags, app = procfile_gunicorn()
        self.web = self._spawn("web", [str(VENV_BIN / "gunicorn"), "--bind", f"127.0.0.1:{self.web_port}", *flags, app],
                               logs / "web.log")
        self.worker = self._spawn("worker", [str(VENV_BIN / "rq"), "worker", "--config", "slipway.rqconfig",
                                             "--serializer", "json", "--worker-class", "slipway.worker.Worker", "--with-scheduler",
                                             "--path", str(ROOT), self.settings.queue_name],
                                  logs / "worker.log")
        wait_until("web server /healthz", lambda: self.http.get(f"{self.web_url}/healthz", timeout=2).ok, 60)
        from rq import Queue, Worker

        queue = Queue(self.settings.queue_name, connection=self.redis)
        wait_until("rq worker listening", lambda: any(w.state == "idle" for w in Worker.all(queue=queue)), 60)
        say(f"web server {self.web_url} (gunicorn pid {self.web.pid}), rq worker pid {self.worker.pid} "
            f"on queue {self.settings.queue_name}")

    def _spawn(self, name: str, argv: list[str], log_path: Path) -> subprocess.Popen:
        log = open(log_path, "ab")
        self.stack.callback(log.close)
        proc = subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        self.stack.callback(stop_process, name, proc)
        return proc

    # -- the two pipelines ---------------------------------------------------------------------
    def files(self, pipeline: str, kind: str, rnd: int) -> tuple[dict[str, str], str]:
        """The commit for one run: a new seed when cold, the same Dockerfile as last time when warm."""
        page = f"{pipeline} {kind} round {rnd} {uuid.uuid4().hex[:8]}\n"
        files = {"www/index.html": page}
        if kind == "cold":
            seed = f"{pipeline}-{self.run_id}-{rnd}-{uuid.uuid4().hex}"
            files["Dockerfile"] = dockerfile(self.base.registry, seed)
        return files, page.strip()

    def slipway(self, kind: str, rnd: int) -> Run:
        files, expect = self.files("slipway", kind, rnd)
        sha = self.slipway_repo.commit(files, f"{kind} {rnd}")
        body = json.dumps({
            "ref": "refs/heads/main", "before": "0" * 40, "after": sha, "deleted": False,
            "repository": {"full_name": f"bench/{self.project}", "clone_url": self.slipway_repo.url},
            "head_commit": {"id": sha, "message": f"{kind} {rnd}"},
        }).encode()
        headers = {"X-GitHub-Event": "push", "X-GitHub-Delivery": str(uuid.uuid4()),
                   "Content-Type": "application/json", "X-Hub-Signature-256": sign(self.webhook_secret, body)}
        poll = self.args.poll
        timeout = self.args.timeout

        wall0 = time.time()
        t0 = time.monotonic()
        resp = self.http.post(f"{self.web_url}/webhooks/github", data=body, headers=headers, timeout=30)
        t_answered = time.monotonic()
        if resp.status_code != 202:
            raise RuntimeError(f"webhook answered {resp.status_code}: {resp.text[:300]}")
        (dep_id,) = resp.json()["deployments"]
        self.deployment_ids.append(dep_id)

        # Wait on the deployment's live log stream (as the dashboard does): blocking reads cost no CPU,
        # where polling the API every few ms competed with the build's CPU-bound steps on 2 cores.
        url = self._wait_live(dep_id, timeout)
        t_url = time.monotonic()
        wait_until(f"{url} answering", lambda: answers(url, expect), 60, poll)
        t_ok = time.monotonic()
        run = Run("slipway", kind, rnd, t_ok - t0)
        run.phases = self._slipway_phases(dep_id, wall0, t_answered - t0, t_url - t0, t_ok - t0)
        return run

    def _wait_live(self, dep_id: int, timeout: float) -> str:
        """The URL from the log's "== live at" line; raises with the log's tail if it failed."""
        from slipway.buildlog import follow, stream_key

        deadline = time.monotonic() + timeout
        for entry in follow(self.redis, stream_key(dep_id, self.settings.queue_name), block_ms=1000):
            line = entry.get("line") or ""
            if line.startswith("== live at "):
                return line.removeprefix("== live at ").strip()
            if "end" in entry or time.monotonic() > deadline:
                dep = self.http.get(f"{self.web_url}/api/deployments/{dep_id}", timeout=5).json()
                log = self.http.get(f"{self.web_url}/api/deployments/{dep_id}/log", timeout=5).json()
                tail = "\n".join(r["line"] for r in log[-30:])
                raise RuntimeError(f"deployment {dep_id} {dep['state']}: {dep['error']}\n{tail}")
        raise AssertionError("unreachable")

    def _slipway_phases(self, dep_id: int, wall0: float, answered: float, url_seen: float, ok: float) -> dict:
        """Where the time went, from rq's job timestamps and the build log stream's entry ids."""
        from slipway.buildlog import stream_key
        from slipway.queue import job_id_for

        points: list[tuple[str, float]] = [("webhook: POST -> job enqueued", 0.0)]
        job = self.redis.hgetall(f"rq:job:{job_id_for(dep_id, self.settings)}")
        enq, started = rq_time(job.get(b"enqueued_at")), rq_time(job.get(b"started_at"))
        if enq and started:
            points.append(("queue: enqueued -> job started", enq - wall0))
            points.append(("job: started -> first log line", started - wall0))
        lines = []
        for entry_id, fields in self.redis.xrange(stream_key(dep_id, self.settings.queue_name)):
            line = json.loads(fields[b"data"]).get("line")
            if line is not None:
                lines.append((int(entry_id.split(b"-")[0]) / 1000 - wall0, line))
        points += points_of(lines, SLIPWAY_MARKS)
        points.append(("URL seen -> app answers bench", url_seen))
        phases = phases_from(points, ok)
        phases["(info) webhook POST answered after"] = answered
        return phases

    def plain(self, kind: str, rnd: int) -> Run:
        files, expect = self.files("plain", kind, rnd)
        sha = self.plain_repo.commit(files, f"{kind} {rnd}")
        port = free_port()
        name = f"{self.project}-plain-{len(self.plain_containers) + 1}"
        checkout = self.tmp / "plain" / name
        env = {**self.plain_env, "REPO_URL": self.plain_repo.url, "CHECKOUT": str(checkout),
               "TAG": f"{self.base.registry}/{self.project}-plain:{sha[:7]}", "PORT": str(port), "NAME": name,
               "LABEL": f"{LABEL_BENCH}={self.run_id}"}
        log_path = self.tmp / "logs" / f"{name}.log"
        self.plain_containers.append(name)

        wall0 = time.time()
        t0 = time.monotonic()
        with open(log_path, "w+") as log:
            proc = subprocess.run(["bash", "-c", PLAIN_SCRIPT], env=env, stdout=log, stderr=subprocess.STDOUT,
                                  timeout=self.args.timeout)
            log.seek(0)
            output = log.read()
        if proc.returncode != 0:
            raise RuntimeError(f"plain pipeline failed ({proc.returncode}); see {log_path}:\n{output[-2000:]}")
        t_started = time.monotonic()
        wait_until(f"plain container on port {port}", lambda: answers(f"http://127.0.0.1:{port}/", expect), 60,
                   self.args.poll)
        t_ok = time.monotonic()
        lines = []
        for raw in output.splitlines():
            stamp, _, line = raw.partition(" ")
            try:
                lines.append((float(stamp) - wall0, line))
            except ValueError:
                continue
        points = [("bash start", 0.0)] + points_of(lines, PLAIN_MARKS) + [("http wait", t_started - t0)]
        run = Run("plain", kind, rnd, t_ok - t0, phases_from(points, t_ok - t0))
        shutil.rmtree(checkout, ignore_errors=True)
        # Not timed: the plain pipeline's container is not kept (Slipway retires its own old one).
        self._remove_container(name)
        return run

    # -- cleanup -------------------------------------------------------------------------------
    def _remove_container(self, name: str) -> None:
        try:
            self.docker.containers.get(name).remove(force=True)
        except docker.errors.NotFound:
            pass

    def _remove_containers_and_images(self) -> None:
        for flt in ({"label": f"slipway.project={self.project}"}, {"label": f"{LABEL_BENCH}={self.run_id}"}):
            for c in self.docker.containers.list(all=True, filters=flt):
                c.remove(force=True)
        for repo in (f"{self.base.registry}/{self.project}", f"{self.base.registry}/{self.project}-plain"):
            for image in self.docker.images.list(name=repo):
                for tag in image.tags:
                    try:
                        self.docker.images.remove(tag, force=True)
                    except docker.errors.APIError:
                        pass

    def _forget_redis_keys(self) -> None:
        from slipway.buildlog import stream_key
        from slipway.queue import job_id_for

        jobs = [job_id_for(d, self.settings) for d in self.deployment_ids]
        keys = [k for j in jobs for k in (f"rq:job:{j}", f"rq:results:{j}")]
        keys += [stream_key(d, self.settings.queue_name) for d in self.deployment_ids]
        keys += list(self.redis.scan_iter(match=f"rq:*{self.settings.queue_name}*", count=1000))
        if keys:
            self.redis.delete(*keys)
        self.redis.srem("rq:queues", f"rq:queue:{self.settings.queue_name}")


def phases_from(points: list[tuple[str, float]], end: float) -> dict[str, float]:
    """Consecutive time points -> the duration of each phase (a point starts its phase)."""
    points = sorted(points, key=lambda p: p[1])
    out: dict[str, float] = {}
    for (name, t), (_, t_next) in zip(points, points[1:] + [("end", end)]):
        out[name] = out.get(name, 0.0) + max(0.0, t_next - t)
    return out


def stop_process(name: str, proc: subprocess.Popen) -> None:
    """SIGTERM, then (rq's cold shutdown) SIGTERM again, then SIGKILL the process group we created."""
    if proc.poll() is None:
        for sig, wait in ((signal.SIGTERM, 15), (signal.SIGTERM, 10)):
            try:
                os.kill(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # leftovers in its session: rq's work horse, gunicorn workers
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        print(f"push_to_live: {name} (pid {proc.pid}) did not exit", file=sys.stderr)


def say(text: str) -> None:
    print(f"[push_to_live] {text}", file=sys.stderr, flush=True)


# -- report ------------------------------------------------------------------------------------

def report(runs: list[Run]) -> str:
    lines = []
    for kind in ("cold", "warm"):
        s = {r.round: r for r in runs if r.kind == kind and r.pipeline == "slipway"}
        p = {r.round: r for r in runs if r.kind == kind and r.pipeline == "plain"}
        rounds = sorted(set(s) & set(p))
        if not rounds:
            continue
        ratios = [s[i].seconds / p[i].seconds for i in rounds]
        med = statistics.median(ratios)
        lines.append(f"{kind} ({len(rounds)} rounds)")
        lines.append(f"  slipway  median {statistics.median(s[i].seconds for i in rounds):6.2f} s   "
                     f"min {min(s[i].seconds for i in rounds):6.2f}   max {max(s[i].seconds for i in rounds):6.2f}")
        lines.append(f"  plain    median {statistics.median(p[i].seconds for i in rounds):6.2f} s   "
                     f"min {min(p[i].seconds for i in rounds):6.2f}   max {max(p[i].seconds for i in rounds):6.2f}")
        lines.append(f"  ratio slipway/plain: median {med:.3f}  min {min(ratios):.3f}  max {max(ratios):.3f}   "
                     f"overhead {(med - 1) * 100:+.1f}% (min {(min(ratios) - 1) * 100:+.1f}%, "
                     f"max {(max(ratios) - 1) * 100:+.1f}%)  target < +10%: "
                     f"{'met' if med < 1.10 else 'NOT met'}")
        own = [sum(s[i].phases.get(n, 0.0) for n in SLIPWAY_ONLY) for i in rounds]
        plain_med = statistics.median(p[i].seconds for i in rounds)
        lines.append(f"  Slipway-only phases (webhook, queue, job start, retire, live -> seen): median {statistics.median(own):.3f} s"
                     f" = {statistics.median(own) / plain_med * 100:.1f}% of the plain median")
        lines.append("  per round (s): " + "  ".join(f"{s[i].seconds:.2f}/{p[i].seconds:.2f}" for i in rounds))
        for pipeline, by_round in (("slipway", s), ("plain", p)):
            names: list[str] = []
            for i in rounds:
                names += [n for n in by_round[i].phases if n not in names]
            lines.append(f"  {pipeline} phases, median s:")
            for n in names:
                vals = [by_round[i].phases.get(n, 0.0) for i in rounds]
                lines.append(f"    {n:<38} {statistics.median(vals):6.3f}  (min {min(vals):.3f}, max {max(vals):.3f})")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/push_to_live", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured rounds first (default 1)")
    parser.add_argument("--poll", type=float, default=0.02,
                        help="seconds between polls of the API and of the app, both pipelines (default 0.02)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds one run may take (default 300)")
    parser.add_argument("--json", type=Path, help="also write every run, with its phases, to this file")
    args = parser.parse_args(argv)

    def on_term(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_term)
    runs: list[Run] = []
    with ExitStack() as stack:
        bench = Bench(args, stack)
        bench.start()
        for rnd in range(-args.warmup, args.rounds):
            for k, kind in enumerate(("cold", "warm")):
                # ABBA: the order flips between cold and warm and from round to round.
                order = ("slipway", "plain") if (rnd + k) % 2 == 0 else ("plain", "slipway")
                for pipeline in order:
                    run = getattr(bench, pipeline)(kind, rnd)
                    label = "warm-up" if rnd < 0 else f"round {rnd + 1}/{args.rounds}"
                    say(f"{label} {kind:4} {pipeline:7} {run.seconds:6.2f} s")
                    if rnd >= 0:
                        runs.append(run)
        print()
        print(f"push to live: Slipway (webhook POST -> app answers) vs plain clone+build+push+pull+run+wait; "
              f"{args.rounds} rounds, {args.warmup} warm-up, poll {args.poll} s, {os.cpu_count()} CPUs")
        print(report(runs))
        if args.json:
            args.json.write_text(json.dumps([r.__dict__ for r in runs], indent=1))
    return 0


if __name__ == "__main__":
    run_main(main, say)
