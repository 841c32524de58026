"""Fixtures shaped like the app: settings, app, client, a worker, and real services.

The real Redis, Docker Engine and registry are started by scripts/test.sh,
which exports their addresses; every test gets its own database and queue.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from contextlib import ExitStack, contextmanager
from dataclasses import replace

import docker
import pytest
from redis import Redis
from rq import SimpleWorker
from sqlalchemy import create_engine, text
from werkzeug.serving import make_server

from deployer.local import LABEL_PROJECT
from slipway.db import dispose_engines, session_scope
from slipway.migrate import upgrade
from slipway.projects import ProjectSpec, create_project
from slipway.queue import SERIALIZER, get_queue, redis_connection
from slipway.settings import Settings, set_settings
from tests.support.gitrepos import GitServer
from tests.support.payloads import sign
from tests.support.web import sign_in


@pytest.fixture(scope="session")
def base_settings() -> Settings:
    # New projects deploy to Akash by default; tests about something else run on the local target,
    # and those about Akash say so (their own settings start a devnet and offer akash).
    return Settings.load(default_target="local", targets="local")


def pytest_generate_tests(metafunc):
    # Modules marked both_databases run every test on SQLite and on PostgreSQL.
    if "db_backend" in metafunc.fixturenames and metafunc.definition.get_closest_marker("both_databases"):
        metafunc.parametrize("db_backend", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
def db_backend(request) -> str:
    return getattr(request, "param", "sqlite")


@contextmanager
def _postgres_schema():
    """A database URL whose tables live in a schema of this test's own, dropped afterwards.

    Runs that share the database (two developers' suites, CI beside a session) never meet.
    """
    url = os.environ.get("SLIPWAY_TEST_POSTGRES_URL")
    if not url:
        pytest.fail("SLIPWAY_TEST_POSTGRES_URL is not set; run the suite with scripts/test.sh")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in url else "?"
    try:
        yield f"{url}{sep}options=-csearch_path%3D{schema}"
    finally:
        dispose_engines()
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture
def settings(base_settings: Settings, tmp_path, db_backend: str) -> Settings:
    with ExitStack() as stack:
        if db_backend == "postgresql":
            url = stack.enter_context(_postgres_schema())
        else:
            url = f"sqlite:///{tmp_path / 'slipway.db'}"
        # Its own data dir too: work dirs and git remotes of one test never meet another's.
        s = replace(base_settings, data_dir=str(tmp_path / "data"), database_url=url,
                    queue_name=f"test-{uuid.uuid4().hex[:8]}",
                    github_webhook_secret="test-webhook-secret-123", admin_password="test-admin-password-123")
        set_settings(s)
        upgrade(s)
        yield s
        set_settings(None)
        dispose_engines()


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
    from web import create_app

    app = create_app(settings)
    app.config["TESTING"] = True
    return app


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
