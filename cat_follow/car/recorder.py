"""A car-boundary recorder: wraps any Car and records every call it receives, with its time.

For tests and diagnosis of the safety paths: the recording shows what the motors were told
and when, e.g. that no non-zero drive followed a stop. Calls are forwarded unchanged; a call
that raises is recorded too (``ok=False``) and the exception passes through.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from cat_follow.car.interface import Car, Order

T = TypeVar("T")


@dataclass(frozen=True)
class CarCall:
    t: float                     # clock time when the call began
    name: str                    # drive, look, stop, close, set_zero, read_distance_cm
    args: tuple[float | str, ...]
    ok: bool = True              # False: the call raised


class RecordingCar(Car):
    """Owns nothing but its list of calls; the wrapped car does the work."""

    def __init__(self, car: Car, clock: Callable[[], float] = time.monotonic) -> None:
        self.inner = car
        self.clock = clock
        self.calls: list[CarCall] = []
        self._lock = threading.Lock()  # the sensor thread records too

    def _call(self, name: str, args: tuple[float | str, ...], fn: Callable[[], T]) -> T:
        t = self.clock()
        try:
            result = fn()
        except BaseException:
            with self._lock:
                self.calls.append(CarCall(t, name, args, ok=False))
            raise
        with self._lock:
            self.calls.append(CarCall(t, name, args))
        return result

    @property
    def applied(self) -> Order:
        return self.inner.applied

    @applied.setter
    def applied(self, value: Order) -> None:
        self.inner.applied = value

    @property
    def stop_confirmed(self) -> bool:
        return self.inner.stop_confirmed

    @stop_confirmed.setter
    def stop_confirmed(self, value: bool) -> None:
        self.inner.stop_confirmed = value

    def drive(self, speed: float, steer_deg: float) -> None:
        self._call("drive", (speed, steer_deg), lambda: self.inner.drive(speed, steer_deg))

    def look(self, pan_deg: float, tilt_deg: float) -> None:
        self._call("look", (pan_deg, tilt_deg), lambda: self.inner.look(pan_deg, tilt_deg))

    def stop(self) -> None:
        self._call("stop", (), self.inner.stop)

    def close(self) -> None:
        self._call("close", (), self.inner.close)

    def set_zero(self, which: str, degrees: float) -> None:
        self._call("set_zero", (which, degrees), lambda: self.inner.set_zero(which, degrees))

    def read_distance_cm(self) -> float:
        return self._call("read_distance_cm", (), self.inner.read_distance_cm)

    def snapshot(self) -> list[CarCall]:
        with self._lock:
            return list(self.calls)

    def drives_after_stop(self, since: float = float("-inf")) -> list[CarCall]:
        """Non-zero drive calls that came after the first stop at or after ``since``."""
        calls = self.snapshot()
        first = next((c.t for c in calls if c.name in ("stop", "close") and c.t >= since), None)
        if first is None:
            return []
        return [c for c in calls if c.name == "drive" and c.t > first and c.args[0] != 0]

    def stopped_at(self, since: float = float("-inf")) -> float | None:
        """Time of the first stop (or close) at or after ``since``."""
        return next((c.t for c in self.snapshot() if c.name in ("stop", "close") and c.t >= since), None)
