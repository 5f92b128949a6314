"""Target confirmation and loss: pure logic on the frames' own clock (testable alone)."""

from __future__ import annotations

import enum


class TargetState(enum.IntEnum):
    NONE = 0       # no target: the detector runs on every frame it can
    ACQUIRING = 1  # seen, fewer than confirm_hits detector hits so far
    TRACKING = 2   # confirmed
    LOST = 3       # was confirmed; no detector hit for lost_after_s

    @property
    def label(self) -> str:
        return self.name.lower()

    @property
    def has_target(self) -> bool:
        return self in (TargetState.ACQUIRING, TargetState.TRACKING)


class TargetLock:
    """Counts detector hits: confirmed after ``confirm_hits``, lost after ``lost_after_s``
    seconds (frame time) without a hit. Misses alone never drop a target: the detector
    misses a visible cat on a share of frames, so only time without a hit does."""

    def __init__(self, confirm_hits: int, lost_after_s: float) -> None:
        self.confirm_hits = confirm_hits
        self.lost_after_ns = round(lost_after_s * 1e9)
        self.state = TargetState.NONE
        self.hits = 0
        self.last_hit_ns = 0

    def on_detection(self, found: bool, t_ns: int) -> TargetState:
        """A detector result for a frame taken at ``t_ns``."""
        if found:
            if not self.state.has_target:
                self.hits = 0
            self.hits += 1
            self.last_hit_ns = max(self.last_hit_ns, t_ns)
            self.state = TargetState.TRACKING if self.hits >= self.confirm_hits else TargetState.ACQUIRING
        return self.update(t_ns)

    def update(self, t_ns: int) -> TargetState:
        """Advance to frame time ``t_ns``; drop the target if its last hit is too old."""
        if self.state.has_target and t_ns - self.last_hit_ns > self.lost_after_ns:
            self.state = TargetState.LOST if self.state == TargetState.TRACKING else TargetState.NONE
            self.hits = 0
        return self.state

    def reset(self) -> None:
        self.state, self.hits, self.last_hit_ns = TargetState.NONE, 0, 0
