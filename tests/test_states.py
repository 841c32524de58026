import pytest

from slipway.models import Deployment
from slipway.states import ALLOWED, FINAL_STATES, InvalidTransition, State, check_transition, transition

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


def test_deployment_transition_stamps_times_and_says_why():
    d = Deployment(sha="a" * 40, branch="main", trigger="cli", state="queued")
    transition(d, State.CLONING)
    assert d.started_at is not None and d.finished_at is None
    transition(d, State.FAILED, "app:worker-lost", "The worker stopped.")
    assert d.finished_at is not None
    assert (d.state, d.error_id, d.error_message) == ("failed", "app:worker-lost", "The worker stopped.")
    with pytest.raises(InvalidTransition):
        transition(d, State.BUILDING)


def test_an_illegal_transition_is_refused_and_changes_nothing():
    d = Deployment(sha="a" * 40, branch="main", trigger="cli", state="live")
    with pytest.raises(InvalidTransition, match="cannot go from live to cancelled"):
        transition(d, State.CANCELLED, "app:cancelled-by-user", "Cancelled by a user.")
    assert (d.state, d.error_id, d.error_message, d.finished_at) == ("live", None, None, None)


@pytest.mark.parametrize("current, written", [
    ("live", "queued"), ("failed", "live"), ("cancelled", "deploying"), ("queued", "building"), ("superseded", "live"),
])
def test_the_model_refuses_a_state_written_around_transition(current, written):
    """Whoever writes Deployment.state, the state machine is asked (one place checks every write)."""
    d = Deployment(sha="a" * 40, branch="main", trigger="cli", state=current)
    with pytest.raises(InvalidTransition):
        d.state = written
    assert d.state == current
    d.state = current  # writing the state it has is no transition


def test_a_stored_deployment_refuses_an_illegal_state_in_the_database_too(settings):
    from slipway.db import session_scope
    from slipway.models import Project

    with session_scope() as s:
        d = Deployment(project=Project(name="p", repo_url="u"), sha="a" * 40, branch="main", trigger="cli",
                       state="superseded")
        s.add(d)
        s.flush()
        dep_id = d.id
    with pytest.raises(InvalidTransition):
        with session_scope() as s:
            s.get(Deployment, dep_id).state = State.LIVE.value
    with session_scope() as s:
        assert s.get(Deployment, dep_id).state == "superseded"


def test_a_redeploy_goes_from_queued_straight_to_deploying():
    check_transition(State.QUEUED, State.DEPLOYING)
    for skipped in (State.PUSHING, State.LIVE):
        with pytest.raises(InvalidTransition):
            check_transition(State.QUEUED, skipped)
