"""What a webhook delivery costs the database: few statements, no reconnects, no per-request setup."""

import os
import subprocess
import sys
import threading

import psycopg
import psycopg.sql
import pytest
from sqlalchemy import event, func, select, text

from slipway.crypto import _fernet
from slipway.db import (
    autocommit_engine,
    dispose_engines,
    get_engine,
    held_connection,
    queued_writes,
    session_factory,
    session_scope,
)
from slipway.models import WebhookDelivery
from slipway.projects import ProjectSpec, create_project
from slipway.queue import redis_connection
from tests.support.payloads import push_payload

pytestmark = pytest.mark.both_databases


@pytest.fixture
def project(settings):
    with session_scope() as s:
        create_project(s, ProjectSpec(name="site", repo_url="http://127.0.0.1:1/site.git", github_repo="acme/site"))


@pytest.fixture
def statements(settings, db_backend):
    """Every SQL statement the driver is given while the test runs, through SQLAlchemy or not.

    SQLite's trace shows the transactions sqlite3 opens itself (``BEGIN``); on PostgreSQL a
    ``BEGIN`` is written down where psycopg is about to open one.
    """
    seen: list[str] = []

    def record(sql) -> None:
        seen.append(" ".join(str(sql).split()))

    class RecordingCursor(psycopg.Cursor):
        def execute(self, query, params=None, **kwargs):
            conn = self.connection
            if not conn.autocommit and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
                record("BEGIN")
            record(query.as_string(conn) if isinstance(query, psycopg.sql.Composable) else query)
            return super().execute(query, params, **kwargs)

    def observe(dbapi_conn, _record) -> None:
        if db_backend == "sqlite":
            dbapi_conn.set_trace_callback(record)
        else:
            dbapi_conn.cursor_factory = RecordingCursor

    engines = (get_engine(settings), autocommit_engine(settings))
    for engine in engines:
        engine.dispose()  # every connection from here on is observed
        event.listen(engine, "connect", observe)
    yield seen
    for engine in engines:
        event.remove(engine, "connect", observe)
        engine.dispose()


def test_a_push_nobody_deploys_costs_one_statement_and_no_transaction(project, send_webhook, statements):
    resp = send_webhook("push", push_payload("acme/site", "3" * 40, branch="unused"), delivery="d-1")
    assert resp.status_code == 202, resp.json
    # The delivery is recorded with what happened by the statement that checks that no project
    # deploys the branch, and commits on its own. The App's secret is not read: the configured
    # secret already matched.
    # On PostgreSQL a new connection is first told not to wait for the disk on commit (once).
    recorded = [s for s in statements if s != "SET synchronous_commit TO off"]
    assert len(recorded) == 1 and "BEGIN" not in statements, statements
    assert recorded[0].upper().startswith("INSERT INTO WEBHOOK_DELIVERIES") and "FROM projects" in recorded[0]
    with session_scope() as s:
        delivery = s.scalar(select(WebhookDelivery).where(WebhookDelivery.delivery_id == "d-1"))
        assert delivery.event == "push" and delivery.outcome.startswith("202 no project deploys")
        assert delivery.received_at is not None and delivery.deployment_id is None


def test_a_push_to_a_deployed_branch_still_records_its_delivery_with_its_deployment(project, send_webhook):
    resp = send_webhook("push", push_payload("acme/site", "3" * 40), delivery="d-2")
    assert resp.status_code == 202, resp.json
    with session_scope() as s:
        (delivery,) = s.scalars(select(WebhookDelivery)).all()
        assert delivery.delivery_id == "d-2" and delivery.outcome.startswith("202 queued deployment")
        assert delivery.deployment_id == resp.json["deployments"][0]


def test_a_redelivery_of_a_push_nobody_deploys_is_answered_as_one(project, send_webhook, statements):
    body = push_payload("acme/site", "3" * 40, branch="unused")
    assert send_webhook("push", body, delivery="same").status_code == 202
    again = send_webhook("push", body, delivery="same")
    assert again.status_code == 200 and "already received" in again.json["message"]
    with session_scope() as s:
        assert s.scalar(select(func.count(WebhookDelivery.id))) == 1


def test_a_delivery_signed_with_neither_secret_reads_the_app_and_is_refused(project, send_webhook, statements):
    resp = send_webhook("push", push_payload("acme/site", "3" * 40), secret="not-ours")
    assert resp.status_code == 401
    assert any("github_apps" in s for s in statements)
    with session_scope() as s:
        assert s.scalar(select(func.count(WebhookDelivery.id))) == 0


def test_sessions_share_one_factory_per_database(settings):
    assert session_factory(settings) is session_factory(settings)


def test_the_pool_keeps_a_connection_for_every_web_thread(settings):
    # The Procfile runs 8 threads per worker; past pool_size, returned connections were closed.
    assert get_engine(settings).pool.size() >= 8


def test_the_secrets_key_is_derived_once(settings):
    assert _fernet(settings.secret_key or "k" * 32) is _fernet(settings.secret_key or "k" * 32)


