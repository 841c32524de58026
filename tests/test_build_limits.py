"""Each build limit stops a build with its own clear reason, and a user's cancel stops a running one."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import replace

import pytest

from builder.images import DockerImageBuilder, RegistryAuth
from slipway.buildslots import BuildSlots
from slipway.db import session_scope
from slipway.deployments import cancel_deployment
from slipway.errors import UserError
from slipway.jobs import Pipeline
from slipway.models import Deployment
from tests.support.deployments import fake_fetch, make_deployment
from tests.support.images import StopsAtPush
from tests.support.pipeline import deploy, dockerfile, log_of


def get(dep_id: int) -> Deployment:
    with session_scope() as s:
        return s.get(Deployment, dep_id)


# -- builds per build host ---------------------------------------------------------------------

def test_a_build_waits_for_a_slot_and_fails_naming_the_limit_when_none_frees(settings, redis):
    slots = BuildSlots(redis, f"build-host-{uuid.uuid4().hex}", limit=1)
    assert slots.try_take("another-build", ttl_s=600)
    images = StopsAtPush()
    dep_id = make_deployment()
    Pipeline(replace(settings, build_timeout="1"), redis, images, {}, fetch=fake_fetch, build_slots=slots).run(dep_id)
    dep = get(dep_id)
    assert (dep.state, dep.error_id) == ("failed", UserError.BUILD_NO_SLOT)
    assert "within 1 seconds: the build host runs 1 build(s) at a time (SLIPWAY_BUILDS_PER_HOST)" in dep.error_message
    assert images.built == [] and slots.holders() == ["another-build"]
    assert "waiting for a build slot" in log_of(dep_id)


def test_a_build_takes_the_slot_that_frees_and_gives_it_back(settings, redis):
    slots = BuildSlots(redis, f"build-host-{uuid.uuid4().hex}", limit=1)
    assert slots.try_take("a-build-whose-worker-died", ttl_s=1)  # lapses on its own
    images = StopsAtPush()
    dep_id = make_deployment()
    Pipeline(replace(settings, build_timeout="60"), redis, images, {}, fetch=fake_fetch, build_slots=slots).run(dep_id)
    assert len(images.built) == 1
    assert "got a build slot" in log_of(dep_id)
    assert slots.holders() == []


def test_a_build_waiting_for_a_slot_stops_when_cancelled(settings, redis):
    slots = BuildSlots(redis, f"build-host-{uuid.uuid4().hex}", limit=1)
    assert slots.try_take("another-build", ttl_s=600)
    dep_id = make_deployment()

    def cancel_once_waiting() -> None:
        for _ in range(600):
            if "waiting for a build slot" in log_of(dep_id):
                cancel_deployment(dep_id)
                return
            time.sleep(0.1)

    canceller = threading.Thread(target=cancel_once_waiting, daemon=True)
    canceller.start()
    images = StopsAtPush()
    Pipeline(replace(settings, build_timeout="120"), redis, images, {}, fetch=fake_fetch, build_slots=slots).run(dep_id)
    canceller.join()
    assert (get(dep_id).state, get(dep_id).error_id) == ("cancelled", "app:cancelled-by-user")
    assert images.built == [] and slots.holders() == ["another-build"]
    assert "waiting for a build slot" in log_of(dep_id)


def test_two_builds_never_take_the_last_slot_both(redis):
    slots = BuildSlots(redis, f"build-host-{uuid.uuid4().hex}", limit=2)
    taken = [slots.try_take(f"build-{i}", ttl_s=60) for i in range(4)]
    assert taken == [True, True, False, False]
    assert slots.try_take("build-1", ttl_s=60)  # a holder renewing keeps its slot
    slots.give_back("build-0")
    assert slots.try_take("build-3", ttl_s=60)
    assert BuildSlots(redis, "unlimited", limit=0).holders() == []


# -- memory and CPU, on the real Engine ---------------------------------------------------------

def build_with(settings, tmp_path, run: str, **limits) -> tuple[list[str], str | None]:
    (tmp_path / "Dockerfile").write_text(f"FROM {settings.registry}/base/busybox:latest\nRUN {run}\n")
    auth = RegistryAuth(settings.registry, settings.registry_username, settings.registry_password)
    lines: list[str] = []
    tag = f"{settings.registry}/limits-{uuid.uuid4().hex[:8]}:test"
    DockerImageBuilder(settings.build_docker_host, auth, **limits).build(
        tmp_path, "Dockerfile", ".", tag, lines.append, timeout_s=120)
    return lines, tag


@pytest.mark.docker
def test_a_step_over_the_memory_limit_fails_naming_the_limit(settings, tmp_path, docker_client):
    with pytest.raises(UserError) as caught:
        build_with(settings, tmp_path, "dd if=/dev/zero of=/dev/null bs=200M count=1", memory="32m")
    assert caught.value.message_id == UserError.BUILD_OUT_OF_MEMORY
    assert "the build's limit of 32m (SLIPWAY_BUILD_MEMORY)" in str(caught.value)


@pytest.mark.docker
def test_a_step_killed_by_a_signal_is_not_called_out_of_memory(settings, tmp_path, docker_client):
    with pytest.raises(UserError) as caught:
        # A shell that SIGKILLs itself, well under the limit: a child of the step's PID 1 (PID 1 would
        # ignore it), whose status the step then exits with.
        build_with(settings, tmp_path, "sh -c 'kill -9 $$'; exit $?", memory="64m")
    assert caught.value.message_id == UserError.BUILD_KILLED
    assert "not for its memory" in str(caught.value) and "returned a non-zero code: 137" in str(caught.value)


@pytest.mark.docker
def test_build_steps_run_on_as_many_cores_as_the_limit_gives(settings, tmp_path, docker_client):
    lines, tag = build_with(settings, tmp_path, 'echo "cores: $(nproc)"', cpus=1)
    assert "cores: 1" in lines
    docker_client.images.remove(tag)


# -- cancel --------------------------------------------------------------------------------------

@pytest.mark.docker
def test_cancel_stops_a_running_build_within_seconds(settings, site, send_webhook, run_worker, docker_client):
    marker = f"sleep 600 # {uuid.uuid4().hex[:8]}"

    def cancel_once_building() -> None:
        for _ in range(600):
            with session_scope() as s:
                dep = s.query(Deployment).order_by(Deployment.id.desc()).first()
                building = dep is not None and dep.state == "building"
            if building and any(marker in " ".join(c.attrs["Config"]["Cmd"] or [])
                                for c in docker_client.containers.list()):
                cancel_deployment(dep.id)
                return
            time.sleep(0.1)

    canceller = threading.Thread(target=cancel_once_building, daemon=True)
    canceller.start()
    dep = deploy(send_webhook, run_worker, site, {
        "Dockerfile": dockerfile(settings.registry, run=marker), "www/index.html": "x"})
    canceller.join()
    assert (dep.state, dep.error_id) == ("cancelled", "app:cancelled-by-user"), log_of(dep.id)
    log = log_of(dep.id)
    assert "build stopped: the deployment was cancelled" in log and "== cancelled" in log
    assert dep.image is None
    # The Engine stops the step once its client has gone: nothing of it keeps running.
    for _ in range(100):
        if not any(marker in " ".join(c.attrs["Config"]["Cmd"] or []) for c in docker_client.containers.list()):
            break
        time.sleep(0.2)
    else:
        pytest.fail("the cancelled build's step still runs")
