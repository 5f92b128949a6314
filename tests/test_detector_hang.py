"""A detector that stops answering in thread mode: reported, replaced, and tracking goes on."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest
from test_safety import Harness, wait_for

from cat_follow.config import Config
from cat_follow.perception.model import ModelFiles
from cat_follow.perception.ssd import SsdDetector
from cat_follow.perception.worker import SsdWorker
from cat_follow.threads.detector import MAX_STUCK_THREADS, ThreadDetectorPort


def test_a_hung_detector_thread_is_reported_and_replaced_while_tracking_goes_on(
        config: Config, models: ModelFiles, detector: SsdDetector, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    h = Harness(config, models, detector)
    port = h.robot.pipeline.detector
    assert isinstance(port, ThreadDetectorPort)
    counters = h.robot.pool.counters[0]
    blocked, release = threading.Event(), threading.Event()
    real = detector.detect_into
    stuck_at: list[float] = []  # wall time (as the log records' stamps) when the run got stuck

    def stuck(*args: Any) -> Any:  # the interpreter never returns (a wedged delegate, a deadlock)
        stuck_at.append(time.time())
        blocked.set()
        release.wait()
        return real(*args)

    try:
        h.start()
        assert wait_for(lambda: port.runs > 0, 10)
        first = port.thread
        monkeypatch.setattr(detector, "detect_into", stuck)
        caplog.set_level(logging.ERROR, logger="cat_follow.threads.detector")
        assert blocked.wait(5)
        frames = int(counters["tracker_frames"])
        seen: list[str] = []
        assert wait_for(lambda: seen.append(h.robot.status_json()) or '"detector": "hung: restarting (1)"' in seen[-1],
                        config.detector.hang_timeout_s + 3.0), seen[-1]
        # when the supervisor declared the hang (its log record's stamp), not when this test's
        # polling saw it: a loaded machine delays the polling, and that is not the port's doing
        declared = [r.created for r in caplog.records if "detector thread hung" in r.getMessage()]
        assert len(declared) == 1
        waited = declared[0] - stuck_at[0]
        assert config.detector.hang_timeout_s - 0.05 <= waited < config.detector.hang_timeout_s + 1.0, waited
        assert port.hangs == 1 and port.thread is not first and first.is_alive()  # abandoned, still stuck
        runs = int(counters["detector_runs"])
        assert wait_for(lambda: int(counters["detector_runs"]) > runs, 10), "the new detector never answered"
        assert '"detector": "ok"' in h.robot.status_json()
        assert int(counters["tracker_frames"]) > frames  # the tracker went on meanwhile
        release.set()  # the old thread comes back late: its result is dropped, nothing fails
        first.join(5)
        assert not first.is_alive() and not h.robot.health.failed
        assert h.thread.is_alive() and "error" not in h.result
    finally:
        release.set()
        if h.thread.is_alive():
            h.finish()


def test_a_detector_that_hangs_every_time_ends_the_service_instead_of_piling_up_threads(
        config: Config, models: ModelFiles, detector: SsdDetector, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every new detector thread hangs too (the same model wedges on every run): after
    MAX_STUCK_THREADS abandoned threads, the next hang ends the run with exit 3 and the motors
    stopped, rather than abandoning threads (each with its interpreter) until memory runs out."""
    h = Harness(config, models, detector)
    port = h.robot.pipeline.detector
    assert isinstance(port, ThreadDetectorPort)
    release = threading.Event()
    real = detector.detect_into
    inside = [0]  # stuck threads not yet out of the detector (the session's detector: not to be shared)

    def stuck(*args: Any) -> Any:
        inside[0] += 1
        try:
            release.wait()
            return real(*args)
        finally:
            inside[0] -= 1

    try:
        h.start()
        assert wait_for(lambda: port.runs > 0, 10)
        monkeypatch.setattr(detector, "detect_into", stuck)
        port.factory = lambda: SsdWorker(detector)  # every new detector thread's model wedges too
        h.thread.join((MAX_STUCK_THREADS + 1) * (config.detector.hang_timeout_s + 3.0))
        assert not h.thread.is_alive(), f"still running after {port.hangs} hangs"
        assert h.result.get("status") == 3, h.result
        assert "detector threads stuck" in h.robot.exit_reason
        assert port.hangs == MAX_STUCK_THREADS
        assert h.car.applied.speed == 0 and h.car.stop_confirmed  # stopped on the way out
    finally:
        release.set()
        if h.thread.is_alive():
            h.finish()
        assert wait_for(lambda: inside[0] == 0, 10), "stuck detector threads still running"
