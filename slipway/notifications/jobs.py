"""The rq job that sends one notification, by its delivery's id, and how it is enqueued."""

from __future__ import annotations

import logging

from rq import Retry, get_current_job

from slipway.db import session_scope
from slipway.models import Deployment, NotificationChannel, NotificationDelivery, utcnow
from slipway.notifications import secret_of, target_of
from slipway.notifications.messages import Notice
from slipway.notifications.senders import NotificationFailed, NotificationRefused, send
from slipway.queue import get_queue
from slipway.settings import Settings, get_settings

log = logging.getLogger(__name__)

JOB_FUNCTION = "slipway.notifications.jobs.send_notification"
ERROR_MAX = 300  # NotificationDelivery.last_error's column size


def job_id(delivery_id: int, settings: Settings) -> str:
    return f"{settings.queue_name}-notification-{delivery_id}"


def enqueue_delivery(settings: Settings, delivery_id: int) -> None:
    """Queue the sending of one recorded delivery; retried with SLIPWAY_NOTIFY_RETRY_BACKOFF's intervals."""
    intervals = settings.notify_retry_intervals
    get_queue(settings).enqueue_call(
        JOB_FUNCTION, args=(delivery_id,), job_id=job_id(delivery_id, settings),
        timeout=int(float(settings.notify_timeout) * 3) + 30, result_ttl=86400, failure_ttl=7 * 86400,
        retry=Retry(max=len(intervals), interval=intervals) if intervals else None,
        description=f"notification {delivery_id}",
    )


def send_notification(delivery_id: int) -> None:
    """rq job: send one delivery. A failure is recorded (safely) and raised, so that rq retries it."""
    settings = get_settings()
    with session_scope(settings) as session:
        delivery = session.get(NotificationDelivery, delivery_id)
        if delivery is None or delivery.status in ("sent", "failed"):
            # Its channel or deployment was deleted, an earlier attempt got through, or it was given up
            # on: by its last attempt, or by the reconciler after its worker stopped mid-send (said then
            # "not sent again", so a copy rq requeues later must not send it).
            return
        channel = session.get(NotificationChannel, delivery.channel_id)
        dep = session.get(Deployment, delivery.deployment_id)
        notice = notice_for(settings, dep, delivery.event)
        kind, target, secret = channel.kind, target_of(channel), secret_of(channel)
        delivery.attempts += 1
    try:
        send(settings, kind, target, secret, notice, delivery_id)
    except NotificationRefused as exc:  # a private address: not retried, it would be refused again
        _record(settings, delivery_id, "failed", str(exc)[:ERROR_MAX])
        log.warning("notification %s (%s) of deployment %s refused: %s", delivery_id, kind, notice.deployment_id, exc)
        return
    except NotificationFailed as exc:
        job = get_current_job()
        last = job is None or not job.retries_left
        _record(settings, delivery_id, "failed" if last else "retrying", str(exc)[:ERROR_MAX])
        log.warning("notification %s (%s) of deployment %s: %s%s", delivery_id, kind, notice.deployment_id, exc,
                    "; giving up" if last else "; will retry")
        raise
    _record(settings, delivery_id, "sent", None)


def _record(settings: Settings, delivery_id: int, status: str, error: str | None) -> None:
    with session_scope(settings) as session:
        delivery = session.get(NotificationDelivery, delivery_id)
        if delivery is not None:
            delivery.status, delivery.last_error = status, error
            if status == "sent":
                delivery.sent_at = utcnow()


def notice_for(settings: Settings, dep: Deployment, event: str) -> Notice:
    from slipway.tables import elapsed

    return Notice(
        event=event, project=dep.project.name, deployment_id=dep.id, state=dep.state, sha=dep.sha, branch=dep.branch,
        pr_number=dep.pr_number, trigger=dep.trigger, url=dep.url, reason=dep.error_message,
        dashboard_url=settings.deployment_url(dep.id), duration_s=elapsed(dep.started_at, dep.finished_at),
    )
