"""Every way the service can stop ends with the motors stopped, and STAYS stopped.

The robot runs for real: car thread, ultrasonic thread, camera/tracker/detector threads
and the main loop, on a SimCar in a room and grey frames from an array 'camera'. Every call
the car receives is recorded at the car boundary (RecordingCar): after the stop that an exit
path causes, no non-zero drive may follow (``assert_stays_stopped``)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import emulated_hat
import numpy as np
import pytest

from cat_follow.calib.store import Calibration
from cat_follow.car.recorder import RecordingCar
from cat_follow.car.sim import SimCar, SimParams, SimWorld
from cat_follow.config import Config
from cat_follow.perception.model import ModelFiles
from cat_follow.perception.ssd import SsdDetector
from cat_follow.perception.worker import SsdWorker
from cat_follow.pipeline import Pipeline
from cat_follow.robot.main_loop import Robot
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
        self.blocked_at = 0.0

    def read(self, writer: PoolWriter) -> ReadStatus:
        if self._index >= 30:
            self.blocked_at = time.monotonic()
            self.release.wait()
            return ReadStatus.END
        return super().read(writer)


def sim_car() -> SimCar:
    return SimCar(Calibration(), world=SimWorld(room=(-1.0, -2.0, 4.0, 2.0)), params=SimParams(dropout=0.0))


def assert_stays_stopped(rec: RecordingCar, since: float, within_s: float = 1.0) -> None:
    """A stop (stop/close, or a zero-speed drive) reached the car after ``since``, within
    ``within_s``, and no non-zero drive came after it."""
    calls = rec.snapshot()
    first = next((c for c in calls if c.t >= since and (c.name in ("stop", "close") or
                                                         (c.name == "drive" and c.args[0] == 0))), None)
    assert first is not None, "no stop reached the car"
    assert first.t - since < within_s, f"the stop came {first.t - since:.3f} s after the trigger"
    later = [c for c in calls if c.t > first.t and c.name == "drive" and c.args[0] != 0]
    assert not later, f"{len(later)} non-zero drives after the stop at {first.t:.3f}: {later[:3]}"
    assert rec.applied.speed == 0


class Harness:
    def __init__(self, config: Config, models: ModelFiles, detector: SsdDetector, source: Any = None,
                 notifier: Notifier | None = None, make_car: Callable[[], Any] = sim_car,
                 socket_path: Path | None = None) -> None:
        cfg = replace(config, camera=replace(config.camera, stall_timeout_s=0.5))
        self.cars: list[RecordingCar] = []
        cal = Calibration()

        def factory() -> RecordingCar:
            car = RecordingCar(make_car())
            self.cars.append(car)
            return car

        self.source = source or ArraySource([GREY] * 100_000, fps=30.0)
        self.robot = Robot(cfg, cal, Pipeline(cfg, self.source, models, worker=SsdWorker(detector)), factory,
                           notifier=notifier, socket_path=socket_path)
        self.result: dict[str, Any] = {}
        self.thread = threading.Thread(target=self._run)
        self.backend = "sim"

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
    def car(self) -> RecordingCar:
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


def fail_sim(rec: RecordingCar) -> None:
    assert isinstance(rec.inner, SimCar)
    rec.inner.fail_next = OSError(121, "Remote I/O error")


def picarx_car() -> Any:
    """SunFounder's real picarx on the emulated HAT (built on the car thread, as on the car)."""
    from cat_follow.car.picarx_car import PicarxCar

    hat = emulated_hat.load()
    hat.HAT.distance_cm = 150.0
    return PicarxCar(config_path=tempfile.mkdtemp(prefix="pxconf") + "/picar-x.conf")


def fail_picarx(rec: RecordingCar) -> None:
    """The next write to a motor direction pin raises (lgpio.error, which robot_hat passes on),
    and a new target makes the car steer, so picar-x writes them."""
    hat = emulated_hat.load()
    hat.HAT.fail_gpio = {23, 24}


CARS: dict[str, Callable[[], Any]] = {"sim": sim_car, "picarx": picarx_car}
FAULTS: dict[str, Callable[[RecordingCar], None]] = {"sim": fail_sim, "picarx": fail_picarx}


@pytest.fixture(scope="module", autouse=True)
def _hat_motors_at_zero_after_each_module() -> Iterator[None]:
    yield
    if emulated_hat._loaded:
        hat = emulated_hat.load().HAT
        assert hat.pulse[12] == hat.pulse[13] == 0, "the emulated HAT's motor PWM is not 0"


