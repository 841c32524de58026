"""Live deployments are checked by their targets every SLIPWAY_HEALTH_CHECK_EVERY seconds: an app whose
container died is recorded down with why, shown so in the dashboard, the API and the CLI, and the change logged."""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import replace
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from builder.images import RegistryAuth
from deployer.base import Health, Release
from deployer.local import LABEL_PROJECT, LocalTarget
from slipway.cli import main
from slipway.db import session_scope
from slipway.health import Checked, check_live
from slipway.models import Deployment, Project, utcnow
from slipway.reconcile import Reconciler
from tests.support.targets import app_image, deploy


def local_target(settings) -> LocalTarget:
    auth = RegistryAuth(settings.registry, settings.registry_username, settings.registry_password)
    return LocalTarget(settings.docker_host, auth, health_timeout_s=30, instance=settings.queue_name)


def live_deployment(name: str, ref: dict | None, url: str = "") -> int:
    with session_scope() as s:
        dep = Deployment(project=Project(name=name, repo_url="u"), sha="d" * 40, branch="main", trigger="cli",
                         state="live", url=url, target_ref=ref, started_at=utcnow(), finished_at=utcnow())
        s.add(dep)
        s.flush()
        return dep.id


def get(dep_id: int) -> Deployment:
    with session_scope() as s:
        return s.get(Deployment, dep_id)


def checked_long_ago(dep_id: int, settings) -> None:
    """As if the last check were one interval ago: the next pass checks it again."""
    with session_scope() as s:
        dep = s.get(Deployment, dep_id)
        dep.health_checked_at = dep.health_checked_at - timedelta(seconds=settings.health_check_every_s + 1)


@pytest.fixture
def app_name(docker_client):
    name = f"h-{uuid.uuid4().hex[:8]}"
    yield name
    for c in docker_client.containers.list(all=True, filters={"label": f"{LABEL_PROJECT}={name}"}):
        c.remove(force=True)


@pytest.mark.docker
def test_an_app_whose_container_was_killed_is_reported_down_with_why_and_shown_so(
        settings, queue, docker_client, app_name, tmp_path, client, caplog):
    target = local_target(settings)
    running = deploy(target, Release(app_name, 1, app_image(settings, tmp_path, app_name)), lambda line: None)
    dep_id = live_deployment(app_name, running.ref, running.url)
    # No restarts allowed: what a stopped app looks like (restarts are the next test's).
    reconciler = Reconciler(replace(settings, app_restarts="0"), queue, {"local": target})

    outcome = reconciler.run()
    assert outcome.checked == [Checked(dep_id, Health(True), True)] and not outcome
    up = get(dep_id)
    assert (up.health, up.health_detail) == ("up", None) and up.health_since == up.health_checked_at
    # Checked once per interval, however often the reconciler passes.
    assert reconciler.run().checked == []
    assert get(dep_id).health_checked_at == up.health_checked_at

    docker_client.containers.get(running.ref["container_id"]).kill()
    checked_long_ago(dep_id, settings)
    with caplog.at_level(logging.WARNING, logger="slipway.health"):
        outcome = reconciler.run()
    assert outcome.down == [dep_id]
    down = get(dep_id)
    why = "the app exited with status 137 (killed) and is not running"
    assert (down.state, down.health, down.health_detail) == ("live", "down", why)
    assert down.health_since == down.health_checked_at > up.health_since
    assert f"deployment {dep_id} of {app_name} is down: {why}" in caplog.messages
    # Killed through Docker with no restarts allowed, it stays down (unless-stopped does not bring it
    # back) until a deploy.
    assert docker_client.containers.get(running.ref["container_id"]).status == "exited"

    page = client.get(f"/deployments/{dep_id}").get_data(as_text=True)
    assert 'class="state health-down"' in page and f"down: {why}" in page
    assert why in client.get(f"/projects/{app_name}").get_data(as_text=True)
    api = client.get(f"/api/deployments/{dep_id}").get_json()
    assert (api["state"], api["health"], api["health_detail"]) == ("live", "down", why)
    listed = CliRunner().invoke(main, ["deployments", app_name], catch_exceptions=False).output
    row = next(line for line in listed.splitlines() if line.startswith(f"{dep_id} "))
    assert "live (down)" in row and row.endswith(f"{running.url} down: {why}")

    # Nothing changed since: checked again, nothing logged, "since" stays.
    checked_long_ago(dep_id, settings)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="slipway.health"):
        assert reconciler.run().checked == [Checked(dep_id, Health(False, why), False)]
    assert caplog.messages == [] and get(dep_id).health_since == down.health_since


