"""Identity figures: switches of the followed box between labelled cats on frames checked by eye
(evaluate), the timings side by side in evaluate.md, and switches in the simulator's summary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cat_follow.evaluation.identity import Checked, CheckedFrame, load_checked, score_identity
from cat_follow.evaluation.report import render_markdown
from cat_follow.evaluation.scoring import EvaluationError
from cat_follow.evaluation.suite import default_labels_dir
from cat_follow.robot.state_machine import RobotState
from cat_follow.sim.metrics import Sample
from cat_follow.sim.scenario import load_scenario, shipped_scenarios
from cat_follow.sim.switches import back_after_hiding, followed, followed_share, switches

A = (0.0, 0.0, 50.0, 50.0)
B = (200.0, 0.0, 50.0, 50.0)


def _checked(frames: dict[int, CheckedFrame]) -> Checked:
    return Checked("v.mp4", {"A": "tabby", "B": "calico"}, frames)


def both(unboxed: int = 0) -> CheckedFrame:
    return CheckedFrame(True, unboxed, [("cat:A", A), ("cat:B", B)])


def test_a_move_to_the_other_cat_while_the_first_is_in_view_is_a_switch() -> None:
    checked = _checked({0: both(), 10: both(), 20: both(), 30: both()})
    boxes = [None] * 40
    boxes[0], boxes[10], boxes[20], boxes[30] = A, B, None, A
    s = score_identity(boxes, checked)
    assert (s.sampled, s.present, s.on_cat) == (4, 0.75, 0.75)
    assert s.followed == {"A": 2, "B": 1}
    assert s.switches == 2 and s.switch_frames == [[0, 10, "A", "B"], [10, 30, "B", "A"]]


def test_taking_the_other_cat_once_the_first_has_left_is_no_switch() -> None:
    only_b = CheckedFrame(True, 0, [("cat:B", B)])
    b_and_unboxed = CheckedFrame(True, 1, [("cat:B", B)])
    boxes: list = [A, None, B, None, B]
    assert score_identity(boxes, _checked({0: both(), 2: only_b})).switches == 0
    assert score_identity(boxes, _checked({0: both(), 4: b_and_unboxed})).switches == 1, "A may be the unboxed cat"
    other = CheckedFrame(True, 0, [("other", (0.0, 0.0, 250.0, 50.0))])
    s = score_identity([(0.0, 0.0, 250.0, 50.0)], _checked({0: other}))
    assert (s.present, s.on_cat, s.switches) == (1.0, 0.0, 0), "a box over both cats is on neither"


def test_the_checked_labels_load_and_bad_ones_are_clear_errors(tmp_path: Path) -> None:
    checked = load_checked(default_labels_dir() / "checked" / "two_cats_treadmill_home_gym.json")
    assert set(checked.legend) == {"A", "B"} and len(checked.frames) == 36
    assert checked.frames[734].cats() == {"A", "B"}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"legend": {"A": "x"}, "frames": {"3": {"boxes": [["cat:C", 0, 0, 5, 5]]}}}))
    with pytest.raises(EvaluationError, match=r"frame 3: expected \[label"):
        load_checked(bad)
    with pytest.raises(EvaluationError, match="frame 35 is checked"):
        score_identity([None] * 10, _checked({35: both()}))


def test_the_markdown_puts_the_timings_side_by_side() -> None:
    row = {"video": "v.mp4", "score_as": "animal", "frames": 10, "frames_with_box": 8, "present": 0.8,
           "on_cat": 0.7, "on_decoy": 0.0, "false": None}
    ident = {"sampled": 4, "present": 1.0, "on_cat": 0.75, "followed": {"A": 3, "B": 0}, "switches": 1}
    result = {"timings": ["instant", "pi4"], "wall_s": 1.0, "jobs": 2, "model": "m", "videos": [
        {**row, "timing": "instant", "identity": ident},
        {**row, "timing": "pi4", "frames_with_box": 6, "present": 0.6, "on_cat": 0.5}]}
    md = render_markdown(result)
    assert "| v.mp4 | animal | 10 | 8 / 6 | 0.800 / 0.600 | 0.700 / 0.500 | 0.000 / 0.000 | - / - |" in md
    assert "| v.mp4 | instant | 4 | 1.000 | 0.750 | A: 3, B: 0 | 1 |" in md


def _sample(t: float, target: tuple[float, float, float, float] | None, cat: object = A, other: object = B,
            state: RobotState = RobotState.TRACK) -> Sample:
    return Sample(t, state, (0.0, 0.0, 0.0), (0.0, 0.0, 0.0), (0.0, 0.0), (1.0, 1.0), 25.0, target=target,
                  cat_box=cat, other_cat_boxes=[other])  # type: ignore[arg-type]


def test_the_simulator_counts_switches_between_cats() -> None:
    on_a, on_b = (5.0, 5.0, 30.0, 30.0), (205.0, 5.0, 30.0, 30.0)
    assert followed(_sample(0, on_a)) == "cat" and followed(_sample(0, on_b)) == "cat2"
    assert followed(_sample(0, on_a, other=A)) is None, "two cats overlapping: a tie, no one"
    run = [_sample(0.0, on_a), _sample(0.1, None), _sample(0.2, on_b), _sample(0.3, on_b), _sample(0.4, on_a)]
    assert switches(run) == [(0.2, "cat", "cat2"), (0.4, "cat2", "cat")]
    assert followed_share(run) == {"cat": 0.4, "cat2": 0.4}


def test_the_time_to_follow_the_cat_again_counts_from_its_return() -> None:
    on_a = (5.0, 5.0, 30.0, 30.0)
    run = [_sample(1.0, on_a), _sample(2.0, None, cat=None, state=RobotState.LOST),
           _sample(3.0, None, state=RobotState.LOST), _sample(3.5, on_a, state=RobotState.LOST),
           _sample(4.2, on_a)]
    assert back_after_hiding(run, ((1.5, 3.0),), 10.0) == [1.2]
    assert back_after_hiding(run[:3], ((1.5, 3.0),), 10.0) == [7.0], "never again: the rest of the run"
    assert back_after_hiding(run, ((0.5, 3.0),), 10.0) == [], "it was not followed when it hid"


def test_a_box_while_the_robot_is_idle_is_no_choice_and_no_switch() -> None:
    """Before the first cat_location the robot follows nothing: the tracker's box on the other cat
    then, and the move to the cat the command names, are not a switch; the same move later is."""
    on_a, on_b = (5.0, 5.0, 30.0, 30.0), (205.0, 5.0, 30.0, 30.0)
    run = [_sample(0.1, on_b, state=RobotState.IDLE), _sample(0.2, on_b, state=RobotState.IDLE),
           _sample(0.6, on_a, state=RobotState.NAVIGATE), _sample(1.0, on_a)]
    assert switches(run) == []
    assert switches([_sample(0.1, on_b), *run[2:]]) == [(0.6, "cat2", "cat")]


def test_the_two_cat_scenarios_use_two_different_photos() -> None:
    two = [n for n in shipped_scenarios() if n.startswith("two_cats")]
    assert len(two) >= 3
    for name in two:
        sc = load_scenario(name)
        others = [d for d in sc.decoys if d.kind == "cat"]
        assert sc.cat and others and all(d.photo != sc.cat.photo for d in others), name
        assert sc.success.max_switches == 0
    hides = load_scenario("cat_hides_twice")
    assert hides.cat and [b - a for a, b in hides.cat.hidden] == [3.0, 3.0]
    assert hides.success.max_reacquire_s == hides.success.max_reacquire_after_hide_s == 1.5


def test_a_run_on_the_other_cat_fails_and_says_so() -> None:
    from cat_follow.sim.metrics import Metrics

    sc = load_scenario("two_cats_side_by_side")
    on_b, on_a = (205.0, 5.0, 30.0, 30.0), (5.0, 5.0, 30.0, 30.0)
    m = Metrics(sc, 0.5, 640, 0.1, samples=[_sample(t / 10, on_b) for t in range(10)])
    out = m.summary()
    assert out["followed_share"] == {"cat2": 1.0} and out["switches"] == 0
    assert not out["success"] and any("followed another cat" in r for r in out["reasons"])
    m = Metrics(sc, 0.5, 640, 0.1, samples=[_sample(t / 10, on_a if t < 5 else on_b) for t in range(10)])
    out = m.summary()
    assert out["switches"] == 1 and any("1 identity switch(es) > 0 (at [0.5] s)" in r for r in out["reasons"])
