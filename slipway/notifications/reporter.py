"""The deployment road's reporter for notifications: a row and an enqueue per channel, nothing slow."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from slipway.db import session_scope
from slipway.models import Deployment, NotificationChannel, NotificationDelivery
from slipway.notifications.jobs import enqueue_delivery
from slipway.settings import Settings

log = logging.getLogger(__name__)

EVENT_OF_STATE = {"failed": "failed", "live": "succeeded"}


class NotificationReporter:
    """Records and queues the notifications of a deployment that ended failed or live, once per channel.

    Called after every state change (``slipway.interfaces.Reporter``); the delivery's unique key makes
    the repeated calls of one end enqueue it once, and rows are committed before their jobs are queued.
    """

    def __init__(self, settings: Settings):
        self.settings = settings

    def report(self, deployment_id: int) -> None:
        recorded = []
        with session_scope(self.settings) as session:
            dep = session.get(Deployment, deployment_id)
            event = EVENT_OF_STATE.get(dep.state) if dep is not None else None
            if event is None:
                return
            wants = NotificationChannel.on_success if event == "succeeded" else NotificationChannel.on_failure
            channel_ids = session.scalars(select(NotificationChannel.id).where(
                NotificationChannel.project_id == dep.project_id, wants.is_(True))).all()
        for channel_id in channel_ids:
            delivery_id = self._record(channel_id, deployment_id, event)
            if delivery_id is not None:
                recorded.append(delivery_id)
        for delivery_id in recorded:
            try:
                enqueue_delivery(self.settings, delivery_id)
            except Exception:  # noqa: BLE001 - never the deployment's problem; the row says "queued"
                log.warning("notification %s of deployment %s could not be queued", delivery_id, deployment_id,
                            exc_info=True)

    def _record(self, channel_id: int, deployment_id: int, event: str) -> int | None:
        """The new delivery's id, or None if this end was recorded for the channel already."""
        try:
            with session_scope(self.settings) as session:
                delivery = NotificationDelivery(channel_id=channel_id, deployment_id=deployment_id, event=event)
                session.add(delivery)
                session.flush()
                return delivery.id
        except IntegrityError:
            return None


def notification_reporters(settings: Settings) -> list[NotificationReporter]:
    return [NotificationReporter(settings)]
