"""Start-up and shutdown of the perception pipeline, in the design's order.

1. config (done by the caller)  2. ``allocate_pool``  3. ``SharedState``
4. the TFLite interpreter, loaded once  5. camera, tracker and detector threads.
The main thread then drains results (``results``) and checks ``health`` every tick.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from types import TracebackType

import numpy as np

from cat_follow.config import Config
from cat_follow.memory.pool import RESULT, RESULT_CAPACITY, Pool, allocate_pool
from cat_follow.memory.segments import sweep_stale
from cat_follow.memory.shared_state import SharedState
from cat_follow.perception.late_delivery import LateDelivery, timing_summary
from cat_follow.perception.model import ModelFiles
from cat_follow.perception.port import DetectorPort, DetectorWorker
from cat_follow.perception.regions import roi_sizes
from cat_follow.perception.worker import make_worker
from cat_follow.sources.source import FrameSource
from cat_follow.threads.camera import CameraThread
from cat_follow.threads.detector import ThreadDetectorPort
from cat_follow.threads.detector_process import ProcessDetectorPort
from cat_follow.threads.supervised import Health, SupervisedThread
from cat_follow.threads.tracker import TrackerThread

log = logging.getLogger(__name__)

JOIN_TIMEOUT_S = 3.0


class Pipeline:
    """Owns the pool, the shared state, the detector model and the three worker threads.

    ``fast`` = lock-step: every frame goes through the tracker (and the main reader) before
    the next is read, and detections are waited for, so results do not depend on speed.
    """

    def __init__(self, config: Config, source: FrameSource, models: ModelFiles, *,
                 fast: bool = False, paced: bool = True, max_frames: int | None = None,
                 pace_fps: float | None = None, worker: DetectorWorker | None = None) -> None:
        self.config = config
        self.source = source
        self.fast = fast
        self.pool: Pool = allocate_pool(config)
        self.shared = SharedState(self.pool, lockstep=fast)
        self.health = Health()
        sizes = roi_sizes(config.camera.width, config.camera.height, config.detector.scan_tile_px)
        self.mode = "thread" if worker is not None else config.detector.resolved_mode()
        self.detector: ThreadDetectorPort | ProcessDetectorPort
        if self.mode == "process":
            sweep_stale()  # segments of an earlier run that was killed (its pid is dead)
            self.detector = ProcessDetectorPort(self.shared, config, models, self.health, sizes)
        else:
            self.worker = worker or make_worker(config, models)
            self.worker.prepare(sizes)

            def fresh_worker() -> DetectorWorker:  # after a hang: the config's models, on the new thread
                new = make_worker(config, models)
                new.prepare(sizes)
                return new

            self.detector = ThreadDetectorPort(self.shared, self.worker, self.health, factory=fresh_worker,
                                               hang_timeout_s=config.detector.hang_timeout_s)
        # what the tracker sees of the detector: the port itself, or (lock-step at a Pi's pace) the
        # port delivering each result as many frames late as on the Pi (cat_follow/config_timing.py)
        self.delivery: DetectorPort = self.detector
        if fast and config.timing.mode != "instant":
            self.delivery = LateDelivery(self.detector, config.timing, lambda: self.shared.published_seq,
                                         lambda: source.fps or config.camera.fps)
        elif config.timing.mode != "instant":
            log.info("timing.mode = %s applies to lock-step runs only: this run has real timing",
                     config.timing.mode)
        self.tracker = TrackerThread(self.shared, config, self.health, self.delivery)
        self.main_reader = self.shared.register_reader("main", lockstep=fast)
        self.camera = CameraThread(self.shared, source, self.health, paced=paced and not fast,
                                   max_frames=max_frames, pace_fps=pace_fps)
        self._results_out = np.zeros(RESULT_CAPACITY, dtype=RESULT)  # the main thread's copy of new rows
        self._started = False

    @property
    def threads(self) -> list[SupervisedThread]:
        return [self.camera, self.tracker, self.detector.thread]

    def start(self) -> None:
        """Open the source (its errors come before any thread starts), then the threads."""
        self.source.open()
        try:
            if isinstance(self.detector, ProcessDetectorPort):
                self.detector.start()  # the child's start-up errors come here, before the threads
            else:
                self.detector.thread.start()
            self.tracker.start()
            self.camera.start()
        except BaseException:
            self.stop()
            raise
        self._started = True

    def stop(self) -> None:
        """Stop every thread, join them, then close the source. The source is closed only once
        the camera thread has left ``read()``: a capture closed under a reader can crash in C.
        A camera still stuck in ``read()`` keeps its source (logged; the process is ending)."""
        self.shared.close()
        for t in self.threads:
            t.stop()
        for t in self.threads:
            if t.is_alive():
                t.join(JOIN_TIMEOUT_S)
                if t.is_alive():
                    log.error("%s thread did not stop within %.1f s", t.name, JOIN_TIMEOUT_S)
        if isinstance(self.detector, ProcessDetectorPort):
            self.detector.close()  # the child stops, the segment is unlinked
        if self.camera.is_alive():
            log.critical("camera thread still inside the source's read(): the source is left open")
            return
        self.source.close()

    def finished(self) -> bool:
        """The source has ended and the tracker has handled the last published frame."""
        return (self.camera.ended or not self.camera.is_alive()) and \
            self.tracker.last_seq >= self.shared.published_seq

    def timing_summary(self) -> dict[str, object]:
        """How detector results reached the tracker in this run (for its summary)."""
        return timing_summary(self.config.timing.mode if self.fast else "live", self.delivery)

    def results(self, cursor: int) -> Iterator[tuple[int, np.void]]:
        """(counter, row) of the result rows produced since ``cursor``. The rows are copies in
        the pipeline's own buffer (taken whole under the shared-state lock), valid until the
        next call; rows the tracker lapped are skipped and counted as ``results_overrun``."""
        first, end = self.shared.copy_results(cursor, self._results_out)
        for c in range(first, end):
            yield c, self._results_out[c - first]

    def __enter__(self) -> Pipeline:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
