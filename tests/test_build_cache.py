"""Rebuilds reuse layers: a build host's own cache, or, on a host that never built the project,
the project's previous image pulled from the registry."""

from __future__ import annotations

import json
import uuid

import pytest

from builder.images import DockerImageBuilder, RegistryAuth
from slipway.db import session_scope
from slipway.jobs import Pipeline
from slipway.models import Deployment, Project
from tests.support.deployments import fake_fetch
from tests.support.images import StopsAtPush
from tests.support.registry_image import pushed_image

pytestmark = pytest.mark.docker

# A stand-in for installing dependencies: a step whose output differs each time it really runs.
SINGLE_STAGE = """FROM {registry}/base/busybox:latest
RUN echo "installed $RANDOM$RANDOM" > /deps
COPY www /www
"""
MULTI_STAGE = """FROM {registry}/base/busybox:latest AS deps
ARG NPM_TOKEN
RUN echo "installed $RANDOM$RANDOM" > /deps
FROM {registry}/base/busybox:latest
COPY --from=deps /deps /deps
COPY www /www
"""


@pytest.fixture
def builder(settings):
    auth = RegistryAuth(settings.registry, settings.registry_username, settings.registry_password)
    return DockerImageBuilder(settings.build_docker_host, auth)


def build(builder, settings, checkout, dockerfile: str, text: str, tag: str, **kwargs) -> list[str]:
    (checkout / "Dockerfile").write_text(dockerfile.format(registry=settings.registry))
    (checkout / "www").mkdir(exist_ok=True)
    (checkout / "www" / "index.html").write_text(text)
    lines: list[str] = []
    builder.build(checkout, "Dockerfile", ".", tag, lines.append, timeout_s=120, **kwargs)
    builder.push(tag, lines.append)
    return lines


def diff_ids(settings, tag: str) -> list[str]:
    return json.loads(pushed_image(settings, tag).config)["rootfs"]["diff_ids"]


def test_a_build_host_that_never_built_the_project_reuses_its_previous_image(settings, builder, tmp_path,
                                                                              docker_client):
    repository = f"{settings.registry}/cache-{uuid.uuid4().hex[:8]}"
    build(builder, settings, tmp_path, SINGLE_STAGE, "v1", f"{repository}:v1")
    docker_client.images.remove(f"{repository}:v1")  # a new build host: nothing of the project is here

    log = build(builder, settings, tmp_path, SINGLE_STAGE, "v2", f"{repository}:v2", cache_from=f"{repository}:v1")
    assert f"pulled {repository}:v1 to reuse its layers: this build host has not built the project before" in log
    assert log[log.index(next(line for line in log if "RUN echo" in line)) + 1] == " ---> Using cache"
    v1, v2 = diff_ids(settings, f"{repository}:v1"), diff_ids(settings, f"{repository}:v2")
    assert v1[:2] == v2[:2] and v1[2] != v2[2]  # base and dependencies reused; the source changed
    for tag in ("v1", "v2"):
        docker_client.images.remove(f"{repository}:{tag}")


def test_a_build_host_that_built_the_project_keeps_its_own_cache_for_every_stage(settings, builder, tmp_path,
                                                                                 docker_client):
    repository = f"{settings.registry}/cache-{uuid.uuid4().hex[:8]}"
    token = {"NPM_TOKEN": "npm-token-for-cache-test"}
    build(builder, settings, tmp_path, MULTI_STAGE, "v1", f"{repository}:v1", build_args=token)
    # A one-line source change; the same flags and build-time variables as before.
    log = build(builder, settings, tmp_path, MULTI_STAGE, "v2", f"{repository}:v2", build_args=token,
                cache_from=f"{repository}:v1")
    assert not any("pulled" in line for line in log)
    # The build stage's dependency step came from this host's cache (cache_from would have skipped it).
    assert log[log.index(next(line for line in log if "RUN echo" in line)) + 1] == " ---> Using cache"
    v1, v2 = diff_ids(settings, f"{repository}:v1"), diff_ids(settings, f"{repository}:v2")
    assert v1[:2] == v2[:2] and v1[2] != v2[2]
    for tag in ("v1", "v2"):
        docker_client.images.remove(f"{repository}:{tag}")


def test_the_cache_source_is_the_newest_production_image(settings, redis):
    with session_scope() as s:
        p = Project(name=f"cache-{uuid.uuid4().hex[:8]}", repo_url="http://127.0.0.1:1/x.git")
        s.add_all([
            Deployment(project=p, sha="1" * 40, branch="main", trigger="cli", state="superseded", image="r/p:1111111"),
            Deployment(project=p, sha="2" * 40, branch="main", trigger="cli", state="live", image="r/p:2222222"),
            Deployment(project=p, sha="3" * 40, branch="pr", trigger="pull_request", state="live", pr_number=4,
                       image="r/p:3333333"),
            Deployment(project=p, sha="4" * 40, branch="main", trigger="cli", state="failed"),
        ])
        new = Deployment(project=p, sha="5" * 40, branch="main", trigger="cli", state="queued")
        s.add(new)
        s.flush()
        dep_id = new.id
    images = StopsAtPush()
    Pipeline(settings, redis, images, {}, fetch=fake_fetch).run(dep_id)
    assert images.cache_from == ["r/p:2222222"]
