"""Fixtures shaped like the app: settings, app, client, a worker, and real services.

The real Redis, Docker Engine and registry are started by scripts/test.sh,
which exports their addresses; every test gets its own database and queue.

The suite runs in two processes at once (pytest-xdist, ``-n 2 --dist loadfile``: each test module
stays in one process, so module and session fixtures are shared within it). Tests in the other
process share the machine's Redis, Docker Engine, registry and PostgreSQL with yours. Rules:
- Keep state your own: the ``settings`` fixture gives a database, data dir and queue name of this
  test; name projects, images, containers and Redis keys after them (``t-<uuid>``, the queue name),
  never a fixed name two tests could both write, and count only what is yours (filter containers by
  your deployment's labels *and* your queue name: deployment ids start at 1 in every database).
- List containers with ``sparse=True`` when you filter by label: a full listing inspects every
  container, and one the other process removes meanwhile fails it with 404.
- Ports: ask for a free one (``free_port``, ``devnet_port``), never a fixed one.
- A test that needs the machine's services to itself (stops the registry, counts registry-wide
  Redis keys, talks to every port on loopback) is marked ``@pytest.mark.serial``: it waits until
  the other process's test ends and the other process waits for it (``pytest_runtest_protocol``).
  A test that loads its routes into the suite's one Caddy is marked ``@pytest.mark.one_proxy``: it
  waits only for the other process's such test (the others use no proxy: SLIPWAY_PROXY=none).
- Expensive set-up shared by a module goes in a module fixture (a devnet, an image), and each test
  then uses wallets, projects and names of its own, and compares before/after rather than assuming
  a fresh chain.
``SLIPWAY_TEST_WORKERS=1 scripts/test.sh`` runs everything in one process.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import threading
import uuid
from dataclasses import replace
from pathlib import Path

import docker
import pytest
from redis import Redis
from rq import SimpleWorker
from werkzeug.serving import make_server

from deployer.local import LABEL_PROJECT
from slipway.db import dispose_engines, session_scope
from slipway.migrate import upgrade
from slipway.projects import ProjectSpec, create_project
from slipway.queue import SERIALIZER, get_queue, redis_connection
from slipway.settings import Settings, set_settings
from tests.support.databases import PostgresSchemas, postgres_url
from tests.support.gitrepos import GitServer
from tests.support.payloads import sign
from tests.support.web import dashboard_app, sign_in


@pytest.fixture(scope="session")
def base_settings() -> Settings:
    # New projects deploy to Akash by default; tests about something else run on the local target,
    # and those about Akash say so (their own settings start a devnet and offer akash).
    # A dead worker is told from a live one after 15 s of silence (it beats every 2 s), and workers
    # reconcile every 3 s: the tests that kill workers wait for that, not for the 30 s and 15 s defaults.
    return Settings.load(default_target="local", targets="local", worker_dead_after="15", reconcile_every="3")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """With pytest-xdist: a test marked ``serial`` runs alone; the others share the machine.

    A readers-writer lock on files in the test instance's run dir, held around a test's whole
    protocol (module fixtures set up by its first test and torn down by its last included): every
    test holds ``share`` shared, a serial one holds it exclusively. The ``gate`` is taken to queue
    for ``share``, so a serial test that waits keeps new tests from starting before it. A test that
    uses the one test Caddy (``one_proxy``) also holds ``proxy`` exclusively, taken first.
    """
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        yield
        return
    exclusive = item.get_closest_marker("serial") is not None
    run = Settings.load().data_path / "run"
    run.mkdir(parents=True, exist_ok=True)
    with open(run / "tests-proxy.lock", "a") as proxy, open(run / "tests-gate.lock", "a") as gate, \
            open(run / "tests-share.lock", "a") as share:
        if item.get_closest_marker("one_proxy") is not None:
            fcntl.flock(proxy, fcntl.LOCK_EX)  # released when the file closes, after the test
        fcntl.flock(gate, fcntl.LOCK_EX)
        try:
            fcntl.flock(share, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        finally:
            fcntl.flock(gate, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(share, fcntl.LOCK_UN)


# The longest modules, started first: under pytest-xdist (``--dist loadfile``, modules handed out in
# collection order) one started last would run alone at the end while the other process idles.
LONGEST_FIRST = ("tests/builder/test_plan_builds.py", "tests/deployer/akash/test_target_devnet.py")


def pytest_collection_modifyitems(session, config, items):
    items.sort(key=lambda item: 0 if item.nodeid.startswith(LONGEST_FIRST) else 1)  # stable: otherwise as collected


def pytest_generate_tests(metafunc):
    # Modules marked both_databases run every test on SQLite and on PostgreSQL.
    if "db_backend" in metafunc.fixturenames and metafunc.definition.get_closest_marker("both_databases"):
        metafunc.parametrize("db_backend", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
def db_backend(request) -> str:
    return getattr(request, "param", "sqlite")


@pytest.fixture(scope="session")
def postgres_schemas(base_settings: Settings):
    schemas = PostgresSchemas(base_settings)
    yield schemas
    dispose_engines()
    schemas.close()


@pytest.fixture(scope="session")
def migrated_sqlite(base_settings: Settings, tmp_path_factory) -> Path:
    """A SQLite database migrated once per test process; each test starts from a copy (0.2 s less each)."""
    path = tmp_path_factory.mktemp("migrated") / "slipway.db"
    upgrade(replace(base_settings, database_url=f"sqlite:///{path}"))
    dispose_engines()  # its last connection closed: the WAL is checkpointed into the file
    return path


@pytest.fixture
def settings(request, base_settings: Settings, tmp_path, db_backend: str) -> Settings:
    """This test's settings: a database of its own, at the newest migration, and a data dir and queue."""
    if db_backend == "postgresql":
        schemas = request.getfixturevalue("postgres_schemas")
        schema = schemas.take()
        url = postgres_url(schema)
    else:
        path = tmp_path / "slipway.db"
        shutil.copyfile(request.getfixturevalue("migrated_sqlite"), path)
        url = f"sqlite:///{path}"
    # Its own data dir too: work dirs and git remotes of one test never meet another's. No registry
    # collection after every Nth live deployment: it stops the registry other tests push to
    # (tests/test_registry_gc.py turns it on, alone).
    s = replace(base_settings, data_dir=str(tmp_path / "data"), database_url=url,
                queue_name=f"test-{uuid.uuid4().hex[:8]}", registry_gc_every="0",
                github_webhook_secret="test-webhook-secret-123", admin_password="test-admin-password-123")
    set_settings(s)
    yield s
    set_settings(None)
    dispose_engines()
    if db_backend == "postgresql":
        schemas.give_back(schema)


