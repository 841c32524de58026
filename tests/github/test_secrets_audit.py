"""The secrets audit: plant known secrets, run a deployment that tries to print them, then look
everywhere a secret could end up. None of them may be found, as is, base64- or URL-encoded, in
upper or lower case.

Planted: an app's environment secret, the registry password, the GitHub App's installation
tokens, an Akash mnemonic. Looked at: Slipway's own log, the build log (database and live
stream), every database row, every Redis key of the instance, the rq job, everything sent to
GitHub, the dashboard's and API's answers, the pushed image's history and config, and the
command lines of every process on the machine while the deployment ran.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import threading
import uuid
from dataclasses import replace
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import select

from slipway import envvars
from slipway.db import session_scope
from slipway.jobs import Pipeline
from slipway.logs import configure
from slipway.models import Deployment, Project
from slipway.queue import redis_connection
from slipway.settings import set_settings
from tests.support.pipeline import everything_stored, log_of, push, site_files
from tests.support.secrets import forms
from tests.support.web import dashboard_app

pytestmark = pytest.mark.docker

MNEMONIC = ("abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon "
            "about")


@pytest.fixture
def github_settings(github_settings):
    """The stand-in's settings (tests/github/conftest.py), plus an Akash wallet."""
    s = replace(github_settings, akash_funding_mnemonic=MNEMONIC)
    set_settings(s)
    return s


@pytest.fixture
def app(github_settings):
    return dashboard_app(github_settings)


class CommandLines:
    """Samples every process's command line on the machine until stopped (what ``ps`` shows)."""

    def __init__(self):
        self.seen: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _run(self):
        while not self._stop.is_set():
            for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
                try:
                    self.seen.add(cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace"))
                except OSError:
                    pass
            self._stop.wait(0.02)


def test_no_planted_secret_is_found_anywhere(github_settings, connected, github_standin, send_webhook,
                                             client, redis, docker_client):
    env_secret = f"AppSecret-{uuid.uuid4().hex}"
    with session_scope() as s:
        project = s.scalar(select(Project).where(Project.name == connected.name))
        envvars.set_vars(s, project, {"STRIPE_KEY": env_secret})

    registry_login = f"{github_settings.registry_username}:{github_settings.registry_password}"
    # The build prints what it can get at: the app's secret and the registry's login, every way.
    printed = [env_secret, env_secret.upper(), env_secret.lower(), quote(env_secret + "&", safe=""),
               base64.b64encode(env_secret.encode()).decode(), base64.b64encode(registry_login.encode()).decode(),
               github_settings.registry_password, github_settings.registry_password.upper()]
    # Each is printed from two halves, so the Dockerfile (and the image's history) holds none whole.
    run = " && ".join(f"printf 'printing %s%s\\n' '{t[:len(t) // 2]}' '{t[len(t) // 2:]}'" for t in printed)

    operator_log = io.StringIO()
    handler = logging.StreamHandler(operator_log)
    logging.getLogger().addHandler(handler)
    configure(github_settings)  # the masked handler Slipway's processes log through ...
    (slipway_handler,) = [h for h in logging.getLogger().handlers if getattr(h, "_slipway", False)]
    handler.filters = slipway_handler.filters  # ... whose filter this copy shares
    try:
        with CommandLines() as ps:
            dep_id, sha = push(send_webhook, connected, site_files(github_settings.registry, "audited\n", run=run))
            Pipeline.from_settings(github_settings).run(dep_id)
    finally:
        logging.getLogger().removeHandler(handler)
    with session_scope() as s:
        dep = s.get(Deployment, dep_id)
        assert dep.state == "live", f"{dep.error_message}\n{log_of(dep_id)}"
        image = dep.image

    tokens = list(github_standin.tokens)
    assert tokens, "the deployment fetched as the installation"
    secrets = {"env secret": env_secret, "registry password": github_settings.registry_password,
               "registry login": registry_login, "mnemonic": MNEMONIC,
               **{f"installation token {i}": t for i, t in enumerate(tokens)},
               **{f"git auth header {i}": f"x-access-token:{t}" for i, t in enumerate(tokens)}}

    conn = redis_connection(github_settings)
    instance_keys = [k for k in conn.scan_iter() if github_settings.queue_name.encode() in k]
    assert instance_keys
    redis_dump = []
    for key in instance_keys:
        kind = conn.type(key)
        value = {b"hash": conn.hgetall, b"string": conn.get, b"list": lambda k: conn.lrange(k, 0, -1),
                 b"stream": conn.xrange, b"zset": lambda k: conn.zrange(k, 0, -1),
                 b"set": conn.smembers}.get(kind, lambda k: b"")(key)
        redis_dump.append(f"{key!r} {value!r}")

    pulled = docker_client.images.get(image)
    pages = {path: client.get(path) for path in (
        "/", f"/projects/{connected.name}", f"/deployments/{dep_id}", "/api/projects",
        f"/api/deployments/{dep_id}", f"/api/deployments/{dep_id}/log", "/deployments/999999", "/nowhere")}
    places = {
        "Slipway's own log": operator_log.getvalue(),
        "build log": log_of(dep_id),
        "database": everything_stored(),
        "Redis (stream, rq job, locks)": "\n".join(redis_dump),
        "sent to GitHub": json.dumps([c.body for c in github_standin.calls]),
        "HTTP answers": "\n".join(r.get_data(as_text=True) + repr(r.headers) for r in pages.values()),
        "image history and config": json.dumps([pulled.history(), pulled.attrs["Config"]]),
        "process command lines": "\n".join(ps.seen),
    }
    assert all(r.status_code < 500 for r in pages.values())
    assert "printing " in places["build log"]  # the build did print
    for where, text in places.items():
        folded = text.lower()
        for name, secret in secrets.items():
            for form in forms(secret):
                assert form.lower() not in folded, f"{name} ({form[:4]}…) found in the {where}"
