"""Which cat is followed when two are in view: the cat the user names with ``cat_location`` (its
place in the image as a hint), and the followed cat kept apart from another by their colours
(``CatLooks``). Constructed results on real frames' pixels; the closed-loop scenarios with two
cats are in ``test_sim.py``."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cat_follow.config import BehaviourConfig
from cat_follow.geometry import Box
from cat_follow.memory.pool import BBOX, HINT
from cat_follow.perception.evidence import LocationHint
from cat_follow.perception.look import CatLooks
from cat_follow.perception.port import KIND_CAT, KIND_DOG, RESULT
from cat_follow.perception.target import DropReason, TargetState
from cat_follow.robot.hint import TargetHints, location_in_view
from cat_follow.robot.state_machine import StateMachine
from tests.test_decide import Feed

W = 640
TAN = math.tan(math.radians(31.0))
GINGER: Box = (60.0, 200.0, 60.0, 50.0)   # small: too small for the classifier, the detector decides
GREY: Box = (400.0, 200.0, 60.0, 50.0)


def _frame() -> np.ndarray:
    frame = np.zeros((480, 640, 3), np.uint8)
    frame[200:250, 60:120] = (40, 120, 220)    # BGR orange
    frame[200:250, 400:460] = (128, 128, 128)  # grey
    return frame


def _hint(hint_id: int, x: float, half: float) -> np.void:
    rec = np.zeros(1, HINT)[0]
    rec["id"], rec["x"], rec["half"] = hint_id, x, half
    return rec


# ---- where a cat_location lies in the image --------------------------------------------------
def test_a_location_ahead_is_mid_image_and_its_disc_narrows_with_distance() -> None:
    x1, half1 = location_in_view((2.0, 0.0), 0.3, (0.0, 0.0, 0.0), 0.0, TAN, W)
    x2, half2 = location_in_view((4.0, 0.0), 0.3, (0.0, 0.0, 0.0), 0.0, TAN, W)
    assert x1 == pytest.approx(W / 2) and x2 == pytest.approx(W / 2)
    assert half2 < half1
    assert half1 == pytest.approx(W / 2 * math.tan(math.atan2(0.3, 2.0)) / TAN)


def test_a_location_to_the_left_is_left_of_centre_and_panning_toward_it_centres_it() -> None:
    x, _ = location_in_view((2.0, 0.5), 0.3, (0.0, 0.0, 0.0), 0.0, TAN, W)
    assert x < W / 2 - 50
    bearing_right = -math.degrees(math.atan2(0.5, 2.0))  # the camera panned onto it (right +)
    centred, _ = location_in_view((2.0, 0.5), 0.3, (0.0, 0.0, 0.0), bearing_right, TAN, W)
    assert centred == pytest.approx(W / 2)


@pytest.mark.parametrize("target", [(-2.0, 0.0), (0.0, 3.0), None])
def test_a_location_behind_beside_or_absent_is_out_of_view(target: tuple[float, float] | None) -> None:
    assert all(math.isnan(v) for v in location_in_view(target, 0.3, (0.0, 0.0, 0.0), 0.0, TAN, W))


def _box_rec(x: float, hint_id: int, state: TargetState = TargetState.TRACKING) -> np.void:
    rec = np.zeros(1, BBOX)[0]
    rec["x"], rec["w"], rec["valid"], rec["hint_id"], rec["target_state"] = x, 60.0, 1, hint_id, int(state)
    return rec


def test_a_box_chosen_before_the_last_cat_location_is_acted_on_only_where_it_points() -> None:
    sm, hints, pose = StateMachine(BehaviourConfig(), 0.15), TargetHints(0.3, TAN, W), (0.0, 0.0, 0.0)
    hints.update(sm, pose, 0.0, _box_rec(0, 0))
    assert hints.id == 0 and hints.heard(_box_rec(500.0, 0))  # no cat_location: any box
    sm.locate(0.0, 2.0, 0.0)  # straight ahead: column 320, half-width ~80 px at 2 m
    hints.update(sm, pose, 0.0, _box_rec(0, 0))
    assert hints.id == sm.run and hints.view[0] == pytest.approx(W / 2)
    assert not hints.heard(_box_rec(500.0, 0)) and hints.heard(_box_rec(500.0, sm.run))
    assert hints.heard(_box_rec(300.0, 0)), "a box where the command points may be the cat it means"
    hints.update(sm, (0.0, 0.0, math.pi), 0.0, _box_rec(0, 0))  # facing away: the place out of view
    assert not hints.heard(_box_rec(300.0, 0)), "wait for the tracker to hear the command"


def test_a_click_names_the_cat_under_it_until_the_tracker_holds_it() -> None:
    sm, hints, pose = StateMachine(BehaviourConfig(), 0.15), TargetHints(0.3, TAN, W), (0.0, 0.0, 0.0)
    sm.locate(0.0, 2.0, 0.0)
    hints.click(0.8, sm.run)  # follow_at 0.8 ...: column 512
    hints.update(sm, pose, 0.0, _box_rec(300.0, sm.run))
    assert hints.id == -1 and hints.view == (pytest.approx(512.0), 0.0)
    assert not hints.heard(_box_rec(300.0, sm.run)), "the box on the located cat is not the clicked one"
    hints.update(sm, pose, 0.0, _box_rec(600.0, -1, TargetState.ACQUIRING))
    assert hints.id == -1  # a candidate elsewhere: the click holds
    hints.update(sm, pose, 0.0, _box_rec(480.0, -1, TargetState.ACQUIRING))
    assert hints.id == 0, "held under the click: done, and the cat_location before it names no cat"
    sm.locate(1.0, 2.0, 0.5)
    hints.update(sm, pose, 0.0, _box_rec(480.0, -1))
    assert hints.id == sm.run  # a new cat_location names a cat again
    hints.click(0.1, sm.run)
    sm.stop(3.0, "stop command")
    hints.update(sm, pose, 0.0, _box_rec(480.0, sm.run))
    assert hints.id == 0, "a stop cancels a click still pending"


def test_the_hint_window_keeps_only_what_reaches_into_it() -> None:
    h = LocationHint()
    dets = np.zeros(3, RESULT["dets"].base)
    rows = [(GREY, 0.9, KIND_CAT), (GINGER, 0.5, KIND_CAT), ((100.0, 0, 40, 40), 0.4, KIND_DOG)]
    for i, (b, s, k) in enumerate(rows):
        dets[i] = (*b, s, k)
    assert not h.active and h.nearest(dets, 0.3) < 0
    h.post(1, 90.0, 20.0)
    assert h.active and h.nearest(dets, 0.3) == 1
    kept = h.within(dets)
    assert [tuple(r)[:4] for r in kept] == [GINGER, (100.0, 0, 40, 40)]
    h.post(1, math.nan, math.nan)  # out of view: no restriction
    assert not h.active
    h.post(1, 90.0, 20.0)
    h.spend()
    assert not h.active
    h.post(2, 90.0, 20.0)  # a new cat_location
    assert h.active


# ---- the decider --------------------------------------------------------------------------
def test_a_cat_location_takes_the_cat_there_not_the_detectors_favourite() -> None:
    frame = _frame()
    f = Feed()
    both = [(GREY, 0.9, KIND_CAT), (GINGER, 0.5, KIND_CAT)]
    f.result(both, frame=frame)
    assert f.box == GREY  # no hint: the best score
    f.d.hint(_hint(1, 90.0, 30.0), f.box, f.t)  # the user names the ginger one: the grey one is let go
    assert not f.d.state.has_target
    f.box = None  # as the tracker does when the target is dropped
    for _ in range(3):
        f.result(both, frame=frame)
        assert f.box == GINGER
    assert f.d.state is TargetState.TRACKING
    # confirmed: the hint is spent, and the grey cat was seen beside the followed one; the ginger
    # one hidden, the grey one alone is not taken for it (its colours)
    f.result([(GREY, 0.9, KIND_CAT)], frame=frame, kcf_lost=True)
    assert f.box == GINGER


def test_with_a_location_pending_a_cat_elsewhere_is_neither_taken_nor_kept() -> None:
    frame = _frame()
    f = Feed()
    f.d.hint(_hint(1, 90.0, 30.0), None, f.t)
    for _ in range(3):
        f.result([(GREY, 0.9, KIND_CAT)], frame=frame)
        assert f.box is None and not f.d.state.has_target


def test_while_the_lost_cat_is_looked_for_the_other_cat_is_not_taken_for_it() -> None:
    """The followed ginger cat, a grey one seen beside it; the ginger one hides: the grey one alone
    is not taken for it while the robot still looks for it (``detection_timeout_s`` +
    ``lost_search_s``), the ginger one is when it comes back, and after that long the grey one is."""
    frame = _frame()
    f = Feed()
    for _ in range(3):
        f.result([(GINGER, 0.8, KIND_CAT), (GREY, 0.6, KIND_CAT)], frame=frame)
    assert f.d.state is TargetState.TRACKING and f.box == GINGER
    f.d.drop(DropReason.TIMEOUT)  # it hid
    f.box = None
    hidden = frame.copy()
    hidden[200:250, 60:120] = 0
    for _ in range(5):
        f.result([(GREY, 0.9, KIND_CAT)], frame=hidden)
        assert f.box is None and not f.d.state.has_target
    back: Box = (66.0, 200.0, 60.0, 50.0)
    came_back = frame.copy()
    came_back[200:250, 60:126] = (40, 120, 220)
    f.result([(GREY, 0.9, KIND_CAT), (back, 0.6, KIND_CAT)], frame=came_back)
    assert f.box == back
    f.d.drop(DropReason.TIMEOUT)  # hidden again, for longer than the robot looks for it
    f.box = None
    looks_for_s = f.d.looks.within_ns / 1e9
    taken_after = None
    for k in range(int(looks_for_s * 10) + 5):  # results 0.1 s apart
        f.result([(GREY, 0.9, KIND_CAT)], frame=hidden)
        if f.box == GREY:
            taken_after = k
            break
    assert taken_after is not None and taken_after >= (looks_for_s - 1.0) * 10  # counted from when seen beside


def test_one_cat_alone_is_always_taken_back_whatever_its_colours() -> None:
    """No other cat seen: a changed look (light, pose) does not stop the lost cat being found."""
    frame = _frame()
    f = Feed()
    for _ in range(3):
        f.result([(GINGER, 0.8, KIND_CAT)], frame=frame)
    assert f.d.state is TargetState.TRACKING
    dim = frame.copy()
    back: Box = (66.0, 200.0, 60.0, 50.0)
    dim[200:250, 60:126] = (20, 60, 110)
    f.result([(back, 0.8, KIND_CAT)], frame=dim, kcf_lost=True)
    assert f.box == back and f.d.state is TargetState.TRACKING


def test_cat_looks_takes_the_nearer_of_the_two_looks() -> None:
    frame = _frame()
    looks = CatLooks(within_ns=10**9, same_look=0.85)
    assert not looks.is_other(frame, GREY, 0)  # nothing seen yet
    dets = np.zeros(2, RESULT["dets"].base)
    dets[0], dets[1] = (*GINGER, 0.8, KIND_CAT), (*GREY, 0.6, KIND_CAT)
    looks.see(frame, dets, GINGER, 0.3, 0)
    assert looks.is_other(frame, GREY, 1) and not looks.is_other(frame, GINGER, 1)
    assert not looks.is_other(frame, GREY, 2 * 10**9)  # the other cat seen too long ago
    looks.demote(3)  # the followed one turns out not to be the one meant: its look is the other's
    assert not looks.has_followed and not looks.is_other(frame, GINGER, 4)
    looks.see(frame, dets[1:], GREY, 0.3, 5)  # now following the grey one
    assert looks.is_other(frame, GINGER, 6)


def test_a_click_starts_an_idle_robot_looking_and_keeps_a_moving_one_going() -> None:
    from cat_follow.robot.state_machine import Mode, RobotState, Sighting

    sm = StateMachine(BehaviourConfig(), 0.15)
    sm.follow(1.0)
    assert sm.state is RobotState.LOST and sm.step(1.1, (0.0, 0.0, 0.0), Sighting(False)).mode is Mode.LOOK
    assert sm.step(1.2, (0.0, 0.0, 0.0), Sighting(True, -1)).mode is Mode.TRACK  # the clicked cat, confirmed
    sm.locate(2.0, 1.0, 0.0)
    run = sm.run
    sm.follow(2.1)
    assert sm.state is RobotState.NAVIGATE and sm.run == run  # driving on: the tracker changes cat