def test_sqlite_commits_without_an_fsync_each(settings, db_backend):
    if db_backend != "sqlite":
        pytest.skip("SQLite only")
    with get_engine(settings).connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL


def test_sqlite_writers_queue_across_processes(settings, db_backend):
    if db_backend != "sqlite":
        pytest.skip("SQLite only: PostgreSQL needs no queue")
    path = settings.database_url.removeprefix("sqlite:///") + ".writers"
    probe = ("import fcntl, sys\n"
             "fd = open(sys.argv[1], 'a')\n"
             "try:\n    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\nexcept BlockingIOError:\n    sys.exit(3)\n")
    with queued_writes(settings):
        held = subprocess.run([sys.executable, "-c", probe, path], timeout=60)
    free = subprocess.run([sys.executable, "-c", probe, path], timeout=60)
    assert (held.returncode, free.returncode) == (3, 0)


def test_sqlite_writers_queue_across_threads(settings, db_backend):
    if db_backend != "sqlite":
        pytest.skip("SQLite only: PostgreSQL needs no queue")
    entered, release = threading.Event(), threading.Event()
    order: list[str] = []

    def first():
        with queued_writes(settings):
            order.append("first in")
            entered.set()
            release.wait(60)
            order.append("first out")

    def second():
        entered.wait(60)
        with queued_writes(settings):
            order.append("second in")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    entered.wait(60)
    release.set()
    for t in threads:
        t.join(60)
    assert order == ["first in", "first out", "second in"]


def test_no_queue_on_postgresql(settings, db_backend):
    if db_backend != "postgresql":
        pytest.skip("PostgreSQL only")
    with queued_writes(settings), queued_writes(settings):  # would deadlock if it locked anything
        pass


def test_a_redelivery_still_stops_at_the_delivery_id(project, send_webhook, statements):
    body = push_payload("acme/site", "3" * 40)
    assert send_webhook("push", body, delivery="same").status_code == 202
    statements.clear()
    again = send_webhook("push", body, delivery="same")
    assert again.status_code == 200 and "already received" in again.json["message"]
    # Its presumption was checked, but the handler never ran: no deployment was read or written.
    assert not any(" deployments" in s for s in statements), statements



def test_the_process_shares_one_redis_client(settings):
    # Queueing a deployment used to open and authenticate new connections for every webhook.
    shared = redis_connection(settings)
    assert redis_connection(settings) is shared
    assert shared.ping()
    assert redis_connection(settings, socket_timeout=5) is not shared


def test_a_request_without_a_cookie_gets_an_empty_session_and_a_signed_one_still_works(app, client):
    from flask import request

    from web.auth import CookieSessions

    assert isinstance(app.session_interface, CookieSessions)
    with app.test_request_context("/webhooks/github", method="POST"):
        opened = app.session_interface.open_session(app, request)
        assert opened is not None and dict(opened) == {} and not opened.modified
    assert client.get("/api/projects").status_code == 200  # the signed-in cookie is read as before


def test_disposing_the_engines_closes_the_writers_lock_file(settings, db_backend):
    if db_backend != "sqlite":
        pytest.skip("SQLite only")
    path = os.path.realpath(settings.database_url.removeprefix("sqlite:///") + ".writers")

    def open_here() -> bool:
        return any(os.path.realpath(f"/proc/self/fd/{fd}") == path for fd in os.listdir("/proc/self/fd")
                   if os.path.exists(f"/proc/self/fd/{fd}"))

    with queued_writes(settings):
        assert open_here()
    dispose_engines()  # as each test's teardown does: a suite must not keep one file per database open
    assert not open_here()


def test_a_webhook_left_to_flask_never_enters_the_rate_limiter(app, project, client, settings):
    # Flask-Limiter keeps per-request state on the request context once any of its hooks runs;
    # only requests that offer the admin password may pay for that. A delivery that carries a
    # cookie (here the signed-in client's) is answered by Flask's view, not by FastWebhooks.
    import json

    from flask.globals import request_ctx

    from tests.support.payloads import sign

    entered = []

    @app.teardown_request
    def look(_exc):  # runs before the limiter's own teardown (Flask runs them last-registered first)
        entered.append(hasattr(request_ctx._get_current_object(), "_limiter_request_context"))

    body = json.dumps(push_payload("acme/site", "3" * 40, branch="unused")).encode()
    resp = client.post("/webhooks/github", data=body, headers={
        "X-GitHub-Event": "push", "X-GitHub-Delivery": "with-a-cookie", "Content-Type": "application/json",
        "X-Hub-Signature-256": sign(settings.github_webhook_secret, body)})
    assert resp.status_code == 202, resp.json
    assert entered == [False]


