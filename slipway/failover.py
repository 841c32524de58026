"""Failover: a live deployment whose provider stopped answering (for ``SLIPWAY_AKASH_FAILOVER_AFTER``
seconds) or whose lease closed under it is moved to another provider by the same policy.

The periodic check (``slipway.health``) enqueues :func:`run_failover` with the deployment's id only.
The job asks the target to run the same release elsewhere (``target.failover``), then stores the new
reference on the same deployment, which stays live (no state changes: it is still the version
that should run), moves its proxy routes to the new provider (its stable URLs stay; without the proxy
the provider's URI becomes its URL), appends what happened to its log and records the lease events.
"""

from __future__ import annotations

import logging
import uuid
from typing import Mapping

from redis import Redis
from rq.exceptions import DuplicateJobError

from deployer.base import ended_events, failure_events
from slipway import envvars, lease_events
from slipway.buildlog import BuildLogWriter, SecretMasker
from slipway.db import session_scope
from slipway.health import UP
from slipway.interfaces import Release, Target
from slipway.logs import bound_deployment
from slipway.models import Deployment, utcnow
from slipway.proxy import sync_routes
from slipway.settings import Settings, get_settings
from slipway.states import State

log = logging.getLogger(__name__)

JOB_FUNCTION = "slipway.failover.run_failover"


def failover_job_id(deployment_id: int, settings: Settings) -> str:
    return f"{settings.queue_name}-failover-{deployment_id}"


def enqueue_failover(deployment_id: int, settings: Settings, queue=None) -> str:
    """Queue one failover of a deployment; one at a time (a queued or running one is left alone)."""
    from slipway.queue import get_queue

    job_id = failover_job_id(deployment_id, settings)
    try:
        (queue or get_queue(settings)).enqueue_call(
            JOB_FUNCTION, args=(deployment_id,), job_id=job_id, timeout=int(settings.akash_ready_timeout) * 3 + 600,
            # Nothing kept once done, so a later failover of the same deployment can be queued.
            result_ttl=0, failure_ttl=3600, description=f"failover of deployment {deployment_id}", unique=True)
    except DuplicateJobError:
        pass
    return job_id


def failover(settings: Settings, redis: Redis, targets: Mapping[str, Target], deployment_id: int) -> bool:
    """Move one live deployment to another provider; True if it moved."""
    with session_scope(settings) as session:
        dep = session.get(Deployment, deployment_id)
        if dep is None or dep.state != State.LIVE.value or not dep.target_ref or not dep.image:
            return False
        project = dep.project
        target = targets.get(project.target)
        if target is None or not hasattr(target, "failover"):
            return False
        env = envvars.decrypted(session, project.id, build=False)  # the running app's, never the build's
        release = Release(project.name, dep.id, dep.image, project.health_path, env=env, slot=dep.slot)
        ref, why = dict(dep.target_ref), dep.health_detail or ""
    writer = BuildLogWriter(deployment_id, settings, redis, SecretMasker(settings.secret_values()))
    writer.masker.add(*env.values())
    say = writer.write
    say(f"== failover: {why or 'its provider stopped answering'}")
    try:
        running = target.failover(release, ref, say, why=why)
    except Exception as exc:  # noqa: BLE001 - the old release stays recorded; the next check tries again
        code = uuid.uuid4().hex[:8]
        log.exception("failover of deployment %s failed (ref %s)", deployment_id, code)
        say(f"== failover failed ({type(exc).__name__}, ref {code}); the next health check tries again")
        if failure_events(exc):  # the new deployment it created and closed again
            with session_scope(settings) as session:
                lease_events.record(session, deployment_id, failure_events(exc))
        writer.close(State.LIVE.value)
        return False
    now = utcnow()
    with session_scope(settings) as session:
        dep = session.get(Deployment, deployment_id, with_for_update=True)
        moved = dep is not None and dep.state == State.LIVE.value
        if moved:
            dep.target_ref = running.ref
            if not dep.slot_url:  # not behind the proxy: its URL was the provider's
                dep.url = running.url
            url = dep.url
            dep.health, dep.health_detail, dep.health_since, dep.health_checked_at = UP, None, now, now
        lease_events.record(session, deployment_id, running.events)
    if moved:
        sync_routes(settings, redis, say)  # the stable URLs now go to the new provider
    else:
        # Replaced while it moved: the new copy is nobody's, so it closes at once.
        ended = target.stop(running.ref, say)
        with session_scope(settings) as session:
            lease_events.record(session, deployment_id, ended_events(ended))
    say(f"== live at {url}" if moved else "== replaced meanwhile: the moved copy was closed")
    writer.close(State.LIVE.value if moved else State.SUPERSEDED.value)
    return moved


def run_failover(deployment_id: int) -> None:
    """rq job: move one live deployment away from a provider that stopped answering."""
    from slipway.queue import redis_connection
    from slipway.targets import targets_from_settings

    settings = get_settings()
    with bound_deployment(deployment_id):
        failover(settings, redis_connection(settings), targets_from_settings(settings), deployment_id)
