"""``cat-follow bench``: detector thread mode, process mode and the naive baseline, side by
side in one run.

Each design runs in its own subprocess (so ``peak_rss_mb`` is its own), paced like a
camera at the video's fps (or ``--rate``: a faster camera stands in for slower consumers,
as on the Pi), for the same frames. Thread and process mode run the whole robot loop on
the simulated car (lock-step off); the baseline runs the same control step into the same car
thread (``cat_follow.bench.baseline``). So glass-to-motor is the same figure on every side: a
frame's capture to the car thread applying the command computed from it; control wake is the
tracker's output -> the main loop awake to act on it. Then each repeats the frames one stage
at a time under tracemalloc for ``alloc_bytes_per_frame``. Thread-mode figures are
unprefixed, then ``process_*``, ``baseline_*`` and ``ratio_*`` / ``ratio_process_*``
(baseline / that design: above 1 = that design is faster or smaller) and ``vs_baseline_*`` /
``vs_baseline_process_*`` for the latencies (that design / baseline: at most 1 = no worse
than the baseline). ``--soak N``: see ``cat_follow.bench.soak``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tracemalloc
from dataclasses import replace
from pathlib import Path
from typing import Any

from cat_follow import process_setup
from cat_follow.bench import baseline
from cat_follow.bench.alloc import peak_alloc_bytes
from cat_follow.bench.robot_run import robot_run
from cat_follow.config import Config, load_config
from cat_follow.errors import CatFollowError
from cat_follow.memory.pool import allocate_pool
from cat_follow.memory.shared_state import SharedState
from cat_follow.perception.model import ModelFiles
from cat_follow.perception.regions import roi_sizes
from cat_follow.perception.worker import make_worker
from cat_follow.sources import VideoFileSource, default_video
from cat_follow.threads.camera import CameraThread
from cat_follow.threads.detector import ThreadDetectorPort
from cat_follow.threads.supervised import Health
from cat_follow.threads.tracker import TrackerThread

KEYS = ["handoff_ms_p50", "handoff_ms_p99", "tracker_fps", "detector_ms_p50", "alloc_bytes_per_frame",
        "peak_rss_mb", "glass_to_motor_ms_p50", "glass_to_motor_ms_p99", "detector_runs_per_s",
        "control_wake_ms_p50", "control_wake_ms_p99"]
TABLE = ["glass_to_motor_ms_p50", "glass_to_motor_ms_p99", "control_wake_ms_p50", "control_wake_ms_p99",
         "handoff_ms_p50", "handoff_ms_p99", "tracker_fps", "alloc_bytes_per_frame"]
WARMUP = 30


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def pool_alloc_per_frame(video: Path, config: Config, models: ModelFiles, frames: int) -> float:
    """Mean bytes allocated per frame in steady state, the threads' step functions run in turn."""
    shared = SharedState(allocate_pool(config))
    health = Health()
    worker = make_worker(config, models)
    worker.prepare(roi_sizes(config.camera.width, config.camera.height, config.detector.scan_tile_px))
    det = ThreadDetectorPort(shared, worker, health)
    trk = TrackerThread(shared, config, health, det)
    totals = []
    with VideoFileSource(video) as src:
        cam = CameraThread(shared, src, health)
        for i in range(frames):
            total = peak_alloc_bytes(cam.step) + peak_alloc_bytes(trk.step)
            if det.busy:  # the tracker asked for a detection: run it here, in turn
                total += peak_alloc_bytes(det.run_pending)
            if i >= WARMUP:
                totals.append(total)
    return sum(totals) / len(totals)


DESIGNS = ("thread", "process", "baseline")


