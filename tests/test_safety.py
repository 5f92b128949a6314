"""Every way the service can stop ends with the simulated car's motors stopped.

The robot runs for real: car thread, ultrasonic thread, camera/tracker/detector threads
and the main loop, on a SimCar in a room and grey frames from an array 'camera'."""

from __future__ import annotations

import contextlib
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cat_follow.calibration import Calibration
from cat_follow.car.sim import SimCar, SimParams, SimWorld
from cat_follow.config import Config
from cat_follow.perception.model import ModelFiles
from cat_follow.perception.ssd import SsdDetector
from cat_follow.perception.worker import SsdWorker
from cat_follow.pipeline import Pipeline
from cat_follow.robot.runner import Robot
from cat_follow.robot.sdnotify import Notifier
from cat_follow.robot.state_machine import RobotState
from cat_follow.sources import ArraySource, PoolWriter, ReadStatus

GREY = np.full((480, 640, 3), 110, np.uint8)


def wait_for(pred: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.01)
    return pred()


class HangingCamera(ArraySource):
    """Delivers 30 frames, then blocks inside capture, as a wedged camera driver does."""

    def __init__(self) -> None:
        super().__init__([GREY] * 30, fps=30.0, name="hanging")
        self.release = threading.Event()

    def read(self, writer: PoolWriter) -> ReadStatus:
        if self._index >= 30:
            self.release.wait()
            return ReadStatus.END
        return super().read(writer)


class Harness:
    def __init__(self, config: Config, models: ModelFiles, detector: SsdDetector, source: Any = None,
                 notifier: Notifier | None = None) -> None:
        cfg = replace(config, camera=replace(config.camera, stall_timeout_s=0.5))
        self.cars: list[SimCar] = []
        cal = Calibration()

        def factory() -> SimCar:
            car = SimCar(cal, world=SimWorld(room=(-1.0, -2.0, 4.0, 2.0)), params=SimParams(dropout=0.0))
            self.cars.append(car)
            return car

        self.source = source or ArraySource([GREY] * 100_000, fps=30.0)
        self.robot = Robot(cfg, cal, Pipeline(cfg, self.source, models, worker=SsdWorker(detector)), factory,
                           notifier=notifier)
        self.result: dict[str, Any] = {}
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        try:
            self.result["status"] = self.robot.run(**self.result.pop("kwargs", {}))
        except BaseException as exc:
            self.result["error"] = exc

    def start(self, **kwargs: Any) -> Harness:
        self.result["kwargs"] = kwargs
        self.thread.start()
        assert wait_for(lambda: bool(self.cars) and self.robot.actor.ready.is_set())
        return self

    @property
    def car(self) -> SimCar:
        return self.cars[0]

    def drive_off(self) -> None:
        """Command a location ahead and wait until the motors turn."""
        assert self.robot.queue.put_location(3.0, 0.0)
        assert wait_for(lambda: self.car.applied.speed > 0), "the car never started driving"

    def finish(self) -> None:
        self.robot.request_exit("test over")
        self.thread.join(10)
        assert not self.thread.is_alive()
        assert not self.robot.actor.is_alive()


@pytest.fixture
def harness(config: Config, models: ModelFiles, detector: SsdDetector) -> Iterator[Callable[..., Harness]]:
    made: list[Harness] = []

    def make(source: Any = None, notifier: Notifier | None = None) -> Harness:
        h = Harness(config, models, detector, source, notifier)
        made.append(h)
        return h

    yield make
    for h in made:
        if h.thread.is_alive():
            h.finish()


def test_stop_command(harness: Callable[..., Harness]) -> None:
    h = harness().start()
    h.drive_off()
    assert h.robot.sm.state is RobotState.NAVIGATE
    h.robot.queue.request_stop()
    assert wait_for(lambda: h.car.motors_stopped, 0.5)
    assert h.robot.sm.state is RobotState.IDLE and h.robot.sm.stop_reason == "stop command"
    h.finish()
    assert h.car.motors_stopped


def test_normal_exit_after_max_ticks(harness: Callable[..., Harness]) -> None:
    h = harness().start(max_ticks=60)
    h.drive_off()
    h.thread.join(10)
    assert h.result["status"] == 0
    assert h.car.motors_stopped and not h.robot.actor.is_alive()


