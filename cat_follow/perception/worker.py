"""Detector workers: what runs a ``DetectJob`` on the detector thread (or process).

``make_worker`` builds one from picklable arguments (the config and the model files), so
a spawned detector process can build its own. Today's worker is the SSD back-end alone.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from cat_follow.config import Config
from cat_follow.perception.model import ModelFiles
from cat_follow.perception.port import DetectJob, DetectorWorker
from cat_follow.perception.ssd import SsdDetector, make_detector


class SsdWorker:
    """The SSD detector as a DetectorWorker. Owns the detector (one interpreter)."""

    def __init__(self, detector: SsdDetector) -> None:
        self.detector = detector

    def prepare(self, sizes: Sequence[tuple[int, int]]) -> None:
        self.detector.prepare(list(sizes))

    def run(self, job: DetectJob, frame: np.ndarray, out: np.void) -> None:
        t0 = time.perf_counter()
        out["n"] = self.detector.detect_into(frame, job.roi, job.min_score, out["dets"])
        out["verified"] = 0
        out["ms"] = (time.perf_counter() - t0) * 1e3


def make_worker(config: Config, models: ModelFiles) -> DetectorWorker:
    """The configured worker, with its model loaded (call on the thread that will use it)."""
    return SsdWorker(make_detector(models.model, models.labels, config.detector))
