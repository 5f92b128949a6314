"""The car thread: the ONE thread that talks to the car, with the motor watchdog.

It builds the car itself (``Picarx()`` touches I2C, so even construction happens here),
applies the newest order the main loop left in its mailbox, and stops the motors when:
- no order has arrived for ``watchdog_s`` (the main loop stalled);
- ``emergency_stop`` is called (any thread may call it);
- it is stopped, or anything in it raises (``finally``), before the thread ends.

The watchdog is armed by the main loop's first order (the start-up before it is not a stall).
While the motors should be still (a latch, or an order at speed 0) the stop is sent again every
``stop_resend_s`` and its result checked (``Car.stop_confirmed``): a stop robot_hat lost is
flagged (``stop_confirmed`` False, a critical log line) until a later one takes (a drive to
speed 0 that was not confirmed leaves the car's speed as it was, so the next turn sends it again).
Every car call records when it began (``stalled``), so the main thread can see a call that
never returns (an I2C hang) and end the service: this thread cannot be killed.

A watchdog trip or an emergency stop LATCHES: the mailbox is emptied and no order is applied
until the main loop resumes, which it does in the same step as sending its next order
(``send(..., resume=latch)``, under the mailbox lock), so a stop can never be followed by an
order that was computed before it, and no order is lost between acknowledging and sending.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cat_follow.car.interface import Car, Order
from cat_follow.stats import LatencyRecorder
from cat_follow.threads.supervised import Health, SupervisedThread, ThreadFailed

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Latch:
    """A stop in force: ``number`` counts latches (the main loop resumes one by its number)."""

    number: int
    reason: str


class CarActor(SupervisedThread):
    def __init__(self, factory: Callable[[], Car], health: Health, *, watchdog_s: float,
                 rate_hz: float = 100.0, clock: Callable[[], float] = time.monotonic,
                 stop_resend_s: float = 0.5) -> None:
        super().__init__("car", health)
        self.factory = factory
        self.watchdog_s = watchdog_s
        self.stop_resend_s = stop_resend_s
        self.period = 1.0 / rate_hz
        self.clock = clock
        self.car: Car | None = None
        self.ready = threading.Event()
        self._lock = threading.Lock()  # guards the mailbox: _order, _capture_ns, _order_t, _sent, _latch, _latches
        self._order: Order | None = None
        self._capture_ns = 0  # monotonic_ns capture time of the frame _order was computed from; 0 = none
        self._sent = 0
        self._applied = 0
        self._applied_cond = threading.Condition()
        self._order_t: float | None = None  # when the last order came; None = the watchdog is not armed yet
        self._wake = threading.Event()
        self._latch: Latch | None = None
        self._latches = 0
        self._halted_for = 0  # the latch number the motors were last stopped for (car thread only)
        self.watchdog_trips = 0
        self.last_reason = ""
        self._latency = LatencyRecorder(4096)  # glass-to-motor: written by the car thread only
        # stop keeping and liveness: written by the car thread, read by any
        self.stop_confirmed = True        # the last stop sent is known to have reached the motors
        self.unconfirmed_stops = 0        # stops that could not be confirmed, in all
        self._still_since: float | None = None  # clock time of the last stop sent while still; None = moving
        self._call: tuple[str, float] | None = None  # the car call in progress and its monotonic start

    # ---- called by other threads (never touch the car) --------------------------------
    def send(self, order: Order, *, capture_ns: int = 0, resume: Latch | None = None) -> int:
        """Leave the newest order in the mailbox (also feeds the watchdog); returns its number.
        ``capture_ns``: monotonic_ns capture time of the frame it was computed from (0 = none).

        While a stop is latched the order is kept but not applied; ``resume`` (the latch the
        caller has handled, from ``latched``) lifts that latch in the same locked step, unless
        a newer stop has latched since."""
        with self._lock:
            if resume is not None and self._latch is not None and self._latch.number == resume.number:
                self._latch = None
            self._order, self._capture_ns = order, capture_ns
            self._order_t = self.clock()
            self._sent += 1
            seq = self._sent
        self._wake.set()
        return seq

    @property
    def latched(self) -> Latch | None:
        """The stop in force, or None (read by the main loop)."""
        return self._latch

    @property
    def watchdog_tripped(self) -> bool:
        latch = self._latch
        return latch is not None and latch.reason.startswith("watchdog")

    def wait_applied(self, seq: int, abort: threading.Event, timeout: float = 5.0) -> bool:
        """Lock-step: wait until order ``seq`` (or a later one) has been handled by the car thread."""
        with self._applied_cond:
            return self._applied_cond.wait_for(
                lambda: self._applied >= seq or abort.is_set() or not self.is_alive(), timeout)

    def emergency_stop(self, reason: str) -> None:
        """Empty the mailbox and latch a stop; the car thread stops the motors within one period."""
        self._trip(reason)
        self._wake.set()

    def stalled(self) -> tuple[str, float] | None:
        """The car call in progress and how long it has run (s, monotonic), or None."""
        call = self._call
        return None if call is None else (call[0], time.monotonic() - call[1])

    def turning(self, limit_s: float) -> bool:
        """The main thread's check (the systemd ping's condition): alive, and in a car call or
        between turns for less than ``limit_s``. A car call running ``limit_s`` or more (an I2C
        hang) raises ThreadFailed: this thread cannot be ended, so the service must end."""
        stalled = self.stalled()
        if stalled is not None and stalled[1] >= limit_s:
            log.critical("car thread stuck in %s for %.1f s (I2C hang?): the motors may hold their last PWM; "
                         "exiting, so that systemd restarts the service and resets the HAT", *stalled)
            raise ThreadFailed(f"car thread hung: {stalled[0]} stalled for {stalled[1]:.1f} s")
        beat_s = (time.monotonic_ns() - self.heartbeat_ns) / 1e9
        return self.is_alive() and (stalled is not None or beat_s < limit_s)

    def motor_latency_ms(self) -> np.ndarray:
        """Glass-to-motor samples (ms): order applied minus its frame's capture time (read-only view)."""
        view = self._latency.samples()
        view.flags.writeable = False
        return view

    # ---- the car thread ----------------------------------------------------------------
    def _trip(self, reason: str) -> Latch:
        with self._lock:
            self._order = None
            if self._latch is None:
                self._latches += 1
                self._latch = Latch(self._latches, reason)
            self.last_reason = reason
            return self._latch

    def _halt(self, car: Car, reason: str) -> None:
        if not car.motors_stopped:
            log.warning("motors stopped: %s", reason)
        self._send_stop(car)
        self.last_reason = reason

    def _turn(self, car: Car) -> None:
        """One period: watchdog, latch, then the newest order; then keep a stop."""
        with self._lock:
            order, capture_ns = self._order, self._capture_ns
            self._capture_ns = 0  # glass-to-motor ends at the FIRST apply; later turns re-apply the same order
            age = 0.0 if self._order_t is None else self.clock() - self._order_t
            seq, latch = self._sent, self._latch
        if latch is None and age > self.watchdog_s:
            self.watchdog_trips += 1
            latch = self._trip(f"watchdog: no command from the main loop for {age * 1000:.0f} ms")
        if latch is not None:
            if self._halted_for != latch.number:
                self._halted_for = latch.number
                self._halt(car, latch.reason)
            self._keep_stopped(car)
        elif order is None:  # no order yet: still since the start
            self._keep_stopped(car)
        else:
            moving = car.applied.speed != 0
            self._in_call("apply", car.apply, order)
            if capture_ns:
                self._latency.add((time.monotonic_ns() - capture_ns) / 1e6)
            if order.speed != 0:
                self._still_since = None
            elif moving:  # this order stopped the motors: how it went
                self._note_stop(car)
            else:
                self._keep_stopped(car)
        with self._applied_cond:
            self._applied = seq
            self._applied_cond.notify_all()

    # ---- stops that are confirmed, calls that are timed (car thread) --------------------
    def _in_call(self, name: str, fn: Callable[[Order], None], order: Order) -> None:
        self._call = (name, time.monotonic())
        try:
            fn(order)
        finally:
            self._call = None

    def _send_stop(self, car: Car) -> None:
        self._call = ("stop", time.monotonic())
        try:
            car.stop()
        finally:
            self._call = None
        self._note_stop(car)

    def _note_stop(self, car: Car) -> None:
        """A stop was just sent: note whether the car confirmed it (log on every change)."""
        self._still_since = self.clock()
        ok = car.stop_confirmed
        if not ok:
            self.unconfirmed_stops += 1
        if ok != self.stop_confirmed:
            if ok:
                log.warning("motor stop confirmed again")
            else:
                log.critical("motor stop NOT confirmed: the HAT did not take it (I2C); the motors may "
                             "still run. Sending it again every %.1f s", self.stop_resend_s)
        self.stop_confirmed = ok

    def _keep_stopped(self, car: Car) -> None:
        """The motors should be still: send the stop again if the last was ``stop_resend_s`` ago."""
        if self._still_since is None or self.clock() - self._still_since >= self.stop_resend_s:
            self._send_stop(car)

    def loop(self) -> None:
        car = self.car = self.factory()
        try:
            self._send_stop(car)
            self.ready.set()
            while not self.stopping.is_set():
                self._wake.wait(self.period)
                self._wake.clear()
                self.beat()
                self._turn(car)
        finally:
            try:
                self._halt(car, "car thread ending")
                car.close()
                log.info("car thread ending: motors stopped (speed %.0f)", car.applied.speed)
            except BaseException:
                log.critical("could not stop the motors on the way out: the HAT keeps its last PWM; "
                             "systemd's ExecStopPost resets it", exc_info=True)
                raise
