"""Registry clean-up on the real registry: old manifests go, kept and live ones stay pullable,
a deleted project leaves no tags, and collecting blobs shrinks the registry's data dir."""

from __future__ import annotations

import os
import uuid
from dataclasses import replace

import docker
import pytest
import requests
from rq.registry import ScheduledJobRegistry

from builder.images import DockerImageBuilder, RegistryAuth
from builder.registry import MANIFEST_TYPES, RegistryClient, RegistryError, split_reference
from deployer.base import Release, Running
from deployer.local import LocalTarget
from slipway.db import session_scope
from slipway.errors import UserError
from slipway.jobs import Pipeline
from slipway.models import Deployment, Project
from slipway.registry_gc import (
    COLLECT_JOB,
    RegistryUse,
    ServicesScript,
    collect_blobs,
    collect_job,
    delete_all_images,
    delete_old_images,
    deployment_went_live,
    disk_usage,
)
from slipway.settings import Settings
from slipway.states import State
from tests.support.deployments import fake_fetch, make_deployment
from tests.support.images import StandInImages
from tests.support.targets import deploy

# The tests that run `scripts/services.sh gc` stop the registry, and delete what belongs to no project of
# theirs: nothing else may run meanwhile (serial). The others name a registry of their own.


@pytest.fixture(autouse=True)
def registry_free(settings, redis):
    """Each test starts with nobody using the registry: an earlier test's worker, killed on purpose,
    may have left a claim that lapses only at its job's time limit."""
    redis.delete(RegistryUse(redis, settings.registry).users_key)


def auth_of(settings: Settings) -> RegistryAuth:
    return RegistryAuth(settings.registry, settings.registry_username, settings.registry_password)


def sha_of(n: int) -> str:
    return f"{n:07d}" + "c" * 33



@pytest.fixture
def push_version(settings, tmp_path, docker_client):
    """Build and push a small image with a layer of its own (200 kB of random bytes)."""
    builder = DockerImageBuilder(settings.docker_host, auth_of(settings))

    def push(project: str, n: int) -> str:
        ctx = tmp_path / f"{project}-{n}"
        ctx.mkdir()
        (ctx / "Dockerfile").write_text(f"FROM {settings.registry}/base/busybox:latest\nCOPY data /data\n")
        (ctx / "data").write_bytes(os.urandom(200_000))
        tag = f"{settings.registry}/{project}:{sha_of(n)[:7]}"
        builder.build(ctx, "Dockerfile", ".", tag, lambda line: None, timeout_s=120)
        builder.push(tag, lambda line: None)
        return tag

    return push


def manifest_status(settings: Settings, repository: str, reference: str) -> int:
    resp = requests.head(f"http://{settings.registry}/v2/{repository}/manifests/{reference}",
                         auth=(settings.registry_username, settings.registry_password),
                         headers={"Accept": MANIFEST_TYPES}, timeout=10)
    return resp.status_code


def pullable(settings: Settings, client: docker.DockerClient, image: str) -> bool:
    """Whether the registry serves the image: pulled fresh, after dropping the local copy."""
    try:
        client.images.remove(image, force=True)
    except docker.errors.ImageNotFound:
        pass
    try:
        client.images.pull(image, auth_config=auth_of(settings).as_auth_config())
    except docker.errors.NotFound:
        return False
    return True


def add_project(name: str, deployments: list[tuple[int, str, int | None, bool]]) -> dict[int, int]:
    """A project with deployments (version n, state, pull request, image pushed); returns n -> id."""
    from slipway.settings import get_settings

    registry = get_settings().registry
    ids = {}
    with session_scope() as s:
        project = Project(name=name, repo_url="http://127.0.0.1:1/x.git")
        s.add(project)
        for n, state, pr, pushed in deployments:
            dep = Deployment(project=project, sha=sha_of(n), branch="main", trigger="push", state=state,
                             pr_number=pr, environment="preview" if pr else "production",
                             image=f"{registry}/{name}:{sha_of(n)[:7]}" if pushed else None)
            s.add(dep)
            s.flush()
            ids[n] = dep.id
    return ids


def test_split_reference():
    assert split_reference("127.0.0.1:5000/site:abc1234", "127.0.0.1:5000") == ("site", "abc1234")
    assert split_reference("127.0.0.1:5000/site@sha256:0f", "127.0.0.1:5000") == ("site", "sha256:0f")
    assert split_reference("127.0.0.1:5000/base/busybox", "127.0.0.1:5000") == ("base/busybox", "latest")
    assert split_reference("docker.io/library/node:22", "127.0.0.1:5000") is None


