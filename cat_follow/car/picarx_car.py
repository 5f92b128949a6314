"""The real PiCar-X through SunFounder's ``picarx`` (imported lazily: Pi only)."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import pwd
import threading
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from cat_follow.car.interface import (
    PAN_MAX,
    PAN_MIN,
    SPEED_LIMIT,
    STEER_MAX,
    STEER_MIN,
    TILT_MAX,
    TILT_MIN,
    Car,
    Order,
    clamp,
)
from cat_follow.errors import CatFollowError

log = logging.getLogger(__name__)


@contextlib.contextmanager
def _getlogin_fallback() -> Iterator[None]:
    """``Picarx()`` calls ``os.getlogin()`` (for the owner of its config file), which fails
    with no controlling terminal, as under systemd. For the duration of the constructor,
    answer with the effective user's name instead."""
    try:
        os.getlogin()
        yield
        return
    except OSError:
        pass
    original = os.getlogin
    user = pwd.getpwuid(os.geteuid()).pw_name
    os.getlogin = lambda: user
    try:
        yield
    finally:
        os.getlogin = original


# The recorded speed after a stop whose write failed: the motors may be at the old speed (the
# write was lost) or at 0 (only its acknowledgement was), so nothing is assumed. NaN equals no
# speed, so the next order is always written, and is never 0, so the car thread keeps checking
# (a kept old speed made a later order for that same speed look already applied: never sent).
UNKNOWN_SPEED = math.nan


def drive_calls(px: Any, applied: Order, speed: float, steer_deg: float) -> Order:
    """Make the picar-x calls that take the motors from ``applied`` to (speed, steer); returns
    the new applied Order. Shared with the simulator, which runs it against its model of picar-x.

    picar-x's ``forward``/``backward`` set the reduced wheel's power from the steering angle
    remembered at THAT call, so the motion command is re-issued whenever the steering changes
    while moving (else the wheel differential goes stale), and always after the servo call."""
    speed = clamp(speed, -SPEED_LIMIT, SPEED_LIMIT)
    steer = clamp(steer_deg, STEER_MIN, STEER_MAX)
    steer_changed = steer != applied.steer
    if steer_changed:
        px.set_dir_servo_angle(steer)
    if speed != applied.speed or (steer_changed and speed != 0):
        if speed == 0:
            px.stop()
        elif speed > 0:
            px.forward(speed)
        else:
            px.backward(-speed)
    return replace(applied, speed=speed, steer=steer)


def look_calls(px: Any, applied: Order, pan_deg: float, tilt_deg: float) -> Order:
    """The picar-x calls that point the camera at (pan, tilt); returns the new applied Order."""
    pan, tilt = clamp(pan_deg, PAN_MIN, PAN_MAX), clamp(tilt_deg, TILT_MIN, TILT_MAX)
    if pan != applied.pan:
        px.set_cam_pan_angle(pan)
    if tilt != applied.tilt:
        px.set_cam_tilt_angle(tilt)
    return replace(applied, pan=pan, tilt=tilt)


class PicarxCar(Car):
    """Owns the Picarx object. Construct it on the thread that will make every I2C call."""

    def __init__(self, config_path: str | None = None) -> None:
        try:
            from picarx import Picarx  # lazy: fails on a laptop
        except ImportError as exc:
            raise CatFollowError("picarx is not installed: this is not the car, or setup.sh has not run "
                                 "(use --sim on a laptop)") from exc
        self._owner = threading.get_ident()
        with _getlogin_fallback():
            try:
                self.px: Any = Picarx(config=config_path) if config_path else Picarx()
            except OSError as exc:
                raise CatFollowError(f"PiCar-X not reachable over I2C ({exc}): is the Robot HAT "
                                     "powered and I2C enabled (raspi-config)?") from exc
        self.applied = Order()
        self.px.stop()

    def _check_thread(self) -> None:
        if threading.get_ident() != self._owner:
            raise RuntimeError("PicarxCar called from another thread: every I2C call must stay on the car thread")

    def drive(self, speed: float, steer_deg: float) -> None:
        self._check_thread()
        before = self.applied
        after = drive_calls(self.px, before, speed, steer_deg)
        if after.speed == 0 and before.speed != 0:  # drive_calls stopped the motors: did it take?
            self.stop_confirmed = self._motors_zeroed()
            if not self.stop_confirmed:
                after = replace(after, speed=UNKNOWN_SPEED)
        self.applied = after

    def look(self, pan_deg: float, tilt_deg: float) -> None:
        self._check_thread()
        self.applied = look_calls(self.px, self.applied, pan_deg, tilt_deg)

    def stop(self) -> None:
        """Both motor channels to 0; speed 0 is recorded only if the HAT took it (else
        ``stop_confirmed`` is False and ``applied`` says the speed is unknown)."""
        self._check_thread()
        self.px.stop()  # sets both PWM channels to 0 (twice); robot_hat drops its I2C failures
        self.stop_confirmed = self._motors_zeroed()
        self.applied = replace(self.applied, speed=0.0 if self.stop_confirmed else UNKNOWN_SPEED)

    def _motors_zeroed(self) -> bool:
        """Write 0 to both motor PWM channels once more, through the call whose result robot_hat
        keeps: its I2C methods retry an OSError 5 times and then return False (i2c.py's
        ``_retry_wrapper``), a result its public ``write``/``pulse_width`` and picar-x's
        ``stop`` drop. True only if both channels took the write."""
        results = [pin._write_word_data(pin.REG_CHN + pin.channel, 0) for pin in self.px.motor_speed_pins]
        return all(r is not False for r in results)

    def set_zero(self, which: str, degrees: float) -> None:
        self._check_thread()
        # picarx stores these offsets in /opt/picar-x/picar-x.conf itself, and applies them
        calibrate = {"steering": self.px.dir_servo_calibrate, "pan": self.px.cam_pan_servo_calibrate,
                     "tilt": self.px.cam_tilt_servo_calibrate}[which]
        calibrate(degrees)

    def read_distance_cm(self) -> float:
        # GPIO only (trig/echo pins), no I2C: allowed off the car thread. One try, so the
        # busy-wait is at most the sensor's 20 ms timeout.
        return float(self.px.ultrasonic.read(times=1))

    def close(self) -> None:
        self.stop()
        self.px.set_dir_servo_angle(0)
