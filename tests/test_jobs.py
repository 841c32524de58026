"""Every path of the deployment job ends in a final state, with a reason a user can act on."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from rq.executions import Execution
from rq.job import JobStatus
from rq.registry import StartedJobRegistry
from rq.utils import utcformat

from slipway.db import session_scope
from slipway.jobs import Pipeline
from slipway.models import Deployment, utcnow
from slipway.queue import enqueue_deployment, get_queue, job_id_for
from slipway.registry_gc import RegistryUse
from slipway.states import State
from tests.support.deployments import fake_fetch, make_deployment
from tests.support.images import StandInImages

pytestmark = pytest.mark.both_databases


def get(dep_id: int) -> Deployment:
    with session_scope() as s:
        return s.get(Deployment, dep_id)


class ExplodingImages:
    """An image builder whose build raises an unexpected error carrying a secret."""

    def __init__(self, secret: str):
        self.secret = secret

    def build(self, *args, **kwargs):
        raise RuntimeError(f"kaboom {self.secret}")

    def push(self, tag, log):  # pragma: no cover - never reached
        raise AssertionError


def test_unexpected_error_fails_with_a_reference_and_no_details(settings, redis):
    dep_id = make_deployment()
    secret = settings.registry_password or "a-registry-password"
    Pipeline(settings, redis, ExplodingImages(secret), {}, fetch=fake_fetch).run(dep_id)
    dep = get(dep_id)
    assert dep.state == "failed" and dep.error_id == "app:unexpected"
    assert "reference" in dep.error_message and "kaboom" not in dep.error_message
    assert secret not in dep.error_message
    assert dep.finished_at is not None
    assert not settings.workdir(dep_id).exists()


def test_a_deployment_cancelled_before_its_job_runs_stays_cancelled(settings, redis):
    dep_id = make_deployment("cancelled")
    Pipeline(settings, redis, ExplodingImages("x"), {}, fetch=fake_fetch).run(dep_id)
    assert get(dep_id).state == "cancelled"


def test_an_abandoned_job_fails_its_deployment(settings, redis, queue):
    """A worker killed mid-build: rq's registry cleanup runs our failure callback."""
    dep_id = make_deployment("building")
    enqueue_deployment(dep_id, settings)
    job = queue.fetch_job(job_id_for(dep_id))
    queue.remove(job)
    # What a worker records when it starts the job, before it is killed.
    with redis.pipeline() as pipe:
        Execution.create(job, ttl=1, pipeline=pipe, worker_name="killed-worker")
        job.set_status(JobStatus.STARTED, pipeline=pipe)
        pipe.execute()
    StartedJobRegistry(queue=queue).cleanup(timestamp=time.time() + 60)
    dep = get(dep_id)
    assert dep.state == "failed" and dep.error_id == "app:worker-lost"


def reconcile_once(settings):
    from slipway.reconcile import Reconciler

    # No targets: these deployments never ran a container (tests/test_reconcile.py covers those).
    return Reconciler(settings, get_queue(settings), {}).run()


def started_by(queue, dep_id: int, worker) -> None:
    """What a worker records when it dequeues a deployment's job and starts it."""
    job = queue.fetch_job(job_id_for(dep_id))
    with queue.connection.pipeline() as pipe:
        job.prepare_for_execution(worker.name, pipe)
        pipe.execute()


def test_reconciler_fails_started_deployments_whose_job_is_gone_and_queues_lost_ones_again(settings, redis, queue):
    stale = make_deployment("building")
    lost = make_deployment("queued")
    registry = RegistryUse(redis, settings.registry)
    registry.enter(job_id_for(stale), 3600, print)  # as its job did when it started
    outcome = reconcile_once(settings)
    assert outcome.failed == [stale] and outcome.requeued == [lost]
    assert job_id_for(stale) not in registry.users()  # blob collection need not wait an hour for it
    assert get(stale).state == "failed" and get(stale).error_id == "app:worker-lost"
    assert get(lost).state == "queued" and queue.job_ids == [job_id_for(lost)]
    # Queued once: a second pass, or the road that created it, never queues it twice.
    enqueue_deployment(lost, settings)
    assert reconcile_once(settings).requeued == [] and queue.job_ids == [job_id_for(lost)]


def test_reconciler_leaves_jobs_of_live_workers_alone_and_fails_those_of_dead_ones(settings, redis, queue):
    from rq import Worker

    alive, silent = Worker([queue], connection=redis), Worker([queue], connection=redis)
    for w in (alive, silent):
        w.register_birth()
    # A killed worker never deregisters: its key stays, with a heartbeat that stops.
    redis.hset(silent.key, "last_heartbeat", utcformat(utcnow() - timedelta(seconds=settings.worker_dead_after_s + 5)))
    running, orphaned, gone = make_deployment("building"), make_deployment("deploying"), make_deployment("cloning")
    for dep_id in (running, orphaned, gone):
        enqueue_deployment(dep_id, settings)
    started_by(queue, running, alive)
    started_by(queue, orphaned, silent)
    started_by(queue, gone, Worker([queue], connection=redis))  # never registered: gone

    assert reconcile_once(settings).failed == [orphaned, gone]
    assert get(running).state == State.BUILDING.value
    assert get(orphaned).error_id == get(gone).error_id == "app:worker-lost"
    alive.register_death()
    silent.register_death()