@pytest.fixture
def redis(settings: Settings) -> Redis:
    conn = redis_connection(settings)
    try:
        conn.ping()
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"Redis at {settings.redis_url} does not answer ({exc}); run the suite with scripts/test.sh")
    return conn


@pytest.fixture
def queue(settings, redis):
    q = get_queue(settings, redis)
    yield q
    q.empty()


@pytest.fixture
def run_worker(settings, redis, queue):
    """Run every queued job to completion in this process, as an rq worker would."""

    def run() -> None:
        SimpleWorker([queue], connection=redis, serializer=SERIALIZER).work(burst=True)

    return run


@pytest.fixture
def docker_client(settings):
    """The test Docker Engine (scripts/test.sh starts it)."""
    client = docker.DockerClient(base_url=settings.docker_host)
    try:
        client.ping()
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"no Docker Engine at {settings.docker_host} ({exc}); run the suite with scripts/test.sh")
    yield client
    client.close()


@pytest.fixture
def server(app):
    """The app served over real HTTP on a free loopback port; yields its base URL."""
    srv = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()


@pytest.fixture
def app(settings):
    return dashboard_app(settings)


@pytest.fixture
def anonymous(app):
    """A browser that has not signed in."""
    return app.test_client()


@pytest.fixture
def client(app):
    return sign_in(app.test_client())


@pytest.fixture(scope="session")
def git_server(tmp_path_factory):
    server = GitServer(tmp_path_factory.mktemp("git"))
    yield server
    server.close()


@pytest.fixture
def send_webhook(anonymous, settings):
    """POST a signed GitHub event, without cookies as GitHub sends it; returns the response."""

    def send(event: str, payload: dict | bytes, delivery: str | None = None, secret: str | None = None,
             signature: str | None = None, content_type: str = "application/json"):
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        headers = {
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
            "Content-Type": content_type,
        }
        sig = signature if signature is not None else sign(secret or settings.github_webhook_secret, body)
        if sig:
            headers["X-Hub-Signature-256"] = sig
        resp = anonymous.post("/webhooks/github", data=body, headers=headers)
        resp.get_data()
        resp.close()  # as a WSGI server does once the answer is sent (runs call_on_close work)
        return resp

    return send


@pytest.fixture
def site(settings, git_server, docker_client):
    """A project connected to a repository served over smart HTTP; its containers are removed after."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    repo = git_server.create(name)
    with session_scope() as s:
        create_project(s, ProjectSpec(name=name, repo_url=repo.url, github_repo=f"acme/{name}"))
    yield repo
    for c in docker_client.containers.list(all=True, filters={"label": f"{LABEL_PROJECT}={name}"}):
        c.remove(force=True)
