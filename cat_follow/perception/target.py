"""Target confirmation and loss: pure logic on the frames' own clock (testable alone).

A candidate becomes a target only when the detector has seen it ``confirm_hits`` times AND
its crop has verified as a cat (when a verifier is configured): a detector alone calls
fluffy dogs cats. A cat verdict on the very box of a detector hit, cut from that hit's own
frame, confirms it at once: the classifier's word on that box is the stronger second opinion.

A target is dropped, with a reason the status and the replay log carry:

- ``timeout``: no detector hit for ``lost_after_s``, or ``max_misses`` detector runs in a
  row without one (a tracker that drifted off the cat stops being followed quickly; the robot
  allows as many as the detector runs in ``lost_after_s`` while tracking: ``max_misses``);
- ``unverified``: ``drop_after`` crop checks in a row did not look like a cat (a candidate's
  first one already blocks its confirmation);
- ``decoy``: a dog or person detection overlapped the target more strongly than any cat
  and the crop did not verify as a cat.

The robot gives ``confirm_hits`` and ``drop_after`` one value, ``target.decide_after``.
"""

from __future__ import annotations

import enum

from cat_follow.config import Config


class TargetState(enum.IntEnum):
    NONE = 0       # no target: the detector runs on every frame it can
    ACQUIRING = 1  # seen, not yet confirmed (too few hits, or its crop not yet verified)
    TRACKING = 2   # confirmed
    LOST = 3       # was confirmed; dropped (see DropReason)

    @property
    def label(self) -> str:
        return self.name.lower()

    @property
    def has_target(self) -> bool:
        return self in (TargetState.ACQUIRING, TargetState.TRACKING)


class DropReason(enum.IntEnum):
    NONE = 0
    TIMEOUT = 1
    DECOY = 2
    UNVERIFIED = 3
    OTHER_CAT = 4  # another cat than the one lost a moment ago, by its look (lost_cat.py)

    @property
    def label(self) -> str | None:
        return None if self is DropReason.NONE else self.name.lower()


class Verify(enum.IntEnum):
    """What one crop check said."""

    CAT = 1       # cat is the classifier's likeliest class
    UNSURE = 0    # in between: neither confirms nor counts against
    NOT_CAT = -1  # cat probability < tracks.p_min


class TargetLock:
    """Counts detector hits and crop checks. ``require_verified`` = the verifier is on."""

    def __init__(self, confirm_hits: int, lost_after_s: float, *, require_verified: bool = False,
                 max_misses: int = 0, drop_after: int = 2) -> None:
        self.confirm_hits = confirm_hits
        self.lost_after_ns = round(lost_after_s * 1e9)
        self.require_verified = require_verified
        self.max_misses = max_misses
        self.drop_after = drop_after
        self.state = TargetState.NONE
        self.hits = 0
        self.misses = 0
        self.verified = False
        self.of_hit = False  # the cat verdict was on a hit's own box and frame
        self.not_cat = 0
        self.last_hit_ns = 0
        self.drop_reason = DropReason.NONE

    def _set_tracking_if_due(self) -> None:
        if (self.hits >= self.confirm_hits or self.of_hit) and (self.verified or not self.require_verified):
            if self.state != TargetState.TRACKING:
                self.drop_reason = DropReason.NONE  # a new target: the old reason is history
            self.state = TargetState.TRACKING
        elif self.state != TargetState.TRACKING:
            self.state = TargetState.ACQUIRING

    def on_detection(self, found: bool, t_ns: int) -> TargetState:
        """A detector result for a frame taken at ``t_ns``."""
        if found:
            if not self.state.has_target:
                self.hits, self.verified, self.of_hit, self.not_cat = 0, False, False, 0
            self.hits += 1
            self.misses = 0
            self.last_hit_ns = max(self.last_hit_ns, t_ns)
            self._set_tracking_if_due()
        elif self.state.has_target:
            self.misses += 1
            if self.max_misses and self.misses >= self.max_misses:
                return self.drop(DropReason.TIMEOUT)
        return self.update(t_ns)

    def on_verdict(self, verdict: Verify, of_hit: bool = False) -> TargetState:
        """A crop check of the current candidate or target; ``of_hit``: of the box of the hit
        just counted, cut from its own frame."""
        if not self.state.has_target:
            return self.state
        if verdict is Verify.CAT:
            self.verified, self.not_cat = True, 0
            self.of_hit = self.of_hit or of_hit
            self._set_tracking_if_due()
        elif verdict is Verify.NOT_CAT:
            self.not_cat += 1
            if self.state == TargetState.ACQUIRING:
                # a not-cat crop vetoes confirmation; drop_after in a row, the candidate
                self.verified = self.of_hit = False
            if self.not_cat >= self.drop_after:
                return self.drop(DropReason.UNVERIFIED)
        return self.state

    def drop(self, reason: DropReason) -> TargetState:
        """Give up the candidate or target now, for ``reason``."""
        if self.state == TargetState.TRACKING:
            self.state = TargetState.LOST
            self.drop_reason = reason
        elif self.state == TargetState.ACQUIRING:
            self.state = TargetState.NONE
        self.hits, self.misses, self.verified, self.of_hit, self.not_cat = 0, 0, False, False, 0
        return self.state

    def update(self, t_ns: int) -> TargetState:
        """Advance to frame time ``t_ns``; drop the target if its last hit is too old."""
        if self.state.has_target and t_ns - self.last_hit_ns > self.lost_after_ns:
            self.drop(DropReason.TIMEOUT)
        return self.state

    def reset(self) -> None:
        self.state, self.hits, self.misses, self.last_hit_ns = TargetState.NONE, 0, 0, 0
        self.verified, self.of_hit, self.not_cat, self.drop_reason = False, False, 0, DropReason.NONE


def max_misses(config: Config) -> int:
    """The detector runs in a row without a hit that drop a target: as many as it makes in
    ``target.lost_after_s`` while a target is tracked (every ``detector.every_k_frames``-th frame
    at ``camera.fps``; 12 at the defaults). It runs faster once KCF has lost the cat, so a lost
    target is given up sooner than ``lost_after_s``, on the same number of chances."""
    return max(1, round(config.target.lost_after_s * config.camera.fps / config.detector.every_k_frames))
