"""The database is the source of truth for deployments; the reconciler makes Redis and Docker agree.

It runs when a worker starts, every ``SLIPWAY_RECONCILE_EVERY`` seconds inside every worker, and as
``slipway reap``. One pass, under a Redis lock so passes of several workers never overlap:

- a deployment still ``queued`` that never started and whose job is missing from Redis (Redis
  restarted empty) is enqueued again under its own job id; the pipeline claims a deployment once,
  so it is never built twice;
- a deployment that started and whose worker stopped (the worker's rq registration is gone, or its
  heartbeat is older than ``SLIPWAY_WORKER_DEAD_AFTER``), or whose job is gone or ended, is failed with
  ``app:worker-lost``;
- what deployments that ended without going live still run is stopped: from the reference
  stored when it started (``Deployment.target_ref``, through its target's ``stop``), and by
  label for containers started before a reference was stored;
- the reporters (commit statuses, PR comments) hear of every deployment it failed;
- a notification still ``queued`` whose job is gone from Redis and that was never tried is queued
  again; one whose job ended, or whose worker stopped, without recording how it went is marked
  ``failed`` with ``notify:app:worker-lost`` (not sent again: it may have arrived);
- live deployments not checked for ``SLIPWAY_HEALTH_CHECK_EVERY`` seconds are checked by their
  targets, and their health recorded (``slipway.health``).
- superseded deployments woken at their own URL (``slipway.wake``) are stopped once idle for
  ``SLIPWAY_WAKE_IDLE``, and wakes whose job was lost are given up: nothing woken runs forever.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from redis import Redis
from rq import Queue, Worker
from rq.job import Job, JobStatus
from sqlalchemy import null, select, update

from deployer.base import ended_events
from slipway import lease_events
from slipway.buildlog import BuildLogWriter, SecretMasker
from slipway.db import session_scope
from slipway.errors import AppError, render
from slipway.failover import enqueue_failover
from slipway.health import Checked, check_live
from slipway.interfaces import Proxy, Reporter, Target
from slipway.models import Deployment, NotificationDelivery, Project, utcnow
from slipway.proxy import Router, proxy_from_settings
from slipway.queue import job_id_for
from slipway.registry_gc import RegistryUse
from slipway.reporters import default_reporters, report
from slipway.settings import Settings, get_settings
from slipway.states import FINAL_STATES, State, transition
from slipway.targets import targets_from_settings

log = logging.getLogger(__name__)

# How often a worker reconciles (SLIPWAY_RECONCILE_EVERY; its idle wait for a job is cut to this too),
# how often a busy worker tells Redis it is alive (Settings.heartbeat_every_s, rq's
# job_monitoring_interval), and how long it may stay silent before it is taken for dead
# (SLIPWAY_WORKER_DEAD_AFTER: a killed worker never deregisters, and rq keeps its key for a minute
# more): with the defaults, six missed heartbeats, and a killed worker's deployment fails well within
# a minute.
# No pass may hold the lock forever (a pass takes a second or two).
LOCK_TIMEOUT_S = 120

WORKER_LOST = AppError.WORKER_LOST
# A job that ended like this never finished its deployment. (A finished job always did, unless it
# was a second copy that found the deployment started by the first, which is still running.)
_ENDED = {JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED}
# Deployments whose release, if one was started, must not run any more.
_ENDED_NOT_LIVE = FINAL_STATES - {State.LIVE}


@dataclass
class Outcome:
    """What one pass did, by deployment id."""

    requeued: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    # Whose release was stopped, from its stored reference or found by label.
    removed: list[int] = field(default_factory=list)
    # Of those, the ones stopped from their stored reference (a deployment that died mid-start).
    stopped: list[int] = field(default_factory=list)
    # Live deployments whose health was checked (not part of truth: checking is routine).
    checked: list[Checked] = field(default_factory=list)
    # Notification deliveries queued again (their job was lost before any attempt), and failed (their
    # worker stopped mid-send), by delivery id.
    notifications_requeued: list[int] = field(default_factory=list)
    notifications_failed: list[int] = field(default_factory=list)
    # Superseded deployments woken at their own URL that were stopped (idle) or given up (slipway.wake).
    woken_stopped: list[int] = field(default_factory=list)

    @property
    def down(self) -> list[int]:
        return [c.deployment_id for c in self.checked if not c.health.ok]

    def __bool__(self) -> bool:
        return bool(self.requeued or self.failed or self.removed or self.stopped or self.notifications_requeued
                    or self.notifications_failed)


class Reconciler:
    def __init__(self, settings: Settings, queue: Queue, targets: Mapping[str, Target],
                 reporters: Sequence[Reporter] = (), proxy: Proxy | None = None):
        self.settings = settings
        # Its routes are loaded again on every pass: a proxy that restarted gets them back.
        self.proxy = proxy
        self.queue = queue
        self.redis: Redis = queue.connection
        self.targets = targets
        self.reporters = list(reporters)

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> "Reconciler":
        from slipway.queue import get_queue

        settings = settings or get_settings()
        return cls(settings, get_queue(settings), targets_from_settings(settings), default_reporters(settings),
                   proxy_from_settings(settings))

    def run(self, wait_s: float = 0) -> Outcome | None:
        """One pass; None if another pass holds the lock (after waiting up to ``wait_s``)."""
        lock = self.redis.lock(f"{self.settings.queue_name}:reconciler", timeout=LOCK_TIMEOUT_S,
                               blocking=wait_s > 0, blocking_timeout=wait_s or None)
        if not lock.acquire():
            return None
        try:
            outcome = Outcome()
            now = utcnow()
            for dep_id, state, started in self._unfinished():
                self._settle(dep_id, state, started, now, outcome)
            self._settle_notifications(now, outcome)
            outcome.stopped = self._stop_started()
            outcome.woken_stopped = self._reap_woken(now)
            outcome.removed = sorted(set(outcome.stopped) | set(self._remove_leftovers()))
            outcome.checked = self._check_health(now)
            self._sync_routes()
        finally:
            try:
                lock.release()
            except Exception:  # noqa: BLE001 - expired or gone with a flushed Redis: nothing to release
                pass
        for dep_id in outcome.failed:
            report(self.reporters, dep_id)
        return outcome

    def _sync_routes(self) -> None:
        if self.proxy is None:
            return
        try:
            Router(self.settings, self.redis, self.proxy).sync()
        except Exception:  # noqa: BLE001 - tried again next pass
            log.warning("could not load the proxy's routes", exc_info=True)

    # -- deployments -------------------------------------------------------
    def _unfinished(self) -> list[tuple[int, State, bool]]:
        with session_scope(self.settings) as session:
            rows = session.execute(
                select(Deployment.id, Deployment.state, Deployment.started_at)
                .where(Deployment.state.not_in([s.value for s in FINAL_STATES]))
                .order_by(Deployment.id)
            ).all()
        return [(dep_id, State(state), started_at is not None) for dep_id, state, started_at in rows]

    def _settle(self, dep_id: int, state: State, started: bool, now: datetime, outcome: Outcome) -> None:
        from slipway.queue import enqueue_deployment, job_id_for

        job = self.queue.fetch_job(job_id_for(dep_id, self.settings))
        if job is None and state == State.QUEUED and not started:
            # Redis lost it (restarted empty): the database still wants it built. Harmless if the
            # road that created it is about to queue it too: the job id is the same.
            enqueue_deployment(dep_id, self.settings)
            outcome.requeued.append(dep_id)
            log.warning("deployment %s was queued but its job was gone: queued again", dep_id)
            return
        why = self._why_stuck(job, now, _ENDED, "without finishing it")
        if why is None:
            return  # queued, scheduled, or running on a live worker
        if self._fail(dep_id):
            outcome.failed.append(dep_id)
            log.warning("deployment %s failed: %s", dep_id, why)

    # -- notifications -----------------------------------------------------
    def _settle_notifications(self, now: datetime, outcome: Outcome) -> None:
        """Deliveries left ``queued`` or ``retrying`` by a worker or a Redis that stopped under them."""
        from slipway.notifications.jobs import enqueue_delivery
        from slipway.notifications.jobs import job_id as notification_job_id

        with session_scope(self.settings) as session:
            pending = session.execute(
                select(NotificationDelivery.id, NotificationDelivery.status, NotificationDelivery.attempts)
                .where(NotificationDelivery.status.in_(["queued", "retrying"])).order_by(NotificationDelivery.id)
            ).all()
        for delivery_id, status, attempts in pending:
            job = self.queue.fetch_job(notification_job_id(delivery_id, self.settings))
            if job is None and status == "queued" and not attempts:
                # Never tried, so never sent: queuing it again cannot announce anything twice.
                enqueue_delivery(self.settings, delivery_id)
                outcome.notifications_requeued.append(delivery_id)
                log.warning("notification %s was queued but its job was gone: queued again", delivery_id)
                continue
            why = self._why_stuck(job, now, _ENDED | {JobStatus.FINISHED}, "without recording how it went")
            if why is None:
                continue  # queued, scheduled for a retry, or being sent by a live worker
            if _fail_delivery(self.settings, delivery_id, why):
                outcome.notifications_failed.append(delivery_id)
                log.warning("notification %s failed: %s", delivery_id, why)

    def _why_stuck(self, job: Job | None, now: datetime, ended: set[JobStatus], unfinished: str) -> str | None:
        """Why the record a job was to finish never will be by that job, or None while it still may be."""
        if job is None:
            return "its job is gone from Redis"
        status = job.get_status(refresh=False)
        if status in ended:
            return f"its job ended ({status.value}) {unfinished}"
        if status == JobStatus.STARTED and self._worker_dead(job.worker_name, now):
            return f"its worker {job.worker_name or '(unknown)'} stopped"
        return None

    def _worker_dead(self, worker_name: str | None, now: datetime) -> bool:
        if not worker_name:
            return True
        worker = Worker.find_by_key(Worker.redis_worker_namespace_prefix + worker_name, connection=self.redis)
        if worker is None or worker.death_date is not None or worker.last_heartbeat is None:
            return True
        return now - worker.last_heartbeat > timedelta(seconds=self.settings.worker_dead_after_s)

    def _fail(self, dep_id: int) -> bool:
        return fail_worker_lost(self.settings, self.redis, dep_id)

    def _check_health(self, now: datetime) -> list[Checked]:
        try:
            return check_live(self.settings, self.targets, now,
                              failover=lambda dep_id: enqueue_failover(dep_id, self.settings, self.queue))
        except Exception:  # noqa: BLE001 - a database hiccup: the next pass checks again
            log.exception("could not check the health of live deployments")
            return []

    # -- deployments woken at their own URL ---------------------------------
    def _reap_woken(self, now: datetime) -> list[int]:
        from slipway.wake import job_id, reap

        def job_alive(dep_id: int) -> bool:
            job = self.queue.fetch_job(job_id(dep_id, self.settings))
            return job is not None and job.get_status(refresh=False) in (JobStatus.QUEUED, JobStatus.STARTED,
                                                                         JobStatus.DEFERRED, JobStatus.SCHEDULED)

        try:
            return reap(self.settings, self.redis, self.targets, self.proxy, now, job_alive)
        except Exception:  # noqa: BLE001 - a database hiccup: the next pass reaps
            log.exception("could not stop idle woken deployments")
            return []

    # -- containers --------------------------------------------------------
    def _stop_started(self) -> list[int]:
        """Stop, from their stored references, the releases of deployments that ended without going live.

        A reference is cleared once its target has stopped the release (or found it gone), so each
        is handled once; one the target cannot reach now is tried again next pass.
        """
        with session_scope(self.settings) as session:
            rows = session.execute(
                select(Deployment.id, Deployment.target_ref, Project.target).join(Project)
                .where(Deployment.state.in_([s.value for s in _ENDED_NOT_LIVE]), Deployment.target_ref.is_not(None))
                .order_by(Deployment.id)
            ).all()
        stopped = []
        for dep_id, ref, target_name in rows:
            target = self.targets.get(target_name)
            if ref and target is None:
                continue  # not offered here (any more): the operator's to clean up
            ended = None
            try:
                ended = target.stop(ref, lambda line, d=dep_id: log.info("deployment %s: %s", d, line)) if ref else None
                if ended:
                    stopped.append(dep_id)
                    log.warning("stopped what deployment %s still ran on the %s target, from its reference",
                                dep_id, target_name)
            except Exception:  # noqa: BLE001 - a target that cannot be reached now is tried next pass
                log.exception("could not stop deployment %s on the %s target", dep_id, target_name)
                continue
            with session_scope(self.settings) as session:
                session.execute(update(Deployment).where(Deployment.id == dep_id).values(target_ref=null()))
                lease_events.record(session, dep_id, ended_events(ended))
        return stopped

    def _remove_leftovers(self) -> list[int]:
        """Remove what deployments that ended without going live still run (a killed deploy's container)."""
        removed = []
        for name, target in self.targets.items():
            try:
                removed += self._remove_leftovers_of(name, target)
            except Exception:  # noqa: BLE001 - a target that cannot be reached now is tried next pass
                log.exception("could not remove leftovers on the %s target", name)
        return removed

    def _remove_leftovers_of(self, name: str, target: Target) -> list[int]:
        running = target.deployments()
        if not running:
            return []
        from slipway.wake import woken_ids

        with session_scope(self.settings) as session:
            states = dict(session.execute(
                select(Deployment.id, Deployment.state).where(Deployment.id.in_(running))).all())
            woken = woken_ids(session)  # superseded, started again at their own URL until idle
        removed = []
        for dep_id in sorted(running):
            state = states.get(dep_id)
            if state is not None and (state == State.LIVE.value or not State(state).final or dep_id in woken):
                continue
            target.remove_deployment(dep_id, lambda line, d=dep_id: log.info("deployment %s: %s", d, line))
            removed.append(dep_id)
            log.warning("removed what deployment %s (%s) still ran on the %s target", dep_id,
                        state or "deleted", name)
        return removed


def fail_worker_lost(settings: Settings, redis: Redis, dep_id: int) -> bool:
    """Fail a deployment whose worker stopped; True if it was not final yet. Reporting is the caller's."""
    with session_scope(settings) as session:
        dep = session.get(Deployment, dep_id, with_for_update=True)
        if dep is None or dep.state_enum.final:
            return False
        transition(dep, State.FAILED, WORKER_LOST, render(WORKER_LOST))
    # Its claim on the registry goes with it, or blob collection would wait for the job's time limit.
    RegistryUse(redis, settings.registry).leave(job_id_for(dep_id, settings))
    # Whoever follows its log sees why, and the live stream ends.
    writer = BuildLogWriter(dep_id, settings, redis, SecretMasker(settings.secret_values()))
    writer.write(f"== failed: {render(WORKER_LOST)}")
    writer.close(State.FAILED.value)
    return True


def _fail_delivery(settings: Settings, delivery_id: int, why: str) -> bool:
    """Mark a delivery failed, if nothing recorded how it went meanwhile; True if it was marked."""
    from slipway.notifications.jobs import ERROR_MAX

    with session_scope(settings) as session:
        done = session.execute(
            update(NotificationDelivery)
            .where(NotificationDelivery.id == delivery_id, NotificationDelivery.status.in_(["queued", "retrying"]))
            .values(status="failed", last_error=render(AppError.NOTIFY_WORKER_LOST, why=why)[:ERROR_MAX])
        )
        return done.rowcount == 1


def reconcile(settings: Settings | None = None, wait_s: float = 0) -> Outcome | None:
    """One reconciler pass with the configured queue, targets and reporters."""
    return Reconciler.from_settings(settings).run(wait_s=wait_s)
