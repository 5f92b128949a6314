"""The car's path (odometry x, y in metres) in a preallocated ring, for the overlay and the page."""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np

MIN_STEP_M = 0.02  # a point is kept once the car has moved this far from the last one


class Trail:
    """Up to ``capacity`` points; the oldest go first. Written by whoever samples the status
    (the encoder, or the server's status task), read by both: one small lock."""

    def __init__(self, capacity: int = 2048) -> None:
        self._buf = np.zeros((capacity, 2), dtype=np.float64)
        self._out = np.zeros((capacity, 2), dtype=np.float64)
        self._n = 0
        self._lock = threading.Lock()

    def add(self, x: float, y: float) -> None:
        if not (math.isfinite(x) and math.isfinite(y)):
            return
        with self._lock:
            cap = self._buf.shape[0]
            if self._n:
                lx, ly = self._buf[(self._n - 1) % cap]
                if math.hypot(x - lx, y - ly) < MIN_STEP_M:
                    return
            self._buf[self._n % cap] = (x, y)
            self._n += 1

    def add_from_status(self, status: dict[str, Any]) -> None:
        pose = status.get("pose")
        if isinstance(pose, dict) and "x" in pose and "y" in pose:
            self.add(float(pose["x"]), float(pose["y"]))

    def points(self) -> np.ndarray:
        """The points oldest first, in this trail's own output buffer (valid until the next call
        from the same thread; the encoder is its only caller)."""
        with self._lock:
            cap = self._buf.shape[0]
            n = min(self._n, cap)
            start = self._n % cap if self._n > cap else 0
            out = self._out[:n]
            out[: n - start] = self._buf[start:n] if start else self._buf[:n]
            if start:
                out[n - start:] = self._buf[:start]
            return out

    def as_list(self, max_points: int = 500) -> list[list[float]]:
        """A decimated copy for JSON (the page's plot)."""
        with self._lock:
            cap = self._buf.shape[0]
            n = min(self._n, cap)
            start = self._n % cap if self._n > cap else 0
            order = np.concatenate([self._buf[start:n], self._buf[:start]]) if start else self._buf[:n].copy()
        step = max(1, -(-n // max_points))
        pts = order[::step]
        if n and step > 1:
            pts = np.vstack([pts, order[-1:]])
        return [[round(float(a), 3), round(float(b), 3)] for a, b in pts]
