"""Lock-step delivery at a Pi 4's pace: a DetectorPort that hands each result over late.

``LateDelivery`` wraps the real port (thread or process). The job still runs at once on its
own frame and the tracker still waits for it in lock-step (so the detector always sees the
same frame and runs stay deterministic), but ``take`` holds the finished result back until
the frame it would reach the tracker on a Pi 4 (``TimingConfig.frames_late``: the detector's
latency, plus the crop check's when the job ran one). Until then the port reports itself
``busy`` and refuses new jobs, as the live port does while a job is in flight. The result
handed over keeps its own frame's ``seq`` and times: the decision code above sees a late
result exactly as on the car.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np

from cat_follow.config_timing import TimingConfig
from cat_follow.perception.port import DetectJob, DetectorPort, new_result_buffer
from cat_follow.stats import LatencyRecorder


class LateDelivery:
    """A DetectorPort around ``inner``; ``current_seq`` says which frame the tracker is on (in
    lock-step: the newest published), ``fps`` the source's frame rate. Tracker thread only."""

    def __init__(self, inner: DetectorPort, timing: TimingConfig, current_seq: Callable[[], int],
                 fps: Callable[[], float]) -> None:
        self.inner = inner
        self.timing = timing
        self.current_seq = current_seq
        self.fps = fps
        self.latency: LatencyRecorder = inner.latency
        self._held = new_result_buffer()  # the finished result not yet delivered (allocated once)
        self._holding = False
        self._due_seq = 0
        self.delivered = 0
        self.frames_late_total = 0  # sum over delivered results: the mean delay is this / delivered

    @property
    def runs(self) -> int:
        return self.inner.runs

    @runs.setter
    def runs(self, value: int) -> None:
        self.inner.runs = value

    @property
    def busy(self) -> bool:
        return self._holding or self.inner.busy

    def submit(self, job: DetectJob) -> int | None:
        if self._holding:
            return None  # the last result has not "arrived" yet: the job is still in flight on a Pi
        return self.inner.submit(job)

    def take(self, out: np.ndarray) -> bool:
        """Copy the held result into ``out`` once the tracker's frame is the one it arrives with."""
        if not self._holding:
            if not self.inner.take(self._held):
                return False
            rec = self._held[0]
            late = self.timing.frames_late(bool(rec["verified"]), self.fps())
            self._due_seq = int(rec["seq"]) + late
            self._holding = True
        if self.current_seq() < self._due_seq:
            return False
        np.copyto(out, self._held)
        self._holding = False
        self.delivered += 1
        self.frames_late_total += self.current_seq() - int(self._held[0]["seq"])
        return True

    def wait(self, ticket: int, timeout_s: float, stopping: threading.Event) -> bool:
        return self.inner.wait(ticket, timeout_s, stopping)

    def status(self) -> str:
        return self.inner.status()


def timing_summary(mode: str, delivery: object) -> dict[str, object]:
    """What a run's summary says about its timing: the mode and, when results came late, how late."""
    out: dict[str, object] = {"mode": mode}
    if isinstance(delivery, LateDelivery):
        out["results_delivered"] = delivery.delivered
        out["mean_frames_late"] = round(delivery.frames_late_total / delivery.delivered, 2) \
            if delivery.delivered else None
    return out
