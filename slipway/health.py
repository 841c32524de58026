"""Health of live deployments: their targets are asked, every ``SLIPWAY_HEALTH_CHECK_EVERY`` seconds,
whether what they run still runs and answers (``Target.check``, from the stored reference).

The reconciler runs :func:`check_live` at the end of each pass (every worker, every
``SLIPWAY_RECONCILE_EVERY``; ``slipway reap``); a deployment checked less than the interval ago is left
alone. What a check finds is recorded on the deployment (``health``: up or down, ``health_detail``,
``health_checked_at``, ``health_since``), shown on its page, its project's page, in the API and
``slipway deployments``; a change is logged.

Health is not a deployment's state: a live deployment that is down stays live (it is still the
version that should run, and rollback and the next push work as ever). The local target runs
apps with Docker's restart policy ``unless-stopped``, so Docker restarts an app that crashes or is
killed for its memory; one whose container exited for good (stopped or killed through Docker) is
started again here (``Target.restart``), at most ``SLIPWAY_APP_RESTARTS`` times per deployment,
each time written to the deployment's log and Slipway's; after that it stays down, shown down with
why, until its project deploys again. A target that can move a release elsewhere (Akash:
``failover``) is asked to, through a job (``slipway.failover``), once its release has been down for
``SLIPWAY_AKASH_FAILOVER_AFTER`` seconds, or at once when what it ran is gone (a closed lease).
What a check did to a lease (a top-up, a close) is written to its events (``slipway.lease_events``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select

from deployer.base import CLOSED_AT_BUDGET

from slipway import lease_events
from slipway.akash_settings import with_current_budget
from slipway.db import session_scope
from slipway.interfaces import Health, Target
from slipway.models import BuildLog, Deployment, LeaseEvent, Project, utcnow
from slipway.settings import Settings
from slipway.states import State

log = logging.getLogger(__name__)

UP = "up"
DOWN = "down"
# Checks run side by side, so a few apps that take their time to answer do not hold up the rest.
PARALLEL = 8
DETAIL_MAX = 500


@dataclass(frozen=True)
class Checked:
    """One deployment's check: what was found, and whether it differs from what was recorded before."""

    deployment_id: int
    health: Health
    changed: bool
    failover: bool = False


def check_live(settings: Settings, targets: Mapping[str, Target], now: datetime | None = None,
               failover: Callable[[int], None] | None = None) -> list[Checked]:
    """Check the live deployments not checked for ``SLIPWAY_HEALTH_CHECK_EVERY`` seconds; record it, log changes.

    ``failover(deployment_id)`` is called for each one due to move (its target can, and it has been
    down long enough or is gone); without it nothing moves.
    """
    every = settings.health_check_every_s
    if every <= 0:
        return []
    now = now or utcnow()
    due = _due(settings, now - timedelta(seconds=every))
    jobs = [(dep_id, targets[name], ref) for dep_id, name, ref in due if name in targets]
    if not jobs:
        return []
    with ThreadPoolExecutor(max_workers=min(PARALLEL, len(jobs))) as pool:
        found = list(pool.map(lambda job: _check(*job), jobs))
    checked = []
    for (dep_id, target, ref), health in zip(jobs, found):
        if not health.ok and hasattr(target, "restart"):
            health = _restart(settings, dep_id, target, ref, health)
        done = _record(settings, dep_id, health, now, can_move=failover is not None and hasattr(target, "failover"))
        if done.failover:
            log.warning("deployment %s: moving it to another provider (%s)", dep_id, health.detail)
            failover(dep_id)
        checked.append(done)
    return checked


def _due(settings: Settings, checked_before: datetime) -> list[tuple[int, str, dict]]:
    with session_scope(settings) as session:
        rows = session.execute(
            select(Deployment.id, Project.target, Deployment.target_ref, Project.akash_settings).join(Project)
            .where(Deployment.state == State.LIVE.value, Deployment.target_ref.is_not(None),
                   or_(Deployment.health_checked_at.is_(None), Deployment.health_checked_at < checked_before))
            .order_by(Deployment.id)
        ).all()
    # An Akash lease is topped up (and closed) within the project's budget as set now.
    return [(dep_id, name, with_current_budget(ref, own) if name == "akash" else ref)
            for dep_id, name, ref, own in rows if ref]


