"""The deployment state machine, and :func:`transition`, the one function that moves a deployment.

queued -> cloning -> building -> pushing -> deploying -> live, and from any
non-final state to failed or cancelled. A redeploy of an image built earlier skips the
build: queued -> deploying -> live. A deployment that is live can later be
superseded by a newer one (it stays live in history; ``superseded`` marks it).

Who moves a deployment, always through :func:`transition`:

- its job (``slipway.jobs``), from its first step to live or failed, and the live deployments
  its own replaces to superseded. Nothing else moves a deployment that a job runs forward.
- the roads that end deployments no job is running, or whose job stops at its next step when it
  finds them ended: superseding and cancelling (``slipway.deployments``: ``request_deployment``,
  ``slipway cancel``, the dashboard's Cancel), a repository cut off from its GitHub App
  (``slipway.github.installations``), a deleted project (``slipway.projects``), a closed pull request's
  preview (``slipway.github.previews``), and the reconciler failing a dead worker's deployment
  (``slipway.reconcile``).

Besides, the model refuses any other write of ``Deployment.state`` that ``ALLOWED`` forbids
(``slipway.models``), so a transition is checked in one place whoever writes it. A new
deployment starts queued (``request_deployment``); SQL ``UPDATE`` statements never set a state.
"""

from __future__ import annotations

import enum
from datetime import datetime, timezone
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from slipway.models import Deployment


class State(str, enum.Enum):
    QUEUED = "queued"
    CLONING = "cloning"
    BUILDING = "building"
    PUSHING = "pushing"
    DEPLOYING = "deploying"
    LIVE = "live"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SUPERSEDED = "superseded"

    @property
    def final(self) -> bool:
        return self in FINAL_STATES

    def __str__(self) -> str:
        return self.value


FINAL_STATES = frozenset({State.LIVE, State.FAILED, State.CANCELLED, State.SUPERSEDED})

_PIPELINE = [State.QUEUED, State.CLONING, State.BUILDING, State.PUSHING, State.DEPLOYING, State.LIVE]


def comes_after(state: str, than: str) -> bool:
    """Whether ``state`` is a later step of the pipeline than ``than`` (final states end it)."""
    def rank(value: str) -> int:
        s = State(value)
        return len(_PIPELINE) if s.final and s is not State.LIVE else _PIPELINE.index(s)

    return rank(state) > rank(than)

ALLOWED: dict[State, frozenset[State]] = {
    state: frozenset({nxt, State.FAILED, State.CANCELLED})
    for state, nxt in zip(_PIPELINE, _PIPELINE[1:])
}
# A redeploy (rollback) of an image built earlier goes straight from queued to deploying.
ALLOWED[State.QUEUED] = ALLOWED[State.QUEUED] | {State.DEPLOYING}
ALLOWED[State.LIVE] = frozenset({State.SUPERSEDED})
ALLOWED[State.FAILED] = frozenset()
ALLOWED[State.CANCELLED] = frozenset()
ALLOWED[State.SUPERSEDED] = frozenset()


class InvalidTransition(Exception):
    def __init__(self, current: State, target: State):
        super().__init__(f"a deployment cannot go from {current} to {target}")
        self.current = current
        self.target = target


def check_transition(current: State, target: State) -> None:
    if target not in ALLOWED[current]:
        raise InvalidTransition(current, target)


def transition(dep: "Deployment", to: State, error_id: str | None = None, error_message: str | None = None) -> None:
    """Move ``dep`` to ``to`` or raise InvalidTransition (leaving it unchanged); stamps its times.

    A final state may carry why (``error_id`` and its rendered ``error_message``): failed,
    cancelled by a user, superseded by deployment N, removed because its pull request closed.
    """
    check_transition(State(dep.state), to)
    now = datetime.now(timezone.utc)
    if dep.state == State.QUEUED.value and dep.started_at is None and not to.final:
        dep.started_at = now
    dep.state = to.value
    if to.final and dep.finished_at is None:
        dep.finished_at = now
    if error_id is not None:
        dep.error_id = error_id
        dep.error_message = error_message
