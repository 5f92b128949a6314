"""The detector process: its shared-memory exchange and its main function.

The exchange is one ``SharedMemory`` segment (``cat-follow-<pid>-detector``) holding the
detector's frame snapshot, that frame's metadata, one JOB record and one RESULT record.
Ownership of the whole exchange passes back and forth through two pipes; nothing in it
is ever read and written by both processes at once:

* parent -> child: the parent writes the frame, its metadata and the job, then writes the
  job's ticket (8 bytes) to ``job`` pipe. From then on the exchange is the child's.
* child -> parent: the child reads the job and the frame, runs the worker into its own
  record, copies that record whole into the exchange's RESULT, then writes the ticket to
  the ``result`` pipe. From then on the exchange is the parent's again.

Why the stores before a pipe write are visible to the loads after the matching read, on
ARM64 too: Linux's ``pipe_write`` and ``pipe_read`` both run under the pipe's mutex
(fs/pipe.c, ``__pipe_lock``); the writer's unlock is a RELEASE and the reader's lock an
ACQUIRE (Documentation/memory-barriers.txt, "LOCK ACQUISITION FUNCTIONS"), and the
reader's lock can only see the message after the writer's unlock. So every store the
writer made before ``write()`` happens-before every load the reader makes after ``read()``
returned the message, the same guarantee POSIX gives for ``sem_post``/``sem_wait``. The
child never touches the parent's frame ring or its lock, so a child killed at any instant
cannot leave a lock held or a frame half-pinned; a parent that gives up on a child
(crash, hang) SIGKILLs it and waits for its death before it touches the exchange again.

Wake-ups are blocking waits on pipes (and, in the child, the parent's sentinel: a parent
that dies wakes the child, which exits). Nothing polls.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess

import numpy as np

from cat_follow.config import Config
from cat_follow.memory.pool import ALIGN, FRAME_META
from cat_follow.memory.segments import attach_segment
from cat_follow.perception.model import ModelFiles
from cat_follow.perception.port import JOB, RESULT, DetectJob, DetectorWorker
from cat_follow.perception.worker import make_worker
from cat_follow.process_setup import lower_priority, set_arena_max
from cat_follow.procfs import cpu_seconds
from cat_follow.threads.hang import HangClock

START_TIMEOUT_S = 20.0  # first start: fork server + imports + model load
STOP_CHECK_S = 0.25     # a job's wait notices a shutdown this soon (the pipeline joins for 3 s)
CHILD_MODULE = "cat_follow.threads.detector_child"
READY = (0).to_bytes(8, "little", signed=True)
STOP = (-1).to_bytes(8, "little", signed=True)

WorkerFactory = Callable[[Config, ModelFiles], DetectorWorker]


class ExchangeError(RuntimeError):
    """The two sides disagree about the job in the exchange (a protocol bug)."""


@dataclass
class Exchange:
    """Views onto the segment; owned by whichever side last received a ticket."""

    frame: np.ndarray    # (H, W, 3) uint8: the frame the job runs on
    meta: np.ndarray     # (1,) FRAME_META of that frame
    job: np.ndarray      # (1,) JOB
    result: np.ndarray   # (1,) RESULT


def _layout(height: int, width: int) -> list[tuple[str, tuple[int, ...], np.dtype]]:
    return [("frame", (height, width, 3), np.dtype(np.uint8)), ("meta", (1,), FRAME_META),
            ("job", (1,), JOB), ("result", (1,), RESULT)]


def exchange_nbytes(height: int, width: int) -> int:
    total = 0
    for _, shape, dtype in _layout(height, width):
        total = -(-total // ALIGN) * ALIGN + int(np.prod(shape)) * dtype.itemsize
    return total


def exchange_views(buf: memoryview, height: int, width: int) -> Exchange:
    views: dict[str, np.ndarray] = {}
    offset = 0
    for name, shape, dtype in _layout(height, width):
        offset = -(-offset // ALIGN) * ALIGN
        views[name] = np.ndarray(shape, dtype=dtype, buffer=buf, offset=offset)
        offset += int(np.prod(shape)) * dtype.itemsize
    return Exchange(**views)


def ticket_bytes(ticket: int) -> bytes:
    return ticket.to_bytes(8, "little", signed=True)


def child_main(segment: str, config: Config, models: ModelFiles, sizes: list[tuple[int, int]],
               job_r: Connection, res_w: Connection, factory: WorkerFactory = make_worker) -> None:
    """Entry of the detector process: attach, build the worker once, say READY,
    then serve jobs until STOP, a closed pipe or the parent's death."""
    # Ctrl-C and systemd's SIGTERM to the whole group are the parent's to handle: it stops
    # this process (STOP, then SIGKILL), or this process sees the parent's death and leaves.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # Before the model loads, so the runtime's threads inherit both (Linux: nice is per thread).
    set_arena_max(config.process.malloc_arena_max)
    lower_priority(config.process.detector_nice)  # levels below the service
    shm = attach_segment(segment)
    assert shm.buf is not None
    try:
        _serve(shm.buf, config, models, sizes, job_r, res_w, factory)
    finally:
        shm.close()


