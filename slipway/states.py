"""The deployment state machine.

queued -> cloning -> building -> pushing -> deploying -> live, and from any
non-final state to failed or cancelled. A redeploy of an image built earlier skips the
build: queued -> deploying -> live. A deployment that is live can later be
superseded by a newer one (it stays live in history; ``superseded`` marks it).
"""

from __future__ import annotations

import enum


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
