"""Replay end to end: the real video, model, KCF and threads, through the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from cat_follow.config import Config
from cat_follow.geometry import Letterbox, iou
from cat_follow.perception.model import ModelFiles
from cat_follow.perception.port import DETECTION, MAX_DETECTIONS
from cat_follow.perception.ssd import SsdDetector
from cat_follow.replay import ReplayOptions, run_replay

SUMMARY_KEYS = {"frames", "frames_with_bbox", "frames_rejected", "detector_runs", "fps", "tracker_ms_p50",
                "tracker_ms_p99", "detector_ms_p50", "handoff_ms_p50", "handoff_ms_p99", "decide_ms_p50",
                "decide_ms_p99"}


def _cli(args: list[str], env: dict[str, str], timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cat_follow", *args], capture_output=True, text=True,
                          env=env, timeout=timeout)


@pytest.fixture(scope="module")
def fast_replay(tmp_path_factory: pytest.TempPathFactory, kittens: Path, assets: Path) -> dict[str, Any]:
    import os

    out = tmp_path_factory.mktemp("replay")
    env = dict(os.environ, CAT_FOLLOW_ASSETS=str(assets))
    proc = _cli(["replay", str(kittens), "--fast", "--log", str(out / "log.jsonl"),
                 "--out-video", str(out / "annotated.mp4"), "--summary-json", str(out / "summary.json")], env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    return {"dir": out, "rows": rows, "summary": json.loads((out / "summary.json").read_text())}


def test_every_source_frame_has_one_row_and_most_have_the_cat(fast_replay: dict[str, Any]) -> None:
    rows = fast_replay["rows"]
    assert [r["frame"] for r in rows] == list(range(957))
    with_box = [r for r in rows if r["bbox"] is not None]
    assert len(with_box) / len(rows) > 0.75
    assert all(r["source"] in ("detector", "tracker", "predicted") and r["score"] > 0 for r in with_box)
    assert all(r["source"] is None and r["score"] is None for r in rows if r["bbox"] is None and r["candidate"] is None)
    assert all(r["state"] == "tracking" for r in with_box)  # the log's box is the confirmed target
    assert all(r["state"] == "acquiring" for r in rows if r["candidate"] is not None)
    assert {r["state"] for r in rows} <= {"none", "acquiring", "tracking", "lost"}
    assert {r["drop_reason"] for r in rows} <= {None, "timeout", "decoy", "unverified"}
    assert rows[30]["t"] == pytest.approx(1.0, abs=1e-3)
    assert not any(r.get("dropped") for r in rows), "--fast must track every frame"


def test_each_row_names_the_followed_track_among_every_animal_tracked(fast_replay: dict[str, Any]) -> None:
    """The log's ``track`` is one of its ``tracks`` (followed first), and that track's box is where
    the followed box is, in the same source pixels; a row with no target follows no track."""
    rows = fast_replay["rows"]
    followed = [r for r in rows if r["bbox"] is not None and r["track"] is not None]
    assert len(followed) > 0.9 * sum(r["bbox"] is not None for r in rows)
    assert all(r["tracks"] and r["tracks"][0]["id"] == r["track"] for r in followed)
    assert all(0.0 <= t["cat"] <= 1.0 and 0.0 <= t["dog"] <= 1.0 for r in rows for t in r["tracks"])
    near = [iou(tuple(r["bbox"]), tuple(r["tracks"][0]["box"])) >= 0.3 for r in followed]
    assert sum(near) > 0.8 * len(near)
    assert all(r["track"] is None for r in rows if r["state"] == "none")
    assert sum(r["tracks"][0]["cat"] > 0.5 for r in followed) > 0.9 * len(followed)  # the kittens read as cats


def test_summary_matches_the_log(fast_replay: dict[str, Any]) -> None:
    s, rows = fast_replay["summary"], fast_replay["rows"]
    assert set(s) >= SUMMARY_KEYS
    assert s["frames"] == 957 and s["frames_rejected"] == 0
    assert s["frames_with_bbox"] == sum(r["bbox"] is not None for r in rows)
    assert 0 < s["detector_runs"] < 957  # every K frames while tracking, not on every frame
    assert s["tracker_ms_p50"] > 0 and s["handoff_ms_p99"] >= s["handoff_ms_p50"] >= 0
    assert s["decide_ms_p99"] >= s["decide_ms_p50"] > 0  # one sample per detector result taken


def test_logged_boxes_are_in_source_pixels(config: Config, kittens: Path, models: ModelFiles,
                                           detector: SsdDetector, tmp_path: Path) -> None:
    """A detector box from the log equals one of the detector's boxes on the decoded frame,
    letterboxed into the slot as the pool does and run directly (whole-frame detection only, so
    both see the same pixels), mapped back to source pixels (the followed kitten is not always
    the one the detector scores highest)."""
    cfg = replace(config, detector=replace(config.detector, roi_scale=0.0, scan_tile_px=0))
    log = tmp_path / "l.jsonl"
    run_replay(kittens, cfg, models, ReplayOptions(fast=True, log_path=log, max_frames=300))
    rows = [json.loads(x) for x in log.read_text().splitlines()]
    rows = [r for r in rows if r["source"] == "detector" and r["bbox"] is not None][::5][:6]
    assert len(rows) >= 3
    cap = cv2.VideoCapture(str(kittens))
    for r in rows:
        cap.set(cv2.CAP_PROP_POS_FRAMES, r["frame"])
        ok, frame = cap.read()
        assert ok
        lb = Letterbox.fit(frame.shape[1], frame.shape[0], cfg.camera.width, cfg.camera.height)
        slot = np.zeros((cfg.camera.height, cfg.camera.width, 3), np.uint8)
        slot[lb.pad_y:lb.pad_y + lb.new_h, lb.pad_x:lb.pad_x + lb.new_w] = cv2.resize(frame, (lb.new_w, lb.new_h))
        dets = np.zeros(MAX_DETECTIONS, DETECTION)
        n = detector.detect_into(slot, None, cfg.detector.keep_threshold, dets)
        boxes = [lb.to_src((float(d["x"]), float(d["y"]), float(d["w"]), float(d["h"]))) for d in dets[:n]]
        assert max((iou(tuple(r["bbox"]), box) for box in boxes), default=0.0) > 0.99, (r, boxes)


def test_annotated_video_has_every_frame(fast_replay: dict[str, Any]) -> None:
    cap = cv2.VideoCapture(str(fast_replay["dir"] / "annotated.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 957
    assert (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))) == (640, 480)


def test_fast_mode_is_deterministic(config: Config, kittens: Path, models: ModelFiles, tmp_path: Path) -> None:
    logs = []
    for i in range(2):
        log = tmp_path / f"{i}.jsonl"
        run_replay(kittens, config, models, ReplayOptions(fast=True, log_path=log, max_frames=150))
        logs.append(log.read_text())
    assert logs[0] == logs[1]
    assert len(logs[0].splitlines()) == 150


def test_paced_replay_keeps_the_source_clock(config: Config, assets: Path, models: ModelFiles,
                                             tmp_path: Path) -> None:
    video = assets / "video" / "cat_on_carpet.mp4"  # 35 frames at 12.5 fps = 2.8 s
    s = run_replay(video, config, models, ReplayOptions(log_path=tmp_path / "l.jsonl"))
    rows = [json.loads(x) for x in (tmp_path / "l.jsonl").read_text().splitlines()]
    assert [r["frame"] for r in rows] == list(range(35))
    assert s["wall_s"] >= 2.6  # paced: cannot run ahead of the video's clock
    assert s["frames_processed"] + s["frames_dropped"] == 35


def test_bad_inputs_give_one_clear_error(tmp_path: Path, kittens: Path, models: ModelFiles,
                                         cli_env: dict[str, str]) -> None:
    missing = _cli(["replay", str(tmp_path / "none.mp4")], cli_env)
    assert missing.returncode == 2 and "none.mp4: no such file" in missing.stderr
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"garbage" * 1000)
    not_video = _cli(["replay", str(junk)], cli_env)
    assert not_video.returncode == 2 and "junk.mp4" in not_video.stderr
    conf = tmp_path / "c.toml"
    conf.write_text("[detector]\nevery_k_frame = 3\n")
    bad_key = _cli(["replay", str(kittens), "--config", str(conf)], cli_env)
    assert bad_key.returncode == 2 and "detector.every_k_frame: unknown key" in bad_key.stderr
    corrupt = tmp_path / "m" / "detect.tflite"
    corrupt.parent.mkdir()
    corrupt.write_bytes(models.model.read_bytes()[:1000])
    (corrupt.parent / "labelmap.txt").write_bytes(models.labels.read_bytes())
    bad_model = _cli(["replay", str(kittens), "--model", str(corrupt)], cli_env)
    assert bad_model.returncode == 2 and str(corrupt) in bad_model.stderr and "setup.sh" in bad_model.stderr
    for p in (missing, not_video, bad_key, bad_model):
        assert "Traceback" not in p.stderr
