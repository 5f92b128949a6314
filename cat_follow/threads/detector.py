"""The detector thread and the port the tracker uses to reach it (thread mode).

``ThreadDetectorPort`` owns a ``DetectorThread``, one job slot and the published result
(``pool.detector_result``). The tracker submits a job (``submit`` -> ticket); the thread
snapshots the newest frame into ``frame_for_detector`` (the detector path's one copy), runs
the worker and publishes the result record whole under a lock; the tracker ``take``s a copy.
The worker (its interpreter) lives on the detector thread only.
"""

from __future__ import annotations

import threading
import time

import numpy as np

from cat_follow.memory.shared_state import SharedState
from cat_follow.perception.port import KIND_CAT, DetectJob, DetectorWorker, detections
from cat_follow.stats import LatencyRecorder
from cat_follow.threads.supervised import Health, SupervisedThread


class DetectorThread(SupervisedThread):
    """The port's "detector" thread, in either mode: runs the pending job when woken, and
    gives the port an idle turn otherwise (process mode checks its child there)."""

    def __init__(self, port: JobDesk, health: Health) -> None:
        super().__init__("detector", health)
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
            np.copyto(out, self._published)  # copy: the record is the consumer's from here
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
    harnesses, by the caller)."""

    def __init__(self, shared: SharedState, worker: DetectorWorker, health: Health) -> None:
        results = shared.pool.detector_result
        super().__init__(shared, health, results[1:2])  # [1]: the last finished result
        self.worker = worker
        self.reader = shared.register_reader("detector")
        self._work = results[0]                 # the worker writes here (detector thread only)
        self.thread = DetectorThread(self, health)

    def status(self) -> str:
        return "ok" if self.thread.is_alive() else "down: detector thread not running"

    # ---- detector side -----------------------------------------------------------------
    def run_pending(self) -> bool:
        """Run the pending job, if any, in the caller's thread; False if there was none.
        A job that finds no frame yet is finished with no detections."""
        with self._lock:
            job, ticket = self._job, self._ticket
            self._job = None
        if job is None:
            return False
        rec = self._work
        ok = False
        try:
            seq = self.shared.snapshot_for_detector(self.reader)
            rec["n"], rec["verified"], rec["ms"] = 0, 0, 0.0
            if seq:
                self.worker.run(job, self.shared.pool.frame_for_detector, rec)
                meta = self.shared.pool.detector_meta[0]
                rec["t_media_ns"], rec["t_capture_ns"] = meta["t_media_ns"], meta["t_capture_ns"]
            rec["ticket"], rec["seq"], rec["t_done_ns"] = ticket, seq, time.monotonic_ns()
            self._count(rec, job.min_score)
            ok = True
        finally:  # a failed run still finishes its ticket, so no waiter hangs on it
            with self._done:
                if ok:
                    self._published[0] = rec  # copy: publish the whole record at once
                else:
                    self._taken = ticket  # nothing to take from a failed run
                self._finished = ticket
                self._done.notify_all()
        return True