def _serve(buf: memoryview, config: Config, models: ModelFiles, sizes: list[tuple[int, int]],
           job_r: Connection, res_w: Connection, factory: WorkerFactory) -> None:
    ex = exchange_views(buf, config.camera.height, config.camera.width)
    worker = factory(config, models)
    worker.prepare(sizes)
    work = np.zeros(1, dtype=RESULT)  # the child's own record; copied whole into the exchange
    # One run on a blank frame of its own before READY: the first invoke is the slow one
    # (delegate warm-up), and it must not count against the first job's hang timeout.
    worker.run(DetectJob(None, 1.0), np.zeros_like(ex.frame), work[0])
    res_w.send_bytes(READY)
    parent = multiprocessing.parent_process()
    watch: list[Connection | int] = [job_r] + ([parent.sentinel] if parent is not None else [])
    while True:
        if job_r not in wait(watch):
            return  # the parent died
        try:
            msg = job_r.recv_bytes()
        except EOFError:
            return
        ticket = int.from_bytes(msg, "little", signed=True)
        if ticket < 0:
            return
        if int(ex.job[0]["ticket"]) != ticket:
            raise ExchangeError(f"job record holds ticket {int(ex.job[0]['ticket'])}, pipe said {ticket}")
        rec = work[0]
        rec["n"], rec["verified"], rec["ms"] = 0, 0, 0.0
        worker.run(DetectJob.from_record(ex.job[0]), ex.frame, rec)
        meta = ex.meta[0]
        rec["ticket"], rec["seq"] = ticket, meta["seq"]
        rec["t_media_ns"], rec["t_capture_ns"] = meta["t_media_ns"], meta["t_capture_ns"]
        rec["t_done_ns"] = time.monotonic_ns()  # CLOCK_MONOTONIC: one clock for both processes
        ex.result[0] = rec  # copy: the whole record, before the ticket hands it over
        res_w.send_bytes(msg)


# ---- parent side -----------------------------------------------------------------------
class ChildStartError(RuntimeError):
    """The detector process died or said nothing before it was ready."""


class ChildHandle:
    """One detector process (forked by the fork server) and the parent's ends of its pipes."""

    def __init__(self, segment: str, config: Config, models: ModelFiles, sizes: list[tuple[int, int]],
                 factory: WorkerFactory) -> None:
        ctx = multiprocessing.get_context("forkserver")
        # The fork server is a clean single-threaded process started once (never a fork of
        # this threaded one) that imports the detector's modules once; each child is forked
        # from it, so a restart costs a fork and a model load, not an interpreter start.
        ctx.set_forkserver_preload([CHILD_MODULE])
        job_r, self.job_w = ctx.Pipe(duplex=False)
        self.res_r, res_w = ctx.Pipe(duplex=False)
        self.proc: BaseProcess = ctx.Process(
            target=child_main, args=(segment, config, models, sizes, job_r, res_w, factory),
            name="cat-follow-detector", daemon=True)
        self.proc.start()
        job_r.close()  # the child holds these ends now
        res_w.close()
        if not self._ready(START_TIMEOUT_S):
            self.kill()
            raise ChildStartError(f"detector process did not start (exit code {self.proc.exitcode})")

    def _ready(self, timeout: float) -> bool:
        if self.res_r not in wait([self.res_r, self.proc.sentinel], timeout):
            return False
        try:
            return self.res_r.recv_bytes() == READY
        except EOFError:
            return False

    @property
    def pid(self) -> int | None:
        return self.proc.pid

    def run(self, ticket: int, timeout: float, cap: float, stop: threading.Event | None = None) -> str:
        """Hand the exchange over with ``ticket``; "ok", "crashed", "hung" (threads/hang.py's
        rule, on the child's CPU time, with ``cap``) or "stopped":
        ``stop`` was set meanwhile (shutting down), seen within STOP_CHECK_S."""
        try:
            self.job_w.send_bytes(ticket_bytes(ticket))
        except OSError:
            return "crashed"
        now = time.monotonic()
        clock = HangClock(now, timeout, cap, lambda: cpu_seconds(self.pid))
        while stop is None or not stop.is_set():
            slice_s = max(0.0, min(STOP_CHECK_S, clock.next_check - now))
            ready = wait([self.res_r, self.proc.sentinel], slice_s)
            if self.res_r in ready:
                try:
                    got = int.from_bytes(self.res_r.recv_bytes(), "little", signed=True)
                except EOFError:
                    return "crashed"
                return "ok" if got == ticket else "crashed"
            if ready:
                return "crashed"
            now = time.monotonic()
            if clock.hung(now):
                return "hung"
        return "stopped"

    def kill(self) -> None:
        """SIGKILL (if alive) and reap: after this no store of the child can land."""
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(5.0)
        self.job_w.close()
        self.res_r.close()

    def stop(self, timeout: float = 2.0) -> None:
        with contextlib.suppress(OSError):
            self.job_w.send_bytes(STOP)
        self.proc.join(timeout)
        self.kill()
