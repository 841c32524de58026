"""The local target when its Docker Engine is another machine's: the URL names the apps' host as
users and workers reach it, the app listens on SLIPWAY_LOCAL_HOST, and a port is still found."""

from __future__ import annotations

import uuid

import docker
import pytest
import requests

from builder.images import RegistryAuth
from deployer.base import Health, Release
from deployer.local import LABEL_PROJECT, LocalTarget, free_port
from tests.support.targets import deploy
from tests.support.targets import app_image


@pytest.mark.docker
def test_a_release_is_started_then_waited_for_then_checked_and_stopped_from_its_reference(settings, tmp_path):
    auth = RegistryAuth(settings.registry, settings.registry_username, settings.registry_password)
    name = f"lt-{uuid.uuid4().hex[:8]}"
    image = app_image(settings, tmp_path, name)
    target = LocalTarget(settings.docker_host, auth, health_timeout_s=30, instance=settings.queue_name)
    client = docker.DockerClient(base_url=settings.docker_host)
    release = Release(name, 7, image)
    try:
        ref = target.start(release, lambda line: None)
        # The reference names the container the moment it exists, before anyone waits for it.
        container = client.containers.get(ref["container_id"])
        assert container.labels[LABEL_PROJECT] == name
        assert ref["url"] == f"http://127.0.0.1:{ref['port']}"

        running = target.wait_ready(release, ref, lambda line: None)
        assert running.url == ref["url"] and running.ref == ref
        assert requests.get(running.url, timeout=5).text == "hello\n"
        assert target.check(ref) == Health(True)

        container.kill()
        health = target.check(ref)
        assert not health.ok and "exited" in health.detail

        assert target.stop(ref, lambda line: None) is True
        assert target.check(ref) == Health(False, "the container is gone")
        assert target.stop(ref, lambda line: None) is False
    finally:
        target.remove_all(name, lambda line: None)
        client.close()


@pytest.mark.docker
def test_the_url_names_the_public_host_and_the_app_listens_on_the_local_host(settings, tmp_path):
    auth = RegistryAuth(settings.registry, settings.registry_username, settings.registry_password)
    name = f"lt-{uuid.uuid4().hex[:8]}"
    image = app_image(settings, tmp_path, name)

    target = LocalTarget(settings.docker_host, auth, host="127.0.0.1", public_host="localhost", health_timeout_s=30)
    client = docker.DockerClient(base_url=settings.docker_host)
    try:
        running = deploy(target, Release(name, 1, image), lambda line: None)
        port = running.ref["port"]
        assert running.url == f"http://localhost:{port}"
        assert requests.get(running.url, timeout=5).text == "hello\n"
        (container,) = client.containers.list(filters={"label": f"{LABEL_PROJECT}={name}"})
        assert {"HOST=127.0.0.1", f"PORT={port}"} <= set(container.attrs["Config"]["Env"])
    finally:
        target.remove_all(name, lambda line: None)
        client.close()


def test_a_port_is_picked_for_a_listen_address_this_machine_does_not_have():
    # 192.0.2.1 (TEST-NET-1) is nobody's address: only bound to, never sent anything.
    assert free_port("192.0.2.1") > 0
    assert free_port("127.0.0.1") > 0
