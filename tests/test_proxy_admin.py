"""The proxy's admin API is Slipway's alone. Builds and apps share the host's network, so a build
step or a running app that can reach Caddy's admin API can load its own configuration and take every
project's traffic. Both try every way there: the admin API's old TCP address, the proxy's own ports
and the admin socket's path. No route may change."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deployer.local import LABEL_DEPLOYMENT, LABEL_PROJECT
from slipway.proxy import addresses
from tests.support.pipeline import deploy, dockerfile, log_of, site_files
from tests.support.proxy import get, through_proxy

# One Caddy serves the whole test run and each test loads its own routes into it: one such test at a time.
pytestmark = [pytest.mark.docker, pytest.mark.one_proxy]


@pytest.fixture
def proxied(settings, send_webhook):
    return through_proxy(settings)


def admin_candidates(settings) -> list[int]:
    """This instance's TCP ports an admin API could be on: where it was before it moved to a socket
    (the HTTP port - 6100 in scripts/test.sh) and the proxy's own listeners. Only this instance's:
    other Caddys on this machine are not ours to reconfigure."""
    port = int(settings.proxy_http.rsplit(":", 1)[1])
    own = [settings.proxy_http, settings.proxy_https, settings.proxy_router, settings.proxy_admin]
    return sorted({port - 6100, *(int(a.rsplit(":", 1)[1]) for a in own if not a.startswith("unix:"))})


def attack(settings, base_settings) -> str:
    """Shell (busybox) that asks each candidate port's admin API to load a configuration without routes,
    keeping the admin API where it was (``/load`` answers 200 with no body), and looks for the socket."""
    posts = []
    for port in admin_candidates(settings):
        body = json.dumps({"admin": {"listen": f"127.0.0.1:{port}"}}, separators=(",", ":"))
        request = (f"POST /load HTTP/1.0\\r\\nHost: 127.0.0.1:{port}\\r\\nContent-Type: application/json\\r\\n"
                   f"Content-Length: {len(body)}\\r\\n\\r\\n{body}")
        posts.append(f"echo \"port {port}: $(printf '{request}' | busybox nc -w 2 127.0.0.1 {port} 2>/dev/null"
                     " | head -n 1)\"")
    # The instance's data dir (Caddy's storage, its CA's key), its run dir, and the socket.
    run = Path(base_settings.data_dir) / "run"
    paths = [base_settings.data_dir, run, run / "caddy-admin.sock", settings.data_dir]
    if settings.proxy_admin.startswith("unix://"):
        paths.append(settings.proxy_admin.removeprefix("unix://"))
    looks = " ".join(f"[ -e {path} ] && echo ADMIN-SOCKET-''VISIBLE {path};" for path in paths)
    return "; ".join(posts) + f"; {looks} echo ATTACK-''DONE"


def test_a_build_step_cannot_reach_the_proxys_admin_api(proxied, base_settings, site, send_webhook, run_worker):
    at = addresses(proxied)
    production = at.url(at.production_host(site.name))
    v1 = deploy(send_webhook, run_worker, site, site_files(proxied.registry, "v1"))
    assert v1.state == "live", log_of(v1.id)
    assert get(production).text == "v1"

    # The build fails after its attack, so nothing loads the routes again before they are checked.
    hostile = deploy(send_webhook, run_worker, site, {
        "Dockerfile": dockerfile(proxied.registry, run=attack(proxied, base_settings) + "; false"),
        "www/index.html": "pwned",
    })
    log = log_of(hostile.id)
    assert hostile.state == "failed" and "ATTACK-DONE" in log, log
    assert "ADMIN-SOCKET-VISIBLE" not in log
    assert get(production).text == "v1", log
    assert get(v1.url).text == "v1"


def test_a_running_app_cannot_reach_the_proxys_admin_api(proxied, base_settings, site, send_webhook, run_worker,
                                                         docker_client):
    at = addresses(proxied)
    production = at.url(at.production_host(site.name))
    v1 = deploy(send_webhook, run_worker, site, site_files(proxied.registry, "v1"))
    assert v1.state == "live", log_of(v1.id)
    # This test's project and deployment (ids start at 1 in every test's database).
    (container,) = docker_client.containers.list(filters={"label": [f"{LABEL_PROJECT}={site.name}",
                                                                     f"{LABEL_DEPLOYMENT}={v1.id}"]})

    # What the app's own code could do, run in its container while it is live.
    output = container.exec_run(["sh", "-c", attack(proxied, base_settings)]).output.decode()
    assert "ATTACK-DONE" in output, output
    assert "ADMIN-SOCKET-VISIBLE" not in output
    assert get(production).text == "v1", output
    assert get(v1.url).text == "v1"
