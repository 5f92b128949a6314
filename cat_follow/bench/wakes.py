"""Handoff components measured alone (``cat_follow.bench.handoff`` runs them after the
pipeline's own split): the full-frame copy and a resize to a detector input, a wake of a
sleeping process through a pipe and through a POSIX semaphore, and a thread wake through
``threading.Event`` idle, against a thread running pure Python (it holds the GIL until the
switch interval forces it off), and while another process runs TFLite inference on 2 threads
(niced 0 and 10). p50/p99 in ms.
"""

from __future__ import annotations

import multiprocessing
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np


def pct(xs: list[float] | np.ndarray) -> dict[str, float | int | None]:
    """n, p50, p99 and max of ``xs`` (ms)."""
    a = np.asarray(xs, dtype=np.float64)
    if not a.size:
        return {"n": 0, "p50": None, "p99": None}
    return {"n": int(a.size), "p50": round(float(np.percentile(a, 50)), 3),
            "p99": round(float(np.percentile(a, 99)), 3), "max": round(float(a.max()), 3)}


def _echo_pipe(conn: Any, reps: int) -> None:
    for _ in range(reps):
        t_sent = int.from_bytes(conn.recv_bytes(), "little")
        conn.send_bytes((time.monotonic_ns() - t_sent).to_bytes(8, "little"))


def _echo_sem(go: Any, back: Any, stamp: Any, reps: int) -> None:
    for _ in range(reps):
        go.acquire()
        stamp[1] = time.monotonic_ns() - stamp[0]
        back.release()


def _cross_process_wake(reps: int) -> dict[str, Any]:
    """One-way wake parent -> sleeping child: through a pipe, through a POSIX semaphore."""
    ctx = multiprocessing.get_context("forkserver")
    a, b = ctx.Pipe()
    proc = ctx.Process(target=_echo_pipe, args=(b, reps))
    proc.start()
    pipe_ms = []
    for _ in range(reps):
        time.sleep(0.002)  # the child is asleep in its read, as the detector is between jobs
        a.send_bytes(time.monotonic_ns().to_bytes(8, "little"))
        pipe_ms.append(int.from_bytes(a.recv_bytes(), "little") / 1e6)
    proc.join()
    go, back, stamp = ctx.Semaphore(0), ctx.Semaphore(0), ctx.Array("q", 2, lock=False)
    proc = ctx.Process(target=_echo_sem, args=(go, back, stamp, reps))
    proc.start()
    sem_ms = []
    for _ in range(reps):
        time.sleep(0.002)
        stamp[0] = time.monotonic_ns()
        go.release()
        back.acquire()
        sem_ms.append(stamp[1] / 1e6)
    proc.join()
    return {"pipe_wake": pct(pipe_ms[1:]), "semaphore_wake": pct(sem_ms[1:])}  # [0]: the child starting


def _thread_wake(reps: int, gil_hog: bool) -> dict[str, Any]:
    """Event.set -> the waiting thread runs Python again, with or without a third thread
    running pure Python (which holds the GIL until the switch interval forces it off)."""
    ev, stop = threading.Event(), threading.Event()
    stamp = [0]
    out: list[float] = []

    def waiter() -> None:
        for _ in range(reps):
            ev.wait()
            ev.clear()
            out.append((time.monotonic_ns() - stamp[0]) / 1e6)

    def hog() -> None:
        x = 0
        while not stop.is_set():
            x += 1

    threads = [threading.Thread(target=waiter)] + ([threading.Thread(target=hog)] if gil_hog else [])
    for t in threads:
        t.start()
    for _ in range(reps):
        time.sleep(0.002)
        stamp[0] = time.monotonic_ns()
        ev.set()
        while len(out) < _ + 1 and threads[0].is_alive():
            time.sleep(0.0005)
    stop.set()
    for t in threads:
        t.join()
    if len(out) < reps:
        raise RuntimeError(f"the waiter thread stopped after {len(out)} of {reps} wakes")
    return pct(out)


def _invoke_forever(model: str, threads: int, nice: int, stop: Any) -> None:
    """A stand-in detector process: TFLite inference back to back on ``threads`` threads."""
    import os

    from cat_follow.perception.model import load_interpreter

    os.nice(nice)
    interp = load_interpreter(Path(model), threads)
    while not stop.is_set():
        interp.invoke()


def _wake_vs_inference(reps: int, model: Path, nice: int) -> dict[str, Any]:
    """Thread wake while another process runs inference on 2 threads (both cores here)."""
    ctx = multiprocessing.get_context("forkserver")
    stop = ctx.Event()
    proc = ctx.Process(target=_invoke_forever, args=(str(model), 2, nice, stop))
    proc.start()
    time.sleep(2.0)  # the model loaded, inference running
    try:
        return _thread_wake(reps, False)
    finally:
        stop.set()
        proc.join()


def _ssd_model() -> Path:
    from cat_follow.config import load_config
    from cat_follow.perception.worker import resolve_models

    cfg = load_config(None)
    cfg = replace(cfg, detector=replace(cfg.detector, manifest="ssd_mobilenet_v1_coco_quant"))
    return resolve_models(cfg).model


def components(reps: int = 300) -> dict[str, Any]:
    import cv2

    src = np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    dst, small = np.empty_like(src), np.empty((300, 300, 3), np.uint8)
    full, letterbox = [], []
    for _ in range(reps):
        t0 = time.monotonic_ns()
        np.copyto(dst, src)
        t1 = time.monotonic_ns()
        cv2.resize(src, (300, 300), dst=small, interpolation=cv2.INTER_LINEAR)
        letterbox.append((time.monotonic_ns() - t1) / 1e6)
        full.append((t1 - t0) / 1e6)
    return {"copy_full_frame": pct(full), "resize_to_300x300": pct(letterbox),
            **_cross_process_wake(reps),
            "thread_event_wake": _thread_wake(reps, False),
            "thread_event_wake_vs_gil_hog": _thread_wake(reps, True),
            **{f"thread_event_wake_vs_inference_nice{n}": _wake_vs_inference(reps, _ssd_model(), n) for n in (0, 10)},
            "switch_interval_ms": sys.getswitchinterval() * 1e3}


