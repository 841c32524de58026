import pytest

from slipway.models import Deployment
from slipway.states import ALLOWED, FINAL_STATES, InvalidTransition, State, check_transition

PIPELINE = [State.QUEUED, State.CLONING, State.BUILDING, State.PUSHING, State.DEPLOYING, State.LIVE]


def test_the_happy_path_is_allowed_step_by_step():
    for current, nxt in zip(PIPELINE, PIPELINE[1:]):
        check_transition(current, nxt)


@pytest.mark.parametrize("state", PIPELINE[:-1])
def test_every_unfinished_state_can_fail_or_be_cancelled(state):
    check_transition(state, State.FAILED)
    check_transition(state, State.CANCELLED)


def test_steps_cannot_be_skipped_or_reversed():
    with pytest.raises(InvalidTransition):
        check_transition(State.QUEUED, State.BUILDING)
    with pytest.raises(InvalidTransition):
        check_transition(State.BUILDING, State.CLONING)


@pytest.mark.parametrize("state", [State.FAILED, State.CANCELLED, State.SUPERSEDED])
def test_final_states_are_final(state):
    assert state.final
    assert ALLOWED[state] == frozenset()
    for target in State:
        with pytest.raises(InvalidTransition):
            check_transition(state, target)


def test_every_state_reaches_a_final_state():
    for state in State:
        seen, frontier = set(), {state}
        while frontier:
            s = frontier.pop()
            seen.add(s)
            frontier |= ALLOWED[s] - seen
        assert seen & FINAL_STATES, f"{state} cannot reach a final state"


def test_deployment_transition_stamps_times():
    d = Deployment(sha="a" * 40, branch="main", trigger="cli", state="queued")
    d.transition(State.CLONING)
    assert d.started_at is not None and d.finished_at is None
    d.transition(State.FAILED)
    assert d.finished_at is not None
    with pytest.raises(InvalidTransition):
        d.transition(State.BUILDING)


def test_a_redeploy_goes_from_queued_straight_to_deploying():
    check_transition(State.QUEUED, State.DEPLOYING)
    for skipped in (State.PUSHING, State.LIVE):
        with pytest.raises(InvalidTransition):
            check_transition(State.QUEUED, skipped)
