"""Nothing is lost or left unfinished: real workers (started as the Procfile starts them) are killed
mid-deployment and Redis is emptied mid-queue; the reconciler settles every deployment."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from dataclasses import replace
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest
from sqlalchemy import select

from deployer.local import LABEL_DEPLOYMENT, LABEL_INSTANCE
from slipway.db import session_scope
from slipway.deployments import BranchHead, GivenCommit, request_deployment
from slipway.models import BuildLog, Deployment, Project, utcnow
from slipway.projects import ProjectSpec, create_project
from slipway.queue import enqueue_deployment, get_queue, job_id_for, redis_connection
from slipway.settings import set_settings
from slipway.states import State, transition
from tests.support.pipeline import dockerfile
from tests.support.targets import app_image
from tests.support.workers import SETTLED_WITHIN_S, Workers, state_of, wait_for

pytestmark = pytest.mark.docker

# A Redis database of its own for the test that empties Redis: FLUSHDB there cannot touch the keys
# of tests in the other process (their queues, locks, log streams, signed-in sessions).
OWN_REDIS_DB = 9


def with_redis_db(url: str, db: int) -> str:
    """The same Redis at ``url``, database ``db`` (``unix://PATH?db=N`` or ``redis://HOST:PORT/N``)."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        query = urlencode({**parse_qs(parts.query), "db": [str(db)]}, doseq=True)
        return f"unix://{parts.netloc}{parts.path}?{query}"  # urlunsplit would drop the // of an empty host
    return urlunsplit(parts._replace(path=f"/{db}"))


@pytest.fixture
def settings(settings, request):
    """Tests marked ``own_redis_db`` use a Redis database no other test uses."""
    if request.node.get_closest_marker("own_redis_db") is None:
        return settings
    own = replace(settings, redis_url=with_redis_db(settings.redis_url, OWN_REDIS_DB))
    redis_connection(own).flushdb()
    set_settings(own)
    return own


@pytest.fixture
def workers(settings, tmp_path):
    w = Workers(settings, tmp_path)
    yield w
    w.stop_all()



@pytest.fixture
def make_project(settings, git_server, docker_client):
    """Projects with a repository over smart HTTP; whatever they leave running is removed after."""
    made = []

    def make(files: dict[str, str], repo_url: str = "") -> str:
        name = f"r-{uuid.uuid4().hex[:8]}"
        if not repo_url:
            repo = git_server.create(name)
            repo.commit(files)
            repo_url = repo.url
        with session_scope() as s:
            create_project(s, ProjectSpec(name=name, repo_url=repo_url, github_repo=f"acme/{name}"))
        made.append(name)
        return name

    yield make
    for name in made:
        for c in docker_client.containers.list(all=True, filters={"label": f"slipway.project={name}"}):
            c.remove(force=True)
        for image in docker_client.images.list(name=f"{settings.registry}/{name}"):
            for tag in image.tags:  # by tag: an identical image another test built keeps its own
                if tag.startswith(f"{settings.registry}/{name}:"):
                    docker_client.images.remove(tag, force=True)


@pytest.fixture
def silent_git_server():
    """A repository address whose server accepts connections and never says a word."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/silent.git"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def containers_of(docker_client, settings, dep_id: int) -> list:
    # sparse: no inspect per container, which a container removed meanwhile (by the reconciler) would fail with 404.
    # This test's instance only: deployment ids start at 1 in each test's database.
    labels = [f"{LABEL_DEPLOYMENT}={dep_id}", f"{LABEL_INSTANCE}={settings.queue_name}"]
    return docker_client.containers.list(all=True, sparse=True, filters={"label": labels})


def log_of(dep_id: int) -> str:
    with session_scope() as s:
        return "\n".join(s.scalars(select(BuildLog.line).where(BuildLog.deployment_id == dep_id).order_by(BuildLog.seq)))


def uncached(command: str) -> str:
    """A RUN step Docker's layer cache has never seen, so it really runs."""
    return f"echo {uuid.uuid4().hex} && {command}"


# A build that sits in its RUN step, and an app that takes its time to answer: long enough to be killed in.
SLOW_BUILD = {"run": uncached("sleep 40")}
SLOW_START = {"cmd": 'sleep 40; exec busybox httpd -f -p "$PORT" -h /www'}


# A layer of random bytes: compressed and uploaded for seconds.
SLOW_PUSH = {"run": uncached("head -c 150000000 /dev/urandom > /blob")}
# A git server that takes the connection and never answers: the fetch waits for ever.
SLOW_CLONE = {"repo": "silent"}


@pytest.mark.parametrize("phase, slow", [
    pytest.param(State.CLONING, SLOW_CLONE, id="cloning"),
    pytest.param(State.BUILDING, SLOW_BUILD, id="building"),
    pytest.param(State.PUSHING, SLOW_PUSH, id="pushing"),
    pytest.param(State.DEPLOYING, SLOW_START, id="deploying"),
])
def test_a_worker_killed_mid_deployment_leaves_it_failed_within_a_minute_and_nothing_running(
        settings, workers, make_project, silent_git_server, docker_client, phase, slow):
    if slow == SLOW_CLONE:
        name = make_project({}, repo_url=silent_git_server)
        sha = "a" * 40  # nothing to ask the silent server for
    else:
        name = make_project({"Dockerfile": dockerfile(settings.registry, **slow), "www/index.html": "x"})
        sha = None
    worker = workers.start()
    dep_id = request_deployment(name, GivenCommit(sha) if sha else BranchHead(), "cli").deployment_id
    wait_for(lambda: state_of(dep_id).state == phase.value, 60, f"deployment never reached {phase}", workers)
    if phase == State.DEPLOYING:
        # Killed while its container runs but does not answer yet, its reference stored.
        wait_for(lambda: any(c.status == "running" for c in containers_of(docker_client, settings, dep_id))
                 and state_of(dep_id).target_ref, 30, "the deploy never started its container", workers)
        ref = state_of(dep_id).target_ref
        assert [c.id for c in containers_of(docker_client, settings, dep_id)] == [ref["container_id"]]

    workers.kill(worker)
    killed_at = time.monotonic()
    assert state_of(dep_id).state == phase.value, "killed too late: the deployment had moved on"
    workers.start()  # restarted, as a process manager does

    # Final, and what a killed deploy started is gone (the pass removes it right after failing it).
    wait_for(lambda: state_of(dep_id).state_enum.final and not containers_of(docker_client, settings, dep_id),
             SETTLED_WITHIN_S - (time.monotonic() - killed_at),
             f"deployment {dep_id} unfinished, or its container left, a minute after its worker was killed", workers)
    dep = state_of(dep_id)
    assert (dep.state, dep.error_id) == ("failed", "app:worker-lost"), dep.error_message
    assert "the worker running this deployment stopped" in dep.error_message.lower()
    assert "== failed: The worker running this deployment stopped" in log_of(dep_id)
    if phase == State.DEPLOYING:
        stopped_from_reference(dep_id, workers)


def test_a_work_horse_killed_while_deploying_fails_its_deployment_and_leaves_nothing_running(
        settings, workers, make_project, docker_client):
    name = make_project({"Dockerfile": dockerfile(settings.registry, **SLOW_START), "www/index.html": "x"})
    worker = workers.start()
    dep_id = request_deployment(name, BranchHead(), "cli").deployment_id
    wait_for(lambda: any(c.status == "running" for c in containers_of(docker_client, settings, dep_id)), 60,
             "the deploy never started its container", workers)

    wait_for(lambda: state_of(dep_id).target_ref, 30, "the deploy never stored its reference", workers)
    workers.kill_horse(worker)
    killed_at = time.monotonic()
    wait_for(lambda: state_of(dep_id).state_enum.final and not containers_of(docker_client, settings, dep_id),
             SETTLED_WITHIN_S - (time.monotonic() - killed_at),
             f"deployment {dep_id} unfinished, or its container left, a minute after its work-horse died", workers)
    dep = state_of(dep_id)
    assert (dep.state, dep.error_id) == ("failed", "app:worker-lost"), dep.error_message
    assert worker.poll() is None  # the worker itself carries on
    stopped_from_reference(dep_id, workers)


def stopped_from_reference(dep_id: int, workers: Workers) -> None:
    """A release that died mid-start was stopped from the reference stored when it started (and the
    reference cleared once it was), not only found by its labels."""
    assert state_of(dep_id).target_ref is None
    said = f"stopped what deployment {dep_id} still ran on the local target, from its reference"
    wait_for(lambda: said in workers.output(), 10, "the reconciler did not stop it from its reference", workers)


def test_a_long_build_on_a_live_worker_is_never_taken_for_a_dead_one(settings, workers, make_project, queue):
    """The build outlasts the time a silent worker is given, while reconciler passes run all along."""
    from slipway.reconcile import reconcile

    name = make_project({"Dockerfile": dockerfile(settings.registry, run=uncached(f"sleep {int(settings.worker_dead_after_s) + 10}")),
                         "www/index.html": "slow but fine"})
    workers.start()
    dep_id = request_deployment(name, BranchHead(), "cli").deployment_id

    def settled() -> bool:
        reconcile(settings, wait_s=5)
        return state_of(dep_id).state_enum.final

    wait_for(settled, 180, "the deployment never finished", workers)
    dep = state_of(dep_id)
    assert dep.state == "live", f"{dep.error_message}\n{log_of(dep_id)}"


@pytest.mark.own_redis_db  # empties its Redis database: one no other test uses
def test_redis_emptied_mid_queue_loses_nothing_and_builds_each_once(settings, redis, workers, make_project):
    names = [make_project({"Dockerfile": dockerfile(settings.registry), "www/index.html": f"site {i}"})
             for i in range(3)]
    dep_ids = [request_deployment(name, BranchHead(), "cli").deployment_id for name in names]
    assert len(get_queue(settings).job_ids) == 3
    assert redis.connection_pool.connection_kwargs["db"] == OWN_REDIS_DB
    redis.flushdb()  # Redis restarted empty before any worker took them

    workers.start()
    for dep_id in dep_ids:
        wait_for(lambda d=dep_id: state_of(d).state_enum.final, 120, f"deployment {dep_id} never finished", workers)
    for dep_id in dep_ids:
        dep = state_of(dep_id)
        assert dep.state == "live", f"{dep.error_message}\n{log_of(dep_id)}"
        assert log_of(dep_id).count("== building") == 1


def test_a_second_delivery_of_a_job_never_builds_its_deployment_again(settings, redis, queue, make_project, workers):
    """The reconciler may queue a deployment again just as the road that created it does: two
    workers take the two copies at once, and only one builds."""
    from rq import Worker

    name = make_project({"Dockerfile": dockerfile(settings.registry), "www/index.html": "once"})
    workers.start()
    workers.start()
    wait_for(lambda: Worker.count(queue=queue) == 2, 60, "the workers never came up", workers)
    dep_id = request_deployment(name, BranchHead(), "cli").deployment_id
    redis.rpush(queue.key, job_id_for(dep_id))  # a copy behind rq's back, as a lost race would leave

    wait_for(lambda: state_of(dep_id).state_enum.final and not queue.job_ids, 120, "the deployment never finished",
             workers)
    assert state_of(dep_id).state == "live", log_of(dep_id)
    assert log_of(dep_id).count("== building") == 1


class Recorder:
    def __init__(self):
        self.reported: list[int] = []

    def report(self, deployment_id: int) -> None:
        self.reported.append(deployment_id)


def test_reporters_hear_of_every_deployment_the_reconciler_fails(settings, redis, queue, make_project):
    from slipway.reconcile import Reconciler

    name = make_project({"Dockerfile": dockerfile(settings.registry), "www/index.html": "x"})
    dep_id = request_deployment(name, BranchHead(), "cli").deployment_id
    with session_scope() as s:
        dep = s.get(Deployment, dep_id)
        transition(dep, State.CLONING)
        transition(dep, State.BUILDING)
    queue.empty()  # its job is gone: Redis lost it while it was building
    recorder = Recorder()
    outcome = Reconciler(settings, queue, {}, [recorder]).run()
    assert outcome.failed == [dep_id] and recorder.reported == [dep_id]


def test_containers_of_deployments_that_ended_without_going_live_are_removed(settings, queue, make_project,
                                                                             docker_client):
    """A killed deploy's container outlives its deployment (restart policy unless-stopped) until a pass."""
    from deployer.local import LABEL_PROJECT
    from slipway.reconcile import Reconciler
    from slipway.targets import targets_from_settings

    name = make_project({})
    ids = {}
    with session_scope() as s:
        project = s.query(Project).filter_by(name=name).one()
        for state in ("live", "cancelled", "failed", "superseded", "deploying"):
            dep = Deployment(project=project, sha="c" * 40, branch="main", trigger="cli", state=state)
            s.add(dep)
            s.flush()
            ids[state] = dep.id

    def start(dep_id: int, instance: str) -> None:
        docker_client.containers.run(f"{settings.registry}/base/busybox:latest", ["sleep", "300"], detach=True,
                                     labels={LABEL_PROJECT: name, LABEL_DEPLOYMENT: str(dep_id),
                                             LABEL_INSTANCE: instance},
                                     restart_policy={"Name": "unless-stopped"})

    for dep_id in ids.values():
        start(dep_id, settings.queue_name)
    enqueue_deployment(ids["deploying"], settings)  # its job is waiting: it is not over
    start(ids["failed"], "another-installation")  # same engine, not ours to touch

    outcome = Reconciler(settings, queue, targets_from_settings(settings)).run()
    assert outcome.removed == sorted([ids["cancelled"], ids["failed"], ids["superseded"]])
    left = {(c.labels[LABEL_DEPLOYMENT], c.labels[LABEL_INSTANCE])
            for c in docker_client.containers.list(all=True, filters={"label": f"{LABEL_PROJECT}={name}"})}
    assert left == {(str(ids["live"]), settings.queue_name), (str(ids["deploying"]), settings.queue_name),
                    (str(ids["failed"]), "another-installation")}


def test_a_deployment_that_died_while_its_release_started_is_stopped_from_its_stored_reference(
        settings, queue, make_project, docker_client, tmp_path):
    """Its worker died between start and ready: the container's reference is on the deployment."""
    from builder.images import RegistryAuth
    from deployer.base import Release
    from deployer.local import LocalTarget
    from slipway.reconcile import Reconciler

    name = make_project({})
    auth = RegistryAuth(settings.registry, settings.registry_username, settings.registry_password)
    target = LocalTarget(settings.docker_host, auth, instance=settings.queue_name)
    with session_scope() as s:
        project = s.query(Project).filter_by(name=name).one()
        dep = Deployment(project=project, sha="c" * 40, branch="main", trigger="cli", state="deploying",
                         started_at=utcnow())
        s.add(dep)
        s.flush()
        dep_id = dep.id
    ref = target.start(Release(name, dep_id, app_image(settings, tmp_path, name)), lambda line: None)
    with session_scope() as s:
        s.get(Deployment, dep_id).target_ref = ref
    # No job in Redis for it any more: its worker is gone.

    outcome = Reconciler(settings, queue, {"local": target}).run()
    assert outcome.failed == [dep_id]
    assert outcome.stopped == [dep_id] and outcome.removed == [dep_id]
    assert docker_client.containers.list(all=True, filters={"id": ref["container_id"]}) == []
    assert state_of(dep_id).target_ref is None
    # Handled once: the next pass has nothing left to stop.
    again = Reconciler(settings, queue, {"local": target}).run()
    assert again is not None and not again
