"""The car interface. Every implementation clamps like the PiCar-X does.

Threading: ``drive``, ``look``, ``apply``, ``stop`` and ``close`` go through I2C on the real
car and must all be called from ONE thread (the car thread's, robot/car_thread.py).
``read_distance_cm`` uses only the ultrasonic sensor's GPIO pins and may be called from the
sensor thread.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

SPEED_LIMIT = 100.0
STEER_MIN, STEER_MAX = -30.0, 30.0
PAN_MIN, PAN_MAX = -90.0, 90.0
TILT_MIN, TILT_MAX = -35.0, 65.0
UNKNOWN_RANGE = (-1.0, -2.0)  # the sensor's "no echo" and "bad pulse" answers


def clamp(v: float, lo: float, hi: float) -> float:
    return lo if v < lo else hi if v > hi else v


@dataclass(frozen=True)
class Order:
    """What the car is told: motor speed -100..100 (+ = forward), steering -30..30 deg, camera
    pan -90..90 and tilt -35..65 deg (+ = right, up). Motion control computes one per tick,
    the car thread applies the newest, and a car keeps the last one it applied, after
    clamping, as ``Car.applied``."""

    speed: float = 0.0
    steer: float = 0.0
    pan: float = 0.0
    tilt: float = 0.0


class Car(ABC):
    applied: Order = Order()  # what the car was last told, after clamping
    # whether the last stop (``stop``, or a drive to speed 0) is known to have reached the motors;
    # a car that cannot tell (or cannot fail silently) keeps True
    stop_confirmed: bool = True

    @abstractmethod
    def drive(self, speed: float, steer_deg: float) -> None:
        """Motor speed -100..100 (negative = reverse) and steering -30..30 deg (+ = right)."""

    @abstractmethod
    def look(self, pan_deg: float, tilt_deg: float) -> None:
        """Camera pan -90..90 (+ = right) and tilt -35..65 (+ = up)."""

    @abstractmethod
    def stop(self) -> None:
        """Motors to zero now. Must work whatever state the car is in. A car whose stop can be
        lost without an error (the PiCar-X) sets ``stop_confirmed`` and records speed 0 in
        ``applied`` only once the stop is known to have taken."""

    @abstractmethod
    def read_distance_cm(self) -> float:
        """One ultrasonic reading in cm, or -1/-2 for unknown. May busy-wait ~20 ms."""

    @abstractmethod
    def set_zero(self, which: str, degrees: float) -> None:
        """Calibration: make ``degrees`` the zero of servo ``which`` (steering, pan, tilt) and
        move the servo there."""

    def apply(self, order: Order) -> None:
        """Point the camera, then drive: the car thread's one call per order."""
        self.look(order.pan, order.tilt)
        self.drive(order.speed, order.steer)

    def close(self) -> None:
        """Stop and release the hardware."""
        self.stop()

    @property
    def motors_stopped(self) -> bool:
        return self.applied.speed == 0.0
