"""Per-stage latency samples in a preallocated ring, and their percentiles."""

from __future__ import annotations

import numpy as np


class LatencyRecorder:
    """Keeps the last ``capacity`` samples (ms) of one stage; ``add`` allocates nothing."""

    def __init__(self, capacity: int = 1 << 16) -> None:
        self._buf = np.zeros(capacity, dtype=np.float64)
        self.count = 0

    def add(self, ms: float) -> None:
        self._buf[self.count % self._buf.shape[0]] = ms
        self.count += 1

    def samples(self) -> np.ndarray:
        return self._buf[: min(self.count, self._buf.shape[0])]

    def percentile(self, q: float) -> float | None:
        return percentile(self.samples(), q)


def percentile(samples: np.ndarray, q: float) -> float | None:
    """The q-th percentile of ``samples`` (ms, rounded to µs), or None when there are none."""
    return round(float(np.percentile(samples, q)), 3) if samples.size else None
