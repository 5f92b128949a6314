"""The behaviour state machine: pure logic, time injected, no hardware.

    IDLE --cat_location--> NAVIGATE --reached / timeout--> SEARCH --cat--> TRACK
    IDLE --follow_at (a click)--> LOST, looking in place --cat--> TRACK
    NAVIGATE --cat seen--> TRACK          SEARCH --timeout--> SEARCH (retry) ... --> IDLE
    TRACK --no cat for detection_timeout_s--> LOST --cat--> TRACK
    LOST --lost_search_s--> SEARCH        any --stop / fault--> IDLE (motors stopped)
    (LOST looks where the cat was, standing, if it vanished in mid-view while the car stood;
    one leaving the view at a side, or lost while the car moved, is searched for by turning)
    any --cat_location--> NAVIGATE (re-target)

``step`` returns an Intent that the motion controller turns into servo and motor commands.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, replace

from cat_follow.config import BehaviourConfig


class RobotState(enum.IntEnum):
    IDLE = 0
    NAVIGATE = 1
    SEARCH = 2
    TRACK = 3
    LOST = 4

    @property
    def label(self) -> str:
        return self.name.lower()


class Mode(enum.Enum):
    STOP = "stop"
    GOTO = "goto"
    SEARCH = "search"
    TRACK = "track"
    LOOK = "look"  # hold still, camera where it was: something unconfirmed in view, or a cat lost mid-view


MOVING_MODES = frozenset({Mode.GOTO, Mode.SEARCH, Mode.TRACK})  # the modes that may turn the wheels (LOOK pans only)


@dataclass(frozen=True)
class Intent:
    """What the robot means to do this tick. ``run`` numbers the stretch of behaviour since the
    last ``stop`` or motion command (``cat_location``): it changes with each of them, so the
    motion controller can drop anything it kept from before (a back-off in progress)."""

    mode: Mode
    goal: tuple[float, float] | None = None
    direction: int = 1  # search: +1 turn right, -1 turn left
    run: int = 0


@dataclass(frozen=True)
class Sighting:
    """What perception says this tick: is the confirmed cat in view, and on which side."""

    visible: bool
    side: int = 0  # +1 right of the image centre, -1 left
    candidate: bool = False  # something not (yet) confirmed is in view
    leaving: bool = False  # its box touches the image's left or right side: it is going out of view
    moving: bool = False  # the car is driving: its own motion may hide the cat (a wall, a turn)


class StateMachine:
    """Owns the behaviour state; everything it needs comes in through its methods."""

    def __init__(self, cfg: BehaviourConfig, goal_tolerance_m: float) -> None:
        self.cfg = cfg
        self.goal_tolerance_m = goal_tolerance_m
        self.state = RobotState.IDLE
        self.since = 0.0
        self.target: tuple[float, float] | None = None
        self.retries = 0
        self.last_seen = -math.inf
        self.last_side = 1
        self.hid_in_place = False  # the last sighting: in mid-view with the car standing
        self.stop_reason = "start-up"
        self.run = 0  # +1 on every stop and every motion command (Intent.run)

    def _go(self, state: RobotState, now: float) -> None:
        self.state = state
        self.since = now

    # ---- inputs ------------------------------------------------------------------------
    def stop(self, now: float, reason: str) -> None:
        """``stop`` command or a safety stop: IDLE from any state."""
        self.stop_reason = reason
        self.run += 1
        self.target = None
        self.retries = 0
        self._go(RobotState.IDLE, now)

    def locate(self, now: float, x: float, y: float) -> None:
        """``cat_location``: drive there (re-targets from any state)."""
        self.target = (x, y)
        self.run += 1
        self.retries = 0
        self.stop_reason = ""
        self.state = RobotState.IDLE  # so that a re-target restarts NAVIGATE's clock
        self._go(RobotState.NAVIGATE, now)

    def follow(self, now: float) -> None:
        """``follow_at`` (a cat clicked in the web view): from IDLE, stand and look (LOST, in
        place) until the tracker confirms that cat (TRACK), searching after ``lost_search_s``
        as for a lost cat; in any other state the state is kept (the tracker changes cat)."""
        if self.state is RobotState.IDLE:
            self.run += 1
            self.stop_reason, self.hid_in_place, self.retries = "", True, 0
            self._go(RobotState.LOST, now)

    # ---- per tick ----------------------------------------------------------------------
    def step(self, now: float, pose: tuple[float, float, float], seen: Sighting) -> Intent:
        intent = self._decide(now, pose, seen)
        if intent.mode is Mode.SEARCH and seen.candidate:
            # a search that glimpses something stops sweeping to look again (its clock runs on)
            intent = Intent(Mode.LOOK, direction=intent.direction)
        return replace(intent, run=self.run)  # after _decide, which may itself stop

    def _lost_intent(self) -> Intent:
        return Intent(Mode.LOOK) if self.hid_in_place else Intent(Mode.SEARCH, direction=self.last_side)

    def _decide(self, now: float, pose: tuple[float, float, float], seen: Sighting) -> Intent:
        if seen.visible:
            self.last_seen = now
            if seen.side:
                self.last_side = seen.side
            self.hid_in_place = not seen.leaving and not seen.moving
        s = self.state
        if s is RobotState.IDLE:
            return Intent(Mode.STOP)
        if seen.visible and s in (RobotState.NAVIGATE, RobotState.SEARCH, RobotState.LOST):
            self.retries = 0
            self._go(RobotState.TRACK, now)
            return Intent(Mode.TRACK)
        if s is RobotState.NAVIGATE:
            assert self.target is not None
            dist = math.hypot(self.target[0] - pose[0], self.target[1] - pose[1])
            if dist <= self.goal_tolerance_m or now - self.since > self.cfg.navigate_timeout_s:
                self._go(RobotState.SEARCH, now)
                return Intent(Mode.SEARCH, direction=self.last_side)
            return Intent(Mode.GOTO, goal=self.target)
        if s is RobotState.TRACK:
            if now - self.last_seen > self.cfg.detection_timeout_s:
                self._go(RobotState.LOST, now)
                return self._lost_intent()
            return Intent(Mode.TRACK)
        if s is RobotState.LOST:
            # A cat that vanished in mid-view while the car stood most likely hid right there:
            # look there, standing. Circling off toward the side it was on turned the camera away
            # from a cat that came back 3 s later, and the search took a whole circle (10-20 s)
            # to face it again. While the car moved, its own motion may have hidden the cat (a
            # wall between them): standing still there never saw it again, so it turns as before.
            if now - self.since > self.cfg.lost_search_s:
                self._go(RobotState.SEARCH, now)
                return Intent(Mode.SEARCH, direction=self.last_side if self.hid_in_place else -self.last_side)
            return self._lost_intent()
        # SEARCH
        if now - self.since > self.cfg.search_timeout_s:
            self.retries += 1
            if self.retries >= self.cfg.search_retries:
                self.stop(now, f"search: no cat after {self.retries} attempts")
                return Intent(Mode.STOP)
            self.last_side = -self.last_side  # the next attempt turns the other way
            self.since = now
        return Intent(Mode.SEARCH, direction=self.last_side)