@pytest.mark.docker
def test_an_exited_app_is_started_again_a_bounded_number_of_times_each_time_recorded(
        settings, queue, docker_client, app_name, tmp_path):
    from slipway.models import BuildLog

    target = local_target(settings)
    running = deploy(target, Release(app_name, 1, app_image(settings, tmp_path, app_name)), lambda line: None)
    dep_id = live_deployment(app_name, running.ref, running.url)
    reconciler = Reconciler(replace(settings, app_restarts="2"), queue, {"local": target})
    container = docker_client.containers.get(running.ref["container_id"])
    why = "the app exited with status 137 (killed) and is not running"
    for n in (1, 2):
        container.kill()
        checked_long_ago_or_new(dep_id, settings)
        (found,) = reconciler.run().checked
        assert found.health == Health(False, f"{why}; Slipway restarted it ({n} of 2)")
        container.reload()
        assert container.status == "running"
        dep = get(dep_id)
        assert (dep.restarts, dep.health) == (n, "down")
        checked_long_ago(dep_id, settings)
        (found,) = reconciler.run().checked
        assert found.health.ok  # it answers again
    with session_scope() as s:
        lines = s.scalars(select(BuildLog.line).where(BuildLog.deployment_id == dep_id).order_by(BuildLog.seq)).all()
    assert [ln for ln in lines if ln.startswith("== health check")] == [
        f"== health check: {why}; restarted it (1 of 2)", f"== health check: {why}; restarted it (2 of 2)"]

    # Out of restarts: it stays down, with why.
    container.kill()
    checked_long_ago(dep_id, settings)
    (found,) = reconciler.run().checked
    assert found.health == Health(False, why)
    container.reload()
    assert container.status == "exited" and get(dep_id).restarts == 2


def checked_long_ago_or_new(dep_id: int, settings) -> None:
    if get(dep_id).health_checked_at is not None:
        checked_long_ago(dep_id, settings)


@pytest.mark.docker
def test_an_app_killed_for_its_memory_is_reported_so(settings, docker_client, app_name):
    container = docker_client.containers.run(
        f"{settings.registry}/base/busybox:latest", ["sh", "-c", "head -c 200m /dev/zero | tail"], detach=True,
        mem_limit="16m", memswap_limit="16m", labels={LABEL_PROJECT: app_name})
    container.wait(timeout=120)
    health = local_target(settings).check({"container_id": container.id, "url": "http://127.0.0.1:1"})
    assert health == Health(False, "the app was killed for using more than its memory limit and is not running")


@pytest.mark.docker
def test_an_app_that_keeps_crashing_is_down_while_docker_restarts_it(settings, docker_client, app_name):
    """The local target's restart policy brings a crashed app back; until it answers it is down."""
    container = docker_client.containers.run(
        f"{settings.registry}/base/busybox:latest", ["sh", "-c", "exit 3"], detach=True,
        restart_policy={"Name": "unless-stopped"}, labels={LABEL_PROJECT: app_name})
    target = local_target(settings)
    ref = {"container_id": container.id, "url": "http://127.0.0.1:1"}
    deadline = time.monotonic() + 60
    health = target.check(ref)
    while "Docker is restarting it" not in health.detail and time.monotonic() < deadline:
        time.sleep(0.05)
        health = target.check(ref)
    assert not health.ok
    assert health.detail.startswith("the app exited with status 3; Docker is restarting it (restarted ")


class Unreachable:
    """A target whose network is down: asking it raises."""

    name = "far"

    def check(self, ref: dict) -> Health:
        raise ConnectionError("no route to the provider")


