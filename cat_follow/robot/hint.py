"""Which cat the user means, as a hint for the tracker: where a commanded ``cat_location`` lies
in the camera image (pure geometry), or the point clicked in the web view (``follow_at``). The
main loop posts it through ``SharedState.post_hint`` each tick (``TargetHints``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from cat_follow.geometry import reaches_column
from cat_follow.perception.target import TargetState
from cat_follow.robot.state_machine import RobotState

if TYPE_CHECKING:
    from cat_follow.robot.state_machine import StateMachine

FRONT_DEG = 89.0  # a bearing this far from the camera's axis is behind the image plane


def location_in_view(target: tuple[float, float] | None, radius_m: float, pose: tuple[float, float, float],
                     pan_deg: float, tan_half_hfov: float, width: int) -> tuple[float, float]:
    """(column, half-width) in slot pixels of ``target`` (m, odometry frame) and of the disc of
    ``radius_m`` around it, seen from ``pose`` with the camera panned ``pan_deg`` (right +);
    NaNs when there is no target or its centre is out of view."""
    if target is None:
        return math.nan, math.nan
    dx, dy = target[0] - pose[0], target[1] - pose[1]
    bearing = math.atan2(dy, dx) - pose[2]  # left +
    right = -math.degrees(math.atan2(math.sin(bearing), math.cos(bearing))) - pan_deg
    if abs(right) >= FRONT_DEG:
        return math.nan, math.nan
    ex = math.tan(math.radians(right)) / tan_half_hfov
    if abs(ex) > 1.0:
        return math.nan, math.nan
    spread = math.atan2(radius_m, math.hypot(dx, dy))  # the disc's half-angle
    return width / 2 * (1 + ex), width / 2 * math.tan(spread) / tan_half_hfov


class TargetHints:
    """Which hint the main loop posts each tick, and which tracker boxes it may act on. A click
    (``follow_at``) holds until the tracker holds a cat under it, and the cat_location in force
    when it came stops naming a cat; otherwise the pending cat_location's place. Owns the posted
    id (cat_location: the state machine's run, >= 1; a click: -n) and view (column, half-width)."""

    def __init__(self, radius_m: float, tan_half_hfov: float, width: int) -> None:
        self.radius_m, self.tan, self.width = radius_m, tan_half_hfov, width
        self.clicks, self.click_x, self.click_run = 0, math.nan, -1
        self.id, self.view = 0, (math.nan, math.nan)

    def click(self, fx: float, run: int) -> None:
        """``follow_at``: the cat at image column ``fx`` (0..1), instead of ``run``'s cat_location."""
        self.clicks, self.click_x, self.click_run = self.clicks + 1, fx * self.width, run

    def update(self, sm: StateMachine, pose: tuple[float, float, float], pan_deg: float, rec: Any) -> None:
        """This tick's id and view; ``rec`` = the tracker's last box record."""
        if math.isfinite(self.click_x) and int(rec["hint_id"]) == -self.clicks and bool(rec["valid"]) \
                and TargetState(int(rec["target_state"])).has_target and _reaches(rec, self.click_x, 0.0):
            self.click_x = math.nan  # the tracker holds the clicked cat: done (the camera may turn to it)
        if sm.state is RobotState.IDLE:
            self.click_x = math.nan  # a stop (a click itself leaves IDLE at once): nothing stays pending
        if math.isfinite(self.click_x):
            self.id, self.view = -self.clicks, (self.click_x, 0.0)
        elif sm.target is not None and sm.run != self.click_run:
            self.id = sm.run
            self.view = location_in_view(sm.target, self.radius_m, pose, pan_deg, self.tan, self.width)
        else:
            self.id, self.view = 0, (math.nan, math.nan)

    def heard(self, rec: Any) -> bool:
        """May the tracker's box ``rec`` be acted on? Yes with no hint, once the tracker chose it
        knowing the current one, or when it reaches into the hint's view anyway: a box chosen
        before the command, elsewhere, may be on another cat."""
        return self.id == 0 or int(rec["hint_id"]) == self.id or _reaches(rec, *self.view)


def _reaches(rec: Any, x: float, half: float) -> bool:
    return reaches_column(float(rec["x"]), float(rec["w"]), x, half)
