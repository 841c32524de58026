"""The build host's images stay within their budget: oldest first, never what a deployment needs."""

from __future__ import annotations

import uuid

import pytest
from docker.errors import ImageNotFound

from builder.images import DockerImageBuilder, RegistryAuth, removable
from slipway.db import session_scope
from slipway.jobs import KEEP_IMAGES, Pipeline
from slipway.models import Deployment, Project

REPO = "127.0.0.1:5000/shop"


def entry(tags=(), digests=(), created=100, containers=0, id_=None) -> dict:
    return {"Id": id_ or f"sha256:{uuid.uuid4().hex}", "RepoTags": list(tags) or ["<none>:<none>"],
            "RepoDigests": list(digests), "Created": created, "Containers": containers, "Size": 10, "SharedSize": 0}


def test_only_slipways_images_that_nothing_keeps_and_no_running_build_uses_may_go():
    old_version = entry([f"{REPO}:1111111"], [f"{REPO}@sha256:aa"])
    cache = entry()  # an earlier build's untagged step
    images = [
        old_version, cache,
        entry([f"{REPO}:2222222"]),  # live
        entry([], [f"{REPO}@sha256:bb"]),  # a rollback target, known by digest
        entry(["127.0.0.1:5000/base/busybox:latest"]),  # a base image: not a project's
        entry(["node:22-slim"]),
        entry([f"{REPO}:3333333"], containers=1),  # a container runs it
        entry(created=1000),  # made while a build may still be running
        entry([f"{REPO}:4444444", "elsewhere/copy:1"]),  # also another's
    ]
    keep = {f"{REPO}:2222222", f"{REPO}@sha256:bb"}
    assert removable(images, {REPO}, keep, made_before=500) == [old_version, cache]
    assert removable(images, {REPO}, keep, made_before=500, untagged=False) == [old_version]


def test_the_images_kept_are_every_projects_live_one_rollback_targets_and_those_about_to_be_pushed(settings, redis):
    with session_scope() as s:
        p = Project(name=f"budget-{uuid.uuid4().hex[:6]}", repo_url="x")
        states = ["superseded"] * (KEEP_IMAGES + 1) + ["live", "failed"]
        for n, state in enumerate(states):
            s.add(Deployment(project=p, sha=f"{n}" * 40, branch="main", trigger="cli", state=state,
                             image=f"{settings.registry}/{p.name}:{n}"))
        s.add(Deployment(project=p, sha="f" * 40, branch="main", trigger="cli", state="building"))
        name = p.name
    repositories, keep = Pipeline(settings, redis, None, {})._kept_on_build_host()
    repository = f"{settings.registry}/{name}"
    assert repository in repositories
    live = len(states) - 2
    mine = {ref for ref in keep if ref.startswith(repository + ":")}
    assert mine == {f"{repository}:{n}" for n in range(live - KEEP_IMAGES + 1, live + 1)} | {f"{repository}:fffffff"}


@pytest.mark.docker
def test_past_the_budget_the_oldest_image_nothing_keeps_goes_first(settings, tmp_path, docker_client):
    auth = RegistryAuth(settings.registry, settings.registry_username, settings.registry_password)
    builder = DockerImageBuilder(settings.build_docker_host, auth)
    repository = f"{settings.registry}/budget-{uuid.uuid4().hex[:8]}"
    for version in ("a", "b", "c"):
        (tmp_path / "Dockerfile").write_text(f"FROM {settings.registry}/base/busybox:latest\n"
                                             f"RUN head -c 200000 /dev/urandom > /blob-{version}\n")
        builder.build(tmp_path, "Dockerfile", ".", f"{repository}:{version}", print, timeout_s=120)
    used = docker_client.df()["LayersSize"]
    lines: list[str] = []
    # One byte over: the oldest image nothing keeps goes, and that is enough.
    keep = {f"{repository}:a"}
    assert builder.tidy(used - 1, {repository}, keep, lines.append, grace_s=0, untagged=False) == 1
    assert "over the budget of" in lines[0] and "(SLIPWAY_BUILD_CACHE_BUDGET)" in lines[0]
    with pytest.raises(ImageNotFound):
        docker_client.images.get(f"{repository}:b")
    docker_client.images.get(f"{repository}:a")
    docker_client.images.get(f"{repository}:c")
    # No budget left: everything of the project that nothing keeps goes; base images stay.
    assert builder.tidy(0, {repository}, keep, lines.append, grace_s=0, untagged=False) == 1
    assert [t for i in docker_client.images.list(name=repository) for t in i.tags] == [f"{repository}:a"]
    docker_client.images.get(f"{settings.registry}/base/busybox:latest")
    docker_client.images.remove(f"{repository}:a")


def test_pruning_keeps_the_newest_builds_even_one_the_cache_answered_with_an_old_image(settings, tmp_path,
                                                                                       docker_client):
    """A build the cache answers is an image made long ago (by this project or any other), tagged now:
    it is one of the newest, and the oldest build goes instead."""
    auth = RegistryAuth(settings.registry, settings.registry_username, settings.registry_password)
    builder = DockerImageBuilder(settings.build_docker_host, auth)
    repository = f"{settings.registry}/prune-{uuid.uuid4().hex[:8]}"
    for version in ("a", "b"):
        (tmp_path / "Dockerfile").write_text(f"FROM {settings.registry}/base/busybox:latest\n"
                                             f"RUN echo {uuid.uuid4().hex} > /version-{version}\n")
        builder.build(tmp_path, "Dockerfile", ".", f"{repository}:{version}", print, timeout_s=120)
    # "c": the same files as an image made before both (the base image), as a cached build tags it.
    docker_client.images.get(f"{settings.registry}/base/busybox:latest").tag(repository, "c")
    lines: list[str] = []
    try:
        assert builder.prune(repository, 2, lines.append) == 1
        assert sorted(t for i in docker_client.images.list(name=repository) for t in i.tags
                      if t.startswith(repository + ":")) == [f"{repository}:b", f"{repository}:c"]
    finally:
        for image in docker_client.images.list(name=repository):
            for tag in image.tags:
                if tag.startswith(repository + ":"):
                    docker_client.images.remove(tag)
