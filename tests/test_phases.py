"""``evaluate --suite --phases N`` (``evaluation/phases.py``): the reference and the labels checked
by eye shifted with the video, each figure's mean and worst over the phases, and the table. The
replays themselves (``replay --skip-frames``) are checked in ``test_sources.py`` and, end to end,
in ``test_evaluate.py``."""

from __future__ import annotations

import pytest

from cat_follow.evaluation.identity import Checked, CheckedFrame
from cat_follow.evaluation.phases import phase_stem, phases_table, shifted_checked, shifted_reference, summarise
from cat_follow.evaluation.scoring import Reference


def test_the_reference_and_the_checked_frames_move_with_the_video() -> None:
    ref = Reference("v.mp4", 640, 360, [[("cat", (float(i), 0.0, 10.0, 10.0))] for i in range(10)])
    moved = shifted_reference(ref, 3)
    assert len(moved.frames) == 7 and moved.frames[0] == ref.frames[3]
    frame = CheckedFrame(True, 0, [("cat:A", (0.0, 0.0, 10.0, 10.0))])
    checked = Checked("v.mp4", {"A": "tabby"}, {2: frame, 52: frame})
    assert set(shifted_checked(checked, 3).frames) == {49}  # frame 2 is before the start
    assert phase_stem("v", 0) == "v" and phase_stem("v", 2) == "v.p2"


def test_each_figure_is_summed_up_by_its_mean_and_its_worst_phase() -> None:
    rows = [{"present": 0.9, "on_cat": 0.8, "on_decoy": 0.0, "false": None, "identity": {"switches": 1}},
            {"present": 1.0, "on_cat": 0.6, "on_decoy": 0.1, "false": None, "identity": {"switches": 3}}]
    s = summarise(rows)
    assert s["phases"] == 2
    assert s["present"] == pytest.approx(0.95) and s["present_worst"] == 0.9
    assert s["on_cat"] == pytest.approx(0.7) and s["on_cat_worst"] == 0.6
    assert s["on_decoy_worst"] == 0.1  # the worst decoy figure is the highest
    assert s["false"] is None and s["switches"] == [1, 3]


def test_the_phase_table_shows_both_timings_and_the_switches_summed() -> None:
    row = summarise([{"present": 0.9, "on_cat": 0.8, "on_decoy": 0.0, "false": None, "identity": {"switches": 2}},
                     {"present": 0.7, "on_cat": 0.6, "on_decoy": 0.0, "false": None, "identity": {"switches": 1}}])
    result = {"timings": ["instant", "pi4"], "phases": [{"video": "v.mp4", "timing": "instant", **row},
                                                        {"video": "v.mp4", "timing": "pi4", **row}]}
    table = phases_table(result)
    assert "Over 2 phases" in table
    assert "| v.mp4 | 0.800 (0.700) / 0.800 (0.700) | 0.700 (0.600) / 0.700 (0.600) |" in table
    assert table.rstrip().endswith("| - / - | 3 / 3 |")
    assert phases_table({"timings": ["instant"], "videos": []}) == ""