def test_a_target_that_cannot_be_asked_leaves_the_deployment_down_saying_so(settings):
    dep_id = live_deployment("far-app", {"dseq": 7})
    with session_scope() as s:
        s.get(Deployment, dep_id).project.target = "far"

    (checked,) = check_live(settings, {"far": Unreachable()})
    assert (checked.deployment_id, checked.health.ok, checked.changed) == (dep_id, False, True)
    dep = get(dep_id)
    assert (dep.health, dep.health_detail) == ("down", "its target could not be asked (ConnectionError)")


def test_only_live_deployments_are_checked_and_never_when_checks_are_off(settings):
    dep_id = live_deployment("off-app", {"dseq": 7})
    with session_scope() as s:
        dep = s.get(Deployment, dep_id)
        dep.project.target = "far"
        s.add(Deployment(project=dep.project, sha="e" * 40, branch="main", trigger="cli", state="failed",
                         target_ref={"dseq": 8}))
    assert check_live(replace(settings, health_check_every="0"), {"far": Unreachable()}) == []
    assert get(dep_id).health is None
    assert [c.deployment_id for c in check_live(settings, {"far": Unreachable()})] == [dep_id]


class Leases:
    """A target that can move its releases (as Akash can), whose checks say what ``found`` holds."""

    name = "moving"

    def __init__(self, found: Health):
        self.found = found

    def check(self, ref: dict) -> Health:
        return self.found

    def failover(self, release, ref, log, why=""):
        raise AssertionError("the check only asks for a failover job; it never moves anything itself")


def test_a_release_is_moved_when_its_lease_closes_or_its_provider_stays_down_but_not_at_its_budget(settings):
    from deployer.base import CLOSED_AT_BUDGET
    from slipway.models import LeaseEvent

    dep_id = live_deployment(f"m-{uuid.uuid4().hex[:6]}", {"dseq": 7, "network": "local"})
    with session_scope() as s:
        s.get(Deployment, dep_id).project.target = "moving"
    s_ = replace(settings, akash_failover_after="3600")
    moved: list[int] = []
    closed = {"kind": "closed", "network": "local", "dseq": 7, "provider": "p1", "detail": "closed on chain"}

    # Down for less than SLIPWAY_AKASH_FAILOVER_AFTER: not yet.
    (checked,) = check_live(s_, {"moving": Leases(Health(False, "provider p1 does not answer"))}, failover=moved.append)
    assert (checked.failover, moved) == (False, [])
    # Its lease closed under it: at once, and the closing is one event however often it is found.
    for _ in range(2):
        checked_long_ago(dep_id, s_)
        (checked,) = check_live(s_, {"moving": Leases(Health(False, "closed", gone=True, events=(closed,)))},
                                failover=moved.append)
    assert moved == [dep_id, dep_id]
    # Down long enough: moved.
    checked_long_ago(dep_id, s_)
    (checked,) = check_live(replace(s_, akash_failover_after="0"), {"moving": Leases(Health(False, "no answer"))},
                            failover=moved.append)
    assert checked.failover and len(moved) == 3
    # Without a way to enqueue (or a target that cannot move), nothing moves.
    checked_long_ago(dep_id, s_)
    assert not check_live(s_, {"moving": Leases(Health(False, "closed", gone=True))})[0].failover
    with session_scope() as s:
        assert [e.kind for e in s.scalars(select(LeaseEvent).where(LeaseEvent.deployment_id == dep_id))] == ["closed"]

    # Closed by Slipway at the project's budget: never moved (that would spend what the budget forbids).
    other = live_deployment(f"b-{uuid.uuid4().hex[:6]}", {"dseq": 9, "network": "local"})
    with session_scope() as s:
        s.get(Deployment, other).project.target = "moving"
        s.get(Deployment, dep_id).state = "superseded"
    at_budget = {"kind": "closed", "network": "local", "dseq": 9, "detail": CLOSED_AT_BUDGET}
    moved.clear()
    check_live(replace(s_, akash_failover_after="0"),
               {"moving": Leases(Health(False, "budget spent", events=(at_budget,)))}, failover=moved.append)
    checked_long_ago(other, s_)
    check_live(replace(s_, akash_failover_after="0"), {"moving": Leases(Health(False, "closed", gone=True))},
               failover=moved.append)
    assert moved == []