def _check(dep_id: int, target: Target, ref: dict) -> Health:
    try:
        return target.check(ref)
    except Exception as exc:  # noqa: BLE001 - a target that cannot say is reported as such, never raised
        log.exception("could not check the health of deployment %s", dep_id)
        return Health(False, f"its target could not be asked ({type(exc).__name__})")


def _restart(settings: Settings, dep_id: int, target: Target, ref: dict, health: Health) -> Health:
    """Start an exited app again if it has restarts left; the health to record says so."""
    with session_scope(settings) as session:
        dep = session.get(Deployment, dep_id)
        if dep is None or dep.state != State.LIVE.value or (dep.restarts or 0) >= settings.app_restarts_n:
            return health
        n = (dep.restarts or 0) + 1
    lines: list[str] = []
    try:
        if not target.restart(ref, lines.append):
            return health
    except Exception:  # noqa: BLE001 - a restart that fails leaves it down, as found
        log.exception("could not restart deployment %s", dep_id)
        return health
    what = f"restarted it ({n} of {settings.app_restarts_n})"
    with session_scope(settings) as session:
        dep = session.get(Deployment, dep_id, with_for_update=True)
        dep.restarts = n
        seq = session.scalar(select(func.coalesce(func.max(BuildLog.seq), 0))
                             .where(BuildLog.deployment_id == dep_id))
        for i, line in enumerate([f"== health check: {health.detail}; {what}", *lines], start=1):
            session.add(BuildLog(deployment_id=dep_id, seq=seq + i, line=line, created_at=utcnow()))
    log.warning("deployment %s: %s; %s", dep_id, health.detail, what)
    return Health(False, f"{health.detail}; Slipway {what}"[:DETAIL_MAX], events=health.events)


def _record(settings: Settings, dep_id: int, health: Health, now: datetime, can_move: bool = False) -> Checked:
    value = UP if health.ok else DOWN
    detail = health.detail[:DETAIL_MAX] or None
    with session_scope(settings) as session:
        dep = session.get(Deployment, dep_id, with_for_update=True)
        closed_before: dict = {}
        if dep is not None:
            closed_before = dict(session.execute(
                select(LeaseEvent.dseq, LeaseEvent.detail).where(LeaseEvent.deployment_id == dep_id,
                                                                 LeaseEvent.kind == "closed")).all())
            # A lease found closed again and again is one event, not one per check.
            lease_events.record(session, dep_id, [e for e in health.events
                                                  if not (e.get("kind") == "closed" and e.get("dseq") in closed_before)])
        if dep is None or dep.state != State.LIVE.value:
            return Checked(dep_id, health, False)  # replaced while it was checked: its health no longer matters
        before = dep.health
        changed = before != value
        dep.health, dep.health_detail, dep.health_checked_at = value, detail, now
        if changed:
            dep.health_since = now
        since = dep.health_since
        if since is not None and since.tzinfo is None:  # SQLite gives back naive UTC times
            since = since.replace(tzinfo=now.tzinfo)
        down_for = (now - since).total_seconds() if since else 0.0
        dseq = (dep.target_ref or {}).get("dseq")
        at_budget = closed_before.get(dseq) == CLOSED_AT_BUDGET or any(
            e.get("kind") == "closed" and e.get("detail") == CLOSED_AT_BUDGET for e in health.events)
        move = (can_move and not health.ok and not at_budget
                and (health.gone or down_for >= settings.akash_failover_after_s))
        project = dep.project.name
    if changed and not health.ok:
        log.warning("deployment %s of %s is down: %s", dep_id, project, detail or "no reason given")
    elif changed and before is not None:
        log.warning("deployment %s of %s is up again%s", dep_id, project, f" ({detail})" if detail else "")
    return Checked(dep_id, health, changed, move)
