"""After warm-up the hot paths allocate no frame-sized arrays (tracemalloc)."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from cat_follow.bench.alloc import peak_alloc_bytes
from cat_follow.config import Config
from cat_follow.memory.pool import allocate_pool
from cat_follow.memory.shared_state import SharedState
from cat_follow.perception.ssd import SsdDetector
from cat_follow.perception.worker import SsdWorker
from cat_follow.sources import VideoFileSource
from cat_follow.threads.camera import CameraThread
from cat_follow.threads.detector import ThreadDetectorPort
from cat_follow.threads.supervised import Health
from cat_follow.threads.tracker import TrackerThread, roi_sizes

FRAME_BYTES = 640 * 480 * 3
LIMIT = 64 * 1024  # well under any frame-sized buffer (the detector input alone is 270,000 B)


@pytest.fixture
def tracing() -> Iterator[None]:
    tracemalloc.start()
    yield
    tracemalloc.stop()


def test_camera_tracker_detector_steps_allocate_no_frames(config: Config, kittens: Path,
                                                          detector: SsdDetector, tracing: None) -> None:
    shared = SharedState(allocate_pool(config))
    health = Health()
    worker = SsdWorker(detector)
    worker.prepare(roi_sizes(config.camera.width, config.camera.height, config.detector.scan_tile_px))
    det = ThreadDetectorPort(shared, worker, health)
    trk = TrackerThread(shared, config, health, det)
    with VideoFileSource(kittens) as src:
        cam = CameraThread(shared, src, health)
        peaks: dict[str, list[int]] = {"camera": [], "tracker": [], "detector": []}
        tracking = 0
        for i in range(80):
            c = peak_alloc_bytes(cam.step)
            t = peak_alloc_bytes(trk.step)
            d = None
            if det.busy:  # the tracker asked for a detection: run it here, in turn
                d = peak_alloc_bytes(det.run_pending)
            if i >= 20:  # steady state
                peaks["camera"].append(c)
                peaks["tracker"].append(t)
                if d is not None:
                    peaks["detector"].append(d)
                tracking += trk.kcf_ok
    assert tracking > 30, "the tracker must have been tracking for this to measure its hot path"
    for stage, values in peaks.items():
        assert values and max(values) < LIMIT, (stage, max(values))


def test_control_a_frame_copy_is_seen(tracing: None) -> None:
    frame = np.zeros((480, 640, 3), np.uint8)
    keep: list[np.ndarray] = []
    assert peak_alloc_bytes(lambda: keep.append(frame.copy())) >= FRAME_BYTES
