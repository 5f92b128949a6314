"""After warm-up the hot paths allocate no frame-sized arrays (tracemalloc)."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from cat_follow.bench.alloc import peak_alloc_bytes
from cat_follow.config import Config
from cat_follow.memory.pool import allocate_pool
from cat_follow.memory.shared_state import SharedState
from cat_follow.perception.backend import DETECTION, MAX_DETECTIONS, ObjectDetector
from cat_follow.perception.manifest import load_manifest
from cat_follow.perception.port import SIGNATURE_LEN
from cat_follow.perception.regions import roi_sizes
from cat_follow.perception.ssd import SsdDetector
from cat_follow.perception.verifier import CropVerifier
from cat_follow.perception.worker import SsdWorker
from cat_follow.sources import VideoFileSource
from cat_follow.threads.camera import CameraThread
from cat_follow.threads.detector import ThreadDetectorPort
from cat_follow.threads.supervised import Health
from cat_follow.threads.tracker import TrackerThread

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


BACKENDS = ["ssd_mobilenet_v1_coco_quant", "nanodet_plus_m_1.5x_416_tflite", "nanodet_plus_m_1.5x_416",
            "yolox_nano_416", "yolox_nano_416_onnx", "yolo26n_320_int8"]


@pytest.mark.slow
@pytest.mark.parametrize("name", BACKENDS)
def test_back_ends_and_verifier_allocate_no_frames(name: str, assets: Path, kittens: Path, tracing: None) -> None:
    """Input writing, decoding and NMS of every back-end, and a crop check, after warm-up:
    nothing frame-sized (TFLite outputs are views; an ONNX runtime's own output arrays are
    the runtime's, so for ONNX models ``invoke`` is left out of the measured part)."""
    m = load_manifest(name)
    det = ObjectDetector(m, assets / "models" / m.file, 2)
    vm = load_manifest("mobilenet_v2_imagenet_quant")
    ver = CropVerifier(vm, assets / "models" / vm.file, assets / "models" / vm.labels_file)
    out = np.zeros(MAX_DETECTIONS, DETECTION)
    sig = np.zeros(SIGNATURE_LEN, np.float32)
    frame = np.zeros((480, 640, 3), np.uint8)
    det.prepare([(640, 480), (240, 240)])
    peaks = []
    cap = cv2.VideoCapture(str(kittens))
    try:
        for i in range(12):
            ok, img = cap.read()
            assert ok
            cv2.resize(img, (640, 480), dst=frame)
            roi = frame[100:340, 200:440]  # a region view, as the worker passes
            if m.runtime == "onnx":
                lb = det.writer.write(roi)
                det.runtime.invoke()
                p = max(peak_alloc_bytes(lambda roi=roi: det.writer.write(roi)),
                        peak_alloc_bytes(lambda lb=lb: det.decode(lb, 0.05, out, (200, 100))))
            else:
                p = peak_alloc_bytes(lambda roi=roi: det.detect(roi, 0.05, out, (200, 100)))
            v = peak_alloc_bytes(lambda: ver.verify(frame, (220.0, 120.0, 150.0, 120.0), sig))
            if i >= 2:
                peaks.append(max(p, v))
    finally:
        cap.release()
    assert max(peaks) < LIMIT, peaks
