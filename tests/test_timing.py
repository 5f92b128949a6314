"""Lock-step at a Pi 4's pace (--timing pi4): how late a result arrives, the port that holds it
back (the real thread port and SSD on a real photo), and replays that stay deterministic."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import cv2
import pytest

from cat_follow.config import Config, config_from_dict
from cat_follow.config_timing import TimingConfig
from cat_follow.errors import ConfigError
from cat_follow.memory.pool import allocate_pool
from cat_follow.memory.shared_state import SharedState
from cat_follow.perception.late_delivery import LateDelivery
from cat_follow.perception.port import DetectJob, new_result_buffer
from cat_follow.perception.ssd import SsdDetector
from cat_follow.perception.worker import SsdWorker
from cat_follow.sources.images import ArraySource
from cat_follow.sources.source import ReadStatus
from cat_follow.threads.camera import CameraThread
from cat_follow.threads.detector import ThreadDetectorPort
from cat_follow.threads.supervised import Health

PI4 = TimingConfig(mode="pi4")


def test_frames_late_follow_the_pi_budget_and_the_source_rate() -> None:
    # 120 ms detector + 1 ms hand-off (+ 34 ms crop check): 121 / 155 ms
    assert PI4.latency_ms(False) == pytest.approx(121.0) and PI4.latency_ms(True) == pytest.approx(155.0)
    assert (PI4.frames_late(False, 30.0), PI4.frames_late(True, 30.0)) == (4, 5)      # 3.63 -> 4, 4.65 -> 5
    assert (PI4.frames_late(False, 15.0), PI4.frames_late(True, 15.0)) == (2, 3)      # the simulator's rate
    assert (PI4.frames_late(False, 12.5), PI4.frames_late(True, 12.5)) == (2, 2)
    assert TimingConfig(mode="pi4", pi4_detector_ms=0.0, pi4_handoff_ms=0.0).frames_late(False, 30.0) == 1
    assert TimingConfig().frames_late(True, 30.0) == 0, "instant: each result on its own frame"


def test_the_timing_section_is_validated() -> None:
    assert config_from_dict({"timing": {"mode": "pi4", "pi4_detector_ms": 150}}).timing.pi4_detector_ms == 150.0
    with pytest.raises(ConfigError, match=r"timing\.mode"):
        config_from_dict({"timing": {"mode": "pi5"}})
    with pytest.raises(ConfigError, match=r"timing\.cores"):
        config_from_dict({"timing": {"cores": 4}})


def test_a_result_is_held_back_until_its_frame_and_no_job_goes_out_meanwhile(
        config: Config, assets: Path, detector: SsdDetector) -> None:
    cat = cv2.resize(cv2.imread(str(assets / "images" / "cat.bmp")), (config.camera.width, config.camera.height))
    shared = SharedState(allocate_pool(config))
    cam = CameraThread(shared, ArraySource([cat] * 8, fps=30.0), Health())
    cam.source.open()
    assert cam.step() is ReadStatus.FRAME
    port = ThreadDetectorPort(shared, SsdWorker(detector), Health())
    late = LateDelivery(port, PI4, lambda: shared.published_seq, lambda: 30.0)
    out = new_result_buffer()
    ticket = late.submit(DetectJob(None, 0.3))
    assert ticket == 1 and port.run_pending() and late.wait(ticket, 1.0, threading.Event())
    for seq in (1, 2, 3, 4):  # done at once here; on a Pi 4 it arrives 121 ms later: with frame 5
        assert shared.published_seq == seq
        assert not late.take(out) and late.busy, f"frame {seq}: still in flight on a Pi"
        assert late.submit(DetectJob(None, 0.3)) is None, "no new job while one is in flight"
        assert cam.step() is ReadStatus.FRAME
    assert late.take(out) and not late.busy
    assert int(out[0]["ticket"]) == 1 and int(out[0]["seq"]) == 1, "the result keeps its own frame's seq"
    assert float(out[0]["dets"][0]["score"]) >= 0.5
    assert (late.delivered, late.frames_late_total, late.runs) == (1, 4, 1)
    assert late.submit(DetectJob(None, 0.3)) == 2
    instant = LateDelivery(port, TimingConfig(), lambda: shared.published_seq, lambda: 30.0)
    assert port.run_pending() and instant.take(out) and int(out[0]["seq"]) == 5, "instant: on its own frame"


def _replay(video: Path, timing: str, log: Path, env: dict[str, str]) -> dict[str, object]:
    p = subprocess.run([sys.executable, "-m", "cat_follow", "replay", str(video), "--fast", "--timing", timing,
                        "--log", str(log)], capture_output=True, text=True, env=env, timeout=300, check=False)
    assert p.returncode == 0, p.stderr[-2000:]
    summary: dict[str, object] = json.loads(p.stdout)
    return summary


def test_pi4_replays_are_deterministic_and_later_than_instant(
        assets: Path, tmp_path: Path, cli_env: dict[str, str]) -> None:
    video = assets / "video" / "cat_on_carpet.mp4"  # 35 frames at 12.5 fps: results 2 frames late
    first, again, instant = (tmp_path / n for n in ("a.jsonl", "b.jsonl", "i.jsonl"))
    s = _replay(video, "pi4", first, cli_env)
    assert s["timing"] == {"mode": "pi4", "results_delivered": s["detector_runs"], "mean_frames_late": 2.0}
    _replay(video, "pi4", again, cli_env)
    assert first.read_text() == again.read_text(), "a pi4 replay gives the same log every time"
    assert _replay(video, "instant", instant, cli_env)["timing"] == {"mode": "instant"}
    assert first.read_text() != instant.read_text(), "late results change what is followed when"
    p = subprocess.run([sys.executable, "-m", "cat_follow", "replay", str(video), "--timing", "pi4"],
                       capture_output=True, text=True, env=cli_env, timeout=60, check=False)
    assert p.returncode == 2 and "--timing pi4: only with --fast" in p.stderr
