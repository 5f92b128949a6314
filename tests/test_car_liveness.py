"""The car thread's liveness and its stops: no spurious start-up trip, stops confirmed or
flagged, and a car thread stuck in a car call ends the service (exit status 3)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import emulated_hat
from test_safety import CARS, GREY, Harness, picarx_car, wait_for

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
