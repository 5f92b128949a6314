"""A top view of a run: the room, the robot's true path, its odometry, the cat's path and the
decoys' paths."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from cat_follow.errors import CatFollowError
from cat_follow.sim.metrics import Sample
from cat_follow.sim.scenario import Scenario

PX_PER_M = 120
MARGIN = 40
TRUE, ODOM, CAT, WALL, DECOY = (40, 160, 40), (200, 90, 30), (0, 140, 255), (60, 60, 60), (40, 40, 200)


def plot_paths(path: Path, sc: Scenario, samples: Sequence[Sample]) -> None:
    rx, ry = sc.room
    w, h = int(rx * PX_PER_M) + 2 * MARGIN, int(ry * PX_PER_M) + 2 * MARGIN + 40
    img = np.full((h, w, 3), 255, np.uint8)

    def px(x: float, y: float) -> tuple[int, int]:
        return int(MARGIN + x * PX_PER_M), int(MARGIN + (ry - y) * PX_PER_M)

    cv2.rectangle(img, px(0, 0), px(rx, ry), WALL, 2)
    for x0, y0, x1, y1 in sc.walls:
        cv2.line(img, px(x0, y0), px(x1, y1), WALL, 3)
    for key, color in (("cat", CAT), ("robot", TRUE), ("odom", ODOM)):
        pts = [px(*getattr(s, key)[:2]) for s in samples if getattr(s, key) is not None]
        if len(pts) > 1:
            cv2.polylines(img, [np.array(pts, np.int32)], False, color, 2, cv2.LINE_AA)
    for d in sc.decoys:  # each decoy's whole path, and where it starts
        pts = [px(x, y) for x, y in d.path]
        cv2.polylines(img, [np.array(pts, np.int32)], False, DECOY, 1, cv2.LINE_AA)
        cv2.circle(img, pts[0], max(2, int(d.radius_m * PX_PER_M)), DECOY, 1, cv2.LINE_AA)
    if samples:
        cv2.circle(img, px(*samples[0].robot[:2]), 6, TRUE, -1)
        cv2.circle(img, px(*samples[-1].robot[:2]), 6, TRUE, 2)
    legend = (("robot (true)", TRUE), ("robot (odometry)", ODOM), ("cat", CAT), ("decoys", DECOY))
    for i, (label, color) in enumerate(legend):
        x = MARGIN + i * 170
        cv2.line(img, (x, h - 20), (x + 30, h - 20), color, 3)
        cv2.putText(img, label, (x + 36, h - 15), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, f"{sc.name}: 1 m = {PX_PER_M} px", (MARGIN, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1,
                cv2.LINE_AA)
    if not cv2.imwrite(str(path), img):
        raise CatFollowError(f"cannot write plot {path}")
