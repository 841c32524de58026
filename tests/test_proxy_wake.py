"""A deployment's own URL answers for as long as its image is kept, through the real Caddy: a
superseded version wakes on demand (its own name only, never production's), stops again once idle,
and a deployment that cannot run answers a clear page, never a proxy error."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, select, update

from builder.images import RegistryAuth
from builder.registry import RegistryClient, split_reference
from deployer.local import LABEL_DEPLOYMENT, LABEL_INSTANCE
from slipway import envvars
from slipway.cli import main
from slipway.db import session_scope
from slipway.models import Deployment, Project, Wake, utcnow
from slipway.proxy import addresses, proxy_from_settings
from slipway.reconcile import Reconciler
from tests.support.pipeline import deploy, dockerfile, log_of
from tests.support.proxy import get, through_proxy

# One Caddy serves the whole test run and each test loads its own routes into it: one such test at a time.
pytestmark = [pytest.mark.docker, pytest.mark.one_proxy]

# The app writes its runtime variable where it serves it: a woken version runs with the project's.
SHOW_GREETING = 'echo "$GREETING" > /www/greeting.txt; exec busybox httpd -f -p "$PORT" -h /www'


@pytest.fixture
def proxied(settings, app, server):
    # Caddy sends deployments' own names that no route serves to this test's web app (SLIPWAY_BIND).
    s = through_proxy(settings, bind=f"127.0.0.1:{urlsplit(server).port}", wake_idle="1", wake_max="1")
    app.config["SLIPWAY_SETTINGS"] = s
    return s


def files(registry: str, text: str) -> dict[str, str]:
    return {"Dockerfile": dockerfile(registry, cmd=SHOW_GREETING), "www/index.html": text}


def two_versions(proxied, site, send_webhook, run_worker) -> tuple[Deployment, Deployment]:
    with session_scope() as s:
        project = s.scalars(select(Project).where(Project.name == site.name)).one()
        envvars.set_vars(s, project, {"GREETING": "hello from the project"})
    v1 = deploy(send_webhook, run_worker, site, files(proxied.registry, "v1"))
    v2 = deploy(send_webhook, run_worker, site, files(proxied.registry, "v2"))
    with session_scope() as s:
        v1 = s.get(Deployment, v1.id)
    assert (v1.state, v2.state) == ("superseded", "live"), log_of(v2.id)
    return v1, v2


def containers_of(docker_client, settings, dep_id: int) -> list:
    labels = [f"{LABEL_DEPLOYMENT}={dep_id}", f"{LABEL_INSTANCE}={settings.queue_name}"]
    return docker_client.containers.list(all=True, sparse=True, filters={"label": labels})


def test_a_superseded_deployments_own_url_wakes_it_beside_production_until_it_is_idle(
        proxied, site, send_webhook, run_worker, docker_client, client):
    at = addresses(proxied)
    production = at.url(at.production_host(site.name))
    v1, v2 = two_versions(proxied, site, send_webhook, run_worker)
    assert containers_of(docker_client, proxied, v1.id) == []
    # The dashboard and the CLI show its URL as one that answers.
    page = client.get(f"/deployments/{v1.id}").get_data(as_text=True)
    assert f'<a class="button secondary" href="{v1.url}">Visit</a>' in page and "starts again on a visit" in page
    listed = CliRunner().invoke(main, ["deployments", site.name])
    assert f"{v1.url} (starts on a visit)" in listed.output, listed.output

    # The first request starts it: a page that reloads itself, or a 503 with Retry-After for curl.
    first = get(v1.url)
    assert first.status_code == 503 and first.headers["Retry-After"] == "2", first.text
    assert "starting" in first.text
    browser = get(v1.url + "/", headers={"Accept": "text/html"})
    assert browser.status_code == 503 and '<meta http-equiv="refresh" content="2">' in browser.text
    run_worker()  # the wake job

    assert get(v1.url).text == "v1"
    assert get(v1.url + "/greeting.txt").text == "hello from the project\n"
    # The old version never takes over production, nor the newest one's own URL.
    assert get(production).text == get(v2.url).text == "v2"
    with session_scope() as s:
        assert s.get(Deployment, v1.id).state == "superseded"

    # Requests keep it awake: the reconciler reads when the proxy last answered its name.
    with session_scope() as s:
        s.get(Wake, v1.id).last_seen_at = utcnow() - timedelta(hours=1)
    assert get(v1.url).text == "v1"
    caddy = proxy_from_settings(proxied)
    for _ in range(50):  # Caddy notes a request once it has answered it
        if at.deployment_host(site.name, v1.id) in caddy.last_requests({at.deployment_host(site.name, v1.id)}):
            break
        time.sleep(0.1)
    Reconciler.from_settings(replace(proxied, wake_idle="600")).run()
    assert len(containers_of(docker_client, proxied, v1.id)) == 1
    assert get(v1.url).text == "v1"

    # Once idle (SLIPWAY_WAKE_IDLE: 1 s here) the reconciler stops it.
    reconciler = Reconciler.from_settings(proxied)
    for _ in range(100):
        reconciler.run()
        if not containers_of(docker_client, proxied, v1.id):
            break
        time.sleep(0.2)
    assert containers_of(docker_client, proxied, v1.id) == []
    with session_scope() as s:
        assert s.get(Wake, v1.id) is None
    asleep = get(v1.url)
    assert asleep.status_code == 503 and "starting" in asleep.text  # it would start again
    assert get(production).text == "v2"


def test_past_the_limit_another_version_waits_with_a_clear_503(proxied, site, send_webhook, run_worker):
    v1, v2 = two_versions(proxied, site, send_webhook, run_worker)
    with session_scope() as s:  # a version woken elsewhere takes the one place (SLIPWAY_WAKE_MAX: 1 here)
        other = Deployment(project_id=s.get(Deployment, v1.id).project_id, sha="c" * 40, branch="main",
                           trigger="cli", state="superseded")
        s.add(other)
        s.flush()
        s.add(Wake(deployment_id=other.id))
    busy = get(v1.url)
    assert busy.status_code == 503 and busy.headers["Retry-After"] == "60"
    assert "SLIPWAY_WAKE_MAX" in busy.text and "cannot start now" in busy.text
    with session_scope() as s:
        assert s.get(Wake, v1.id) is None


def test_deployments_that_cannot_run_answer_a_clear_page_never_a_proxy_error(
        proxied, site, send_webhook, run_worker, docker_client, client):
    at = addresses(proxied)
    v1, v2 = two_versions(proxied, site, send_webhook, run_worker)
    failed = deploy(send_webhook, run_worker, site, {"Dockerfile": dockerfile(proxied.registry, run="false"),
                                                     "www/index.html": "broken"})
    assert failed.state == "failed"

    unknown = get(at.url(at.deployment_host(site.name, 999999)))
    assert (unknown.status_code, unknown.text) == (404, "No deployment answers at this address.\n")
    assert get(at.url(at.deployment_host("another-project", v1.id))).status_code == 404
    never_ran = get(failed.url or at.url(at.deployment_host(site.name, failed.id)))
    assert (never_ran.status_code, never_ran.text) == (404, "No deployment answers at this address.\n")

    # The registry lost an image Slipway still counts as kept: the start fails, and says so.
    registry = RegistryClient(RegistryAuth(proxied.registry, proxied.registry_username, proxied.registry_password))
    repository, reference = split_reference(v1.image, proxied.registry)
    assert registry.delete(repository, registry.digest(repository, reference))
    assert get(v1.url).status_code == 503
    run_worker()
    lost = get(v1.url)
    assert lost.status_code == 410 and "could not be started again: its image is no longer in the registry" in lost.text
    with session_scope() as s:
        s.execute(delete(Wake))

    # The registry no longer keeps its image: newer versions pushed it past those kept for rollback.
    with session_scope() as s:
        project_id = s.get(Deployment, v1.id).project_id
        for n in range(3):
            s.add(Deployment(project_id=project_id, sha=f"{n}" * 40, branch="main", trigger="cli",
                             state="superseded", image=f"{proxied.registry}/{site.name}:{n}{n}{n}{n}{n}{n}{n}"))
    gone = get(v1.url)
    assert gone.status_code == 410 and "is no longer kept" in gone.text and "Redeploy" in gone.text
    page = client.get(f"/deployments/{v1.id}").get_data(as_text=True)
    assert "Visit</a>" not in page and "(no longer running)" in page
    listed = CliRunner().invoke(main, ["deployments", site.name])
    assert f"{v1.url} (no longer running)" in listed.output, listed.output

    # An Akash deployment whose lease is closed.
    with session_scope() as s:
        s.execute(update(Project).where(Project.name == site.name).values(target="akash"))
    closed = get(v2.url)  # live: still routed to its container
    assert closed.text == "v2"
    with session_scope() as s:
        akash = Deployment(project_id=s.get(Deployment, v1.id).project_id, sha="d" * 40, branch="main",
                           trigger="cli", state="superseded", image=v2.image)
        s.add(akash)
        s.flush()
        akash_url = at.url(at.deployment_host(site.name, akash.id))
    ended = get(akash_url)
    assert ended.status_code == 410 and "no longer running" in ended.text
    # Nothing was started for any of them.
    for dep_id in (v1.id, failed.id):
        assert containers_of(docker_client, proxied, dep_id) == []
    with session_scope() as s:
        assert s.scalars(select(Wake)).all() == []
    # Other names of the apps domain still get the proxy's own answer.
    other = get(at.url(f"nothing-here.{at.domain}"))
    assert (other.status_code, other.text) == (404, "No app answers at this address.\n")


def test_with_waking_off_a_replaced_deployments_url_says_so_and_starts_nothing(settings, anonymous, app):
    # The web app's answer alone (what Caddy's wake route reaches), with SLIPWAY_WAKE_MAX=0.
    app.config["SLIPWAY_SETTINGS"] = replace(settings, wake_max="0")
    with session_scope() as s:
        project = Project(name="t-off", repo_url="/nowhere", target="local")
        s.add(project)
        s.flush()
        old = Deployment(project_id=project.id, sha="e" * 40, branch="main", trigger="cli", state="superseded",
                         image=f"{settings.registry}/t-off:eeeeeee")
        s.add(old)
        s.flush()
        host = f"d{old.id}--t-off.{addresses(settings).domain}:8080"
    answer = anonymous.get("/_slipway/wake", headers={"Host": host})
    assert answer.status_code == 404 and "SLIPWAY_WAKE_MAX is 0" in answer.get_data(as_text=True)
    page = anonymous.get("/_slipway/wake", headers={"Host": host, "Accept": "text/html"})
    assert "<h1>Not found</h1>" in page.get_data(as_text=True) and "refresh" not in page.get_data(as_text=True)
    with session_scope() as s:
        assert s.scalars(select(Wake)).all() == []
