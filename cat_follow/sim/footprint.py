"""The PiCar-X's body as a rectangle on the floor, and its clearance to walls and round bodies.

Pure geometry on the pose of the rear axle's centre (x, y, heading in radians), with the body's
size from ``car/picarx_model.py``. A clearance <= 0 is a collision.
"""

from __future__ import annotations

import math
from itertools import pairwise

from cat_follow.car.picarx_model import BODY_FRONT_M, BODY_REAR_M, BODY_WIDTH_M

Point = tuple[float, float]
Segment = tuple[float, float, float, float]


def corners(pose: tuple[float, float, float]) -> list[Point]:
    """The body's four corners (front left, front right, rear right, rear left), world frame."""
    x, y, th = pose
    c, s = math.cos(th), math.sin(th)
    hw = BODY_WIDTH_M / 2
    local = ((BODY_FRONT_M, hw), (BODY_FRONT_M, -hw), (-BODY_REAR_M, -hw), (-BODY_REAR_M, hw))
    return [(x + fx * c - fy * s, y + fx * s + fy * c) for fx, fy in local]


def _point_segment(px: float, py: float, w: Segment) -> float:
    x0, y0, x1, y1 = w
    ex, ey = x1 - x0, y1 - y0
    L2 = ex * ex + ey * ey
    u = 0.0 if L2 == 0 else max(0.0, min(1.0, ((px - x0) * ex + (py - y0) * ey) / L2))
    return math.hypot(px - (x0 + u * ex), py - (y0 + u * ey))


def _inside(px: float, py: float, poly: list[Point]) -> bool:
    """Inside a convex polygon given in either winding."""
    signs = [(bx - ax) * (py - ay) - (by - ay) * (px - ax) for (ax, ay), (bx, by) in pairwise([*poly, poly[0]])]
    return all(v >= 0 for v in signs) or all(v <= 0 for v in signs)


def _crosses(a: Segment, b: Segment) -> bool:
    def orient(px: float, py: float, qx: float, qy: float, rx: float, ry: float) -> float:
        return (qx - px) * (ry - py) - (qy - py) * (rx - px)

    d1 = orient(b[0], b[1], b[2], b[3], a[0], a[1])
    d2 = orient(b[0], b[1], b[2], b[3], a[2], a[3])
    d3 = orient(a[0], a[1], a[2], a[3], b[0], b[1])
    d4 = orient(a[0], a[1], a[2], a[3], b[2], b[3])
    return d1 * d2 < 0 and d3 * d4 < 0


def wall_clearance(pose: tuple[float, float, float], wall: Segment) -> float:
    """Distance from the body to a wall segment (0 when they touch or overlap)."""
    poly = corners(pose)
    edges = [(a[0], a[1], b[0], b[1]) for a, b in pairwise([*poly, poly[0]])]
    if _inside(wall[0], wall[1], poly) or any(_crosses(wall, e) for e in edges):
        return 0.0
    d = min(_point_segment(px, py, wall) for px, py in poly)
    return min(d, *(_point_segment(wall[0], wall[1], e) for e in edges),
               *(_point_segment(wall[2], wall[3], e) for e in edges))


def room_clearance(pose: tuple[float, float, float], room: tuple[float, float]) -> float:
    """Distance from the body to the walls of the room [0, rx] x [0, ry] (negative: through one)."""
    rx, ry = room
    return min(min(px, py, rx - px, ry - py) for px, py in corners(pose))


def body_clearance(pose: tuple[float, float, float], centre: Point, radius: float) -> float:
    """Distance from the body to a round body (cat, dog, person) of ``radius``."""
    poly = corners(pose)
    if _inside(centre[0], centre[1], poly):
        return -radius
    edges = [(a[0], a[1], b[0], b[1]) for a, b in pairwise([*poly, poly[0]])]
    return min(_point_segment(centre[0], centre[1], e) for e in edges) - radius
