"""A deployment's lease history (``LeaseEvent``): the target returns what happened (on ``Running``
and ``Health``; it has no database), and the job or the periodic check that called it writes it here.
"""

from __future__ import annotations

from typing import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from slipway.models import LeaseEvent

KINDS = ("created", "leased", "updated", "moved", "topped-up", "closed")
# Per month at Akash's ~6 s blocks (what `slipway akash status` says too).
BLOCKS_PER_MONTH = 432_000


def record(session: Session, deployment_id: int, events: Iterable[dict]) -> int:
    """Add the events a target returned for one deployment; how many."""
    n = 0
    for event in events:
        if event.get("kind") not in KINDS:
            continue
        session.add(LeaseEvent(
            deployment_id=deployment_id, kind=event["kind"], network=event.get("network"), dseq=event.get("dseq"),
            provider=event.get("provider"), price_uact=_text(event.get("price_uact"), 40),
            amount_uact=int(event["amount_uact"]) if event.get("amount_uact") is not None else None,
            detail=_text(event.get("detail"), 500)))
        n += 1
    return n


def of_deployments(session: Session, deployment_ids: list[int], limit: int = 50) -> list[LeaseEvent]:
    """The newest events of these deployments, newest first."""
    if not deployment_ids:
        return []
    return list(session.scalars(select(LeaseEvent).where(LeaseEvent.deployment_id.in_(deployment_ids))
                                .order_by(LeaseEvent.id.desc()).limit(limit)))


def per_month(price_uact: str | None) -> int | None:
    try:
        return int(float(price_uact) * BLOCKS_PER_MONTH) if price_uact else None
    except ValueError:
        return None


def _text(value, size: int) -> str | None:
    return str(value)[:size] if value is not None else None
