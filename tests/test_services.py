"""The services scripts/test.sh starts answer where the settings say, and only as they should."""

from __future__ import annotations

from pathlib import Path

import docker
import pytest
import requests
from redis import Redis
from redis.exceptions import AuthenticationError

from slipway.queue import redis_connection
from slipway.settings import Settings

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def s() -> Settings:
    return Settings.load()


def test_redis_answers_with_its_password_only(s: Settings) -> None:
    assert redis_connection(s, socket_timeout=5).ping()
    with pytest.raises(AuthenticationError):
        Redis.from_url(s.redis_url, socket_timeout=5).ping()
    with pytest.raises(AuthenticationError):
        Redis.from_url(s.redis_url, password="not-the-password", socket_timeout=5).ping()


def test_redis_listens_on_a_socket_in_the_data_dir_not_on_tcp(s: Settings) -> None:
    """Builds and apps share the host's network: a TCP port on loopback would be theirs to reach."""
    socket_path = Path(s.redis_url.removeprefix("unix://").partition("?")[0])
    assert socket_path.is_relative_to(s.data_dir) and socket_path.is_socket()
    assert oct(socket_path.stat().st_mode & 0o777) == "0o700"
    config = redis_connection(s).config_get("port")
    assert config == {"port": "0"}


def test_docker_engine_answers_at_its_own_socket(s: Settings) -> None:
    client = docker.DockerClient(base_url=s.docker_host, timeout=30)
    try:
        assert client.ping()
        info = client.info()
        assert info["Driver"] == "vfs"
        assert info["DockerRootDir"].startswith(s.data_dir)
    finally:
        client.close()


def test_registry_refuses_anonymous_access(s: Settings) -> None:
    r = requests.get(f"http://{s.registry}/v2/", timeout=10)
    assert r.status_code == 401
    assert "basic" in r.headers.get("WWW-Authenticate", "").lower()


def test_registry_refuses_a_wrong_password(s: Settings) -> None:
    r = requests.get(f"http://{s.registry}/v2/", auth=(s.registry_username, "not-the-password"), timeout=10)
    assert r.status_code == 401


def test_registry_accepts_the_credentials_and_holds_the_base_image(s: Settings) -> None:
    auth = (s.registry_username, s.registry_password)
    assert requests.get(f"http://{s.registry}/v2/", auth=auth, timeout=10).status_code == 200
    r = requests.head(
        f"http://{s.registry}/v2/base/busybox/manifests/latest",
        auth=auth,
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
        timeout=10,
    )
    assert r.status_code == 200, "scripts/base_image.sh pushes base/busybox:latest"


def test_base_image_runs_busybox(s: Settings) -> None:
    client = docker.DockerClient(base_url=s.docker_host, timeout=60)
    try:
        out = client.containers.run(
            f"{s.registry}/base/busybox:latest", ["sh", "-c", "echo hello from $(busybox | head -1 | cut -d' ' -f1)"],
            network_mode="none", remove=True,
        )
        assert out.decode().strip() == "hello from BusyBox"
    finally:
        client.close()
