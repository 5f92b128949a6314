"""The behaviour state machine's transition table, every timeout on an injected clock."""

from __future__ import annotations

import pytest

from cat_follow.config import BehaviourConfig
from cat_follow.robot.state_machine import Mode, RobotState, Sighting, StateMachine

CFG = BehaviourConfig(detection_timeout_s=2.0, search_timeout_s=10.0, search_retries=3, lost_search_s=4.0,
                      navigate_timeout_s=30.0)
HOME = (0.0, 0.0, 0.0)
NONE, RIGHT, LEFT = Sighting(False), Sighting(True, 1), Sighting(True, -1)  # in mid-view
OUT_RIGHT, OUT_LEFT = Sighting(True, 1, leaving=True), Sighting(True, -1, leaving=True)  # at the image's side


def sm() -> StateMachine:
    return StateMachine(CFG, goal_tolerance_m=0.15)


def test_idle_until_commanded() -> None:
    m = sm()
    assert m.step(0.0, HOME, RIGHT).mode is Mode.STOP  # a cat alone does not start it
    assert m.state is RobotState.IDLE


def test_navigate_reaches_the_location_then_searches() -> None:
    m = sm()
    m.locate(0.0, 2.0, 0.0)
    i = m.step(0.1, HOME, NONE)
    assert m.state is RobotState.NAVIGATE and i.mode is Mode.GOTO and i.goal == (2.0, 0.0)
    assert m.step(5.0, (1.9, 0.05, 0.0), NONE).mode is Mode.SEARCH
    assert m.state is RobotState.SEARCH


def test_navigate_gives_up_after_its_timeout() -> None:
    m = sm()
    m.locate(0.0, 2.0, 0.0)
    m.step(29.9, HOME, NONE)
    assert m.state is RobotState.NAVIGATE
    m.step(30.1, HOME, NONE)
    assert m.state is RobotState.SEARCH


def test_a_cat_seen_while_navigating_is_tracked() -> None:
    m = sm()
    m.locate(0.0, 2.0, 0.0)
    m.step(1.0, HOME, NONE)
    assert m.step(1.1, HOME, LEFT).mode is Mode.TRACK
    assert m.state is RobotState.TRACK


def test_track_lost_after_detection_timeout_then_search_near_last_side() -> None:
    m = sm()
    m.locate(0.0, 1.0, 0.0)
    m.step(0.0, HOME, OUT_LEFT)
    assert m.state is RobotState.TRACK
    m.step(1.9, HOME, NONE)
    assert m.state is RobotState.TRACK  # within 2 s of the last sighting at t=0
    i = m.step(2.1, HOME, NONE)
    assert m.state is RobotState.LOST and i.mode is Mode.SEARCH and i.direction == -1  # where it went
    assert m.step(3.0, HOME, RIGHT).mode is Mode.TRACK  # found again


def test_lost_search_times_out_into_search_the_other_way() -> None:
    m = sm()
    m.locate(0.0, 1.0, 0.0)
    m.step(0.0, HOME, OUT_RIGHT)
    m.step(2.5, HOME, NONE)
    assert m.state is RobotState.LOST
    m.step(6.4, HOME, NONE)
    assert m.state is RobotState.LOST
    i = m.step(6.6, HOME, NONE)
    assert m.state is RobotState.SEARCH and i.direction == -1


def test_a_cat_lost_in_mid_view_is_looked_for_where_it_was_first() -> None:
    """It vanished in mid-view (hid, or the detector lost it there): LOST holds still with the
    camera where it was for lost_search_s, then searches toward the side it was on."""
    m = sm()
    m.locate(0.0, 1.0, 0.0)
    m.step(0.0, HOME, LEFT)
    i = m.step(2.1, HOME, NONE)
    assert m.state is RobotState.LOST and i.mode is Mode.LOOK
    assert m.step(4.0, HOME, NONE).mode is Mode.LOOK
    assert m.step(4.5, HOME, LEFT).mode is Mode.TRACK, "back where it was: followed again"
    m.step(6.6, HOME, NONE)
    assert m.state is RobotState.LOST and m.step(10.5, HOME, NONE).mode is Mode.LOOK
    i = m.step(10.7, HOME, NONE)
    assert m.state is RobotState.SEARCH and i.mode is Mode.SEARCH and i.direction == -1, "its side first"
    assert m.step(11.0, HOME, NONE).direction == -1