def test_the_worker_class_preloads_the_pipeline_and_reaps_on_start(settings, redis, queue):
    import subprocess
    import sys

    # Importing the worker class loads the whole pipeline (so forked jobs need not).
    out = subprocess.run([sys.executable, "-c", "import sys, slipway.worker; "
                          "print(all(m in sys.modules for m in ('slipway.jobs', 'builder.images', 'deployer.local', 'git')))"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"

    from slipway.worker import Worker

    stale = make_deployment("cloning")
    Worker([queue], connection=redis).work(burst=True)
    assert get(stale).error_id == "app:worker-lost"


class RefCheckingTarget:
    """A target that, while its release gets ready, reads what the database holds of it."""

    name = "local"

    def __init__(self, ready: bool):
        self.ready = ready
        self.seen_while_waiting: list[dict | None] = []

    def start(self, release, log) -> dict:
        return {"container_id": f"c-{release.deployment_id}"}

    def wait_ready(self, release, ref, log, should_stop=None):
        from deployer.base import Running
        from slipway.errors import UserError

        self.seen_while_waiting.append(get(release.deployment_id).target_ref)
        if not self.ready:
            raise UserError("deploy:user:unhealthy", port=1, seconds=1)
        return Running(url="http://127.0.0.1:1", ref=ref)

    def retire(self, release, keep, log) -> None:
        pass


@pytest.mark.parametrize("ready", [True, False])
def test_the_target_reference_is_stored_before_the_release_is_waited_for(settings, redis, ready):
    dep_id = make_deployment()
    target = RefCheckingTarget(ready)
    Pipeline(settings, redis, StandInImages(), {"local": target}, fetch=fake_fetch).run(dep_id)
    assert target.seen_while_waiting == [{"container_id": f"c-{dep_id}"}]
    dep = get(dep_id)
    assert dep.state == ("live" if ready else "failed")
    assert dep.target_ref == {"container_id": f"c-{dep_id}"}


def test_a_deployment_that_goes_live_answered_so_it_is_up_until_a_check_finds_otherwise(settings, redis):
    dep_id = make_deployment()
    Pipeline(settings, redis, StandInImages(), {"local": RefCheckingTarget(True)}, fetch=fake_fetch).run(dep_id)
    dep = get(dep_id)
    assert (dep.state, dep.health, dep.health_detail) == ("live", "up", None)
    assert dep.health_since == dep.health_checked_at == dep.finished_at is not None


class RecordingTarget:
    """A target that keeps the releases it was asked to start."""

    name = "local"

    def __init__(self):
        self.releases = []

    def start(self, release, log) -> dict:
        self.releases.append(release)
        return {"container_id": f"c-{release.deployment_id}"}

    def wait_ready(self, release, ref, log, should_stop=None):
        from deployer.base import Running

        return Running(url="http://127.0.0.1:1", ref=ref)

    def retire(self, release, keep, log) -> None:
        pass


def test_a_repository_without_a_dockerfile_is_built_from_its_plan_and_its_slipway_toml_reaches_the_release(
        settings, redis):
    from dataclasses import replace

    from slipway.models import BuildLog

    def fetch_site(repo_url, sha, dest, log, **kwargs):
        dest.mkdir(parents=True)
        (dest / "index.html").write_text("<h1>hi</h1>")
        (dest / "slipway.toml").write_text('health_check = "/up.html"\nwatch = ["site"]\n[env]\nGREETING = "hello"\nSECRET = "repo"\n'
                                           '[resources]\ncpu = "0.75"\n')
        return dest

    dep_id = make_deployment()
    with session_scope() as s:
        project = s.get(Deployment, dep_id).project
        project.akash_settings = {"cpu": "0.5", "max_price_uact": 50}
    from slipway import envvars

    with session_scope() as s:
        envvars.set_vars(s, s.get(Deployment, dep_id).project, {"SECRET": "the-project-s"})
    images, target = StandInImages(), RecordingTarget()
    mirror = replace(settings, plan_static_image="mirror.example/caddy:2")
    Pipeline(mirror, redis, images, {"local": target}, fetch=fetch_site).run(dep_id)
    assert get(dep_id).state == "live"
    assert images.texts[0].startswith("FROM mirror.example/caddy:2\n")
    release = target.releases[0]
    assert release.health_path == "/up.html"
    assert (release.env["GREETING"], release.env["SECRET"]) == ("hello", "the-project-s")  # the project's wins
    assert release.akash == {"cpu": "0.75", "max_price_uact": 50}  # the repository's file over the project's
    with session_scope() as s:
        text = "\n".join(row.line for row in s.query(BuildLog).filter_by(deployment_id=dep_id))
    assert "# Slipway build plan: static files (index.html), served by Caddy" in text
    with session_scope() as s:
        assert s.get(Deployment, dep_id).project.watch_paths == ["site"]  # for the project's next pushes

    # A rollback or redeploy runs the image without reading the repository: as the commit's file said.
    from slipway.deployments import request_redeploy

    again = request_redeploy(dep_id, "redeploy")
    Pipeline(mirror, redis, images, {"local": target}, fetch=fake_fetch).run(again)
    assert get(again).state == "live" and len(images.texts) == 1  # not built again
    rerun = target.releases[1]
    assert rerun.health_path == "/up.html"
    assert (rerun.env["GREETING"], rerun.env["SECRET"]) == ("hello", "the-project-s")
    assert rerun.akash == {"cpu": "0.75", "max_price_uact": 50}
