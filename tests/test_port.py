"""The tracker<->detector port (thread mode): one job in flight, whole results, tickets."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import pytest

from cat_follow.config import Config
from cat_follow.memory.pool import allocate_pool
from cat_follow.memory.shared_state import SharedState
from cat_follow.perception.port import JOB, KIND_CAT, DetectJob, detections, new_result_buffer
from cat_follow.perception.ssd import SsdDetector
from cat_follow.perception.worker import SsdWorker
from cat_follow.sources.images import ArraySource
from cat_follow.sources.source import ReadStatus
from cat_follow.threads.camera import CameraThread
from cat_follow.threads.detector import ThreadDetectorPort
from cat_follow.threads.supervised import Health


class Failing:
    def prepare(self, sizes: Sequence[tuple[int, int]]) -> None:
        pass

    def run(self, job: DetectJob, frame: np.ndarray, out: np.void) -> None:
        raise RuntimeError("model failed")


def _with_frame(config: Config, frame: np.ndarray) -> SharedState:
    shared = SharedState(allocate_pool(config))
    cam = CameraThread(shared, ArraySource([frame], fps=30.0), Health())
    cam.source.open()
    assert cam.step() is ReadStatus.FRAME
    return shared


def test_jobs_round_trip_as_whole_records(config: Config, assets: Path, detector: SsdDetector) -> None:
    cat = cv2.imread(str(assets / "images" / "cat.bmp"))
    frame = cv2.resize(cat, (config.camera.width, config.camera.height))
    shared = _with_frame(config, frame)
    port = ThreadDetectorPort(shared, SsdWorker(detector), Health())
    out = new_result_buffer()
    assert not port.take(out), "nothing finished yet"
    ticket = port.submit(DetectJob(None, 0.3))
    assert ticket == 1 and port.busy
    assert port.submit(DetectJob(None, 0.3)) is None, "one job in flight at a time"
    assert port.run_pending() and not port.busy
    assert port.wait(ticket, 1.0, threading.Event())
    assert port.take(out) and not port.take(out), "a result is taken once"
    assert out.tobytes() == shared.pool.detector_result[1:2].tobytes(), "the whole record, byte for byte"
    rec = out[0]
    assert int(rec["ticket"]) == ticket and int(rec["seq"]) == 1
    dets = detections(rec)
    assert len(dets) >= 1 and int(dets[0]["kind"]) == KIND_CAT and float(dets[0]["score"]) >= 0.5
    assert list(dets["score"]) == sorted(dets["score"], reverse=True)
    assert port.runs == 1 and int(shared.counters["detector_hits"]) == 1


def test_a_failed_run_finishes_its_ticket_and_publishes_nothing(config: Config) -> None:
    shared = _with_frame(config, np.zeros((config.camera.height, config.camera.width, 3), np.uint8))
    port = ThreadDetectorPort(shared, Failing(), Health())
    ticket = port.submit(DetectJob(None, 0.5))
    assert ticket is not None
    with pytest.raises(RuntimeError):
        port.run_pending()
    assert port.wait(ticket, 0.5, threading.Event()), "no waiter may hang on a failed run"
    assert not port.take(new_result_buffer())
    assert port.submit(DetectJob(None, 0.5)) == ticket + 1


def test_wait_gives_up_when_stopping(config: Config, detector: SsdDetector) -> None:
    shared = _with_frame(config, np.zeros((config.camera.height, config.camera.width, 3), np.uint8))
    port = ThreadDetectorPort(shared, SsdWorker(detector), Health())
    ticket = port.submit(DetectJob(None, 0.5))
    assert ticket is not None
    stopping = threading.Event()
    stopping.set()
    assert not port.wait(ticket, 5.0, stopping)


def test_a_job_survives_its_record_form() -> None:
    rec = np.zeros(1, dtype=JOB)[0]
    for job in (DetectJob(None, 0.3), DetectJob((0, 80, 160, 240), 0.5, (1.5, 2.0, 30.0, 40.0), after_seq=7),
                DetectJob(None, 0.25, check_cat=(0.4, 96.0))):
        job.to_record(rec, 9)
        assert DetectJob.from_record(rec) == job and int(rec["ticket"]) == 9
