"""The car thread's liveness and its stops: no spurious start-up trip, stops confirmed or
flagged, and a car thread stuck in a car call ends the service (exit status 3)."""

from __future__ import annotations

import contextlib
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import emulated_hat
import pytest
from test_safety import CARS, GREY, Harness, picarx_car, wait_for

from cat_follow.calib.store import Calibration
from cat_follow.car.sim import SimCar
from cat_follow.config import Config
from cat_follow.perception.model import ModelFiles
from cat_follow.perception.ssd import SsdDetector
from cat_follow.sources import ArraySource


class SlowCamera(ArraySource):
    """A camera that takes as long to open as the Pi camera does (Picamera2 configures and
    starts its pipeline in about 0.5-1 s)."""

    def __init__(self, open_s: float) -> None:
        super().__init__([GREY] * 100_000, fps=30.0, name="slow-open")
        self.open_s = open_s

    def open(self) -> None:
        time.sleep(self.open_s)
        super().open()


@pytest.fixture
def made() -> Iterator[list[Harness]]:
    hs: list[Harness] = []
    yield hs
    for h in hs:
        if h.thread.is_alive():
            h.finish()


@pytest.mark.parametrize("car", list(CARS))
def test_a_normal_start_records_no_watchdog_trip(config: Config, models: ModelFiles, detector: SsdDetector,
                                                 made: list[Harness], car: str) -> None:
    """The motor watchdog is armed by the main loop's first order, not at construction: the
    service's start-up (the car's own, the pipeline's) used to outlast watchdog_s and trip it."""
    h = Harness(config, models, detector, SlowCamera(2 * config.robot.watchdog_s), make_car=CARS[car])
    made.append(h)
    h.start()
    assert wait_for(lambda: h.robot.ticks >= 10)
    h.drive_off()
    assert h.robot.actor.watchdog_trips == 0 and "watchdog" not in h.robot.sm.stop_reason
    h.finish()


def test_a_stop_the_hat_did_not_take_is_flagged_and_sent_again(config: Config, models: ModelFiles,
                                                                detector: SsdDetector, made: list[Harness],
                                                                caplog: pytest.LogCaptureFixture) -> None:
    """The real picarx on the emulated HAT: a `stop` while the MCU takes no I2C writes leaves
    the motors running; status says so and a critical line is logged; the car thread sends the
    stop again every stop_resend_s, and the first that gets through stops the motors."""
    hat = emulated_hat.load().HAT
    h = Harness(config, models, detector, make_car=picarx_car)
    made.append(h)
    h.start()
    h.drive_off()
    assert wait_for(lambda: '"stop": "confirmed"' in h.robot.status_json(), 1.0)
    hat.fail_writes = True
    try:
        h.robot.submit("stop")
        assert wait_for(lambda: '"stop": "unconfirmed"' in h.robot.status_json(), 1.0), h.robot.status_json()
        assert hat.pulse[12] > 0 and hat.pulse[13] > 0 and not h.car.motors_stopped
        assert any(r.levelname == "CRITICAL" and "NOT confirmed" in r.getMessage() for r in caplog.records)
        tries = h.robot.actor.unconfirmed_stops
        time.sleep(1.5 * config.robot.stop_resend_s)
        assert h.robot.actor.unconfirmed_stops > tries  # sent again (and failed again)
    finally:
        hat.fail_writes = False
    t = time.monotonic()
    assert wait_for(lambda: hat.pulse[12] == hat.pulse[13] == 0, 2 * config.robot.stop_resend_s)
    assert time.monotonic() - t <= config.robot.stop_resend_s + 0.1
    assert wait_for(lambda: '"stop": "confirmed"' in h.robot.status_json(), 1.0)
    assert h.car.motors_stopped
    h.finish()


STUCK_SCRIPT = """
import logging, sys, threading, time
logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
sys.path.insert(0, {tests!r})
from pathlib import Path
from conftest import _assets_dir
from test_car_liveness import StuckCar
from test_safety import Harness
from cat_follow.config import Config
from cat_follow.perception.model import ModelFiles
from cat_follow.perception.ssd import SsdDetector
from cat_follow.robot.sdnotify import Notifier
from cat_follow.service import run_until_signal

a = _assets_dir()
d, v = a / "models" / "ssd_mobilenet_v1_coco_quant", a / "models" / "mobilenet_v2_imagenet_quant"
m = Path({manifests!r})
models = ModelFiles(d / "detect.tflite", d / "labelmap.txt", m / "ssd_mobilenet_v1_coco_quant.toml",
                    v / "mobilenet_v2_1.0_224_quant.tflite", v / "imagenet_labels.txt",
                    m / "mobilenet_v2_imagenet_quant.toml")
cars = []
h = Harness(Config(), models, SsdDetector(models.model, models.labels), notifier=Notifier({notify!r}),
            make_car=lambda: cars.append(StuckCar()) or cars[-1])
def hang_later():
    while not (cars and h.robot.watchdog_pings >= 3):
        time.sleep(0.02)
    h.robot.queue.put_location(3.0, 0.0)
    cars[0].hang.set()
threading.Thread(target=hang_later, daemon=True).start()
sys.exit(run_until_signal(h.robot))
"""