@pytest.mark.docker
@pytest.mark.serial
def test_old_versions_go_and_the_live_and_rollback_ones_stay(
        settings, base_settings, redis, docker_client, push_version):
    name = f"gc-{uuid.uuid4().hex[:8]}"
    tags = {n: push_version(name, n) for n in range(8)}
    registry = RegistryClient(auth_of(settings))
    digests = {n: registry.digest(*split_reference(tag, settings.registry)) for n, tag in tags.items()}
    assert None not in digests.values()
    add_project(name, [
        (0, "superseded", None, True), (1, "superseded", None, True), (2, "superseded", None, True),
        (3, "superseded", None, True),
        (4, "live", None, True),  # production
        (5, "live", 7, True),  # a pull request's preview
        (6, "failed", None, True),  # pushed, then never answered
        (7, "pushing", None, False),  # pushed a moment ago; its image is not recorded yet
    ])
    said = []
    assert delete_old_images(settings, registry, name, 3, said.append) == 3
    assert said == [f"deleted 3 old image(s) of {name} from the registry"]

    for n in (0, 1, 6):
        assert manifest_status(settings, name, digests[n]) == 404
        assert manifest_status(settings, name, sha_of(n)[:7]) == 404
    # Live in both slots, the two production versions a rollback goes back to, the one being pushed.
    for n in (2, 3, 4, 5, 7):
        assert pullable(settings, docker_client, tags[n]), n
    assert sorted(registry.tags(name)) == sorted(sha_of(n)[:7] for n in (2, 3, 4, 5, 7))
    assert delete_old_images(settings, registry, name, 3, said.append) == 0

    # A deployment whose image went keeps its row; running it again says why it cannot.
    target = LocalTarget(settings.docker_host, auth_of(settings), health_timeout_s=5)
    with pytest.raises(UserError) as err:
        deploy(target, Release(name, 1, tags[0]), lambda line: None)
    assert err.value.message_id == "deploy:user:image-gone"

    # Blob collection frees the deleted versions' layers; what stays is whole, and pushing works.
    data = base_settings.data_path / "registry" / "data"
    before = disk_usage(data)
    said.clear()
    assert collect_blobs(settings, redis, ServicesScript(), said.append) is True
    assert any("registry garbage collected" in line for line in said), said
    assert disk_usage(data) <= before - 3 * 200_000
    for n in (2, 4, 5):
        assert pullable(settings, docker_client, tags[n]), n
    later = push_version(name, 8)
    assert pullable(settings, docker_client, later)

    # A deleted project's repository keeps no tags.
    assert delete_all_images(registry, name, said.append) == 6
    assert registry.tags(name) == []
    assert manifest_status(settings, name, digests[4]) == 404


@pytest.mark.docker
def test_an_image_kept_by_digest_alone_gets_a_tag_so_collection_keeps_it(settings, push_version):
    name = f"gc-{uuid.uuid4().hex[:8]}"
    registry = RegistryClient(auth_of(settings))
    push_version(name, 1)
    digest = registry.digest(name, sha_of(1)[:7])
    ids = add_project(name, [(1, "live", None, False)])
    with session_scope() as s:
        s.get(Deployment, ids[1]).image = f"{settings.registry}/{name}@{digest}"
    push_version(name, 2)
    # Its tag moves on (the same commit rebuilt, say): only the digest names the live image now.
    registry.tag(name, registry.digest(name, sha_of(2)[:7]), sha_of(1)[:7])
    assert delete_old_images(settings, registry, name, 1, lambda line: None) == 1
    assert registry.tags(name) == [f"keep-{digest.rpartition(':')[2][:12]}"]
    assert manifest_status(settings, name, digest) == 200


# -- who may use the registry ------------------------------------------------------------------

class RecordingCollector:
    def __init__(self, during=None):
        self.runs = 0
        self.during = during

    def collect(self, say) -> None:
        self.runs += 1
        if self.during:
            self.during()


class StopWaiting(Exception):
    pass


