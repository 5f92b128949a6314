"""Where the handoff time goes (``python -m cat_follow.bench.handoff``).

The bench's "handoff" is the camera->tracker handoff: from ``publish_slot`` stamping the
frame (``t_publish_ns``, under the shared-state lock) to the tracker thread starting on it
(``TrackerThread.process``). This splits it, in the real robot loop (``robot_run``, the same
run as ``cat-follow bench``), into:

* ``wake``: publish stamp -> the tracker's ``wait_frame`` returns, for frames published while
  the tracker was waiting (OS wake-up plus re-taking the GIL);
* ``pin``: ``wait_frame`` returned -> ``process`` starts (lock, pin, Python between);
* ``queued``: frames published while the tracker was still busy with the previous one;
* each of those split by whether a detector job was in flight at the publish (in process
  mode the child's inference then occupies the cores; in thread mode the detector thread's).

It also splits the detector's own handoff (process mode): ``submit`` -> the proxy thread
starts the job, the frame copy into the exchange, and the pipe round trip outside the
worker (turnaround minus the worker's own ms). Then the isolated components of
``cat_follow.bench.wakes``.

Each mode runs in its own subprocess (class-level timing wrappers, bench only); p50/p99 in ms.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np

from cat_follow.bench import wakes
from cat_follow.memory.shared_state import SharedState
from cat_follow.threads.detector import JobDesk, ThreadDetectorPort
from cat_follow.threads.detector_child import ChildHandle
from cat_follow.threads.detector_process import ProcessDetectorPort
from cat_follow.threads.tracker import TrackerThread

Stamps = dict[str, list[Any]]


def _span(st: Stamps, key: str, fn: Any) -> Any:
    """``fn`` wrapped to append (start, end) ns to ``st[key]`` (only when it returns truthy)."""
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        t0 = time.monotonic_ns()
        out = fn(*args, **kwargs)
        if out:
            st[key].append((t0, time.monotonic_ns()))
        return out
    return wrapped


def _instrument(st: Stamps) -> contextlib.ExitStack:
    """The few methods on the handoff path wrapped with time stamps, for as long as the returned
    stack is open (this process only; closing it puts the originals back)."""
    wait_frame, process, submit, count = SharedState.wait_frame, TrackerThread.process, JobDesk.submit, JobDesk._count
    tracker_ids: set[int] = set()

    def w_wait(self: SharedState, reader: int, timeout: float) -> bool:
        mine = threading.get_ident() in tracker_ids
        q0 = _run_delay_ns() if mine else 0
        t0 = time.monotonic_ns()
        got = wait_frame(self, reader, timeout)
        if mine:
            st["wait"].append((t0, time.monotonic_ns(), _run_delay_ns() - q0))
        return got

    def w_process(self: TrackerThread, ref: Any) -> None:
        tracker_ids.add(threading.get_ident())
        st["process"].append((int(ref.meta["t_publish_ns"]), time.monotonic_ns()))
        process(self, ref)

    def w_submit(self: JobDesk, job: Any) -> int | None:
        ticket = submit(self, job)
        if ticket is not None:
            st["submit"].append(time.monotonic_ns())
        return ticket

    def w_count(self: JobDesk, rec: Any, min_score: float) -> None:
        count(self, rec, min_score)
        st["worker_ms"].append(float(rec["ms"]))

    stack = contextlib.ExitStack()
    wrappers: list[tuple[type, str, Any]] = [
        (JobDesk, "_count", w_count), (SharedState, "wait_frame", w_wait), (TrackerThread, "process", w_process),
        (JobDesk, "submit", w_submit),
        (SharedState, "snapshot_for_detector", _span(st, "copy", SharedState.snapshot_for_detector)),
        (ChildHandle, "run", _span(st, "child", ChildHandle.run)),
        (ThreadDetectorPort, "run_pending", _span(st, "job", ThreadDetectorPort.run_pending)),
        (ProcessDetectorPort, "run_pending", _span(st, "job", ProcessDetectorPort.run_pending))]
    for cls, name, wrapper in wrappers:
        stack.enter_context(mock.patch.object(cls, name, wrapper))
    return stack


def _run_delay_ns() -> int:
    """Time this thread has spent runnable but not running (the kernel's run queue), ns."""
    with open("/proc/thread-self/schedstat", "rb") as fh:
        return int(fh.read().split()[1])


def _overlaps(t0: int, t1: int, spans: np.ndarray) -> bool:
    return bool(spans.size) and bool(np.any((spans[:, 0] < t1) & (spans[:, 1] > t0)))


def _split(st: Stamps) -> dict[str, Any]:
    """The camera->tracker handoff of every frame, split as the module docstring says."""
    waits = np.asarray(st["wait"], dtype=np.int64).reshape(-1, 3)
    jobs = np.asarray(st["job"], dtype=np.int64).reshape(-1, 2)
    parts: dict[str, list[float]] = {k: [] for k in (
        "total", "wake", "wake_run_queue", "wake_other", "pin", "queued", "total_no_job", "total_during_job",
        "wake_no_job", "wake_during_job")}
    for t_pub, t_start in st["process"]:
        total = (t_start - t_pub) / 1e6
        parts["total"].append(total)
        during = _overlaps(t_pub, t_start, jobs)
        parts["total_during_job" if during else "total_no_job"].append(total)
        i = int(np.searchsorted(waits[:, 0], t_pub, side="right")) - 1 if waits.size else -1
        if i >= 0 and waits[i, 1] >= t_pub and waits[i, 1] <= t_start:
            wake = (waits[i, 1] - t_pub) / 1e6
            parts["wake"].append(wake)
            parts["wake_run_queue"].append(waits[i, 2] / 1e6)  # runnable, no CPU: over the whole wait
            parts["wake_other"].append(wake - waits[i, 2] / 1e6)  # the rest: mostly the GIL
            parts["wake_during_job" if during else "wake_no_job"].append(wake)
            parts["pin"].append((t_start - waits[i, 1]) / 1e6)
        else:
            parts["queued"].append(total)
    return {k: wakes.pct(v) for k, v in parts.items()}


def _detector_split(st: Stamps, worker_ms: np.ndarray) -> dict[str, Any]:
    """submit -> job start, the frame copy, and the child round trip outside the worker."""
    jobs = np.asarray(st["job"], dtype=np.int64).reshape(-1, 2)
    sub = np.asarray(st["submit"], dtype=np.int64)
    n = min(len(sub), len(jobs))
    copy = np.asarray(st["copy"], dtype=np.int64).reshape(-1, 2)
    out = {"submit_to_job_start": wakes.pct((jobs[:n, 0] - sub[:n]) / 1e6),
           "frame_copy": wakes.pct((copy[:, 1] - copy[:, 0]) / 1e6)}
    child = np.asarray(st["child"], dtype=np.int64).reshape(-1, 2)
    if child.size:
        m = min(len(child), len(worker_ms))
        rt = (child[-m:, 1] - child[-m:, 0]) / 1e6 - worker_ms[-m:]
        out["child_round_trip_minus_worker"] = wakes.pct(rt)
    return out


def run_mode(mode: str, video: Path, frames: int, rate: float | None, config: Path | None,
             switch_ms: float | None) -> dict[str, Any]:
    """One instrumented ``robot_run`` (the bench's own run) in this process, with the config's
    ``[process]`` applied as the service applies it (``switch_ms`` overrides its switch interval)."""
    from cat_follow import process_setup
    from cat_follow.bench.robot_run import robot_run
    from cat_follow.config import load_config
    from cat_follow.perception.worker import resolve_models

    st: Stamps = {k: [] for k in ("wait", "process", "submit", "job", "copy", "child", "worker_ms")}
    cfg = load_config(config)
    if switch_ms:
        cfg = replace(cfg, process=replace(cfg.process, gil_switch_ms=switch_ms))
    process_setup.apply(cfg.process)
    cfg = replace(cfg, detector=replace(cfg.detector, manifest="ssd_mobilenet_v1_coco_quant"),
                  verifier=replace(cfg.verifier, enabled=False))
    with _instrument(st):
        figures = robot_run(video, cfg, resolve_models(cfg), frames, rate, mode)
    return {"mode": mode, "bench_handoff_ms_p50": figures["handoff_ms_p50"],
            "bench_handoff_ms_p99": figures["handoff_ms_p99"], "handoff": _split(st),
            "detector": _detector_split(st, np.asarray(st["worker_ms"]))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--video", type=Path)
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--rate", type=float)
    ap.add_argument("--modes", default="thread,process")
    ap.add_argument("--config", type=Path, help="config file (its [process] applies to the runs)")
    ap.add_argument("--switch-interval-ms", type=float, help="override process.gil_switch_ms for the runs")
    ap.add_argument("--one", choices=["thread", "process", "components"], help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.switch_interval_ms:
        sys.setswitchinterval(a.switch_interval_ms / 1e3)
    if a.one:
        from cat_follow.sources import default_video

        out = wakes.components() if a.one == "components" else \
            run_mode(a.one, a.video or default_video(), a.frames, a.rate, a.config, a.switch_interval_ms)
        print(json.dumps(out))
        return 0
    results = []
    for one in [*a.modes.split(","), "components"]:
        cmd = [sys.executable, "-m", "cat_follow.bench.handoff", "--one", one, "--frames", str(a.frames)]
        cmd += ["--video", str(a.video)] if a.video else []
        cmd += ["--rate", str(a.rate)] if a.rate else []
        cmd += ["--config", str(a.config)] if a.config else []
        cmd += ["--switch-interval-ms", str(a.switch_interval_ms)] if a.switch_interval_ms else []
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            print(proc.stderr[-3000:], file=sys.stderr)
            return 1
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
