"""The rq worker class Slipway runs (``rq worker --worker-class slipway.worker.Worker``).

rq forks a work-horse per job; importing the pipeline here, in the parent, means
every fork starts with it loaded instead of spending a quarter second importing
SQLAlchemy, Docker and GitPython again (see bench/README.md). Nothing that holds a
connection is created before the fork.

Every worker also runs the reconciler (``slipway.reconcile``): when it starts, and every
``SLIPWAY_RECONCILE_EVERY`` seconds while it waits for jobs. While it runs a job it tells Redis it
is alive every sixth of ``SLIPWAY_WORKER_DEAD_AFTER``, however long the build, so only a dead worker's
deployments are ever failed.
"""

from __future__ import annotations

import logging
import time

from rq import Worker as RqWorker

import deployer.local  # noqa: F401 - preloaded for every forked job
import slipway.jobs  # noqa: F401
from slipway.db import dispose_engines
from slipway.queue import SERIALIZER
from slipway.settings import get_settings

log = logging.getLogger(__name__)


class Worker(RqWorker):
    def __init__(self, queues, *args, **kwargs):
        # Jobs are JSON, whatever the command line says: a pickled job injected into the queue
        # never runs (it fails to load instead).
        kwargs["serializer"] = SERIALIZER
        super().__init__(queues, *args, **kwargs)
        for q in self.queues:
            q.serializer = self.serializer
        # `rq worker` passes its own defaults (30 s): a dead worker must be told from a live one sooner.
        self.job_monitoring_interval = min(self.job_monitoring_interval, get_settings().heartbeat_every_s)
        self._reconciled_at = float("-inf")

    @property
    def dequeue_timeout(self) -> int:
        # Wake up from waiting for a job often enough to reconcile on time.
        return min(super().dequeue_timeout, int(get_settings().reconcile_every_s))

    @property
    def _reconcile_due(self) -> bool:
        return time.monotonic() - self._reconciled_at >= get_settings().reconcile_every_s

    @property
    def should_run_maintenance_tasks(self) -> bool:
        return super().should_run_maintenance_tasks or self._reconcile_due

    def run_maintenance_tasks(self) -> None:
        if super().should_run_maintenance_tasks:
            super().run_maintenance_tasks()
        if self._reconcile_due:
            self.reconcile()

    def work(self, *args, **kwargs):
        from slipway.logs import configure
        from slipway.settings import get_settings

        configure(get_settings())
        # A worker that died mid-job left its deployment unfinished, and Redis may have lost queued
        # ones: settle those first (waiting for a pass another worker may be running).
        self.reconcile(wait_s=10)
        return super().work(*args, **kwargs)

    def reconcile(self, wait_s: float = 0) -> None:
        from slipway.reconcile import reconcile

        self._reconciled_at = time.monotonic()
        try:
            outcome = reconcile(wait_s=wait_s)
            if outcome:
                log.warning("reconciled: queued again %s, failed (worker lost) %s, removed containers of %s; "
                            "notifications queued again %s, failed %s", outcome.requeued, outcome.failed,
                            outcome.removed, outcome.notifications_requeued, outcome.notifications_failed)
        except Exception:  # noqa: BLE001 - a reconciling problem must not stop the worker
            log.exception("could not reconcile deployments")
        finally:
            dispose_engines()  # no database connection may be shared with forked jobs
