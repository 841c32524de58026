"""A deployment's own URL answers for as long as its image is kept: superseded deployments wake on demand.

A live deployment's own name (``d<id>--<project>.<apps domain>``) is routed to it. Every other such
name goes from the proxy to Slipway's web app (``deployer.caddy``'s wake route), which asks
:func:`ask`. Anybody on the internet can ask for any id, so the answer costs a few database reads and
refuses early: an unknown id or project (404), a deployment that never went live (404: a failed or
cancelled build never runs), an Akash one whose lease is closed or an image the registry no longer
keeps (410), and ``SLIPWAY_WAKE_MAX`` reached (503, the ones running are not stopped for it). Otherwise
it records a :class:`~slipway.models.Wake`, queues :func:`run_wake` (one per deployment, at the front of
the queue) and answers "starting" (503, ``Retry-After``; a page that reloads itself).

The job starts the deployment's image on the local target with the project's runtime variables, in a
slot of its own (``woken``: never its production or preview slot, whose deploys retire only their
own), waits for it to answer and loads the routes: its own name goes to it, its slot's never.
:func:`reap`, on every reconciler pass, stops the ones idle for ``SLIPWAY_WAKE_IDLE`` (idle: no request
answered since, by the proxy's activity log, and none in flight at the pass), gives up wakes whose job
was lost, and forgets failed ones after the same time; the reconciler removes any container of a
superseded deployment that has no wake.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable, Mapping

from redis import Redis
from rq.exceptions import DuplicateJobError
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from deployer.base import Stopped
from slipway import envvars
from slipway.db import session_scope
from slipway.errors import SlipwayError, UserError
from slipway.interfaces import Proxy, Release, Target
from slipway.logs import bound_deployment
from slipway.models import Deployment, Project, Wake, utcnow
from slipway.proxy import Router, addresses, sync_routes, upstream_of
from slipway.registry_gc import KEEP_IMAGES, kept_references
from slipway.settings import Settings, get_settings
from slipway.states import State

log = logging.getLogger(__name__)

JOB_FUNCTION = "slipway.wake.run_wake"
# The local target's slot of woken containers: a deploy's retire and a preview's teardown never meet it.
WOKEN_SLOT = "woken"
TARGET = "local"
# Seconds a browser or client is asked to wait before asking again while a deployment starts.
RETRY_AFTER_S = 2
_LABEL = re.compile(r"^d([0-9]{1,12})--([a-z0-9][a-z0-9-]*)$")


@dataclass(frozen=True)
class Answer:
    """What the web app answers at a deployment's own name: ``starting`` (503, reload), or an error id."""

    status: int
    message_id: str | None = None
    params: dict = field(default_factory=dict)
    retry_after: int | None = None

    @property
    def starting(self) -> bool:
        return self.message_id is None


STARTING = Answer(503, retry_after=RETRY_AFTER_S)
NOT_FOUND = Answer(404, UserError.WAKE_NOT_FOUND)


def job_id(deployment_id: int, settings: Settings) -> str:
    return f"{settings.queue_name}-wake-{deployment_id}"


def parse_host(host: str, domain: str) -> tuple[int, str] | None:
    """(deployment id, project) of ``d<id>--<project>.<domain>[:port]``; None for any other name."""
    name = host.strip().lower().partition(":")[0].rstrip(".")
    suffix = "." + domain
    if not name.endswith(suffix):
        return None
    found = _LABEL.match(name[: -len(suffix)])
    return (int(found.group(1)), found.group(2)) if found else None


def refusal(session: Session, dep: Deployment) -> Answer | None:
    """Why ``dep`` cannot be woken (an answer to give), or None when it can."""
    params = {"id": dep.id, "project": dep.project.name}
    if dep.state != State.SUPERSEDED.value:
        # Live: routed already (or about to be). Anything else never went live: it never runs.
        return STARTING if dep.state == State.LIVE.value else NOT_FOUND
    if dep.project.target != TARGET:
        return Answer(410, UserError.WAKE_NOT_RUNNING, {**params, "target": dep.project.target})
    if not dep.image or dep.image not in kept_references(session, dep.project_id, KEEP_IMAGES)[0]:
        return Answer(410, UserError.WAKE_GONE, params)
    return None


