"""Motion control: an Intent (plus the cat's box, pose and range) -> a Decision: the car's Order and why.

Every order leaves through ``MotionController.command``, and its last step is the motion gate
(``_gate``): the speed is 0 unless the intent's mode may move the car (GOTO, SEARCH, TRACK; LOOK
only points the camera). A stop or a watchdog trip puts the state machine in IDLE (Mode.STOP)
until the next ``cat_location``, so no motion order follows them. The obstacle back-off belongs to
GOTO and TRACK only, and is dropped whenever the intent's ``run`` changes (a stop, a trip, a new
motion command).

Sign conventions are PiCar-X's: steering, pan positive = RIGHT; tilt positive = UP; speed
positive = forward. Servo commands are slew-limited; limits match the car's clamps.
The controller keeps only its last command (for the slew limits): pure arithmetic otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from cat_follow.calib.store import Calibration
from cat_follow.car.interface import PAN_MAX, SPEED_LIMIT, STEER_MAX, TILT_MAX, TILT_MIN, Order, clamp
from cat_follow.config import MotionConfig, RobotConfig
from cat_follow.geometry import Box
from cat_follow.robot.state_machine import MOVING_MODES, Intent, Mode

STEER_LIMIT, PAN_LIMIT = STEER_MAX, PAN_MAX  # symmetric: the car's own clamps
UNKNOWN_RANGE_SPEED = 15.0  # forward speed cap while the ultrasonic reading is unknown
SEARCH_SWEEP_S = 6.0
PAN_SHIFT_SHARE = 0.5  # most image shift per tick a pan may cause, as a share of the box width
BLOCKED_S = 1.0   # forward motion blocked this long by an obstacle ...
BACKOFF_S = 1.2   # ... and the car backs off for this long
BACKOFF_MODES = frozenset({Mode.GOTO, Mode.TRACK})  # the modes that back off an obstacle


def slew(current: float, target: float, rate: float, dt: float) -> float:
    step = rate * dt
    return current + clamp(target - current, -step, step)


@dataclass(frozen=True)
class Decision:
    """The controller's answer for one tick: the order for the car, and why its speed is 0 or
    limited (stop band, no box, obstacle, ...; "" when nothing limits it), for status."""

    order: Order
    reason: str = ""


class MotionController:
    def __init__(self, cfg: MotionConfig, robot: RobotConfig, cal: Calibration, frame_w: int, frame_h: int) -> None:
        self.cfg = cfg
        self.robot = robot
        self.cal = cal
        self.w, self.h = frame_w, frame_h
        self.tan_hfov = math.tan(math.radians(cal.camera_hfov_deg) / 2)
        self.tan_vfov = math.tan(math.radians(cal.camera_vfov_deg) / 2)
        self.focal_px = cal.focal_px(frame_w)
        self.last = Order()  # the last order computed (for the slew limits)
        self._blocked_since: float | None = None
        self._backing_until = -math.inf
        self._run = 0  # the Intent.run the back-off state belongs to

    # ---- geometry ----------------------------------------------------------------------
    def cat_distance_m(self, box: Box) -> float:
        """Distance from the box height and the nominal cat height (pinhole model)."""
        return self.focal_px * self.cfg.cat_height_m / max(box[3], 1.0)

    def cat_angles(self, box: Box) -> tuple[float, float]:
        """(right, down) angles of the box centre from the optical axis, in degrees."""
        ex = (box[0] + box[2] / 2 - self.w / 2) / (self.w / 2)
        ey = (box[1] + box[3] / 2 - self.h / 2) / (self.h / 2)
        right = math.degrees(math.atan(ex * self.tan_hfov)) if abs(ex) > self.cfg.pan_deadband else 0.0
        down = math.degrees(math.atan(ey * self.tan_vfov)) if abs(ey) > self.cfg.pan_deadband else 0.0
        return right, down

    # ---- behaviours --------------------------------------------------------------------
    def center_cat_control(self, box: Box | None, dt: float, stale: bool = False) -> Decision:
        """Pan toward the cat, steer the body so the pan returns to centre, and approach to
        the following distance (stop band; reverse slowly when far too close).

        ``stale``: the box is a recent one, not this frame's (the tracker lost it a moment
        ago): keep driving on it but do not move the camera on old evidence. The pan moves
        at most about half the box's width per tick, so the tracker can follow the image.
        """
        c, last = self.cfg, self.last
        if box is None:  # unseen: hold still, keep looking where it was
            return Decision(replace(last, speed=0.0), "no box of the cat: holding still")
        if stale:
            pan, tilt = last.pan, last.tilt
        else:
            right, down = self.cat_angles(box)
            step = math.degrees(math.atan(PAN_SHIFT_SHARE * box[2] / self.focal_px))
            rate = min(c.pan_rate_dps, step / dt) if dt > 0 else c.pan_rate_dps
            pan = slew(last.pan, clamp(last.pan + c.pan_gain * right, -PAN_LIMIT, PAN_LIMIT), rate, dt)
            tilt = slew(last.tilt, clamp(last.tilt - c.pan_gain * down, TILT_MIN, TILT_MAX), c.tilt_rate_dps, dt)
        steer = slew(last.steer, clamp(c.steer_per_pan * pan, -STEER_LIMIT, STEER_LIMIT), c.steer_rate_dps, dt)
        dist = self.cat_distance_m(box)
        error = dist - c.follow_distance_m
        reason = ""
        if dist < c.too_close_m:
            speed = -c.reverse_speed
            reason = f"cat too close ({dist:.2f} m < {c.too_close_m:g} m): backing away"
        elif abs(error) <= c.stop_band_m:
            speed = 0.0
            reason = f"cat at the following distance ({dist:.2f} m, {c.follow_distance_m:g} ± {c.stop_band_m:g} m)"
        elif error < 0:
            speed = 0.0
            reason = f"cat closer than the following distance ({dist:.2f} m < {c.follow_distance_m:g} m)"
        else:
            # turn before running: full speed only when the cat is ahead of the body
            speed = min(c.max_speed, c.speed_gain * error) * max(0.3, math.cos(math.radians(pan)))
        return Decision(Order(speed, steer, pan, tilt), reason)

    def goto(self, pose: tuple[float, float, float], goal: tuple[float, float], dt: float) -> Decision:
        """Steer toward ``goal`` (pure pursuit on the bearing), camera looking ahead."""
        c, last = self.cfg, self.last
        bearing = math.atan2(goal[1] - pose[1], goal[0] - pose[0]) - pose[2]
        bearing = math.degrees(math.atan2(math.sin(bearing), math.cos(bearing)))  # + = left
        steer = slew(last.steer, clamp(-bearing, -STEER_LIMIT, STEER_LIMIT), c.steer_rate_dps, dt)
        speed = c.nav_speed * max(0.3, math.cos(math.radians(bearing)))
        pan = slew(last.pan, 0.0, c.pan_rate_dps, dt)
        tilt = slew(last.tilt, 0.0, c.tilt_rate_dps, dt)
        return Decision(Order(speed, steer, pan, tilt))

    def search(self, direction: int, t: float, dt: float) -> Decision:
        """Circle slowly toward ``direction`` while sweeping the camera."""
        c, last = self.cfg, self.last
        sweep = c.search_pan_deg * math.sin(2 * math.pi * t / SEARCH_SWEEP_S)
        pan = slew(last.pan, clamp(sweep, -PAN_LIMIT, PAN_LIMIT), c.pan_rate_dps, dt)
        tilt = slew(last.tilt, 0.0, c.tilt_rate_dps, dt)
        steer = slew(last.steer, STEER_LIMIT * (1 if direction >= 0 else -1), c.steer_rate_dps, dt)
        return Decision(Order(c.search_speed, steer, pan, tilt))

    def stopped(self) -> Decision:
        return Decision(replace(self.last, speed=0.0), "stopped")

    # ---- safety ------------------------------------------------------------------------
    def limit_for_range(self, cmd: Decision, distance_cm: float | None) -> Decision:
        """No forward motion toward an obstacle that would be closer than the stop distance
        within the lookahead at the speed asked; a slow cap when the range is unknown (-1/-2 or
        stale: unknown is not clear)."""
        if cmd.order.speed <= 0:
            return cmd
        if distance_cm is None:
            if cmd.order.speed > UNKNOWN_RANGE_SPEED:
                return Decision(replace(cmd.order, speed=UNKNOWN_RANGE_SPEED), "range unknown")
            return cmd
        travel_cm = 100 * self.cal.speed_mps(cmd.order.speed) * self.robot.obstacle_lookahead_s
        if distance_cm - travel_cm < self.robot.obstacle_stop_cm:
            return Decision(replace(cmd.order, speed=0.0), f"obstacle at {distance_cm:.0f} cm")
        return cmd

    def _unstick(self, limited: Decision, wanted: Decision, t: float) -> Decision:
        """Forward motion blocked for BLOCKED_S: back off for BACKOFF_S, steering the other
        way so the nose swings clear, then try again."""
        if t < self._backing_until:
            w = wanted.order
            return Decision(Order(-self.cfg.reverse_speed, -w.steer, w.pan, w.tilt), "backing off an obstacle")
        if limited.order.speed == 0 and wanted.order.speed > 0 and limited.reason.startswith("obstacle"):
            if self._blocked_since is None:
                self._blocked_since = t
            elif t - self._blocked_since >= BLOCKED_S:
                self._blocked_since = None
                self._backing_until = t + BACKOFF_S
        else:
            self._blocked_since = None
        return limited

    def _drop_backoff(self) -> None:
        self._blocked_since = None
        self._backing_until = -math.inf

    def _gate(self, intent: Intent, cmd: Decision) -> Decision:
        """The motion gate: no wheel turns unless the intent's mode may move the car."""
        if intent.mode in MOVING_MODES or cmd.order.speed == 0:
            return cmd
        return Decision(replace(cmd.order, speed=0.0), cmd.reason or "stopped")

    def command(self, intent: Intent, *, t: float, dt: float, pose: tuple[float, float, float],
                box: Box | None, distance_cm: float | None, box_stale: bool = False) -> Decision:
        """The decision for this tick, through the range guard, the back-off (GOTO/TRACK) and the
        motion gate; remembers its order for the next tick's slew limits."""
        if intent.run != self._run or intent.mode not in BACKOFF_MODES:
            self._run = intent.run  # a stop, trip or new command since: no back-off carries over
            self._drop_backoff()
        if intent.mode is Mode.TRACK:
            cmd = self.center_cat_control(box, dt, box_stale)
        elif intent.mode is Mode.LOOK:
            looked = self.center_cat_control(box, dt, box_stale)
            cmd = Decision(Order(0.0, self.last.steer, looked.order.pan, looked.order.tilt),
                           "a possible cat, not yet confirmed: looking, not driving" if box is not None
                           else "lost in mid-view: looking where it was, not driving")
        elif intent.mode is Mode.GOTO and intent.goal is not None:
            cmd = self.goto(pose, intent.goal, dt)
        elif intent.mode is Mode.SEARCH:
            cmd = self.search(intent.direction, t, dt)
        else:
            cmd = self.stopped()
        limited = self.limit_for_range(cmd, distance_cm)
        cmd = self._gate(intent, self._unstick(limited, cmd, t) if intent.mode in BACKOFF_MODES else limited)
        self.last = replace(cmd.order, speed=clamp(cmd.order.speed, -SPEED_LIMIT, SPEED_LIMIT))
        return Decision(self.last, cmd.reason)
