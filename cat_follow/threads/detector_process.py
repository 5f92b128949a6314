"""The DetectorPort of process mode: the worker runs in a child process, with a watchdog.

``ProcessDetectorPort`` serves the same protocol as ``ThreadDetectorPort`` (submit ->
ticket -> take). Its "detector" thread in the parent is a proxy: it snapshots the newest
frame into the shared-memory exchange (the detector path's one copy), hands the job to the
child through a pipe and waits, GIL released, for the result or the child's death. The
child (``detector_child``) holds the interpreter, so its pre/post-processing runs on
another core and never competes with the tracker for the GIL.

Watchdog: a child that dies (its sentinel fires) or hangs (no result within
``detector.hang_timeout_s`` of a job while it used no CPU, or none within ``BUSY_CAP`` times
that while computing) is SIGKILLed if still there, reaped, and replaced
by a new one. Meanwhile ``submit`` returns None, so the tracker goes on with KCF alone, and
``status()`` says ``restarting (n)``. Each recovery's time, from the fault being seen to
the new child being ready, goes into ``recovery_ms``.

The process is started with ``forkserver`` (never ``fork`` from this threaded parent): the
fork server is a fresh single-threaded interpreter that has imported the detector's modules
once, so a restart costs a fork plus a model load (0.34-1.07 s measured here under load; 0.68-
2.2 s with ``spawn``, which starts and imports a whole interpreter each time). It is a daemon
so multiprocessing also ends it on a normal interpreter exit; ``close`` stops it and unlinks
the segment. A fork-server child whose parent dies sees its parent sentinel close and exits.
"""

from __future__ import annotations

import logging
import time
from multiprocessing.shared_memory import SharedMemory

import numpy as np

from cat_follow.config import Config
from cat_follow.memory.segments import create_segment, unlink_segment
from cat_follow.memory.shared_state import SharedState
from cat_follow.perception.model import ModelFiles
from cat_follow.perception.port import LOCKSTEP_WAIT_S, RESULT
from cat_follow.perception.worker import make_worker
from cat_follow.stats import LatencyRecorder
from cat_follow.threads.detector import DetectorThread, JobDesk
from cat_follow.threads.detector_child import (
    ChildHandle,
    ChildStartError,
    Exchange,
    WorkerFactory,
    exchange_nbytes,
    exchange_views,
)
from cat_follow.threads.hang import BUSY_CAP
from cat_follow.threads.supervised import Health

log = logging.getLogger(__name__)

RETRY_S = 1.0           # a child that failed to start is tried again after this


