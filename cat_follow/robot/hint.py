"""Where a commanded ``cat_location`` lies in the camera image: the tracker's hint for which
cat the user means (pure geometry; the main loop posts it through ``SharedState.post_hint``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

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


def box_heard(sm: StateMachine, hint_id: int, box: Any, view: tuple[float, float]) -> bool:
    """May the tracker's ``box`` (a record with x, w), stamped ``hint_id``, be acted on under the
    state machine's current cat_location? Yes with none, once the tracker chose it knowing that
    command, or when it reaches into the location's ``view`` (column, half-width) anyway; a box
    from before the command elsewhere may be on another cat."""
    if sm.target is None or hint_id == sm.run:
        return True
    x, half = view
    return math.isfinite(x) and float(box["x"]) <= x + half and float(box["x"]) + float(box["w"]) >= x - half
