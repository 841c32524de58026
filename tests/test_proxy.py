"""Caddy in front of every app, on the real Caddy the suite starts: production, preview and
per-deployment URLs, switches that drop no request, rollback, project deletion, custom domains."""

from __future__ import annotations

import threading
from collections import Counter
from urllib.parse import urlsplit

import time

import pytest
import requests
from click.testing import CliRunner
from sqlalchemy import select

from deployer.caddy import CaddyProxy, RouteTable
from slipway.cli import main
from slipway.db import session_scope
from slipway.deployments import EarlierImage, request_deployment
from slipway.github.previews import remove_preview
from slipway.models import Deployment, PullRequestPreview
from slipway.proxy import addresses
from slipway.reconcile import Reconciler
from slipway.targets import targets_from_settings
from tests.support.pipeline import deploy, log_of, site_files
from tests.support.proxy import caddy_root_ca, get, https_get, through_proxy

# One Caddy serves the whole test run and each test loads its own routes into it: one such test at a time.
pytestmark = [pytest.mark.docker, pytest.mark.one_proxy]


@pytest.fixture
def proxied(settings, app, server, send_webhook):
    # After the app (create_app sets the process's settings): the worker's jobs read these. Names no
    # route serves (a replaced deployment's) go to this test's web app, which wakes them (slipway.wake).
    s = through_proxy(settings, bind=f"127.0.0.1:{urlsplit(server).port}")
    app.config["SLIPWAY_SETTINGS"] = s
    return s


def urls(s, project: str) -> tuple[str, str]:
    at = addresses(s)
    return at.url(at.production_host(project)), at.url(at.preview_host(project, 7))


def test_production_preview_and_each_deployment_answer_with_their_version_until_the_project_goes(
        proxied, site, send_webhook, run_worker):
    production, preview = urls(proxied, site.name)
    v1 = deploy(send_webhook, run_worker, site, site_files(proxied.registry, "v1"))
    assert v1.state == "live", log_of(v1.id)
    port = proxied.proxy_http.rsplit(":", 1)[1]
    assert v1.url == f"http://d{v1.id}--{site.name}.localhost:{port}"
    assert v1.slot_url == production == f"http://{site.name}.localhost:{port}"
    assert get(production).text == get(v1.url).text == "v1"

    v2 = deploy(send_webhook, run_worker, site, site_files(proxied.registry, "v2"))
    assert v2.state == "live", log_of(v2.id)
    assert get(production).text == get(v2.url).text == "v2"
    # The replaced version drained and stopped: its own URL starts it again on demand (test_proxy_wake.py).
    replaced = get(v1.url)
    assert (replaced.status_code, replaced.headers["Retry-After"]) == (503, "2"), replaced.text
    assert log_of(v2.id).index(f"{production} now goes to this version") < log_of(v2.id).index("stopping previous")

    # v1's image as pull request 7's preview: its own URL, production untouched.
    request_deployment(site.name, EarlierImage(v1.id), "test", pr_number=7)
    run_worker()
    with session_scope() as s:
        pr = s.scalars(select(Deployment).where(Deployment.pr_number == 7)).one()
        assert pr.state == "live", log_of(pr.id)
        assert pr.slot_url == preview
        pr_url = pr.url
    assert get(preview).text == get(pr_url).text == "v1"
    assert get(production).text == "v2"

    # The pull request closes: its preview's routes go with its container.
    with session_scope() as s:
        project_id = s.scalars(select(Deployment.project_id).where(Deployment.id == v2.id)).one()
        s.add(PullRequestPreview(project_id=project_id, pr_number=7, head_sha="a" * 40, head_repo="acme/x",
                                 state="closed"))
    assert remove_preview(proxied, project_id, 7, targets_from_settings(proxied), []) is True
    assert get(preview).status_code == 404
    assert get(pr_url).status_code == 503  # its own URL wakes it while its image is kept
    assert get(production).text == "v2"

    result = CliRunner().invoke(main, ["project", "delete", site.name, "--yes"])
    assert result.exit_code == 0, result.output
    gone = get(production)
    assert (gone.status_code, gone.text) == (404, "No app answers at this address.\n")
    for url in (v1.url, v2.url):
        gone = get(url)
        assert (gone.status_code, gone.text) == (404, "No deployment answers at this address.\n")


