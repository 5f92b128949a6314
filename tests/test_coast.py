"""Dead reckoning between KCF losing the cat and the detector's answer (perception/coast.py): the
rules on their own, then a real replay at a Pi 4's pace judged against the reference boxes."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cat_follow.config import Config
from cat_follow.evaluation.suite import default_labels_dir
from cat_follow.geometry import iou
from cat_follow.memory.pool import BBOX_TRACKER, SOURCE_PREDICTED, SOURCE_TRACKER
from cat_follow.perception.coast import Coast
from cat_follow.perception.model import ModelFiles
from cat_follow.perception.ssd import SsdDetector
from cat_follow.perception.target import TargetState

MS = 1_000_000
FRAME = 33 * MS


def _moving(coast: Coast, n: int, vx: float = 3.0) -> None:
    """KCF tracked a 40x30 box for ``n`` frames, moving ``vx`` px per frame to the right."""
    coast.restart((100.0, 50.0, 40.0, 30.0), 0)
    for i in range(1, n):
        coast.observe((100.0 + vx * i, 50.0, 40.0, 30.0), i * FRAME)


def test_the_last_box_is_carried_on_at_kcf_velocity_for_at_most_max_frames() -> None:
    coast = Coast(max_frames=3, width=320, height=240)
    _moving(coast, 6)
    assert coast.velocity == pytest.approx((3.0 / 0.033, 0.0))
    assert coast.box_at(6 * FRAME) is None, "not coasting before KCF failed"
    coast.lost()
    boxes = [coast.box_at(t * FRAME) for t in (6, 7, 8, 9)]
    assert boxes[3] is None, "at most max_frames frames"
    assert [b[0] for b in boxes[:3] if b] == pytest.approx([118.0, 121.0, 124.0])
    assert all(b is not None and b[1:] == (50.0, 40.0, 30.0) for b in boxes[:3]), "same row, same size"


def test_a_detector_answer_ends_the_coast_and_a_reinit_forgets_the_motion() -> None:
    coast = Coast(max_frames=5, width=320, height=240)
    _moving(coast, 4)
    coast.lost()
    assert coast.box_at(4 * FRAME) is not None
    coast.answered()
    assert coast.box_at(5 * FRAME) is None, "the detector has ruled: no more dead reckoning"
    coast.restart((10.0, 10.0, 20.0, 20.0), 6 * FRAME)
    assert coast.velocity == (0.0, 0.0), "a re-initialised KCF has no motion yet"
    coast.lost()
    assert coast.box_at(7 * FRAME) == (10.0, 10.0, 20.0, 20.0)


def test_no_coast_without_a_kcf_box_nor_out_of_the_frame() -> None:
    coast = Coast(max_frames=5, width=320, height=240)
    coast.lost()
    assert coast.box_at(0) is None, "KCF never had a box"
    _moving(coast, 4, vx=30.0)  # 900 px/s: the centre passes x = 320 within a few frames
    coast.lost()
    shown = [coast.box_at(t * FRAME) for t in range(4, 9)]
    assert shown[0] is not None and None in shown
    first_gone = shown.index(None)
    assert all(b is None for b in shown[first_gone:]), "once out of the frame the coast is over"


def test_a_pi4_replay_coasts_briefly_and_on_the_cat(assets: Path, cli_env: dict[str, str], tmp_path: Path,
                                                    config: Config) -> None:
    """At a Pi 4's pace KCF's failures on the kittens video leave 4-5 frames before the detector
    answers; the coasted boxes fill them, never for more than K frames, only after a box, and on
    the kitten by the reference boxes."""
    video, log = assets / "video" / "kittens_floor.mp4", tmp_path / "pi4.jsonl"
    p = subprocess.run([sys.executable, "-m", "cat_follow", "replay", str(video), "--fast", "--timing", "pi4",
                        "--log", str(log)], capture_output=True, text=True, env=cli_env, timeout=600, check=False)
    assert p.returncode == 0, p.stderr[-2000:]
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    pred = [i for i, r in enumerate(rows) if r["source"] == "predicted"]
    assert len(pred) >= 20, "KCF fails on this video; pi4 leaves frames before the detector answers"
    runs: list[list[int]] = []
    for i in pred:
        if runs and runs[-1][-1] == i - 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    assert max(len(r) for r in runs) <= config.detector.every_k_frames
    for run in runs:
        before = rows[run[0] - 1]
        assert before["source"] in ("tracker", "detector"), f"frame {run[0]}: a coast continues a box"
        bx, by, bw, bh = before["bbox"]
        for i in run:  # KCF's size, but clipped to the frame (source pixels: 640 x 360), here or before
            x, y, w, h = rows[i]["bbox"]
            assert w == bw or 0 in (x, bx) or pytest.approx(640, abs=0.05) in (x + w, bx + bw), (i, rows[i]["bbox"])
            assert h == bh or 0 in (y, by) or pytest.approx(360, abs=0.05) in (y + h, by + bh), (i, rows[i]["bbox"])
    labels = default_labels_dir() / "kittens_floor.json"
    if not labels.is_file():
        pytest.skip(f"no reference labels at {labels}")
    ref = json.loads(labels.read_text())["frames"]
    judged = [i for i in pred if any(b[0] in ("cat", "dog") for b in ref[i])]
    on = [i for i in judged if any(iou(tuple(rows[i]["bbox"]), tuple(b[1:5])) >= 0.3 for b in ref[i])]
    assert len(judged) >= 10 and len(on) / len(judged) >= 0.8, (len(on), len(judged))


def test_the_car_drives_on_a_predicted_box_as_on_a_dropped_one(config: Config, models: ModelFiles,
                                                                detector: SsdDetector) -> None:
    """The main loop: a tracked box is a sighting that moves the camera; a predicted one is not
    (its image motion is partly the camera's own pan): the car coasts on the last tracked box,
    stale, exactly as when the tracker dropped the box."""
    from test_stop_property import lockstep_robot

    with lockstep_robot("sim", config, models, detector) as r:
        shared, now_ns = r.robot.pipeline.shared, time.monotonic_ns()

        def publish(box: tuple[float, float, float, float], source: int) -> None:
            shared.publish_bbox(BBOX_TRACKER, *box, score=0.8, valid=True, seq=1, source=source,
                                target_state=int(TargetState.TRACKING), ms=1.0)

        tracked, predicted = (300.0, 200.0, 80.0, 60.0), (420.0, 200.0, 80.0, 60.0)
        publish(tracked, SOURCE_TRACKER)
        seen, box, stale = r.robot._sighting(10.0, now_ns)
        assert seen.visible and box == tracked and not stale
        publish(predicted, SOURCE_PREDICTED)
        seen, box, stale = r.robot._sighting(10.05, now_ns)
        assert not seen.visible and seen.candidate and box == tracked and stale, "coast on the tracked box"
        seen, box, _ = r.robot._sighting(10.0 + 0.7, now_ns)
        assert box is None and not seen.visible, "and only for COAST_S, as for a dropped box"