def test_signal_exit(harness: Callable[..., Harness]) -> None:
    h = harness().start()
    h.drive_off()
    h.robot.request_exit("SIGTERM")  # what the SIGTERM/SIGINT handler does
    h.thread.join(10)
    assert h.result["status"] == 0 and h.car.motors_stopped


def test_exception_in_the_main_loop(harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch) -> None:
    h = harness().start()
    h.drive_off()

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ZeroDivisionError("bug in the control law")

    monkeypatch.setattr(h.robot.motion, "command", broken)
    h.thread.join(10)
    assert isinstance(h.result.get("error"), ZeroDivisionError)
    assert h.car.motors_stopped and not h.robot.actor.is_alive()


def test_exception_in_a_worker_thread(harness: Callable[..., Harness], detector: SsdDetector,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    h = harness().start()
    h.drive_off()

    def broken(*args: Any) -> Any:
        raise MemoryError("interpreter failed")

    monkeypatch.setattr(detector, "detect_into", broken)
    h.thread.join(10)
    assert h.result["status"] == 3 and "detector thread died" in h.robot.exit_reason
    assert h.car.motors_stopped


def test_car_thread_failure(harness: Callable[..., Harness]) -> None:
    h = harness().start()
    h.drive_off()
    h.car.fail_next = OSError(121, "Remote I/O error")
    h.thread.join(10)
    assert h.result["status"] == 3 and "car thread died" in h.robot.exit_reason
    assert h.car.motors_stopped


def test_main_loop_stall_trips_the_watchdog(harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch) -> None:
    h = harness().start()
    h.drive_off()
    seen: dict[str, bool] = {}
    original = h.robot.sonar.latest

    def stall_once(max_age: float) -> float | None:
        if not seen:
            seen["running_before"] = not h.car.motors_stopped
            time.sleep(1.0)  # the main loop hangs (a GC pause, a blocking call...)
            seen["stopped_during"] = h.car.motors_stopped
        return original(max_age)

    monkeypatch.setattr(h.robot.sonar, "latest", stall_once)
    assert wait_for(lambda: "stopped_during" in seen, 3)
    assert seen == {"running_before": True, "stopped_during": True}
    assert wait_for(lambda: h.robot.sm.state is RobotState.IDLE, 1)
    assert "watchdog" in h.robot.sm.stop_reason and h.robot.actor.watchdog_trips == 1
    time.sleep(0.3)
    assert h.car.motors_stopped  # it does not drive off again on its own
    h.finish()


def test_camera_stall(harness: Callable[..., Harness]) -> None:
    cam = HangingCamera()
    h = harness(cam).start()
    h.drive_off()
    assert wait_for(lambda: h.robot.camera_stalled, 3)
    assert wait_for(lambda: h.car.motors_stopped, 0.5)
    assert h.robot.sm.state is RobotState.IDLE and "camera stalled" in h.robot.sm.stop_reason
    status = h.robot.status_json()
    assert '"camera_stalled": true' in status and "camera stalled" in status
    h.robot.queue.put_location(2.0, 0.0)  # commands while blind do not move it
    time.sleep(0.3)
    assert h.car.motors_stopped
    cam.release.set()
    h.finish()


def test_systemd_ready_and_watchdog_pings_stop_when_the_camera_stalls(harness: Callable[..., Harness]) -> None:
    d = Path(tempfile.mkdtemp(prefix="sdn", dir="/tmp"))
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(d / "notify"))
    listener.settimeout(0.2)
    cam = HangingCamera()
    h = harness(cam, Notifier(str(d / "notify"))).start()
    got: list[str] = []

    def drain(seconds: float) -> list[str]:
        out, deadline = [], time.monotonic() + seconds
        while time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                out.append(listener.recv(256).decode())
        return out

    try:
        got = drain(1.0)
        assert got and got[0].startswith("READY=1"), got
        assert "WATCHDOG=1" in got[1:]
        assert wait_for(lambda: h.robot.camera_stalled, 3)
        drain(0.2)  # anything sent before the stall was seen
        assert "WATCHDOG=1" not in drain(0.6)  # no pings while blind: systemd restarts it
    finally:
        cam.release.set()
        h.finish()
        assert "STOPPING=1" in drain(0.3) + got
        listener.close()
        (d / "notify").unlink()
        d.rmdir()
