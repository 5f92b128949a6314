"""``cat-follow bench --soak N``: N frames through the pipeline, memory watched.

The video loops (a stand-in camera), unpaced, through the pipeline in the configured
detector mode, with tracemalloc running. Memory is sampled after a warm-up (a tenth of the
run, at least 100 frames; frames are counted as the source delivers them), at the half-way
point and at the end, for the main process and (process mode) the detector process, each
split as ``/proc/<pid>/smaps_rollup`` splits it: anonymous memory (heaps: Python's, numpy's,
OpenCV's, the interpreter's arenas) and file-backed pages (shared libraries and the mapped
model, paged in as code paths are first used: bounded, not a leak). The Python/numpy heap as
tracemalloc sees it, and tracemalloc's own bookkeeping, are reported separately, to tell a
Python leak from native allocators' drift. The loop trims glibc's heaps every
``process.malloc_trim_s`` as the robot's main loop does (0: never, to see the drift); at the
end the main process calls ``malloc_trim(0)`` once more: what RSS gives back then was free
memory glibc kept, not live data.
Growth in the second half against the first tells drift that settles from drift that grows
with N.

Frame-sized allocations: the number of sampling windows (every 25 frames) in which some
Python/numpy allocation of at least one frame's size was alive. tracemalloc gives peaks, not
events, so this counts windows, a lower bound of the allocations (0 means none was seen).
"""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path
from typing import Any

from cat_follow.bench.robot_run import with_mode
from cat_follow.config import Config
from cat_follow.perception.model import ModelFiles
from cat_follow.pipeline import Pipeline
from cat_follow.process_setup import HeapTrimmer
from cat_follow.sources import VideoFileSource
from cat_follow.threads.detector_process import ProcessDetectorPort

WARMUP_FRAMES = 100     # at least; a tenth of the run where that is more
WINDOW_FRAMES = 25


def memory_mb(pid: int | str = "self") -> dict[str, float]:
    """RSS and its anonymous / file-backed parts, MB (zeros where the process is gone)."""
    kb = {"Rss": 0, "Anonymous": 0}
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in kb:
                kb[key] = int(rest.split()[0])
    except (OSError, ValueError, IndexError):
        pass
    return {"rss": round(kb["Rss"] / 1024, 1), "anon": round(kb["Anonymous"] / 1024, 1),
            "file": round((kb["Rss"] - kb["Anonymous"]) / 1024, 1)}


def _sample(pipe: Pipeline) -> dict[str, Any]:
    child = pipe.detector.child_pid if isinstance(pipe.detector, ProcessDetectorPort) else None
    traced, _peak = tracemalloc.get_traced_memory()
    return {"main": memory_mb(), "detector": memory_mb(child) if child else None,
            "python_heap": round(traced / 2**20, 2),
            "tracemalloc_own": round(tracemalloc.get_tracemalloc_memory() / 2**20, 2)}


def _growth(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """b - a for every figure of two samples."""
    out: dict[str, Any] = {}
    for k, v in a.items():
        if isinstance(v, dict) and isinstance(b.get(k), dict):
            out[k] = {kk: round(b[k][kk] - vv, 1) for kk, vv in v.items()}
        elif isinstance(v, float):
            out[k] = round(b[k] - v, 2)
    return out


def warmup_frames(frames: int) -> int:
    """Frames before the first sample: code paths first used late (a re-init, a verifier run)
    page in libraries and size allocator arenas; that is start-up, not drift."""
    return max(WARMUP_FRAMES, frames // 10)


def _drive(pipe: Pipeline, frames: int, frame_bytes: int, samples: dict[str, Any],
           heap: HeapTrimmer) -> tuple[int, int]:
    """Run the pipeline to the end, sampling memory, trimming the heap as the robot's main loop
    does (``process.malloc_trim_s``); (windows, windows with a frame-sized alloc)."""
    cursor = mark = windows = frame_sized = 0
    warmup = warmup_frames(frames)
    half = warmup + (frames - warmup) // 2
    while not pipe.finished():
        pipe.health.raise_if_failed()
        pipe.shared.wait_frame(pipe.main_reader, 0.05)
        heap.maybe(time.monotonic())
        for c, _row in pipe.results(cursor):
            cursor = c + 1
        seq = pipe.tracker.last_seq
        if "start" not in samples and seq >= warmup:
            samples["start"] = _sample(pipe)
            tracemalloc.reset_peak()
            mark = seq
        elif "start" in samples and seq - mark >= WINDOW_FRAMES:
            current, peak = tracemalloc.get_traced_memory()
            frame_sized += int(peak - current >= frame_bytes)
            windows += 1
            tracemalloc.reset_peak()
            mark = seq
        if "half" not in samples and seq >= half:
            samples["half"] = _sample(pipe)
    samples["end"] = _sample(pipe)
    return windows, frame_sized


def run_soak(video: Path, config: Config, models: ModelFiles, frames: int, mode: str | None = None) -> dict[str, Any]:
    config = with_mode(config, mode or config.detector.resolved_mode())
    pipe = Pipeline(config, VideoFileSource(video, loop=True), models, paced=False, max_frames=frames)
    frame_bytes = config.camera.width * config.camera.height * 3
    out: dict[str, Any] = {"frames": frames, "mode": pipe.mode, "frame_bytes": frame_bytes,
                           "warmup_frames": warmup_frames(frames)}
    samples: dict[str, Any] = {}
    heap = HeapTrimmer(config.process.malloc_trim_s)
    tracemalloc.start()
    t0 = time.monotonic()
    try:
        with pipe:
            windows, frame_sized = _drive(pipe, frames, frame_bytes, samples, heap)
    finally:
        tracemalloc.stop()
    start = samples.get("start", samples["end"])
    end = samples["end"]
    out["rss_start_mb"], out["rss_end_mb"] = start["main"]["rss"], end["main"]["rss"]
    out["rss_growth_mb"] = round(end["main"]["rss"] - start["main"]["rss"], 1)
    if end["detector"] is not None:
        out["detector_rss_start_mb"] = start["detector"]["rss"]
        out["detector_rss_end_mb"] = end["detector"]["rss"]
        out["detector_rss_growth_mb"] = round(end["detector"]["rss"] - start["detector"]["rss"], 1)
    out["python_heap_start_mb"], out["python_heap_end_mb"] = start["python_heap"], end["python_heap"]
    out["growth_first_half"] = _growth(start, samples.get("half", end))
    out["growth_second_half"] = _growth(samples.get("half", end), end)
    out["samples"] = samples
    out.update(heap_trims=heap.ms.count, heap_trim_ms_p50=heap.ms.percentile(50),
               heap_trim_ms_max=float(heap.ms.samples().max()) if heap.ms.count else None)
    out["malloc_trim"] = HeapTrimmer(0).trim()  # the last word: what is still free in the heaps
    out["rss_after_trim_mb"] = memory_mb()["rss"]
    out.update(windows=windows, windows_with_frame_sized_alloc=frame_sized,
               tracker_frames=int(pipe.shared.counters["tracker_frames"]),
               detector_runs=int(pipe.shared.counters["detector_runs"]), wall_s=round(time.monotonic() - t0, 1))
    return out