def worker(argv: list[str]) -> None:
    """Subprocess entry: one design, JSON on the last line of stdout."""
    p = argparse.ArgumentParser()
    p.add_argument("design", choices=DESIGNS)
    p.add_argument("--video", type=Path, required=True)
    p.add_argument("--frames", type=int, required=True)
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--labels", type=Path, required=True)
    p.add_argument("--config", type=Path)
    p.add_argument("--rate", type=float)
    a = p.parse_args(argv)
    config = load_config(a.config)
    process_setup.apply(config.process)  # as the service does: every design gets the same settings
    # both designs run the bare SSD (the baseline has no verifier): compare designs, not models
    config = replace(config, verifier=replace(config.verifier, enabled=False))
    models = ModelFiles(a.model, a.labels)
    if a.design == "baseline":
        out = baseline.run_threaded(a.video, config, models, a.frames, a.rate)
    else:
        out = robot_run(a.video, config, models, a.frames, a.rate, a.design)
    out["peak_rss_mb"] = _peak_rss_mb()
    tracemalloc.start()
    alloc_frames = min(a.frames, WARMUP + 60)
    if a.design == "baseline":
        out["alloc_bytes_per_frame"] = round(baseline.alloc_per_frame(a.video, config, models, alloc_frames,
                                                                      WARMUP))
    else:  # the stepped harness is the same code for both modes: the tracker and the port
        out["alloc_bytes_per_frame"] = round(pool_alloc_per_frame(a.video, config, models, alloc_frames))
    tracemalloc.stop()
    print(json.dumps(out))


def _run_design(design: str, video: Path, models: ModelFiles, frames: int, config_path: Path | None,
                rate: float | None) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "cat_follow.bench.run", design, "--video", str(video),
           "--frames", str(frames), "--model", str(models.model), "--labels", str(models.labels)]
    if config_path:
        cmd += ["--config", str(config_path)]
    if rate:
        cmd += ["--rate", str(rate)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise CatFollowError(f"bench {design} run failed:\n{proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def run_bench(video: Path | None, config: Config, models: ModelFiles, *, frames: int,
              config_path: Path | None, summary_path: Path | None, rate: float | None = None) -> dict[str, Any]:
    """Run the three designs (each in a subprocess, one after the other) and combine their
    figures: thread mode unprefixed, ``process_*``, ``baseline_*``, and ``ratio_*`` /
    ``ratio_process_*`` = baseline / that design."""
    if frames <= WARMUP:
        raise CatFollowError(f"--frames must be more than the {WARMUP} warm-up frames")
    video = video or default_video()
    if not video.is_file():
        raise CatFollowError(f"video {video}: no such file")
    results = {d: _run_design(d, video, models, frames, config_path, rate) for d in DESIGNS}
    summary: dict[str, Any] = {"video": str(video), "frames": frames, "rate_fps": rate or "video",
                               "cores": os.cpu_count()}
    for design, prefix in (("thread", ""), ("process", "process_"), ("baseline", "baseline_")):
        summary.update({f"{prefix}{k}": v for k, v in results[design].items() if k != "wall_s"})
    for k in KEYS:
        base = results["baseline"].get(k)
        for design, prefix in (("thread", "ratio_"), ("process", "ratio_process_")):
            if results[design].get(k) and base is not None:
                summary[f"{prefix}{k}"] = round(base / results[design][k], 2)
            if "_ms_" in k and base and results[design].get(k) is not None:
                summary[f"vs_baseline_{prefix[6:]}{k}"] = round(results[design][k] / base, 2)
    summary["load_average"] = [round(v, 2) for v in os.getloadavg()]
    if summary_path:
        summary_path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


def render_table(summary: dict[str, Any]) -> str:
    """The latency figures of the three designs side by side (markdown), and the load average
    the run saw (loaded figures are not the idle machine's)."""
    lines = ["| figure | thread | process | baseline | thread / baseline | process / baseline |",
             "|---|---|---|---|---|---|"]
    for k in TABLE:
        vs = [summary.get(f"vs_baseline_{p}{k}", "") for p in ("", "process_")]
        lines.append(f"| {k} | {summary.get(k)} | {summary.get(f'process_{k}')} | "
                     f"{summary.get(f'baseline_{k}')} | {vs[0]} | {vs[1]} |")
    lines.append(f"load average at the end: {summary.get('load_average')}")
    return "\n".join(lines)


if __name__ == "__main__":
    worker(sys.argv[1:])