def test_switches_and_a_rollback_drop_no_request(proxied, site, send_webhook, run_worker):
    production, _ = urls(proxied, site.name)
    v1 = deploy(send_webhook, run_worker, site, site_files(proxied.registry, "v1"))
    assert v1.state == "live", log_of(v1.id)

    seen: Counter = Counter()
    failures: list[str] = []
    stop = threading.Event()

    def load(session: requests.Session, close: bool) -> None:
        while not stop.is_set():
            try:
                answer = get(production, session, close=close)
                if answer.status_code == 200:
                    seen[answer.text] += 1
                else:
                    failures.append(f"{'fresh' if close else 'kept'}: {answer.status_code} {answer.text[:80]}")
            except requests.RequestException as exc:
                failures.append(f"{'fresh' if close else 'kept'}: {exc!r}")

    # A new connection for every request, and kept-alive connections as browsers keep them; no retries:
    # any refusal, reset or 502 counts. (Slipway's routes live in the router Caddy, reloaded at each
    # switch; clients connect to the front, which is never reloaded and sends again a GET the
    # router's reload cut off: deployer/caddy.py.)
    fresh, kept = requests.Session(), requests.Session()
    loaders = [threading.Thread(target=load, args=(fresh, True), daemon=True),
               threading.Thread(target=load, args=(kept, False), daemon=True)]
    for loader in loaders:
        loader.start()
    try:
        versions = [deploy(send_webhook, run_worker, site, site_files(proxied.registry, f"v{n}")) for n in (2, 3, 4)]
        assert [v.state for v in versions] == ["live"] * 3, [log_of(v.id) for v in versions]
        result = CliRunner().invoke(main, ["rollback", site.name])
        assert result.exit_code == 0, result.output
        run_worker()
        assert get(production).text == "v3"  # the rollback moved production back
    finally:
        stop.set()
        for loader in loaders:
            loader.join(timeout=10)
    assert failures == [], seen
    assert {"v1", "v2", "v3", "v4"} <= set(seen)


def test_a_local_custom_domain_is_served_over_https_by_caddys_internal_ca(proxied, base_settings, site,
                                                                         send_webhook, run_worker):
    domain = f"{site.name}.test"
    v1 = deploy(send_webhook, run_worker, site, site_files(proxied.registry, "shop"))
    assert v1.state == "live", log_of(v1.id)
    result = CliRunner().invoke(main, ["domain", "add", site.name, domain])
    assert result.exit_code == 0, result.output
    assert f"https://{domain}" in result.output
    https_port = int(proxied.proxy_https.rsplit(":", 1)[1])
    answer, cert = https_get(domain, https_port, caddy_root_ca(base_settings))
    assert answer.startswith("HTTP/1.1 200") and answer.endswith("shop")
    assert ("commonName", "Caddy Local Authority - ECC Intermediate") in [n for rdn in cert["issuer"] for n in rdn]
    # Over plain HTTP the name redirects to HTTPS.
    def redirected():
        return get(f"http://{domain}:{proxied.proxy_http.rsplit(':', 1)[1]}/")

    plain = redirected()
    for _ in range(50):  # Caddy may still be adding the name's HTTP->HTTPS redirect: ask again briefly
        if plain.status_code == 308:
            break
        time.sleep(0.2)
        plain = redirected()
    assert plain.status_code == 308 and plain.headers["Location"] == f"https://{domain}:{https_port}/"

    # A router that lost its routes (restarted) gets them back on the workers' next reconciler pass.
    CaddyProxy(proxied.proxy_admin, proxied.proxy_router, proxied.proxy_https).apply(RouteTable())
    production, _ = urls(proxied, site.name)
    assert get(production).status_code == 404
    Reconciler.from_settings(proxied).run()
    assert get(production).text == "shop"

    listed = CliRunner().invoke(main, ["domain", "list", site.name])
    assert domain in listed.output
    result = CliRunner().invoke(main, ["domain", "remove", site.name, domain])
    assert result.exit_code == 0, result.output
    assert get(f"http://{domain}:{proxied.proxy_http.rsplit(':', 1)[1]}/").status_code == 404


def test_the_proxy_serves_exactly_the_table_it_is_given(settings, site, send_webhook, run_worker):
    # The adapter alone, on the real Caddy: a table in, those names out, every other name 404.
    v1 = deploy(send_webhook, run_worker, site, site_files(settings.registry, "direct"))  # no proxy: own port
    assert v1.state == "live", log_of(v1.id)
    upstream = v1.target_ref["upstream"]
    caddy = CaddyProxy(settings.proxy_admin, settings.proxy_router, settings.proxy_https)
    port = settings.proxy_http.rsplit(":", 1)[1]
    try:
        caddy.apply(RouteTable(http={"one.localhost": upstream}))
        assert get(f"http://one.localhost:{port}/").text == "direct"
        assert get(f"http://two.localhost:{port}/").status_code == 404
        assert caddy.drain({upstream}, 5) is True
    finally:
        caddy.apply(RouteTable())
    assert get(f"http://one.localhost:{port}/").status_code == 404