def ask(settings: Settings, host: str, enqueue: Callable[[int], object] | None = None) -> Answer:
    """A request reached ``host`` (a deployment's own name) that no route serves: wake it, or say why not."""
    parsed = parse_host(host, addresses(settings).domain)
    if parsed is None:
        return NOT_FOUND
    dep_id, project = parsed
    limit = settings.wake_max_n
    with session_scope(settings) as session:
        dep = session.get(Deployment, dep_id)
        if dep is None or dep.project.name != project:
            return NOT_FOUND
        refused = refusal(session, dep)
        if refused is not None:
            return refused
        params = {"id": dep.id, "project": project}
        wake = session.get(Wake, dep_id)
        if wake is not None:
            if wake.error_id:
                return Answer(410, UserError.WAKE_FAILED, {**params, "detail": _detail(wake.error_id)})
            return STARTING
        if limit <= 0:
            return Answer(404, UserError.WAKE_OFF, params)
        busy = Answer(503, UserError.WAKE_BUSY, {**params, "limit": limit}, retry_after=60)
        if _awake(session) >= limit:
            return busy
    try:
        with session_scope(settings) as session:
            session.add(Wake(deployment_id=dep_id))
    except IntegrityError:
        return STARTING  # another request woke it at the same moment
    with session_scope(settings) as session:
        # Two requests for two deployments at the same moment: the later ones give way, so at most N run.
        order = [d for d, in session.execute(select(Wake.deployment_id).where(Wake.error_id.is_(None))
                                             .order_by(Wake.requested_at, Wake.deployment_id))]
        if dep_id in order[limit:]:
            session.execute(delete(Wake).where(Wake.deployment_id == dep_id, Wake.ref.is_(None)))
            return busy
    (enqueue or (lambda d: enqueue_wake(d, settings)))(dep_id)
    log.info("deployment %s of %s: woken at its own URL", dep_id, project)
    return STARTING


def _awake(session: Session) -> int:
    return len(session.scalars(select(Wake.deployment_id).where(Wake.error_id.is_(None))).all())


def _detail(error_id: str) -> str:
    if error_id == UserError.DEPLOY_IMAGE_GONE:
        return "its image is no longer in the registry."
    if error_id in (UserError.DEPLOY_UNHEALTHY, UserError.DEPLOY_EXITED):
        return "it did not answer HTTP once started."
    return "Slipway could not start it."


def enqueue_wake(deployment_id: int, settings: Settings, queue=None) -> str:
    """Queue the wake of one deployment, ahead of builds; one at a time."""
    from slipway.queue import get_queue

    jid = job_id(deployment_id, settings)
    try:
        (queue or get_queue(settings)).enqueue_call(
            JOB_FUNCTION, args=(deployment_id,), job_id=jid, timeout=int(settings.health_timeout_s) + 600,
            result_ttl=0, failure_ttl=3600, description=f"wake of deployment {deployment_id}", unique=True,
            at_front=True)
    except DuplicateJobError:
        pass
    return jid


def wake(settings: Settings, redis: Redis, targets: Mapping[str, Target], deployment_id: int) -> bool:
    """Start a superseded deployment whose wake was asked for, and route its own name; True if it runs."""
    target = targets.get(TARGET)
    with session_scope(settings) as session:
        row = session.get(Wake, deployment_id)
        dep = session.get(Deployment, deployment_id)
        if row is None or row.ref is not None or row.error_id or dep is None:
            return False
        if target is None or refusal(session, dep) is not None:
            session.delete(row)
            return False
        project = dep.project
        # As it first ran: its commit's slipway.toml (health check, non-secret env), under the project's
        # runtime variables now (never the build's).
        config = dep.repository_config or {}
        env = {**(config.get("env") or {}), **envvars.decrypted(session, project.id, build=False)}
        release = Release(project.name, dep.id, dep.image, config.get("health_check") or project.health_path,
                          env=env, slot=WOKEN_SLOT)

    def say(line: str) -> None:
        log.info("deployment %s (woken): %s", deployment_id, line)

    try:
        ref = target.start(release, say)
        if not _record(settings, deployment_id, ref=ref):
            target.stop(ref, say)  # reaped meanwhile
            return False
        running = target.wait_ready(release, ref, say)
    except (SlipwayError, Stopped) as exc:
        error_id = getattr(exc, "message_id", UserError.WAKE_FAILED)
        log.warning("deployment %s could not be woken: %s", deployment_id, exc)
        _record(settings, deployment_id, ref=None, error_id=error_id)
        return False
    now = utcnow()
    if not _record(settings, deployment_id, ref=running.ref, started_at=now, last_seen_at=now):
        target.stop(running.ref, say)
        return False
    sync_routes(settings, redis)
    return True


def _record(settings: Settings, deployment_id: int, **values) -> bool:
    """Write ``values`` on the deployment's wake; False when it is gone (reaped, project deleted)."""
    with session_scope(settings) as session:
        row = session.get(Wake, deployment_id)
        if row is None:
            return False
        for key, value in values.items():
            setattr(row, key, value)
        return True


def run_wake(deployment_id: int) -> None:
    """rq job: start one superseded deployment at its own URL."""
    from slipway.queue import redis_connection
    from slipway.targets import targets_from_settings

    settings = get_settings()
    with bound_deployment(deployment_id):
        wake(settings, redis_connection(settings), targets_from_settings(settings), deployment_id)


