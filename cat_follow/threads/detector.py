"""Detector thread: on request, snapshot the newest frame and run the TFLite detector.

Owns the SsdDetector (its interpreter lives on this thread only) and
``frame_for_detector``. Writes the raw result to the BBOX_DETECTOR record. Requests come
from the tracker thread, which decides when a detection is due.
"""

from __future__ import annotations

import threading
import time

from cat_follow.memory.pool import BBOX_DETECTOR, SOURCE_DETECTOR
from cat_follow.memory.shared_state import SharedState
from cat_follow.perception.ssd import SsdDetector
from cat_follow.stats import LatencyRecorder
from cat_follow.threads.supervised import Health, SupervisedThread


class DetectorThread(SupervisedThread):
    def __init__(self, shared: SharedState, detector: SsdDetector, health: Health) -> None:
        super().__init__("detector", health)
        self.shared = shared
        self.detector = detector
        self.reader = shared.register_reader("detector")
        self.latency = LatencyRecorder()
        self._request = threading.Event()
        self.roi: tuple[int, int, int, int] | None = None  # where to look, set with the request
        self.min_score = detector.score_threshold
        self.done = threading.Event()
        self.busy = False
        self.runs = 0

    def request(self, roi: tuple[int, int, int, int] | None = None) -> bool:
        """Ask for a detection on the newest frame (inside ``roi`` if given); False if one is
        already running."""
        if self.busy:
            return False
        self.roi = roi
        self.busy = True
        self.done.clear()
        self._request.set()
        return True

    def step(self) -> bool:
        """Run one detection now, in the caller's thread; False if there was no frame."""
        seq = self.shared.snapshot_for_detector(self.reader)
        if seq == 0:
            return False
        t0 = time.perf_counter()
        found, box, score = self.detector.best(self.shared.pool.frame_for_detector, self.roi, self.min_score)
        ms = (time.perf_counter() - t0) * 1e3
        self.shared.publish_bbox(BBOX_DETECTOR, *box, score=score, valid=found, seq=seq,
                                 source=SOURCE_DETECTOR, target_state=0, ms=ms,
                                 t_media_ns=int(self.shared.pool.detector_meta[0]["t_media_ns"]))
        counters = self.shared.counters
        counters["detector_runs"] += 1
        if found:
            counters["detector_hits"] += 1
        self.latency.add(ms)
        self.runs += 1
        return True

    def loop(self) -> None:
        while not self.stopping.is_set() and not self.shared.closed.is_set():
            self.beat()
            if not self._request.wait(0.1):
                continue
            self._request.clear()
            try:
                self.step()
            finally:
                self.busy = False
                self.done.set()

    def wait_done(self, stopping: threading.Event, timeout: float = 30.0) -> bool:
        """Lock-step: wait for the running detection (gives up if stopping or a fault)."""
        deadline = time.monotonic() + timeout
        while not self.done.wait(0.05):
            if stopping.is_set() or self.health.fault.is_set() or time.monotonic() > deadline:
                return False
        return True
