"""The rq queue: deployments are enqueued by id, after their row is committed."""

from __future__ import annotations

from redis import Redis
from rq import Callback, Queue
from rq.exceptions import DuplicateJobError

from slipway.settings import Settings, get_settings

JOB_FUNCTION = "slipway.jobs.run_deployment"
ON_FAILURE = "slipway.jobs.on_job_failure"


def redis_connection(settings: Settings | None = None) -> Redis:
    return Redis.from_url((settings or get_settings()).redis_url)


def get_queue(settings: Settings | None = None, connection: Redis | None = None) -> Queue:
    settings = settings or get_settings()
    return Queue(settings.queue_name, connection=connection or redis_connection(settings))


def job_id_for(deployment_id: int, settings: Settings | None = None) -> str:
    # Namespaced by queue so two instances (or test runs) sharing a Redis never collide.
    return f"{(settings or get_settings()).queue_name}-deployment-{deployment_id}"


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
            # The job's own build timeout fires first; this is the last-resort bound.
            timeout=settings.build_timeout_s + int(settings.health_timeout_s) + 600,
            result_ttl=86400,
            failure_ttl=7 * 86400,
            on_failure=Callback(ON_FAILURE),
            description=f"deployment {deployment_id}",
            unique=True,
        )
    except DuplicateJobError:
        pass
    return job_id
