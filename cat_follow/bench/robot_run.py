"""One bench run of the real robot loop: pipeline (thread or process mode) + main loop +
car thread on the simulated car, the video paced like a camera, lock-step off.

Glass-to-motor latency is measured where it ends: the car thread records, for every order
computed from a new frame, the time from that frame's capture to the order being applied.
Control wake: the tracker committing a result -> the main loop awake to act on it.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

from cat_follow.bench.cpu import core_pct, core_times, process_cpu_s, rss_mb
from cat_follow.calib.store import load_calibration
from cat_follow.car.sim import SimCar
from cat_follow.config import Config
from cat_follow.perception.model import ModelFiles
from cat_follow.pipeline import Pipeline
from cat_follow.robot.main_loop import Robot
from cat_follow.sources import VideoFileSource
from cat_follow.stats import LatencyRecorder, percentile
from cat_follow.threads.detector_process import ProcessDetectorPort


def with_mode(config: Config, mode: str) -> Config:
    return dataclasses.replace(config, detector=dataclasses.replace(config.detector, mode=mode))


def _child_cpu_s(pipe: Pipeline) -> float:
    return process_cpu_s(pipe.detector.child_pid) if isinstance(pipe.detector, ProcessDetectorPort) else 0.0


def robot_run(video: Path, config: Config, models: ModelFiles, frames: int, rate: float | None,
              mode: str) -> dict[str, Any]:
    """Figures of one run; ``mode`` is detector.mode ("thread" or "process")."""
    config = with_mode(config, mode)
    cal = load_calibration(config.robot.calibration)
    pipe = Pipeline(config, VideoFileSource(video), models, paced=True, max_frames=frames, pace_fps=rate)
    robot = Robot(config, cal, pipe, lambda: SimCar(cal))
    handoff = LatencyRecorder()
    cursor = [0]
    state = {"child_cpu_s": 0.0, "child_rss_mb": 0.0}
    marks: dict[str, Any] = {}

    def on_tick(_now: float) -> None:
        if not marks:  # everything is up (a detector process included): the clock starts
            marks.update(cores=core_times(), cpu=process_cpu_s(), t0=time.monotonic(),
                         frames=int(pipe.shared.counters["tracker_frames"]),
                         runs=int(pipe.shared.counters["detector_runs"]), child_cpu=_child_cpu_s(pipe))
        for c, row in pipe.results(cursor[0]):
            cursor[0] = c + 1
            handoff.add(float(row["handoff_ms"]))
        if pipe.finished():
            if isinstance(pipe.detector, ProcessDetectorPort):
                state["child_cpu_s"] = _child_cpu_s(pipe) - marks["child_cpu"]
                state["child_rss_mb"] = rss_mb(pipe.detector.child_pid)
            robot.request_exit("video done")

    if robot.run(on_tick=on_tick) != 0:
        raise RuntimeError(f"robot run failed: {robot.exit_reason}")
    wall = time.monotonic() - marks["t0"]
    counters = pipe.shared.counters
    g2m = robot.actor.motor_latency_ms()
    return {"handoff_ms_p50": handoff.percentile(50), "handoff_ms_p99": handoff.percentile(99),
            "tracker_fps": round((int(counters["tracker_frames"]) - marks["frames"]) / wall, 2),
            "detector_runs_per_s": round((int(counters["detector_runs"]) - marks["runs"]) / wall, 2),
            "detector_ms_p50": pipe.detector.latency.percentile(50),
            "detector_runs": int(counters["detector_runs"]),
            "glass_to_motor_ms_p50": percentile(g2m, 50), "glass_to_motor_ms_p99": percentile(g2m, 99),
            "control_wake_ms_p50": robot.wake_ms.percentile(50), "control_wake_ms_p99": robot.wake_ms.percentile(99),
            "cpu_core_pct": core_pct(marks["cores"], core_times()),
            "cpu_main_pct": round(100 * (process_cpu_s() - marks["cpu"]) / wall, 1),
            "cpu_detector_process_pct": round(100 * state["child_cpu_s"] / wall, 1),
            "detector_process_rss_mb": state["child_rss_mb"],
            "wall_s": round(wall, 2)}
