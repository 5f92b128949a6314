"""``cat-follow bench --soak N``: N frames through the pipeline, memory watched.

The video loops (a stand-in camera), unpaced, through the pipeline in the configured
detector mode, with tracemalloc running. Reported: RSS after warm-up and at the end, of the
main process and (process mode) of the detector process, and the number of sampling
windows (every 25 frames) in which some Python/numpy allocation of at least one frame's
size was alive: tracemalloc gives peaks, not events, so this counts windows, a lower
bound of the frame-sized allocations (0 means none was seen at all). The Python/numpy heap
as tracemalloc sees it is reported too, to tell a Python leak from native allocators' drift.
"""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path
from typing import Any

from cat_follow.bench.cpu import rss_mb
from cat_follow.bench.robot_run import with_mode
from cat_follow.config import Config
from cat_follow.perception.model import ModelFiles
from cat_follow.pipeline import Pipeline
from cat_follow.sources import VideoFileSource
from cat_follow.threads.detector_process import ProcessDetectorPort

WARMUP_FRAMES = 100
WINDOW_FRAMES = 25


def _rss(pipe: Pipeline) -> tuple[float, float]:
    """(main process, detector process) RSS in MB."""
    child = pipe.detector.child_pid if isinstance(pipe.detector, ProcessDetectorPort) else None
    return rss_mb(), (rss_mb(child) if child else 0.0)


def run_soak(video: Path, config: Config, models: ModelFiles, frames: int, mode: str | None = None) -> dict[str, Any]:
    config = with_mode(config, mode or config.detector.resolved_mode())
    pipe = Pipeline(config, VideoFileSource(video, loop=True), models, paced=False, max_frames=frames)
    frame_bytes = config.camera.width * config.camera.height * 3
    out: dict[str, Any] = {"frames": frames, "mode": pipe.mode, "frame_bytes": frame_bytes}
    cursor = mark = windows = frame_sized = 0
    tracemalloc.start()
    t0 = time.monotonic()
    try:
        with pipe:
            while not pipe.finished():
                pipe.health.raise_if_failed()
                pipe.shared.wait_frame(pipe.main_reader, 0.05)
                for c, _row in pipe.results(cursor):
                    cursor = c + 1
                seq = pipe.tracker.last_seq
                if "rss_start_mb" not in out and seq >= WARMUP_FRAMES:
                    out["rss_start_mb"], out["detector_rss_start_mb"] = _rss(pipe)
                    out["python_heap_start_mb"] = round(tracemalloc.get_traced_memory()[0] / 2**20, 2)
                    tracemalloc.reset_peak()
                    mark = seq
                elif "rss_start_mb" in out and seq - mark >= WINDOW_FRAMES:
                    current, peak = tracemalloc.get_traced_memory()
                    frame_sized += int(peak - current >= frame_bytes)
                    windows += 1
                    tracemalloc.reset_peak()
                    mark = seq
            out["rss_end_mb"], out["detector_rss_end_mb"] = _rss(pipe)
            out["python_heap_end_mb"] = round(tracemalloc.get_traced_memory()[0] / 2**20, 2)
    finally:
        tracemalloc.stop()
    out["rss_growth_mb"] = round(out["rss_end_mb"] - out.get("rss_start_mb", out["rss_end_mb"]), 1)
    out["detector_rss_growth_mb"] = round(out["detector_rss_end_mb"] - out.get("detector_rss_start_mb", 0.0), 1)
    out.update(windows=windows, windows_with_frame_sized_alloc=frame_sized,
               tracker_frames=int(pipe.shared.counters["tracker_frames"]),
               detector_runs=int(pipe.shared.counters["detector_runs"]), wall_s=round(time.monotonic() - t0, 1))
    return out
