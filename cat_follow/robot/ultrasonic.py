"""Ultrasonic thread: reads the range sensor off the main thread.

A reading busy-waits for up to ~20 ms (holding the GIL), so it never runs on the main
loop. It uses only the sensor's GPIO pins, not I2C. -1/-2 (no echo, bad pulse) are kept as
"unknown", never as "clear"; so is a reading older than the configured age.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from cat_follow.car.interface import UNKNOWN_RANGE
from cat_follow.robot.car_thread import CarActor
from cat_follow.threads.supervised import Health, SupervisedThread


class UltrasonicThread(SupervisedThread):
    def __init__(self, actor: CarActor, health: Health, *, rate_hz: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__("ultrasonic", health)
        self.actor = actor
        self.period = 1.0 / rate_hz
        self.clock = clock
        self.reading: tuple[float, float] = (-1.0, -1e9)  # (cm, clock time), replaced whole
        self.readings = 0
        self.unknown = 0

    def latest(self, max_age_s: float) -> float | None:
        """The newest range in cm, or None when unknown or older than ``max_age_s``."""
        value, t = self.reading
        if value in UNKNOWN_RANGE or value < 0 or self.clock() - t > max_age_s:
            return None
        return value

    def loop(self) -> None:
        while not self.actor.ready.wait(0.1):
            if self.stopping.is_set():
                return
        while not self.stopping.wait(self.period):
            self.beat()
            self.step()

    def step(self) -> None:
        """Take one reading (the loop's body; called directly in lock-step mode)."""
        car = self.actor.car
        assert car is not None
        d = car.read_distance_cm()
        self.readings += 1
        if d in UNKNOWN_RANGE or d < 0:
            self.unknown += 1
        self.reading = (d, self.clock())
