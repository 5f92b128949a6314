"""A top view of a run: the room, the robot's true path, its odometry, the cat's path and the
decoys' paths.

The true path is drawn wide and pale, the odometry thin and dashed on top of it, so both show
where they agree; start (filled dot) and end (ring) markers are in the legend, which is laid
out by measured text width below the room.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from cat_follow.errors import CatFollowError
from cat_follow.sim.metrics import Sample
from cat_follow.sim.scenario import Scenario

PX_PER_M = 120
MARGIN = 40
LEGEND_H = 56
TRUE, ODOM, CAT, WALL, INK = (120, 200, 120), (200, 90, 30), (0, 140, 255), (60, 60, 60), (0, 0, 0)
DECOY = (40, 40, 200)
FONT = cv2.FONT_HERSHEY_SIMPLEX
DASH_PX, GAP_PX = 9, 6


def _dashed(img: np.ndarray, pts: Sequence[tuple[int, int]], color: tuple[int, int, int], width: int) -> None:
    """A dashed polyline: dashes of DASH_PX every DASH_PX + GAP_PX pixels of path length."""
    period, pos = DASH_PX + GAP_PX, 0.0
    for (x0, y0), (x1, y1) in itertools.pairwise(pts):
        seg = math.hypot(x1 - x0, y1 - y0)
        s = 0.0
        while s < seg:
            phase = (pos + s) % period
            run = min((DASH_PX - phase) if phase < DASH_PX else (period - phase), seg - s)
            if phase < DASH_PX:
                a, b = s / seg, (s + run) / seg
                cv2.line(img, (round(x0 + a * (x1 - x0)), round(y0 + a * (y1 - y0))),
                         (round(x0 + b * (x1 - x0)), round(y0 + b * (y1 - y0))), color, width, cv2.LINE_AA)
            s += max(run, 1e-6)
        pos += seg


def _legend(img: np.ndarray, top: int) -> None:
    """Line samples and markers with their labels, placed left to right by measured width."""
    x, y = MARGIN, top + 20
    entries: list[tuple[str, str, tuple[int, int, int]]] = [
        ("robot, true path", "wide", TRUE), ("robot, odometry", "dashed", ODOM), ("cat", "line", CAT),
        ("decoys", "line", DECOY), ("start", "dot", INK), ("end", "ring", INK)]
    for label, kind, color in entries:
        (tw, _), _ = cv2.getTextSize(label, FONT, 0.5, 1)
        need = (36 if kind in ("wide", "dashed", "line") else 20) + tw + 24
        if x + need > img.shape[1] - 8:  # next row
            x, y = MARGIN, y + 24
        if kind == "wide":
            cv2.line(img, (x, y - 5), (x + 30, y - 5), color, 7)
        elif kind == "dashed":
            _dashed(img, [(x, y - 5), (x + 30, y - 5)], color, 2)
        elif kind == "line":
            cv2.line(img, (x, y - 5), (x + 30, y - 5), color, 2)
        else:
            cv2.circle(img, (x + 6, y - 5), 6, color, -1 if kind == "dot" else 2)
        x += 36 if kind in ("wide", "dashed", "line") else 20
        cv2.putText(img, label, (x, y), FONT, 0.5, INK, 1, cv2.LINE_AA)
        x += tw + 24


def plot_paths(path: Path, sc: Scenario, samples: Sequence[Sample]) -> None:
    """Write the top view PNG to ``path``; CatFollowError if it cannot be written."""
    rx, ry = sc.room
    room_w, room_h = int(rx * PX_PER_M), int(ry * PX_PER_M)
    w, h = room_w + 2 * MARGIN, room_h + 2 * MARGIN + LEGEND_H
    img = np.full((h, w, 3), 255, np.uint8)

    def px(x: float, y: float) -> tuple[int, int]:
        return int(MARGIN + x * PX_PER_M), int(MARGIN + (ry - y) * PX_PER_M)

    cv2.rectangle(img, px(0, 0), px(rx, ry), WALL, 2)
    for x0, y0, x1, y1 in sc.walls:
        cv2.line(img, px(x0, y0), px(x1, y1), WALL, 3)
    paths = {key: [px(*getattr(s, key)[:2]) for s in samples if getattr(s, key) is not None]
             for key in ("cat", "robot", "odom")}
    if len(paths["robot"]) > 1:  # wide first: the thin lines on top leave it visible
        cv2.polylines(img, [np.array(paths["robot"], np.int32)], False, TRUE, 7, cv2.LINE_AA)
    if len(paths["cat"]) > 1:
        cv2.polylines(img, [np.array(paths["cat"], np.int32)], False, CAT, 2, cv2.LINE_AA)
    if len(paths["odom"]) > 1:
        _dashed(img, paths["odom"], ODOM, 2)
    for d in sc.decoys:  # each decoy's whole path, and its size where it starts
        pts = [px(x, y) for x, y in d.path]
        cv2.polylines(img, [np.array(pts, np.int32)], False, DECOY, 2, cv2.LINE_AA)
        cv2.circle(img, pts[0], max(2, int(d.radius_m * PX_PER_M)), DECOY, 1, cv2.LINE_AA)
    for key, color in (("robot", (40, 140, 40)), ("cat", CAT)):
        if paths[key]:
            cv2.circle(img, paths[key][0], 6, color, -1, cv2.LINE_AA)
            cv2.circle(img, paths[key][-1], 7, color, 2, cv2.LINE_AA)
    title = f"{sc.name}: top view, 1 m = {PX_PER_M} px"
    if samples and samples[-1].odom is not None:
        r, o = samples[-1].robot, samples[-1].odom
        title += f"; odometry off by {math.hypot(r[0] - o[0], r[1] - o[1]):.2f} m at the end"
    cv2.putText(img, title, (MARGIN, 26), FONT, 0.55, INK, 1, cv2.LINE_AA)
    _legend(img, room_h + 2 * MARGIN - 10)
    if not cv2.imwrite(str(path), img):
        raise CatFollowError(f"cannot write plot {path}")
