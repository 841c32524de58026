"""The rq queue: deployments are enqueued by id, after their row is committed.

Redis always asks for a password (``SLIPWAY_REDIS_PASSWORD``), and on one machine it
listens only on a Unix socket in the data dir, which builds and apps cannot reach.
Jobs are stored as JSON, never pickled: a job that is not plain data does not run.
"""

from __future__ import annotations

import os

from redis import Redis
from rq import Callback, Queue
from rq.exceptions import DuplicateJobError
from rq.serializers import JSONSerializer

from slipway.settings import Settings, get_settings

JOB_FUNCTION = "slipway.jobs.run_deployment"
ON_FAILURE = "slipway.jobs.on_job_failure"
SERIALIZER = JSONSerializer


def redis_connection(settings: Settings | None = None, **kwargs) -> Redis:
    """A connection to Slipway's Redis, authenticated with the generated password.

    The password is passed apart from the URL, so the URL can be shown; a password
    written into ``REDIS_URL`` itself (a managed Redis elsewhere) takes precedence.
    Without ``kwargs`` the client, and so its connection pool, is shared by the process:
    a webhook that queues a deployment used to open and authenticate three new connections.
    """
    settings = settings or get_settings()
    if kwargs:
        return Redis.from_url(settings.redis_url, password=settings.redis_password or None, **kwargs)
    key = (os.getpid(), settings.redis_url, settings.redis_password)
    client = _clients.get(key)
    if client is None:
        client = _clients[key] = Redis.from_url(settings.redis_url, password=settings.redis_password or None)
    return client


_clients: dict[tuple[int, str, str], Redis] = {}


def redis_url_with_password(settings: Settings) -> str:
    """``REDIS_URL`` with the password in it, for rq's own CLI (read in-process, never printed)."""
    from urllib.parse import quote, urlsplit, urlunsplit

    parts = urlsplit(settings.redis_url)
    if parts.password or not settings.redis_password:
        return settings.redis_url
    netloc = f":{quote(settings.redis_password, safe='')}@{parts.netloc}"
    return urlunsplit(parts._replace(netloc=netloc))


def get_queue(settings: Settings | None = None, connection: Redis | None = None) -> Queue:
    settings = settings or get_settings()
    return Queue(settings.queue_name, connection=connection or redis_connection(settings), serializer=SERIALIZER)


def job_id_for(deployment_id: int, settings: Settings | None = None) -> str:
    # Namespaced by queue so two instances (or test runs) sharing a Redis never collide.
    return f"{(settings or get_settings()).queue_name}-deployment-{deployment_id}"


def deployment_job_timeout_s(settings: Settings) -> int:
    """The last-resort bound of a deployment job (the job's own build time-out fires first)."""
    return settings.build_timeout_s + int(settings.health_timeout_s) + 600


def enqueue_deployment(deployment_id: int, settings: Settings | None = None) -> str:
    """Queue the pipeline for one deployment; the job carries only its id.

    A deployment has one job id, and a job that exists is left alone (rq checks and saves in one
    step), so the reconciler and the road that created the deployment never queue it twice.
    """
    settings = settings or get_settings()
    job_id = job_id_for(deployment_id, settings)
    try:
        get_queue(settings).enqueue_call(
            JOB_FUNCTION,
            args=(deployment_id,),
            job_id=job_id,
            timeout=deployment_job_timeout_s(settings),
            result_ttl=86400,
            failure_ttl=7 * 86400,
            on_failure=Callback(ON_FAILURE),
            description=f"deployment {deployment_id}",
            unique=True,
        )
    except DuplicateJobError:
        pass
    return job_id