@pytest.fixture(params=list(CARS))
def harness(request: pytest.FixtureRequest, config: Config, models: ModelFiles,
            detector: SsdDetector) -> Iterator[Callable[..., Harness]]:
    made: list[Harness] = []

    def make(source: Any = None, notifier: Notifier | None = None) -> Harness:
        h = Harness(config, models, detector, source, notifier, make_car=CARS[request.param])
        h.backend = request.param
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
    t = time.monotonic()
    h.robot.queue.request_stop()
    assert wait_for(lambda: h.car.motors_stopped, 0.5)
    assert h.robot.sm.state is RobotState.IDLE and h.robot.sm.stop_reason == "stop command"
    time.sleep(0.3)  # the main loop keeps ticking: still stopped
    h.finish()
    assert_stays_stopped(h.car, t, 0.5)


def test_normal_exit_after_max_ticks(harness: Callable[..., Harness]) -> None:
    h = harness().start(max_ticks=60)
    h.drive_off()
    h.thread.join(10)
    assert h.result["status"] == 0
    assert h.car.motors_stopped and not h.robot.actor.is_alive()
    drives = [c for c in h.car.snapshot() if c.name == "drive" and c.args[0] != 0]
    assert drives  # it did drive
    assert_stays_stopped(h.car, drives[-1].t + 1e-9)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_exit(harness: Callable[..., Harness], signum: signal.Signals) -> None:
    """A real signal to this process, handled by the service's own handler (main thread)."""
    from cat_follow.service import run_until_signal

    h = harness()
    sent: dict[str, float] = {}

    def drive_then_signal() -> None:
        assert wait_for(lambda: bool(h.cars) and h.robot.actor.ready.is_set())
        h.drive_off()
        time.sleep(0.2)
        sent["t"] = time.monotonic()
        os.kill(os.getpid(), signum)

    helper = threading.Thread(target=drive_then_signal)
    old = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    helper.start()
    try:
        status = run_until_signal(h.robot)
    finally:
        signal.signal(signal.SIGTERM, old[0])
        signal.signal(signal.SIGINT, old[1])
        helper.join(10)
    # SIGTERM is the service's normal stop (0); Ctrl-C exits as the shell's 128 + 2
    assert status == (130 if signum == signal.SIGINT else 0) and h.robot.exit_reason == signum.name
    assert not h.robot.actor.is_alive()
    assert_stays_stopped(h.car, sent["t"])


def test_exception_in_the_main_loop(harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch) -> None:
    h = harness().start()
    h.drive_off()

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ZeroDivisionError("bug in the control law")

    t = time.monotonic()
    monkeypatch.setattr(h.robot.motion, "command", broken)
    h.thread.join(10)
    assert isinstance(h.result.get("error"), ZeroDivisionError)
    assert h.car.motors_stopped and not h.robot.actor.is_alive()
    assert_stays_stopped(h.car, t)