def reap(settings: Settings, redis: Redis, targets: Mapping[str, Target], proxy: Proxy | None,
         now: datetime | None = None, job_alive: Callable[[int], bool] | None = None) -> list[int]:
    """Stop the woken deployments idle for ``SLIPWAY_WAKE_IDLE`` and drop wakes that will not run; their ids.

    A wake whose job is gone without starting it (``job_alive`` False), or whose deployment may no longer
    run (its image is no longer kept), goes at once; a failed one is answered for the idle time, then
    forgotten. Routes are dropped before containers stop.
    """
    now = now or utcnow()
    idle = timedelta(seconds=settings.wake_idle_s)
    at = addresses(settings)
    with session_scope(settings) as session:
        rows = session.execute(select(Wake.deployment_id, Wake.ref, Wake.error_id, Wake.last_seen_at,
                                      Deployment.state, Project.name)
                               .join(Deployment, Deployment.id == Wake.deployment_id).join(Project)).all()
        # Deployments that may no longer run: their image went out of those kept, their project moved
        # to another target (a failed wake is still answered as such until idle).
        refused = {dep_id for dep_id, _, error_id, *_ in rows
                   if not error_id and refusal(session, session.get(Deployment, dep_id)) is not None}
    serving = _in_flight(proxy, [upstream_of(ref) for _, ref, *_ in rows if ref])
    answered = _last_requests(proxy, {at.deployment_host(project, dep_id) for dep_id, ref, *_, project in rows if ref})
    doomed: list[tuple[int, dict | None]] = []
    for dep_id, ref, error_id, recorded, state, project in rows:
        last_seen = _aware(recorded)
        if ref and upstream_of(ref) in serving:
            last_seen = now
        elif ref and at.deployment_host(project, dep_id) in answered:
            last_seen = max(last_seen, answered[at.deployment_host(project, dep_id)])
        lost = ref is None and not error_id and job_alive is not None and not job_alive(dep_id)
        if state != State.SUPERSEDED.value or dep_id in refused or lost or last_seen <= now - idle:
            doomed.append((dep_id, ref))
        elif last_seen != _aware(recorded):
            _record(settings, dep_id, last_seen_at=last_seen)
    if not doomed:
        return []
    with session_scope(settings) as session:
        session.execute(delete(Wake).where(Wake.deployment_id.in_([d for d, _ in doomed])))
    if proxy is not None:
        try:
            Router(settings, redis, proxy).sync()
        except Exception:  # noqa: BLE001 - the reconciler's own sync tries again this pass
            log.warning("could not drop the routes of idle woken deployments", exc_info=True)
    target = targets.get(TARGET)
    for dep_id, ref in doomed:
        if ref and target is not None:
            try:
                target.stop(ref, lambda line, d=dep_id: log.info("deployment %s (woken): %s", d, line))
            except Exception:  # noqa: BLE001 - no wake left: the reconciler removes it by its labels
                log.warning("could not stop woken deployment %s", dep_id, exc_info=True)
        log.info("deployment %s: stopped after %s s idle at its own URL", dep_id, settings.wake_idle)
    return [d for d, _ in doomed]


def _in_flight(proxy: Proxy | None, upstreams: list[str | None]) -> set[str]:
    """The upstreams the proxy is forwarding requests to right now (none known without a proxy that says)."""
    asking = getattr(proxy, "in_flight", None)
    found: set[str] = set()
    if asking is None:
        return found
    for upstream in filter(None, upstreams):
        try:
            if asking({upstream}) > 0:
                found.add(upstream)
        except Exception:  # noqa: BLE001 - counted idle; the next pass asks again
            log.warning("could not ask the proxy about %s", upstream, exc_info=True)
    return found


def _last_requests(proxy: Proxy | None, hosts: set[str]) -> dict[str, datetime]:
    """When the proxy last answered each of ``hosts`` (a proxy that does not say: none)."""
    asking = getattr(proxy, "last_requests", None)
    if asking is None or not hosts:
        return {}
    try:
        return {host: datetime.fromtimestamp(ts, timezone.utc) for host, ts in asking(hosts).items()}
    except Exception:  # noqa: BLE001 - counted idle since last seen; the next pass reads again
        log.warning("could not read the proxy's activity log", exc_info=True)
        return {}


def _aware(moment: datetime) -> datetime:
    """SQLite gives back naive datetimes (stored in UTC)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def woken_ids(session: Session) -> set[int]:
    """Deployments with a wake (starting, running or failed): the reconciler leaves their containers be."""
    return set(session.scalars(select(Wake.deployment_id)).all())


def wakeable_images(session: Session, settings: Settings, project_id: int) -> set[str]:
    """The images of a project whose superseded deployments' own URLs start them on a visit (none when
    the project is not on the local target, there is no proxy, or waking is off)."""
    target = session.scalar(select(Project.target).where(Project.id == project_id))
    if settings.proxy == "none" or settings.wake_max_n <= 0 or target != TARGET:
        return set()
    return kept_references(session, project_id, KEEP_IMAGES)[0]


def own_url_answers(dep: Deployment, wakeable: set[str]) -> bool:
    """Whether ``dep``'s own URL answers: it is live, or superseded with an image in ``wakeable``."""
    if dep.state == State.LIVE.value:
        return bool(dep.url)
    return dep.state == State.SUPERSEDED.value and bool(dep.url) and bool(dep.image) and dep.image in wakeable