class ProcessDetectorPort(JobDesk):
    """The DetectorPort of process mode (see module docstring). ``submit``/``take``/``wait``
    are the tracker's; ``run_pending`` and the restarts belong to the proxy thread."""

    def __init__(self, shared: SharedState, config: Config, models: ModelFiles, health: Health,
                 sizes: list[tuple[int, int]], factory: WorkerFactory = make_worker) -> None:
        super().__init__(shared, health, np.zeros(1, dtype=RESULT))  # the last finished result
        self.hang_timeout_s = config.detector.hang_timeout_s
        self.reader = shared.register_reader("detector")
        self.recovery_ms = LatencyRecorder(1024)
        self.turnaround_ms = LatencyRecorder()  # submit -> result published, as the tracker sees it
        self._submit_ns = 0
        self.restarts = 0
        self._args = (config, models, sizes, factory)
        self._state = "down: not started"
        self._shape = (config.camera.height, config.camera.width)
        self._segment: SharedMemory | None = None  # created by start, unlinked by close
        self._ex: Exchange | None = None
        self._child: ChildHandle | None = None
        self._last_attempt = 0.0
        self.thread = DetectorThread(self, health)  # runs jobs through the child, restarts it

    # ---- life cycle --------------------------------------------------------------------
    def start(self) -> None:
        """Create the segment, start the first child (its start-up errors are raised here),
        then the proxy thread. ``close`` undoes it, also after a failed start."""
        self._segment = create_segment("detector", exchange_nbytes(*self._shape))
        assert self._segment.buf is not None
        self._ex = exchange_views(self._segment.buf, *self._shape)
        self._child = ChildHandle(self._segment.name, *self._args)
        self._state = "ok"
        self.thread.start()

    def close(self) -> None:
        """Stop the child and unlink the segment; call after the proxy thread stopped."""
        if self._child is not None:
            self._child.stop()
            self._child = None
        self._state = "down: closed"
        self._ex = None
        if self._segment is not None:
            unlink_segment(self._segment)
            self._segment = None

    def _segment_name(self) -> str:
        assert self._segment is not None, "not started"
        return self._segment.name

    @property
    def child_pid(self) -> int | None:
        return self._child.pid if self._child is not None else None

    # ---- tracker side: JobDesk's, with the child's state ------------------------------
    def _accepting(self) -> bool:
        return self._state == "ok"

    def _submitted(self) -> None:
        self._submit_ns = time.monotonic_ns()

    def status(self) -> str:
        return self._state

    # ---- proxy side --------------------------------------------------------------------
    def run_pending(self) -> bool:
        """Run the pending job through the child; False if there was none."""
        with self._lock:
            job, ticket = self._job, self._ticket
            self._job = None
        if job is None:
            return False
        ok = False
        ex = self._ex
        assert ex is not None, "run_pending before start"
        try:
            seq = self.shared.snapshot_for_detector(self.reader, out=ex.frame, out_meta=ex.meta)
            if seq == 0:  # no frame yet: finished with no detections, as in thread mode
                ex.result[0] = np.zeros(1, dtype=RESULT)[0]
                ex.result[0]["ticket"], ex.result[0]["t_done_ns"] = ticket, time.monotonic_ns()
                ok = True
            else:
                job.to_record(ex.job[0], ticket)
                ok = self._run_child(ticket)
        finally:  # a failed run still finishes its ticket, so no waiter hangs on it
            with self._done:
                if ok:
                    self._published[0] = ex.result[0]  # copy: the whole record, ours now
                    self._count(self._published[0], job.min_score)
                    self.turnaround_ms.add((time.monotonic_ns() - self._submit_ns) / 1e6)
                else:
                    self._taken = ticket
                self._finished = ticket
                self._done.notify_all()
        return True

    def _run_child(self, ticket: int) -> bool:
        child = self._child
        if child is None:
            return False
        # lock-step: as long as the tracker waits, so machine speed cannot change the result
        timeout = max(self.hang_timeout_s, LOCKSTEP_WAIT_S) if self.shared.lockstep else self.hang_timeout_s
        outcome = child.run(ticket, timeout, cap=BUSY_CAP * self.hang_timeout_s, stop=self.shared.closed)
        if outcome == "ok":
            return True
        if outcome != "stopped":
            self.recover(outcome)
        return False

    def recover(self, why: str) -> None:
        """Replace the child (dead, hung or missing); the fault was seen just now. Not while
        shutting down: ``close`` may already have stopped the child and unlinked the segment."""
        if self.shared.closed.is_set():
            return
        seen = self._last_attempt = time.monotonic()
        self.restarts += 1
        self._state = f"restarting ({self.restarts})"
        log.warning("detector process %s (pid %s): restarting (%d)", why, self.child_pid, self.restarts)
        if self._child is not None:
            self._child.kill()
            self._child = None
        try:
            self._child = ChildHandle(self._segment_name(), *self._args)
        except ChildStartError as exc:
            self._state = f"down: {exc}"
            log.error("%s; trying again in %.0f s", exc, RETRY_S)
            return
        self.recovery_ms.add((time.monotonic() - seen) * 1e3)
        self._state = "ok"
        log.warning("detector process back (pid %s) after %.0f ms", self.child_pid, (time.monotonic() - seen) * 1e3)

    def idle(self) -> None:
        """Between jobs: restart a child that died, or retry one that failed to start."""
        if self.shared.closed.is_set():
            return  # shutting down: nothing to restart
        if self._child is not None:
            if not self._child.proc.is_alive():
                self.recover("exited")
        elif time.monotonic() - self._last_attempt >= RETRY_S:
            self.recover("missing")
