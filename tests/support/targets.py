"""Driving a deploy target in tests, and an image for it to run."""

from __future__ import annotations

from collections.abc import Callable

from builder.images import DockerImageBuilder, RegistryAuth
from deployer.base import Log, Release, Running, never
from slipway.interfaces import Target
from tests.support.pipeline import dockerfile


def deploy(target: Target, release: Release, log: Log, should_stop: Callable[[], bool] = never) -> Running:
    """Both phases at once, for tests with nowhere to keep the reference."""
    return target.wait_ready(release, target.start(release, log), log, should_stop)


def app_image(settings, tmp_path, name: str) -> str:
    """A pushed image of a web app that answers "hello"."""
    auth = RegistryAuth(settings.registry, settings.registry_username, settings.registry_password)
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "index.html").write_text("hello\n")
    (tmp_path / "Dockerfile").write_text(dockerfile(settings.registry))
    tag = f"{settings.registry}/{name}:v1"
    builder = DockerImageBuilder(settings.build_docker_host, auth)
    builder.build(tmp_path, "Dockerfile", ".", tag, lambda line: None, timeout_s=120)
    return builder.push(tag, lambda line: None)
