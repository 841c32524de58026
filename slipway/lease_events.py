"""A deployment's lease history (``LeaseEvent``): the target returns what happened (on ``Running``
and ``Health``; it has no database), and the job or the periodic check that called it writes it here.
"""

from __future__ import annotations

from typing import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from deployer.base import CLOSED_UNDER_IT, MOVED_AWAY
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


def record_where_held(session: Session, project_id: int, events: Iterable[dict],
                      fallback_id: int | None = None) -> int:
    """Add events of leases closed by dseq (retire, teardown, close) to the deployment of the
    project that held each (its stored reference), else to ``fallback_id``; how many."""
    from slipway.models import Deployment

    events = [e for e in events if e.get("kind") in KINDS]
    if not events:
        return 0
    holders: dict[int, int] = {}
    for dep_id, ref in session.execute(select(Deployment.id, Deployment.target_ref).where(
            Deployment.project_id == project_id, Deployment.target_ref.is_not(None)).order_by(Deployment.id)):
        if isinstance(ref, dict) and ref.get("dseq"):
            holders[int(ref["dseq"])] = dep_id  # the newest holder wins
    n = 0
    for event in events:
        dep_id = holders.get(int(event["dseq"])) if event.get("dseq") else None
        if dep_id or fallback_id:
            n += record(session, dep_id or fallback_id, [event])
    return n


def provider_uptime(session: Session) -> dict[str, float]:
    """Each provider's uptime as this installation observed it: of the leases it took ("leased"
    events), the share that did not end with Slipway moving the app away because the provider
    stopped answering, or with the lease closed under it (their "closed" events). 1.0 is a clean
    record; a provider never leased from has no entry."""
    leased = dict(session.execute(select(LeaseEvent.provider, func.count()).where(
        LeaseEvent.kind == "leased", LeaseEvent.provider.is_not(None)).group_by(LeaseEvent.provider)).all())
    failed = dict(session.execute(select(LeaseEvent.provider, func.count()).where(
        LeaseEvent.kind == "closed", LeaseEvent.provider.is_not(None),
        (LeaseEvent.detail == CLOSED_UNDER_IT) | LeaseEvent.detail.startswith(MOVED_AWAY))
        .group_by(LeaseEvent.provider)).all())
    return {p: max(0.0, 1.0 - failed.get(p, 0) / n) for p, n in leased.items() if n}


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
