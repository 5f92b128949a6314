"""The detector thread and the port the tracker uses to reach it (thread mode).

``ThreadDetectorPort`` owns a ``DetectorThread``, one job slot and the published result
(``pool.detector_result``). The tracker submits a job (``submit`` -> ticket); the thread
snapshots the newest frame into ``frame_for_detector`` (the detector path's one copy), runs
the worker and publishes the result record whole under a lock; the tracker ``take``s a copy.
The worker (its interpreter) lives on the detector thread only.

Watchdog (thread mode): ``watch``, called by the robot's main loop each tick, sees a run that
has not answered by threads/hang.py's rule (the detector thread's own CPU time). A thread cannot
be killed, so it is abandoned: its ticket is finished with nothing, its late result (if it ever
comes back) is dropped, and a new detector thread builds a new worker with ``factory`` and
serves from then on. Meanwhile ``submit`` returns None (the tracker goes on with KCF alone) and
``status()`` says ``hung: restarting (n)``. With ``MAX_STUCK_THREADS`` abandoned threads still
stuck, another hang raises ThreadFailed instead (the service exits 3; systemd restarts it).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import numpy as np

from cat_follow.memory.shared_state import SharedState
from cat_follow.perception.port import KIND_CAT, LOCKSTEP_WAIT_S, RESULT, DetectJob, DetectorWorker, detections
from cat_follow.procfs import clock_seconds, thread_cpu_clock
from cat_follow.stats import LatencyRecorder
from cat_follow.threads.hang import BUSY_CAP, HangClock
from cat_follow.threads.supervised import Health, SupervisedThread, ThreadFailed

log = logging.getLogger(__name__)
RETRY_S = 1.0  # a new worker that failed to build is tried again after this
# Hung detector threads still stuck when another hangs: then the service ends (exit 3) instead of
# abandoning one more. Each keeps its interpreter and arena (tens of MB), and a model that hangs
# every time would otherwise pile them up until the Pi runs out of memory; systemd restarts the
# process, which frees them. One or two recovered hangs are the case thread mode is for.
MAX_STUCK_THREADS = 2


class DetectorThread(SupervisedThread):
    """The port's "detector" thread, in either mode: runs the pending job when woken, and
    gives the port an idle turn otherwise (process mode checks its child there)."""

    def __init__(self, port: JobDesk, health: Health, *, daemon: bool = False) -> None:
        super().__init__("detector", health)
        self.daemon = daemon  # thread mode: a hung one that was abandoned must not hold the exit
        self.port = port

    def loop(self) -> None:
        port = self.port
        while not self.stopping.is_set() and not port.shared.closed.is_set():
            self.beat()
            if port.wake.wait(0.1):
                port.wake.clear()
                port.run_pending()
            else:
                port.idle()


class JobDesk:
    """The tracker's side of a detector port, the same in both modes: one job slot, its
    tickets and the last finished result (``published``, a (1,) RESULT), all under one lock.
    A subclass runs the jobs and calls ``_finish``."""

    def __init__(self, shared: SharedState, health: Health, published: np.ndarray) -> None:
        self.shared = shared
        self.health = health
        self.latency = LatencyRecorder()
        self.runs = 0
        self.wake = threading.Event()
        self._lock = threading.Lock()          # guards the published record and the job slot
        self._done = threading.Condition(self._lock)
        self._job: DetectJob | None = None
        self._ticket = 0                        # last ticket handed out
        self._finished = 0                      # last ticket finished
        self._taken = 0                         # last ticket the consumer took
        self._published = published
        self._published_bytes = published.view(np.uint8)  # take copies bytes: see there

    @property
    def busy(self) -> bool:
        return self._ticket != self._finished

    def _accepting(self) -> bool:
        """Whether a job may be queued now (under the lock); a port that can be down says no."""
        return True

    def _submitted(self) -> None:
        """Called under the lock when a job was queued."""

    def submit(self, job: DetectJob) -> int | None:
        with self._lock:
            if self._ticket != self._finished or not self._accepting():
                return None
            self._ticket += 1
            self._job = job
            ticket = self._ticket
            self._submitted()
        self.wake.set()
        return ticket

    def take(self, out: np.ndarray) -> bool:
        with self._lock:
            if self._finished == self._taken or int(self._published[0]["ticket"]) == 0:
                return False
            # copy: the record is the consumer's from here. As bytes: a structured copyto builds
            # per-field transfer buffers (2 KB per call, the tracker's largest allocation per frame)
            np.copyto(out.view(np.uint8), self._published_bytes)
            self._taken = self._finished
            return True

    def wait(self, ticket: int, timeout_s: float, stopping: threading.Event) -> bool:
        deadline = time.monotonic() + timeout_s
        with self._done:
            while self._finished < ticket:
                if stopping.is_set() or self.health.fault.is_set() or self.shared.closed.is_set():
                    return False
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._done.wait(min(left, 0.05))
        return True

    def run_pending(self) -> bool:
        """Run the pending job, if any (the detector thread); False if there was none."""
        raise NotImplementedError

    def idle(self) -> None:
        """The detector thread's turn when no job came within its wait (nothing by default)."""

    def watch(self) -> None:
        """A supervisor's check of the detector (the main loop's, each tick): nothing by
        default (process mode watches its child from its own thread)."""

    def _count(self, rec: np.void, min_score: float) -> None:
        """Count a finished run (detector side): runs, hits, latency."""
        if not int(rec["seq"]):
            return
        counters = self.shared.counters
        counters["detector_runs"] += 1
        dets = detections(rec)
        if np.any((dets["kind"] == KIND_CAT) & (dets["score"] >= min_score)):
            counters["detector_hits"] += 1
        self.latency.add(float(rec["ms"]))
        self.runs += 1


