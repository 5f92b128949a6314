"""``cat-follow bench``: the pipeline and the naive baseline, side by side in one run.

Each design runs in its own subprocess (so ``peak_rss_mb`` is its own), paced like a
camera at the video's fps (or ``--rate``: a faster camera stands in for slower consumers,
as on the Pi), for the same frames; then each repeats the frames one stage
at a time under tracemalloc for ``alloc_bytes_per_frame``. Figures are printed and written
with the baseline's prefixed ``baseline_``, plus ``ratio_*`` (baseline / pipeline).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import tracemalloc
from dataclasses import replace
from pathlib import Path
from typing import Any

from cat_follow.bench import baseline
from cat_follow.bench.alloc import peak_alloc_bytes
from cat_follow.config import Config, load_config
from cat_follow.errors import CatFollowError
from cat_follow.memory.pool import allocate_pool
from cat_follow.memory.shared_state import SharedState
from cat_follow.perception.model import ModelFiles
from cat_follow.perception.worker import make_worker
from cat_follow.pipeline import Pipeline
from cat_follow.sources import VideoFileSource, default_video
from cat_follow.stats import LatencyRecorder
from cat_follow.threads.camera import CameraThread
from cat_follow.threads.detector import ThreadDetectorPort
from cat_follow.threads.supervised import Health
from cat_follow.threads.tracker import TrackerThread, roi_sizes

KEYS = ["handoff_ms_p50", "handoff_ms_p99", "tracker_fps", "detector_ms_p50", "alloc_bytes_per_frame",
        "peak_rss_mb"]
WARMUP = 30


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def pool_threaded(video: Path, config: Config, models: ModelFiles, frames: int,
                  rate: float | None = None) -> dict[str, Any]:
    pipe = Pipeline(config, VideoFileSource(video), models, paced=True, max_frames=frames, pace_fps=rate)
    handoff = LatencyRecorder()
    cursor = 0
    t0 = time.monotonic()
    with pipe:
        while True:
            pipe.health.raise_if_failed()
            pipe.shared.wait_frame(pipe.main_reader, 0.05)
            done = pipe.finished()
            for c, row in pipe.results(cursor):
                cursor = c + 1
                handoff.add(float(row["handoff_ms"]))
            if done:
                break
    wall = time.monotonic() - t0
    counters = pipe.shared.counters
    return {"handoff_ms_p50": handoff.percentile(50), "handoff_ms_p99": handoff.percentile(99),
            "tracker_fps": round(int(counters["tracker_frames"]) / wall, 2),
            "detector_ms_p50": pipe.detector.latency.percentile(50),
            "detector_runs": int(counters["detector_runs"]), "wall_s": round(wall, 2)}


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


def worker(argv: list[str]) -> None:
    """Subprocess entry: one design, JSON on the last line of stdout."""
    p = argparse.ArgumentParser()
    p.add_argument("design", choices=["pool", "baseline"])
    p.add_argument("--video", type=Path, required=True)
    p.add_argument("--frames", type=int, required=True)
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--labels", type=Path, required=True)
    p.add_argument("--config", type=Path)
    p.add_argument("--rate", type=float)
    a = p.parse_args(argv)
    config = load_config(a.config)
    # both designs run the bare SSD (the baseline has no verifier): compare designs, not models
    config = replace(config, verifier=replace(config.verifier, enabled=False))
    models = ModelFiles(a.model, a.labels)
    if a.design == "pool":
        out = pool_threaded(a.video, config, models, a.frames, a.rate)
    else:
        out = baseline.run_threaded(a.video, config, models, a.frames, a.rate)
    out["peak_rss_mb"] = _peak_rss_mb()
    tracemalloc.start()
    alloc_frames = min(a.frames, WARMUP + 60)
    if a.design == "pool":
        out["alloc_bytes_per_frame"] = round(pool_alloc_per_frame(a.video, config, models, alloc_frames))
    else:
        out["alloc_bytes_per_frame"] = round(baseline.alloc_per_frame(a.video, config, models, alloc_frames,
                                                                      WARMUP))
    tracemalloc.stop()
    print(json.dumps(out))


def run_bench(video: Path | None, config: Config, models: ModelFiles, *, frames: int,
              config_path: Path | None, summary_path: Path | None, rate: float | None = None) -> dict[str, Any]:
    """Run both designs (each in a subprocess) and combine their figures."""
    if frames <= WARMUP:
        raise CatFollowError(f"--frames must be more than the {WARMUP} warm-up frames")
    video = video or default_video()
    if not video.is_file():
        raise CatFollowError(f"video {video}: no such file")
    results: dict[str, dict[str, Any]] = {}
    for design in ("pool", "baseline"):
        cmd = [sys.executable, "-m", "cat_follow.bench.run", design, "--video", str(video),
               "--frames", str(frames), "--model", str(models.model), "--labels", str(models.labels)]
        if config_path:
            cmd += ["--config", str(config_path)]
        if rate:
            cmd += ["--rate", str(rate)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise CatFollowError(f"bench {design} run failed:\n{proc.stderr[-2000:]}")
        results[design] = json.loads(proc.stdout.strip().splitlines()[-1])
    pool, base = results["pool"], results["baseline"]
    summary: dict[str, Any] = {"video": str(video), "frames": frames, "rate_fps": rate or "video"}
    summary.update({k: pool[k] for k in KEYS})
    summary.update({f"baseline_{k}": base[k] for k in KEYS})
    for k in KEYS:
        if pool.get(k) and base.get(k) is not None:
            summary[f"ratio_{k}"] = round(base[k] / pool[k], 2)
    summary["detector_runs"], summary["baseline_detector_runs"] = pool["detector_runs"], base["detector_runs"]
    summary["baseline_max_queue_depth"] = base["max_queue_depth"]
    if summary_path:
        summary_path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


if __name__ == "__main__":
    worker(sys.argv[1:])
