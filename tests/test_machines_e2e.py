"""Slipway on several machines, played on one.

A web server (serving the built-in git remote), two real workers started with the Procfile's
worker line, each with a data dir of its own and in a mount namespace where the web server's
data dir is an empty tmpfs (so nothing can be read from its disk), PostgreSQL and one Redis.
The workers build on one Docker Engine socket and run apps on another (two relays in front of
the test Engine that record what each is asked). Twenty `git push`es over HTTP to four projects.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import docker
import pytest
import requests
from rq import Queue, Worker
from rq.job import Job as RqJob
from sqlalchemy import func, select

from deployer.local import LABEL_PROJECT
from slipway.db import session_scope
from slipway.git_remote import ensure_repository, issue_push_token, repository_path
from slipway.models import BuildLog, Deployment, Project
from slipway.projects import ProjectSpec, create_project
from slipway.queue import SERIALIZER, job_id_for
from tests.support.gitrepos import Checkout
from tests.support.pipeline import dockerfile

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[1]
PROJECTS = 4
ROUNDS = 5
# Only a guard against a hang: the deployments normally settle in well under a minute.
SETTLE_GUARD_S = 300
_REQUEST_LINE = re.compile(rb"(?:GET|HEAD|POST|PUT|DELETE) (/[^ \r\n]*) HTTP/1\.[01]\r\n")


class EngineRelay:
    """A Unix socket in front of the Docker Engine's that records every request path: one Engine
    as a worker sees it, so that builds and runs can be told apart."""

    def __init__(self, path: Path, engine_socket: str):
        self.path = path
        self.url = f"unix://{path}"
        self._engine = engine_socket
        self.paths: list[str] = []
        self._lock = threading.Lock()
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(str(path))
        self._sock.listen(64)
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._sock.close()

    def asked(self, pattern: str) -> int:
        with self._lock:
            return sum(1 for p in self.paths if re.match(rf"/v[\d.]+{pattern}", p))

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(self._engine)
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, record: bool) -> None:
        tail = b""
        try:
            while data := src.recv(65536):
                if record:
                    window = tail + data
                    found = [m.group(1).decode() for m in _REQUEST_LINE.finditer(window) if m.end() > len(tail)]
                    with self._lock:
                        self.paths.extend(found)
                    tail = window[-512:]
                dst.sendall(data)
        except OSError:
            pass
        finally:
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass


def procfile_worker(queue_name: str) -> list[str]:
    """The Procfile's worker line, as a process manager would run it for ``queue_name``."""
    (line,) = [ln for ln in (ROOT / "Procfile").read_text().splitlines() if ln.startswith("worker:")]
    command = line.removeprefix("worker:").replace("${SLIPWAY_QUEUE:-slipway}", queue_name)
    return shlex.split(command)


@pytest.fixture
def web(server):
    """The web server the workers fetch from (conftest's ``server``, under this test's name)."""
    return server


@pytest.fixture
def engines(settings):
    """(build, run): two relays to the test Docker Engine, in a short dir (socket paths are short)."""
    short = Path(tempfile.mkdtemp(prefix="slw-eng-", dir="/tmp"))
    engine = settings.docker_host.removeprefix("unix://")
    build, run = EngineRelay(short / "build.sock", engine), EngineRelay(short / "run.sock", engine)
    yield build, run
    build.close()
    run.close()
    shutil.rmtree(short, ignore_errors=True)


@pytest.fixture
def workers(settings, web, engines, tmp_path, redis):
    """Two workers, each on a machine of its own as far as disks go; their names."""
    build, run = engines
    web_data = Path(settings.data_dir)
    web_data.mkdir(parents=True, exist_ok=True)
    bin_dir = str(Path(sys.executable).parent)
    procs = []
    for n in (1, 2):
        data_dir = tmp_path / f"worker{n}"
        data_dir.mkdir()
        env = {
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "HOME": str(data_dir),
            "PYTHONPATH": str(ROOT),
            # What a worker machine is given: the shared services, the keys, and where things are.
            "SLIPWAY_DATA_DIR": str(data_dir),
            "DATABASE_URL": settings.database_url,
            "REDIS_URL": settings.redis_url,
            "SLIPWAY_REDIS_PASSWORD": settings.redis_password,
            "SLIPWAY_QUEUE": settings.queue_name,
            "SLIPWAY_SECRET_KEY": settings.secret_key,
            "SLIPWAY_REGISTRY": settings.registry,
            "SLIPWAY_REGISTRY_USERNAME": settings.registry_username,
            "SLIPWAY_REGISTRY_PASSWORD": settings.registry_password,
            "SLIPWAY_BUILD_DOCKER_HOST": build.url,
            "SLIPWAY_DOCKER_HOST": run.url,
            "SLIPWAY_INTERNAL_URL": web,
            "SLIPWAY_PUBLIC_URL": web,
            # The registry's garbage collection restarts the suite's registry: not here.
            "SLIPWAY_REGISTRY_GC_EVERY": "0",
            # Apps are reached at their own ports here (the suite runs with SLIPWAY_PROXY=none).
            "SLIPWAY_PROXY": settings.proxy,
        }
        # The web server's data dir (its git repositories) is an empty tmpfs for the worker.
        hide = ["unshare", "--mount", "sh", "-c", 'mount -t tmpfs slipway-elsewhere "$0" && exec "$@"', str(web_data)]
        log = open(tmp_path / f"worker{n}.log", "wb")  # noqa: SIM115 - closed below
        procs.append((subprocess.Popen([*hide, *procfile_worker(settings.queue_name)], cwd=data_dir, env=env,
                                       stdout=log, stderr=subprocess.STDOUT, start_new_session=True), log))
    queue = Queue(settings.queue_name, connection=redis, serializer=SERIALIZER)
    try:
        deadline = time.monotonic() + 120
        while len(Worker.all(queue=queue)) < 2:
            for proc, _ in procs:
                assert proc.poll() is None, worker_logs(tmp_path)
            assert time.monotonic() < deadline, worker_logs(tmp_path)
            time.sleep(0.2)
        yield [w.name for w in Worker.all(queue=queue)]
    finally:
        for proc, log in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc, log in procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()


