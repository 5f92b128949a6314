"""SunFounder's real picarx and robot_hat, driven by PicarxCar, against the emulated Robot HAT:
what reaches the HAT's registers and GPIO lines (tests/hat_emulator)."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import emulated_hat
import pytest

from cat_follow.car.picarx_car import PicarxCar

LEFT, RIGHT = 13, 12          # picar-x's motor PWM channels (P13 = motor 1, P12 = motor 2)
LEFT_DIR, RIGHT_DIR = 23, 24  # their direction pins (D4, D5)
PAN, TILT, STEER = 0, 1, 2    # servo channels P0, P1, P2
CAL = {"picarx_dir_servo": 4.0, "picarx_cam_pan_servo": -6.0, "picarx_cam_tilt_servo": 3.0}


@pytest.fixture(scope="module")
def hat() -> ModuleType:
    return emulated_hat.load()


@pytest.fixture
def car(hat: ModuleType, tmp_path: Path) -> Iterator[PicarxCar]:
    conf = tmp_path / "picar-x.conf"
    # picar-x's fileDB skips a file's last line: end with a blank one
    conf.write_text("# calibration\n" + "".join(f"{k} = {v}\n" for k, v in CAL.items()) + "\n")
    hat.HAT.distance_cm = 100.0
    c = PicarxCar(config_path=str(conf))
    yield c
    c.close()


def ticks_for_angle(angle: float) -> int:
    """What a 50 Hz servo channel must hold for ``angle``: 500..2500 us over -90..90 degrees,
    in ticks of a 4095 period (written here from the servo's datasheet range, not robot_hat)."""
    us = 500 + (max(-90.0, min(90.0, angle)) + 90) * 2000 / 180
    return int(us / 20000 * 4095)


def motor_ticks(speed: float) -> int:
    return int((int(abs(speed) / 2) + 50) / 100 * 4095) if speed else 0


def test_construction_resets_the_mcu_and_sets_up_the_timers(hat: ModuleType, car: PicarxCar) -> None:
    h = hat.HAT
    assert h.resets >= 1
    assert h.prescaler[0] + 1 == 352 and h.period[0] == 4095  # servos: 72 MHz / 352 / 4095 = 50 Hz
    assert h.prescaler[3] + 1 == 10 and h.period[3] == 4095   # motors (P12-P15): 1.76 kHz
    assert h.pulse[LEFT] == h.pulse[RIGHT] == 0
    assert h.pulse[STEER] == ticks_for_angle(CAL["picarx_dir_servo"])  # the calibrated straight-ahead


def test_stop_leaves_both_motor_channels_at_zero(hat: ModuleType, car: PicarxCar) -> None:
    car.drive(70, 0)
    assert hat.HAT.pulse[LEFT] == hat.HAT.pulse[RIGHT] == motor_ticks(70)
    car.stop()
    assert hat.HAT.pulse[LEFT] == hat.HAT.pulse[RIGHT] == 0 and car.motors_stopped
    car.drive(-50, 10)
    assert hat.HAT.pulse[LEFT] > 0
    car.drive(0, 10)
    assert hat.HAT.pulse[LEFT] == hat.HAT.pulse[RIGHT] == 0


@pytest.mark.parametrize("angle", [-30.0, -12.5, 0.0, 17.0, 30.0, 45.0])
def test_steering_pan_and_tilt_pulse_widths_carry_the_calibration(hat: ModuleType, car: PicarxCar,
                                                                   angle: float) -> None:
    car.drive(0, angle)
    steer = max(-30.0, min(30.0, angle))
    assert hat.HAT.pulse[STEER] == ticks_for_angle(steer + CAL["picarx_dir_servo"])
    pan, tilt = angle * 2, max(-35.0, min(65.0, angle))
    car.look(pan, tilt)
    # picar-x mounts the camera servos reversed: the channel gets -(angle - offset)
    assert hat.HAT.pulse[PAN] == ticks_for_angle(-(pan - CAL["picarx_cam_pan_servo"]))
    assert hat.HAT.pulse[TILT] == ticks_for_angle(-(tilt - CAL["picarx_cam_tilt_servo"]))


def test_forward_while_steering_reduces_the_inner_wheel(hat: ModuleType, car: PicarxCar) -> None:
    h = hat.HAT
    car.drive(60, 0)
    assert h.pulse[LEFT] == h.pulse[RIGHT] == motor_ticks(60)
    assert (h.levels[LEFT_DIR], h.levels[RIGHT_DIR]) == (0, 1)  # motor 2 is mounted mirrored
    car.drive(60, 25)  # only the steering changes: the differential must follow it
    assert h.pulse[LEFT] == motor_ticks(60 * 0.75) and h.pulse[RIGHT] == motor_ticks(60)
    car.drive(60, -25)
    assert h.pulse[LEFT] == motor_ticks(60) and h.pulse[RIGHT] == motor_ticks(60 * 0.75)
    car.drive(60, 0)
    assert h.pulse[LEFT] == h.pulse[RIGHT] == motor_ticks(60)
    car.drive(-40, 30)
    assert (h.levels[LEFT_DIR], h.levels[RIGHT_DIR]) == (1, 0)
    assert h.pulse[RIGHT] == motor_ticks(40 * 0.7) and h.pulse[LEFT] == motor_ticks(40)


def test_ultrasonic_echo_timing_and_timeouts(hat: ModuleType, car: PicarxCar) -> None:
    """robot_hat's Ultrasonic times the echo itself; the emulated echo runs on that clock, so
    the reading is the distance to a tenth of a millimetre's sound time (one 5 us step)."""
    for cm in (3.0, 35.0, 150.0, 300.0):
        hat.HAT.distance_cm = cm
        assert car.read_distance_cm() == pytest.approx(cm, abs=0.1)
    hat.HAT.distance_cm = None  # nothing in range: the echo never rises
    assert car.read_distance_cm() == -1.0


def test_ultrasonic_reading_does_not_depend_on_the_load(hat: ModuleType, car: PicarxCar) -> None:
    """Issue 18: under load the emulated echo read 31.85 cm for 35. Two threads fight for the
    GIL while robot_hat times the echo: the reading is the same."""
    stop = threading.Event()

    def spin() -> None:
        n = 0
        while not stop.is_set():
            n += 1

    busy = [threading.Thread(target=spin) for _ in range(2)]
    for t in busy:
        t.start()
    try:
        hat.HAT.distance_cm = 35.0
        readings = [car.read_distance_cm() for _ in range(5)]
    finally:
        stop.set()
        for t in busy:
            t.join()
    assert all(r == pytest.approx(35.0, abs=0.1) for r in readings), readings


def test_i2c_errors_are_retried_then_dropped_by_robot_hat(hat: ModuleType, car: PicarxCar) -> None:
    """A fact the safety design must live with: robot_hat retries an I2C OSError 5 times and
    then returns without raising, so a HAT that went away is NOT seen by the car thread."""
    h = hat.HAT
    car.drive(50, 0)
    h.fail_i2c = 3  # transient: the retries get through
    car.drive(0, 0)
    assert h.pulse[LEFT] == h.pulse[RIGHT] == 0
    car.drive(50, 0)
    h.fail_i2c = 1000  # gone: nothing raises, and the motors keep their last PWM...
    car.stop()
    h.fail_i2c = 0
    assert h.pulse[LEFT] == h.pulse[RIGHT] == motor_ticks(50)
    assert not car.stop_confirmed and math.isnan(car.applied.speed)  # ...but PicarxCar knows it is unknown
    assert not car.motors_stopped
    car.stop()
    assert h.pulse[LEFT] == h.pulse[RIGHT] == 0
    assert car.stop_confirmed and car.motors_stopped


def test_after_a_stop_that_did_not_take_the_next_order_is_written_even_at_the_old_speed(
        hat: ModuleType, car: PicarxCar) -> None:
    """The stop's write may have reached the MCU with only its acknowledgement lost: the motors may
    be at 0. The next order must be written even if it asks for the speed before the stop."""
    h = hat.HAT
    car.drive(50, 0)
    h.fail_writes = True
    try:
        car.stop()
    finally:
        h.fail_writes = False
    assert not car.stop_confirmed
    h.pulse[LEFT] = h.pulse[RIGHT] = 0  # as if the stop had reached the motors after all
    car.drive(50, 0)
    assert h.pulse[LEFT] == h.pulse[RIGHT] == motor_ticks(50) and car.applied.speed == 50


def test_a_stop_by_drive_zero_is_confirmed_too(hat: ModuleType, car: PicarxCar) -> None:
    """The main loop stops with a zero-speed order (drive), not only with stop()."""
    h = hat.HAT
    car.drive(40, 10)
    h.fail_writes = True  # the MCU takes no writes: robot_hat retries each 5 times, then gives up
    try:
        car.drive(0, 10)
        assert h.failed_writes >= 5 and h.pulse[LEFT] > 0
        assert not car.stop_confirmed and not car.motors_stopped
    finally:
        h.fail_writes = False
    car.drive(0, 10)  # still not at 0 as far as the car knows: the stop is sent again
    assert h.pulse[LEFT] == h.pulse[RIGHT] == 0 and car.stop_confirmed and car.motors_stopped