def test_the_last_sighting_decides_whether_it_left_at_a_side() -> None:
    m = sm()
    m.locate(0.0, 1.0, 0.0)
    m.step(0.0, HOME, LEFT)
    m.step(0.5, HOME, OUT_RIGHT)  # then it walked out of view on the right
    i = m.step(2.6, HOME, NONE)
    assert m.state is RobotState.LOST and i.mode is Mode.SEARCH and i.direction == 1


def test_a_cat_lost_while_the_car_moved_is_searched_for_by_turning() -> None:
    """The car's own motion may have hidden it (a wall came between them): turn as before."""
    m = sm()
    m.locate(0.0, 1.0, 0.0)
    m.step(0.0, HOME, Sighting(True, -1, moving=True))
    i = m.step(2.1, HOME, NONE)
    assert m.state is RobotState.LOST and i.mode is Mode.SEARCH and i.direction == -1


def test_search_retries_then_gives_up_to_idle() -> None:
    m = sm()
    m.locate(0.0, 0.0, 0.0)
    m.step(0.0, HOME, NONE)  # already there: SEARCH from t=0
    assert m.state is RobotState.SEARCH
    directions = [m.step(0.5, HOME, NONE).direction]
    for k in (1, 2):
        m.step(10.1 * k, HOME, NONE)
        assert m.state is RobotState.SEARCH and m.retries == k
        directions.append(m.step(10.1 * k + 0.1, HOME, NONE).direction)
    assert directions[0] == -directions[1] == directions[2]  # each attempt turns the other way
    assert m.step(30.4, HOME, NONE).mode is Mode.STOP
    assert m.state is RobotState.IDLE and "3 attempts" in m.stop_reason


@pytest.mark.parametrize("setup", ["navigate", "search", "track", "lost"])
def test_stop_goes_idle_from_any_state(setup: str) -> None:
    m = sm()
    m.locate(0.0, 2.0, 0.0)
    if setup == "search":
        m.step(31.0, HOME, NONE)
    elif setup in ("track", "lost"):
        m.step(0.0, HOME, RIGHT)
        if setup == "lost":
            m.step(3.0, HOME, NONE)
    assert m.state.label == setup
    m.stop(40.0, "stop command")
    assert m.state is RobotState.IDLE and m.step(40.1, HOME, RIGHT).mode is Mode.STOP
    assert m.stop_reason == "stop command" and m.target is None


def test_new_location_retargets_from_any_state() -> None:
    m = sm()
    m.locate(0.0, 2.0, 0.0)
    m.step(0.0, HOME, RIGHT)
    assert m.state is RobotState.TRACK
    m.locate(1.0, -1.0, 1.0)
    assert m.state is RobotState.NAVIGATE and m.target == (-1.0, 1.0)
    m.step(29.0, HOME, NONE)
    assert m.state is RobotState.NAVIGATE  # its timeout restarted at the re-target (t=1)


def test_a_search_that_glimpses_a_candidate_looks_again_without_resetting_its_clock() -> None:
    m = sm()
    m.locate(0.0, 0.0, 0.0)
    m.step(0.0, HOME, NONE)
    assert m.state is RobotState.SEARCH
    glimpse = Sighting(False, candidate=True)
    assert m.step(5.0, HOME, glimpse).mode is Mode.LOOK
    assert m.state is RobotState.SEARCH
    m.step(10.1, HOME, glimpse)
    assert m.retries == 1  # looking does not stop the search's timeout
    m2 = sm()
    m2.locate(0.0, 2.0, 0.0)
    assert m2.step(0.1, HOME, glimpse).mode is Mode.GOTO  # only a search stops to look