class StuckCar(SimCar):
    """A car whose motor call never returns once ``hang`` is set, as an I2C transfer that hangs
    in the kernel; it prints when it got stuck (CLOCK_MONOTONIC is the same in every process)."""

    def __init__(self) -> None:
        super().__init__(Calibration())
        self.hang = threading.Event()
        self.release = threading.Event()

    def drive(self, speed: float, steer_deg: float) -> None:
        if self.hang.is_set():
            print(f"STUCK {time.monotonic():.3f}", file=sys.stderr, flush=True)
            self.release.wait()
        super().drive(speed, steer_deg)


def test_a_car_thread_stuck_in_apply_ends_the_service_with_status_3(tmp_path: Path, config: Config) -> None:
    """A real service process whose car hangs in apply: the systemd pings stop within
    car_hang_s, a critical line is logged, and the process exits with status 3 although the
    stuck (non-daemon) car thread can never end."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify = tmp_path / "notify"
    listener.bind(str(notify))
    listener.settimeout(0.1)
    script = tmp_path / "stuck.py"
    tests = Path(__file__).resolve().parent
    script.write_text(STUCK_SCRIPT.format(tests=str(tests), notify=str(notify),
                                          manifests=str(tests.parent / "cat_follow" / "perception" / "manifests")))
    log = tmp_path / "stderr.txt"
    with log.open("w") as err_file:
        proc = subprocess.Popen([sys.executable, str(script)], stderr=err_file)
    pings: list[float] = []
    try:
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                if listener.recv(256).startswith(b"WATCHDOG=1"):
                    pings.append(time.monotonic())
        assert proc.poll() is not None, "the service did not exit"
        exited = time.monotonic()
        err = log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        listener.close()
    stuck = float(re.search(r"STUCK (\d+\.\d+)", err).group(1))  # type: ignore[union-attr]
    limit = config.robot.car_hang_s
    assert proc.returncode == 3, err[-2000:]
    assert "car thread hung: apply stalled" in err and "CRITICAL car thread stuck in apply" in err
    assert pings and pings[0] < stuck, "no pings before the hang"
    assert max(pings) < stuck + limit + 0.2, f"pinged {max(pings) - stuck:.2f} s after the hang"
    assert exited - stuck < limit + 3.0 + 3.0 + 2.0  # detection + the car thread's join + the pipeline's + margin


def test_a_latched_stop_is_sent_again_at_the_resend_rate_until_it_takes(caplog: pytest.LogCaptureFixture) -> None:
    """The car thread alone, with picar-x on the emulated HAT: an emergency stop while the MCU
    takes no writes is flagged, sent again every stop_resend_s (not every turn), and the first
    one that gets through stops the motors and is reported confirmed."""
    from cat_follow.car.interface import Order
    from cat_follow.robot.car_thread import CarActor
    from cat_follow.threads.supervised import Health

    hat = emulated_hat.load().HAT
    actor = CarActor(picarx_car, Health(), watchdog_s=5.0, stop_resend_s=0.2)
    actor.start()
    try:
        assert actor.ready.wait(10) and actor.stop_confirmed
        actor.send(Order(40, 0, 0, 0))
        assert wait_for(lambda: hat.pulse[12] > 0, 1)
        hat.fail_writes = True
        try:
            actor.emergency_stop("test")
            assert wait_for(lambda: not actor.stop_confirmed, 1)
            assert any(r.levelname == "CRITICAL" for r in caplog.records)
            first = actor.unconfirmed_stops
            time.sleep(1.0)
            resent = actor.unconfirmed_stops - first
            assert 2 <= resent <= 7, resent  # 1.0 s / 0.2 s = 5, give or take the load; every turn would be ~100
            assert hat.pulse[12] > 0 and hat.pulse[13] > 0  # nothing got through: still running
        finally:
            hat.fail_writes = False
        assert wait_for(lambda: hat.pulse[12] == hat.pulse[13] == 0, 0.5)
        assert wait_for(lambda: actor.stop_confirmed, 0.5)
    finally:
        hat.fail_writes = False
        actor.stop()
        actor.join(5)