def test_exception_in_a_worker_thread(harness: Callable[..., Harness], detector: SsdDetector,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    h = harness().start()
    h.drive_off()

    def broken(*args: Any) -> Any:
        raise MemoryError("interpreter failed")

    t = time.monotonic()
    monkeypatch.setattr(detector, "detect_into", broken)
    h.thread.join(10)
    assert h.result["status"] == 3 and "detector thread died" in h.robot.exit_reason
    assert_stays_stopped(h.car, t, 2.0)  # the detector runs about every 0.5 s


def test_car_thread_failure(harness: Callable[..., Harness]) -> None:
    h = harness().start()
    h.drive_off()
    t = time.monotonic()
    FAULTS[h.backend](h.car)  # the next motor call raises, as a HAT that went away
    h.robot.queue.put_location(2.0, 1.5)  # a turn: new motor calls
    h.thread.join(10)
    assert h.result["status"] == 3 and "car thread died" in h.robot.exit_reason
    assert any(not c.ok for c in h.car.snapshot())
    assert_stays_stopped(h.car, t)


def test_main_loop_stall_trips_the_watchdog(harness: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch) -> None:
    h = harness().start()
    h.drive_off()
    seen: dict[str, bool] = {}
    original = h.robot.sonar.latest

    t: list[float] = []

    def stall_once(max_age: float) -> float | None:
        if not seen:
            t.append(time.monotonic())
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
    assert_stays_stopped(h.car, t[0], 0.5)


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
    assert_stays_stopped(h.car, cam.blocked_at, 0.5 + 0.5)  # stall_timeout_s + a margin


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


def test_a_latched_stop_holds_until_resumed_by_number() -> None:
    """The car thread alone: a stop empties the mailbox and holds; only a send that resumes
    THAT latch lifts it (a stale resume leaves a newer stop in force); capture times are kept."""
    from cat_follow.car.interface import Order
    from cat_follow.robot.car_thread import CarActor
    from cat_follow.threads.supervised import Health

    rec = RecordingCar(sim_car())
    actor = CarActor(lambda: rec, Health(), watchdog_s=5.0)
    actor.start()
    try:
        assert actor.ready.wait(5)
        actor.send(Order(40, 0, 0, 0))
        assert wait_for(lambda: rec.applied.speed == 40, 1)
        t = time.monotonic()
        actor.emergency_stop("test")
        first = actor.latched
        assert first is not None and first.reason == "test"
        actor.send(Order(50, 0, 0, 0))  # no resume: kept, not applied
        time.sleep(0.1)
        assert rec.applied.speed == 0
        actor.emergency_stop("second")  # a newer stop, while the first is still in force: same latch
        assert actor.latched == first
        actor.send(Order(30, 0, 0, 0), resume=first, capture_ns=time.monotonic_ns())
        assert wait_for(lambda: rec.applied.speed == 30, 1)
        assert actor.latched is None and actor.motor_latency_ms().size >= 1
        assert not actor.motor_latency_ms().flags.writeable
        actor.emergency_stop("third")
        actor.send(Order(20, 0, 0, 0), resume=first)  # a stale resume does not lift the newer latch
        time.sleep(0.1)
        assert rec.applied.speed == 0 and actor.latched is not None and actor.latched.reason == "third"
        calls = rec.snapshot()
        assert {c.args[0] for c in calls if c.name == "drive" and c.t > t and c.args[0] != 0} == {30}
    finally:
        actor.stop()
        actor.join(5)


@pytest.mark.parametrize("harness", ["picarx"], indirect=True)
def test_the_emulated_ultrasonic_reaches_the_range_guard(harness: Callable[..., Harness]) -> None:
    """An echo timed for 10 cm on the HAT's GPIO, read by robot_hat's Ultrasonic on the sensor
    thread, stops the car through the motion controller's obstacle guard."""
    hat = emulated_hat.load().HAT
    h = harness().start()
    h.drive_off()
    t = time.monotonic()
    hat.distance_cm = 10.0
    assert wait_for(lambda: h.car.motors_stopped, 1.0)
    assert wait_for(lambda: "obstacle at 10 cm" in h.robot.status_json(), 1.0)
    assert hat.pulse[12] == hat.pulse[13] == 0
    assert wait_for(lambda: h.car.stopped_at(t) is not None or any(
        c.name == "drive" and c.args[0] == 0 and c.t > t for c in h.car.snapshot()), 0.1)
    hat.distance_cm = None  # no echo at all (-1): unknown, never "clear": a slow cap
    from cat_follow.robot.motion import UNKNOWN_RANGE_SPEED
    assert wait_for(lambda: "range unknown" in h.robot.status_json(), 1.0)
    assert wait_for(lambda: 0 < h.car.applied.speed <= UNKNOWN_RANGE_SPEED, 1.0), h.car.applied
    h.finish()


@pytest.mark.parametrize("harness", ["sim"], indirect=True)
def test_the_stall_clock_starts_with_the_camera_not_at_construction(harness: Callable[..., Harness],
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    h = harness()
    time.sleep(0.8)  # the car's start-up (up to 15 s on the car) outlasts stall_timeout_s = 0.5
    h.start()
    h.drive_off()
    h.finish()
    assert not [r for r in caplog.records if "camera stalled" in r.getMessage()]


def test_robot_start_fails_at_once_with_the_factorys_error(config: Config, models: ModelFiles,
                                                           detector: SsdDetector) -> None:
    def broken() -> SimCar:
        raise OSError(121, "Remote I/O error")

    robot = Robot(config, Calibration(), Pipeline(config, ArraySource([GREY] * 10, fps=30.0), models,
                                                  worker=SsdWorker(detector)), broken)
    t = time.monotonic()
    status = robot.run()
    assert status == 3 and time.monotonic() - t < 2.0
    assert "car thread died" in robot.exit_reason and "Remote I/O error" in robot.exit_reason


def test_glass_to_motor_is_counted_once_per_order_not_at_every_turn_that_reapplies_it() -> None:
    """The car thread re-applies the newest order every period; a frame's latency ends at the
    first apply (counting each re-apply added +10, +20, +30 ms samples of the same frame)."""
    from cat_follow.car.interface import Order
    from cat_follow.robot.car_thread import CarActor
    from cat_follow.threads.supervised import Health

    rec = RecordingCar(sim_car())
    actor = CarActor(lambda: rec, Health(), watchdog_s=5.0, rate_hz=100.0)
    actor.start()
    try:
        assert actor.ready.wait(5)
        t = time.monotonic_ns()
        actor.send(Order(40, 0, 0, 0), capture_ns=t)
        assert wait_for(lambda: rec.applied.speed == 40, 1)
        time.sleep(0.1)  # about ten more turns of the same order
        assert actor.motor_latency_ms().size == 1
        actor.send(Order(40, 0, 0, 0))  # the same frame's next tick: no capture, no sample
        actor.send(Order(30, 0, 0, 0), capture_ns=time.monotonic_ns())
        assert wait_for(lambda: rec.applied.speed == 30, 1)
        time.sleep(0.05)
        assert actor.motor_latency_ms().size == 2
    finally:
        actor.stop()
        actor.join(5)
