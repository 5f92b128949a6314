"""Dead reckoning against the simulated car's true pose; the simulated and real car's clamps."""

from __future__ import annotations

import math
import sys
import threading
import types
from typing import Any, ClassVar

import numpy as np
import pytest

from cat_follow.calib.store import Calibration
from cat_follow.car.picarx_model import SONAR_FORWARD_M
from cat_follow.car.sim import SimCar, SimParams, SimWorld
from cat_follow.robot.odometry import Odometry

CAL = Calibration()


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def drive(program: list[tuple[float, float, float]], params: SimParams | None = None,
          start: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> tuple[Odometry, SimCar]:
    """Run (seconds, speed, steer) segments at 20 Hz on the sim car and odometry alike."""
    clock = Clock()
    car = SimCar(CAL, start=start, params=params, clock=clock, sleep=lambda s: None, world=SimWorld(room=None))
    odom = Odometry(np.zeros(3), CAL)
    dt = 0.05
    for seconds, speed, steer in program:
        for _ in range(round(seconds / dt)):
            car.drive(speed, steer)
            clock.t += dt
            odom.update(speed, steer, dt)
    car.drive(0, 0)
    return odom, car


def pose_error(odom: Odometry, car: SimCar) -> float:
    x, y, _ = odom.as_tuple()
    tx, ty, _ = car.pose_in_start_frame()
    return math.hypot(x - tx, y - ty)


IDEAL = SimParams(speed_scale=1.0, motor_tau_s=1e-4, servo_rate_dps=1e6)
PROGRAMS = {
    "straight": [(5.0, 40, 0)],
    "turning": [(6.0, 30, 20)],
    "mixed": [(2.0, 40, 0), (3.0, 30, -25), (2.0, 50, 10), (1.0, -20, 0), (2.0, 30, 30)],
}


@pytest.mark.parametrize("name", PROGRAMS)
def test_odometry_matches_an_ideal_car(name: str) -> None:
    """With no lag and a speed table through the calibration's rows, dead reckoning follows the
    sim car's own model of picar-x (only its integer duty steps differ from the calibration)."""
    odom, car = drive(PROGRAMS[name], IDEAL, start=(1.0, 2.0, 30.0))
    assert odom.distance_m > 1.0
    assert pose_error(odom, car) < 0.02 * odom.distance_m + 0.005
    assert abs(math.remainder(odom.as_tuple()[2] - car.pose_in_start_frame()[2], math.tau)) < 0.02


@pytest.mark.parametrize("name", PROGRAMS)
def test_odometry_drifts_within_bounds_on_a_realistic_car(name: str) -> None:
    """The sim car is 7% slower than calibrated, lags and slews: the error grows with the
    distance, as on the real car, but stays bounded."""
    odom, car = drive(PROGRAMS[name])
    err = pose_error(odom, car)
    assert 0.01 * odom.distance_m < err < 0.15 * odom.distance_m


def test_sim_car_keeps_picarx_wheel_differential_from_the_last_forward() -> None:
    """picar-x sets the reduced wheel's duty when forward() is called; drive() re-issues it
    when only the steering changes, so the sim car's speed follows the steering."""
    car = SimCar(CAL, clock=Clock(), sleep=lambda s: None)
    car.drive(40, 0)
    straight = car.ground_speed_mps()
    assert car.px.duty[0] == car.px.duty[1] > 0
    car.drive(40, 30)  # steering only
    assert car.px.duty[0] < car.px.duty[1]  # picar-x reduces motor 1 for a positive angle
    assert car.ground_speed_mps() < straight
    car.drive(40, -30)
    assert car.px.duty[1] < car.px.duty[0]
    car.drive(40, 0)
    assert car.ground_speed_mps() == straight
    v = car.params.speed_scale * Odometry(np.zeros(3), CAL).cal.speed_mps(40)
    assert straight == pytest.approx(v, rel=0.02)  # the sim's own table agrees with the calibration's rows


def test_straight_turning_signs() -> None:
    _, car = drive([(3.0, 40, 0)], IDEAL)
    x, y, th = car.pose_in_start_frame()
    assert x > 0.5 and abs(y) < 1e-6 and abs(th) < 1e-6
    _, car = drive([(2.0, 30, 25)], IDEAL)  # steering right = clockwise
    assert car.pose_in_start_frame()[2] < -0.3 and car.pose_in_start_frame()[1] < 0
    _, car = drive([(2.0, -30, 0)], IDEAL)
    assert car.pose_in_start_frame()[0] < -0.2


def test_sim_car_clamps_slews_and_lags() -> None:
    clock = Clock()
    car = SimCar(CAL, clock=clock, sleep=lambda s: None)
    car.drive(150, 45)
    car.look(-120, 80)
    assert (car.applied.speed, car.applied.steer, car.applied.pan, car.applied.tilt) == (100, 30, -90, 65)
    car.look(0, -50)
    assert car.applied.tilt == -35
    car.look(60, 0)
    clock.t += 0.05
    car.advance()
    assert 0 < car.pan <= 400 * 0.05 + 1e-9  # slewing, not there yet
    assert 0 < car.v < 0.93 * CAL.speed_mps(100)  # accelerating, not at speed yet
    car.stop()
    assert car.motors_stopped


def test_sim_ultrasonic_sees_walls_and_obstacles_and_fails_like_the_sensor() -> None:
    clock = Clock()
    world = SimWorld(room=(-1.0, -2.0, 1.5, 2.0))
    car = SimCar(CAL, clock=clock, sleep=lambda s: None, world=world, params=SimParams(dropout=0.0))
    readings = [car.read_distance_cm() for _ in range(20)]
    bumper_cm = SONAR_FORWARD_M * 100  # the sensor is on the front bumper, ahead of the pose point
    assert all(abs(r - (150 - bumper_cm)) < 3 for r in readings)
    world.obstacles.append((0.6, 0.0, 0.1))
    assert abs(car.read_distance_cm() - (50 - bumper_cm)) < 3
    far = SimCar(CAL, clock=clock, sleep=lambda s: None, world=SimWorld(room=(-10, -10, 10, 10)))
    assert far.read_distance_cm() == -1.0  # beyond 4 m: no echo, which means unknown
    flaky = SimCar(CAL, clock=clock, sleep=lambda s: None, params=SimParams(dropout=0.5), seed=3)
    assert -1.0 in [flaky.read_distance_cm() for _ in range(20)]


def test_sim_car_fault_injection() -> None:
    car = SimCar(CAL, sleep=lambda s: None)
    car.fail_next = OSError(121, "Remote I/O error")
    with pytest.raises(OSError, match="Remote I/O"):
        car.drive(30, 0)
    car.drive(30, 0)  # one failure only
    car.stop()  # and stop still works
    assert car.motors_stopped


# ---- the real car's adapter, against a stand-in for SunFounder's picarx module ----------
class FakePicarx:
    """Records calls like the Picarx API (same method names and clamps)."""

    instances: ClassVar[list[FakePicarx]] = []

    def __init__(self, config: str | None = None) -> None:
        import os

        self.owner = os.getlogin()  # what Picarx() does for its config file
        self.calls: list[tuple[str, Any]] = []
        self.ultrasonic = types.SimpleNamespace(read=lambda times=10: 42.0)
        # robot_hat's motor PWMs (P13, P12): their retried I2C write returns None when it took
        self.motor_speed_pins = [types.SimpleNamespace(REG_CHN=0x20, channel=ch, _write_word_data=self._pwm)
                                 for ch in (13, 12)]
        FakePicarx.instances.append(self)

    def _pwm(self, reg: int, value: int) -> None:
        self.calls.append(("pwm", (reg, value)))

    def __getattr__(self, name: str) -> Any:
        return lambda *a: self.calls.append((name, a))


@pytest.fixture
def fake_picarx(monkeypatch: pytest.MonkeyPatch) -> type[FakePicarx]:
    monkeypatch.setitem(sys.modules, "picarx", types.SimpleNamespace(Picarx=FakePicarx))
    FakePicarx.instances.clear()
    return FakePicarx


def test_picarx_car_survives_no_login_terminal(fake_picarx: type[FakePicarx], monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from cat_follow.car.picarx_car import PicarxCar

    def no_tty() -> str:
        raise OSError(6, "No such device or address")

    monkeypatch.setattr(os, "getlogin", no_tty)
    car = PicarxCar()
    assert fake_picarx.instances[0].owner  # the user's name, not an exception
    with pytest.raises(OSError):
        os.getlogin()  # restored afterwards
    car.drive(150, -45)
    car.drive(-20, 0)
    car.look(100, -90)
    car.stop()
    calls = fake_picarx.instances[0].calls
    assert ("set_dir_servo_angle", (-30.0,)) in calls and ("forward", (100.0,)) in calls
    assert ("backward", (20.0,)) in calls
    assert ("set_cam_pan_angle", (90.0,)) in calls and ("set_cam_tilt_angle", (-35.0,)) in calls
    assert calls[-3:] == [("stop", ()), ("pwm", (0x2D, 0)), ("pwm", (0x2C, 0))]  # stopped, and confirmed
    assert car.stop_confirmed and car.motors_stopped
    assert car.read_distance_cm() == 42.0


def test_picarx_car_refuses_calls_from_another_thread(fake_picarx: type[FakePicarx]) -> None:
    from cat_follow.car.picarx_car import PicarxCar

    car = PicarxCar()
    errors: list[BaseException] = []

    def other() -> None:
        try:
            car.drive(10, 0)
        except RuntimeError as exc:
            errors.append(exc)
        car.read_distance_cm()  # the ultrasonic (GPIO) is allowed off the car thread

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert errors and "car thread" in str(errors[0])