class ThreadDetectorPort(JobDesk):
    """The DetectorPort of thread mode. ``submit``/``take``/``wait`` are called by the
    tracker thread; ``run_pending`` by the detector thread (or, in single-threaded
    harnesses, by the caller); ``watch`` by a supervisor (see module docstring).
    ``factory``: a new, prepared worker for a new detector thread (None: no recovery)."""

    def __init__(self, shared: SharedState, worker: DetectorWorker, health: Health, *,
                 factory: Callable[[], DetectorWorker] | None = None, hang_timeout_s: float = 1.0) -> None:
        results = shared.pool.detector_result
        super().__init__(shared, health, results[1:2])  # [1]: the last finished result
        self.worker: DetectorWorker | None = worker
        self.factory = factory
        self.hang_timeout_s = hang_timeout_s
        self.reader = shared.register_reader("detector")
        self._work = results[0]                 # the worker writes here (detector thread only)
        self.thread = DetectorThread(self, health, daemon=True)
        self.hangs = 0
        self._gen = 0                           # the detector thread's generation: +1 per abandoned one
        self._state = "ok"
        self._run: tuple[int, int, HangClock] | None = None  # (generation, ticket, clock) of the run in progress
        self._last_attempt = 0.0
        self._stuck: list[DetectorThread] = []  # abandoned threads, until they come back (if ever)

    def _accepting(self) -> bool:
        return self.worker is not None

    def status(self) -> str:
        return self._state if self.thread.is_alive() else "down: detector thread not running"

    # ---- supervisor side -----------------------------------------------------------------
    def watch(self) -> None:
        """Abandon a run that hung (threads/hang.py's rule on the detector thread's CPU time)."""
        run = self._run
        if run is None or self.factory is None or not run[2].hung(time.monotonic()):
            return
        gen, ticket, _ = run
        with self._done:
            if gen != self._gen or self._run is not run:
                return  # it answered meanwhile
            self._stuck = [t for t in self._stuck if t.is_alive()]
            if len(self._stuck) >= MAX_STUCK_THREADS:  # each keeps its interpreter: only a new process frees them
                raise ThreadFailed(f"detector: {len(self._stuck) + 1} detector threads stuck at once (thread mode "
                                   "cannot end them): stopping, so the service is restarted")
            self._gen += 1
            self.hangs += 1
            self._run = None
            self.worker = None  # the stuck thread keeps the old one; it is never used again
            self._work = np.zeros(1, dtype=RESULT)[0]  # nor its record (it may still write to it)
            self._taken = self._finished = ticket  # finished with nothing: no waiter hangs on it
            self._done.notify_all()
            self._state = f"hung: restarting ({self.hangs})"
            # told to stop before the lock is let go: if its run returns now, it must not loop
            # again and build a worker beside the new thread's (a worker lives on one thread)
            self.thread.stop()
            self._stuck.append(self.thread)
            self.thread = DetectorThread(self, self.health, daemon=True)
        log.error("detector thread hung (no answer to job %d for %.1f s): abandoned; starting another (%d)",
                  ticket, self.hang_timeout_s, self.hangs)
        self.thread.start()

    def _ensure_worker(self) -> bool:
        """On a new detector thread: build its worker (tried again every RETRY_S if that fails)."""
        if self.worker is not None:
            return True
        if self.factory is None or time.monotonic() - self._last_attempt < RETRY_S:
            return False
        self._last_attempt = time.monotonic()
        try:
            worker = self.factory()
        except Exception as exc:
            self._state = f"down: a new detector failed to start: {exc}"
            log.exception("a new detector failed to start; trying again in %.0f s", RETRY_S)
            return False
        self.worker, self._state = worker, "ok"
        log.warning("detector back after a hang (%d)", self.hangs)
        return True

    def idle(self) -> None:
        self._ensure_worker()

    # ---- detector side -----------------------------------------------------------------
    def run_pending(self) -> bool:
        """Run the pending job, if any, in the caller's thread; False if there was none.
        A job that finds no frame yet is finished with no detections."""
        if not self._ensure_worker():
            return False
        with self._lock:
            job, ticket, gen, worker, rec = self._job, self._ticket, self._gen, self.worker, self._work
            self._job = None
            if job is not None and worker is not None:
                timeout = max(self.hang_timeout_s, LOCKSTEP_WAIT_S) if self.shared.lockstep else self.hang_timeout_s
                clock = thread_cpu_clock()  # this thread's CPU clock: no /proc read per run
                self._run = (gen, ticket, HangClock(time.monotonic(), timeout, BUSY_CAP * timeout,
                                                    lambda: clock_seconds(clock)))
        if job is None or worker is None:
            return False
        ok = False
        try:
            seq = self.shared.snapshot_for_detector(self.reader)
            rec["n"], rec["verified"], rec["ms"] = 0, 0, 0.0
            if seq:
                worker.run(job, self.shared.pool.frame_for_detector, rec)
                meta = self.shared.pool.detector_meta[0]
                rec["t_media_ns"], rec["t_capture_ns"] = meta["t_media_ns"], meta["t_capture_ns"]
            rec["ticket"], rec["seq"], rec["t_done_ns"] = ticket, seq, time.monotonic_ns()
            ok = True
        except Exception:
            if gen == self._gen:
                raise
            log.warning("an abandoned detector thread failed on its way out", exc_info=True)
        finally:  # a failed run still finishes its ticket, so no waiter hangs on it
            with self._done:
                if gen == self._gen:  # else abandoned: the slot is another thread's now
                    self._run = None
                    if ok:
                        self._count(rec, job.min_score)
                        self._published[0] = rec  # copy: publish the whole record at once
                    else:
                        self._taken = ticket  # nothing to take from a failed run
                    self._finished = ticket
                    self._done.notify_all()
        return True