def test_a_webhook_never_enters_flasks_request_machinery(app, project, send_webhook):
    # Flask's work around each request (contexts, session, routing, hooks such as Flask-Limiter's)
    # cost more CPU than recording the delivery: web/webhooks.py's FastWebhooks answers before it.
    entered = []

    @app.before_request
    def look():
        entered.append("before")

    @app.teardown_request
    def look_after(_exc):
        entered.append("teardown")

    assert send_webhook("push", push_payload("acme/site", "3" * 40, branch="unused")).status_code == 202
    assert entered == []


def test_the_web_app_keeps_what_it_loaded_out_of_full_garbage_collections(app):
    import gc

    # Frozen once per process, when the first app is built: full collections no longer walk it.
    assert gc.get_freeze_count() > 10_000


def test_a_connection_used_a_moment_ago_is_not_pinged_again(project, send_webhook, statements):
    assert send_webhook("push", push_payload("acme/site", "3" * 40, branch="unused")).status_code == 202
    statements.clear()
    # The same pooled connection: pool_pre_ping sent ";" before each use, a round trip per webhook.
    assert send_webhook("push", push_payload("acme/site", "4" * 40, branch="unused")).status_code == 202
    assert len(statements) == 1 and statements[0].upper().startswith("INSERT"), statements


def test_a_connection_idle_too_long_is_pinged_and_replaced_when_the_server_closed_it(settings, db_backend):
    if db_backend != "postgresql":
        pytest.skip("PostgreSQL only: SQLite has no server to close a connection")
    from sqlalchemy import create_engine

    from slipway.db import ping_when_idle

    engine = create_engine(settings.database_url, pool_size=1, max_overflow=0)
    ping_when_idle(engine, idle_seconds=0)
    try:
        with engine.connect() as conn:
            pid = conn.scalar(text("SELECT pg_backend_pid()"))
        with get_engine(settings).begin() as admin:  # as a server restart or an idle timeout would
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with engine.connect() as conn:
            assert conn.scalar(text("SELECT pg_backend_pid()")) != pid
    finally:
        engine.dispose()


def test_deliveries_are_recorded_after_the_server_dropped_the_receivers_connections(project, settings, db_backend):
    if db_backend != "postgresql":
        pytest.skip("PostgreSQL only: SQLite has no server to drop a connection")
    import json

    from tests.support.payloads import sign
    from webhooks.github import receive

    engine = autocommit_engine(settings)
    with engine.connect() as first, engine.connect() as second:  # two connections in the pool
        pids = [c.scalar(text("SELECT pg_backend_pid()")) for c in (first, second)]
    pids.append(held_connection(settings).scalar(text("SELECT pg_backend_pid()")))  # and the thread's own
    with get_engine(settings).begin() as admin:  # as a server restart would
        for pid in pids:
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})

    def deliver(delivery_id: str):
        body = json.dumps(push_payload("acme/site", "3" * 40, branch="unused")).encode()
        return receive(settings, body, {"X-GitHub-Event": "push", "X-GitHub-Delivery": delivery_id,
                                        "X-Hub-Signature-256": sign(settings.github_webhook_secret, body)})

    # The first finds the thread's connection dead and tries once more, on a new one: the pool has
    # started afresh, so the second try does not get one of the other dead connections.
    assert deliver("while-the-server-restarted").status == 202
    assert deliver("after-the-restart").status == 202
    with session_scope() as s:
        assert s.scalar(select(func.count(WebhookDelivery.id))) == 2


def test_a_web_thread_keeps_its_connection_between_deliveries(project, send_webhook, settings):
    engine = autocommit_engine(settings)
    checkouts: list[object] = []
    def checked_out(*_args) -> None:
        checkouts.append(1)

    event.listen(engine, "checkout", checked_out)
    try:
        assert send_webhook("push", push_payload("acme/site", "3" * 40, branch="unused")).status_code == 202
        checkouts.clear()
        # Checking a connection out of the pool and back in cost half as much CPU as the statement.
        assert send_webhook("push", push_payload("acme/site", "4" * 40, branch="unused")).status_code == 202
        assert send_webhook("push", push_payload("acme/site", "5" * 40, branch="unused")).status_code == 202
        assert checkouts == []
    finally:
        event.remove(engine, "checkout", checked_out)


def test_deliveries_that_change_nothing_do_not_wait_for_the_disk_but_deployments_do(project, send_webhook, settings,
                                                                                   db_backend, statements):
    if db_backend != "postgresql":
        pytest.skip("PostgreSQL only: SQLite's commits never wait for the disk (synchronous=NORMAL)")
    assert send_webhook("push", push_payload("acme/site", "3" * 40, branch="unused")).status_code == 202
    assert send_webhook("push", push_payload("acme/site", "4" * 40, branch="unused")).status_code == 202
    assert statements.count("SET synchronous_commit TO off") == 1, statements  # once per connection
    assert held_connection(settings).scalar(text("SHOW synchronous_commit")) == "off"
    # A push that deploys is recorded in the transaction that creates its deployment, which waits.
    assert send_webhook("push", push_payload("acme/site", "5" * 40)).status_code == 202
    with session_scope() as s:
        assert s.scalar(text("SHOW synchronous_commit")) == "on"
