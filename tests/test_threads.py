"""A worker that dies is reported to the main thread, and the pipeline still shuts down."""

from __future__ import annotations

import time

import numpy as np
import pytest

from cat_follow.config import Config
from cat_follow.perception.model import ModelFiles
from cat_follow.perception.ssd import SsdDetector
from cat_follow.perception.worker import SsdWorker
from cat_follow.pipeline import Pipeline
from cat_follow.sources import ArraySource, PoolWriter, ReadStatus
from cat_follow.threads.supervised import ThreadFailed


class FailingCamera(ArraySource):
    """A camera whose driver raises on frame 5 (as a USB/CSI disconnect does)."""

    def read(self, writer: PoolWriter) -> ReadStatus:
        if self._index == 5:
            raise OSError("camera disconnected")
        return super().read(writer)


def test_camera_failure_reaches_the_main_thread(config: Config, models: ModelFiles,
                                               detector: SsdDetector) -> None:
    frames = [np.full((480, 640, 3), i, np.uint8) for i in range(20)]
    pipe = Pipeline(config, FailingCamera(frames, fps=100.0), models, worker=SsdWorker(detector))
    with pipe:
        assert pipe.health.fault.wait(5.0), "the fault must be flagged"
        with pytest.raises(ThreadFailed, match="camera thread died") as info:
            pipe.health.raise_if_failed()
        assert isinstance(info.value.__cause__, OSError)
    assert not any(t.is_alive() for t in pipe.threads), "stop() must end every worker"


def test_pipeline_stops_cleanly_mid_stream(config: Config, models: ModelFiles, detector: SsdDetector) -> None:
    frames = [np.full((480, 640, 3), 128, np.uint8)] * 500
    pipe = Pipeline(config, ArraySource(frames, fps=30.0), models, worker=SsdWorker(detector))
    pipe.start()
    time.sleep(0.3)
    t0 = time.monotonic()
    pipe.stop()
    assert time.monotonic() - t0 < 2.0
    assert not any(t.is_alive() for t in pipe.threads)
    assert 0 < pipe.camera.frames_read < 500
    pipe.health.raise_if_failed()  # a clean stop is not a fault
