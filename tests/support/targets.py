"""Driving a deploy target in tests, and an image for it to run."""

from __future__ import annotations

from builder.images import DockerImageBuilder, RegistryAuth
from deployer.base import deploy  # noqa: F401 - both phases at once, for tests with nowhere to keep the reference
from tests.support.pipeline import dockerfile


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
