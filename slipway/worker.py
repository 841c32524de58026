"""The rq worker class Slipway runs (``rq worker --worker-class slipway.worker.Worker``).

rq forks a work-horse per job; importing the pipeline here, in the parent, means
every fork starts with it loaded instead of spending a quarter second importing
SQLAlchemy, Docker and GitPython again (see bench/README.md). Nothing that holds a
connection is created before the fork.
"""

from __future__ import annotations

import logging

from rq import Worker as RqWorker

import deployer.local  # noqa: F401 - preloaded for every forked job
import slipway.jobs  # noqa: F401
from slipway.db import dispose_engines
from slipway.queue import SERIALIZER

log = logging.getLogger(__name__)


class Worker(RqWorker):
    def __init__(self, queues, *args, **kwargs):
        # Jobs are JSON, whatever the command line says: a pickled job injected into the queue
        # never runs (it fails to load instead).
        kwargs["serializer"] = SERIALIZER
        super().__init__(queues, *args, **kwargs)
        for q in self.queues:
            q.serializer = self.serializer

    def work(self, *args, **kwargs):
        from slipway.logs import configure
        from slipway.settings import get_settings

        configure(get_settings())
        # A worker that died mid-job left its deployment unfinished: settle those first.
        from slipway.jobs import reap_stale_deployments

        try:
            reaped = reap_stale_deployments()
            if reaped:
                log.warning("failed deployments left behind by a dead worker: %s", reaped)
        except Exception:  # noqa: BLE001 - a reaping problem must not keep the worker from starting
            log.exception("could not reap stale deployments")
        finally:
            dispose_engines()  # no database connection may be shared with forked jobs
        return super().work(*args, **kwargs)