def worker_logs(tmp_path: Path) -> str:
    return "\n".join(f"--- worker{n} ---\n" + (tmp_path / f"worker{n}.log").read_text(errors="replace")[-4000:]
                     for n in (1, 2) if (tmp_path / f"worker{n}.log").exists())


def git_push_project(settings, name: str) -> str:
    """`slipway project create NAME --git-push` and `slipway project token NAME`; returns the token."""
    with session_scope(settings) as s:
        project = create_project(s, ProjectSpec(name=name, repo_url=str(repository_path(settings, name))))
        ensure_repository(settings, name, project.branch)
        return issue_push_token(project, settings)


def states(settings, names: list[str]) -> dict[str, list[Deployment]]:
    with session_scope(settings) as s:
        rows = s.scalars(select(Deployment).join(Project).where(Project.name.in_(names)).order_by(Deployment.id))
        out: dict[str, list[Deployment]] = {name: [] for name in names}
        for dep in rows:
            out[dep.project.name].append(dep)
        s.expunge_all()
        return out


def wait_until_final(settings, names: list[str], count: int, tmp_path: Path) -> dict[str, list[Deployment]]:
    deadline = time.monotonic() + SETTLE_GUARD_S
    while True:
        now = states(settings, names)
        deps = [d for ds in now.values() for d in ds]
        if len(deps) == count and all(d.state_enum.final for d in deps):
            return now
        assert time.monotonic() < deadline, \
            f"{[(d.id, d.state) for d in deps]}\n{worker_logs(tmp_path)}"
        time.sleep(0.5)


@pytest.mark.parametrize("db_backend", ["postgresql"], indirect=True)
def test_twenty_pushes_to_four_projects_on_two_workers_each_build_once_and_the_newest_goes_live(
        settings, db_backend, web, engines, workers, redis, tmp_path):
    build_engine, run_engine = engines
    run_id = uuid.uuid4().hex[:6]
    names = [f"m{run_id}-{i}" for i in range(PROJECTS)]
    tokens = {name: git_push_project(settings, name) for name in names}
    checkouts = {name: Checkout(tmp_path / "dev" / name) for name in names}
    host = web.removeprefix("http://")

    def push(name: str, version: int) -> str:
        checkouts[name].commit({"Dockerfile": dockerfile(settings.registry),
                                "www/index.html": f"{name} v{version}\n"}, message=f"v{version}")
        out = checkouts[name].git("push", f"http://dev:{tokens[name]}@{host}/git/{name}.git", "main")
        assert "queued" in out.stderr, out.stderr
        return checkouts[name].git("rev-parse", "HEAD").stdout.strip()

    try:
        # Two rounds, then let them settle (so that live versions get superseded, not only queued
        # ones cancelled), then three rounds in quick succession while the workers are busy.
        for version in (1, 2):
            for name in names:
                push(name, version)
        wait_until_final(settings, names, 2 * PROJECTS, tmp_path)
        newest = {}
        for version in range(3, ROUNDS + 1):
            for name in names:
                newest[name] = push(name, version)
        final = wait_until_final(settings, names, ROUNDS * PROJECTS, tmp_path)

        with session_scope(settings) as s:
            building = dict(s.execute(
                select(BuildLog.deployment_id, func.count()).where(BuildLog.line == "== building")
                .group_by(BuildLog.deployment_id)).all())
            fetches = list(s.scalars(select(BuildLog.line).where(BuildLog.line.like("$ git fetch%"))))
        for name, deps in final.items():
            *older, last = deps
            assert len(deps) == ROUNDS
            assert last.sha == newest[name] and last.state == "live", (last.error_message, worker_logs(tmp_path))
            assert requests.get(last.url, timeout=10).text == f"{name} v{ROUNDS}\n"
            assert {d.state for d in older} <= {"superseded", "cancelled"}, [(d.id, d.state, d.error_message)
                                                                            for d in older]
            # The second round went live and was replaced by the newest.
            assert older[1].state == "superseded"
        # Each deployment built at most once, and every build was one request to the build Engine.
        assert set(building.values()) == {1}
        assert build_engine.asked("/build") == len(building)
        assert run_engine.asked("/build") == 0 and build_engine.asked("/containers/create") == 0
        assert run_engine.asked("/containers/create") >= PROJECTS * 2
        # Fetched over the web server's git remote, whose disk the workers could not see.
        assert fetches and all(f" {web}/git/" in line for line in fetches), fetches
        assert not any("slwfetch" in line for line in fetches)
        # Both workers took deployments.
        ran_on = {RqJob.fetch(job_id_for(d.id, settings), connection=redis, serializer=SERIALIZER).worker_name
                  for deps in final.values() for d in deps}
        assert ran_on == set(workers)
    finally:
        client = docker.DockerClient(base_url=settings.docker_host)
        for name in names:
            for c in client.containers.list(all=True, filters={"label": f"{LABEL_PROJECT}={name}"}):
                c.remove(force=True)
        client.close()