def test_collection_waits_for_deployments_and_deployments_wait_for_collection(settings, redis):
    settings = replace(settings, registry=f"gc-test-{uuid.uuid4().hex[:8]}:5000")
    use = RegistryUse(redis, settings.registry)
    collector = RecordingCollector()

    use.enter("deployment-1", 60, print)
    assert collect_blobs(settings, redis, collector, print) is False
    assert collector.runs == 0
    use.leave("deployment-1")
    assert collect_blobs(settings, redis, collector, print) is True
    assert collector.runs == 1

    # A deployment that starts while blobs are collected waits, holding no claim meanwhile.
    said, waits = [], []

    def start_a_deployment() -> None:
        def wait(seconds: float) -> None:
            waits.append(seconds)
            assert use.users() == []
            raise StopWaiting()

        with pytest.raises(StopWaiting):
            use.enter("deployment-2", 60, said.append, wait=wait)

    assert collect_blobs(settings, redis, RecordingCollector(during=start_a_deployment), print) is True
    assert waits == [1.0] and said == ["waiting for the registry's garbage collection to finish"]
    use.enter("deployment-2", 60, said.append, wait=lambda s: pytest.fail("waited with no collection running"))
    use.leave("deployment-2")

    # A claim left by a killed worker lapses at its deadline.
    use.enter("killed", 0, print)
    assert collect_blobs(settings, redis, collector, print) is True


def test_a_busy_registry_is_collected_later(settings, redis, queue):
    use = RegistryUse(redis, settings.registry)
    use.enter("busy-deployment", 60, print)
    try:
        assert collect_job() == "busy: queued again"
    finally:
        use.leave("busy-deployment")
    (job_id,) = ScheduledJobRegistry(queue=queue).get_job_ids()
    job = queue.fetch_job(job_id)
    assert (job.func_name, tuple(job.args)) == (COLLECT_JOB, (2,))  # JSON keeps args as a list


def test_every_nth_live_deployment_queues_a_collection(settings, redis, queue):
    settings = replace(settings, registry=f"gc-test-{uuid.uuid4().hex[:8]}:5000", registry_gc_every="3")
    assert [deployment_went_live(settings, redis) for _ in range(6)] == [False, False, True, False, False, True]
    assert [j.func_name for j in queue.jobs] == [COLLECT_JOB, COLLECT_JOB]
    never = replace(settings, registry_gc_every="0")
    assert not any(deployment_went_live(never, redis) for _ in range(6))


# -- the pipeline ------------------------------------------------------------------------------

class StandInTarget:
    name = "local"

    def start(self, release, log) -> dict:
        return {}

    def wait_ready(self, release, ref, log, should_stop=None) -> Running:
        return Running(url="http://127.0.0.1:1", ref=ref)

    def retire(self, release, keep, log) -> None:
        pass


class BrokenRegistry:
    """A registry that fails every call."""

    def __init__(self):
        self.calls = 0

    def tags(self, repository: str) -> list[str]:
        self.calls += 1
        raise RegistryError("the registry is down", 503)

    digest = delete = tag = tags


def test_a_registry_failure_never_fails_a_live_deployment(settings, redis):
    # A registry of its own name: no other test's deployment holds a claim on it.
    settings = replace(settings, registry=f"gc-test-{uuid.uuid4().hex[:8]}:5000")

    dep_id = make_deployment()
    registry = BrokenRegistry()
    Pipeline(settings, redis, StandInImages(), {"local": StandInTarget()}, fetch=fake_fetch,
             registry=registry).run(dep_id)
    with session_scope() as s:
        assert s.get(Deployment, dep_id).state == State.LIVE.value
    assert registry.calls == 1
    assert RegistryUse(redis, settings.registry).users() == []



@pytest.mark.docker
@pytest.mark.serial
def test_registry_gc_command_cleans_every_project_and_orphans_on_request(settings, push_version):
    from click.testing import CliRunner

    from slipway.cli import main

    name, orphan = f"gc-{uuid.uuid4().hex[:8]}", f"gc-{uuid.uuid4().hex[:8]}"
    for n in range(5):
        push_version(name, n)
    add_project(name, [(n, "superseded", None, True) for n in range(4)] + [(4, "live", None, True)])
    kept = sorted(sha_of(n)[:7] for n in (2, 3, 4))
    push_version(orphan, 0)  # a project deleted before Slipway cleaned the registry

    result = CliRunner().invoke(main, ["registry", "gc"])
    assert result.exit_code == 0, result.output
    registry = RegistryClient(auth_of(settings))
    assert sorted(registry.tags(name)) == kept
    assert "belong to no project" in result.output and orphan in result.output and registry.tags(orphan)
    assert "registry garbage collected" in result.output

    result = CliRunner().invoke(main, ["registry", "gc", "--delete-orphans"])
    assert result.exit_code == 0, result.output
    assert registry.tags(orphan) == [] and sorted(registry.tags(name)) == kept
