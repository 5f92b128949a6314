"""The car thread: the ONE thread that talks to the car, with the motor watchdog.

It builds the car itself (``Picarx()`` touches I2C, so even construction happens here),
applies the newest command the main loop left in its mailbox, and stops the motors when:
- no command has arrived for ``watchdog_s`` (the main loop stalled): it latches, ignoring
  drive commands until the main loop acknowledges with ``clear_watchdog``;
- ``emergency_stop`` is called (any thread may call it; it only sets a flag);
- it is stopped, or anything in it raises (``finally``), before the thread ends.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from cat_follow.car.base import Car
from cat_follow.stats import LatencyRecorder
from cat_follow.threads.supervised import Health, SupervisedThread

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Order:
    speed: float
    steer: float
    pan: float
    tilt: float
    t_capture_ns: int = 0  # capture time of the frame the order was computed from (0 = none)


class CarActor(SupervisedThread):
    def __init__(self, factory: Callable[[], Car], health: Health, *, watchdog_s: float,
                 rate_hz: float = 100.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__("car", health)
        self.factory = factory
        self.watchdog_s = watchdog_s
        self.period = 1.0 / rate_hz
        self.clock = clock
        self.car: Car | None = None
        self.ready = threading.Event()
        self._lock = threading.Lock()
        self._order: Order | None = None
        self._sent = 0
        self._applied = 0
        self._applied_cond = threading.Condition()
        self._order_t = clock()
        self._wake = threading.Event()
        self._estop = threading.Event()
        self.watchdog_tripped = False
        self.watchdog_trips = 0
        self.last_reason = ""
        self.glass_to_motor = LatencyRecorder()  # ms from a frame's capture to its order applied

    # ---- called by other threads (never touch the car) --------------------------------
    def send(self, speed: float, steer: float, pan: float, tilt: float, t_capture_ns: int = 0) -> int:
        """Leave the newest command in the mailbox (also feeds the watchdog); returns its number.
        ``t_capture_ns``: capture time of the frame behind it, for ``glass_to_motor``."""
        with self._lock:
            self._order = Order(speed, steer, pan, tilt, t_capture_ns)
            self._order_t = self.clock()
            self._sent += 1
            seq = self._sent
        self._wake.set()
        return seq

    def wait_applied(self, seq: int, abort: threading.Event, timeout: float = 5.0) -> bool:
        """Lock-step: wait until command ``seq`` (or a later one) has reached the car."""
        with self._applied_cond:
            return self._applied_cond.wait_for(
                lambda: self._applied >= seq or abort.is_set() or not self.is_alive(), timeout)

    def emergency_stop(self, reason: str) -> None:
        """Stop the motors as soon as the car thread runs (within one period)."""
        self.last_reason = reason
        self._estop.set()
        self._wake.set()

    def clear_watchdog(self) -> None:
        self.watchdog_tripped = False

    # ---- the car thread ----------------------------------------------------------------
    def _halt(self, car: Car, reason: str) -> None:
        if not car.motors_stopped:
            log.warning("motors stopped: %s", reason)
        car.stop()
        self.last_reason = reason

    def loop(self) -> None:
        car = self.car = self.factory()
        try:
            car.stop()
            self.ready.set()
            while not self.stopping.is_set():
                self._wake.wait(self.period)
                self._wake.clear()
                self.beat()
                if self._estop.is_set():
                    self._estop.clear()
                    self._halt(car, self.last_reason or "emergency stop")
                    continue
                with self._lock:
                    order, age, seq = self._order, self.clock() - self._order_t, self._sent
                if age > self.watchdog_s and not self.watchdog_tripped:
                    self.watchdog_tripped = True
                    self.watchdog_trips += 1
                    self._halt(car, f"watchdog: no command from the main loop for {age * 1000:.0f} ms")
                if order is not None and not self.watchdog_tripped:
                    car.look(order.pan, order.tilt)
                    car.drive(order.speed, order.steer)
                    if order.t_capture_ns and seq != self._applied:  # each order counted once
                        self.glass_to_motor.add((time.monotonic_ns() - order.t_capture_ns) / 1e6)
                with self._applied_cond:
                    self._applied = seq
                    self._applied_cond.notify_all()
        finally:
            try:
                self._halt(car, "car thread ending")
                car.close()
                log.info("car thread ending: motors stopped (speed %.0f)", car.applied.speed)
            except BaseException:
                log.critical("could not stop the motors on the way out: the HAT keeps its last PWM; "
                             "systemd's ExecStopPost resets it", exc_info=True)
                raise
