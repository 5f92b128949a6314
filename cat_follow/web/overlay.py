"""What the stream shows on top of the camera frame: the box with its label, score, source and
track id, every other animal or person tracked (grey, with its id and class belief), the
robot's state and why, each thread's fps, the motor commands and the car's path.

``draw_overlay`` copies the frame into a canvas it is given (the one copy) and draws there;
it never writes to the frame it reads, which is a shared slot of the pool.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from cat_follow.memory.pool import SOURCE_DETECTOR, SOURCE_NAMES
from cat_follow.perception.target import TargetState

COLOR_DETECTOR = (0, 165, 255)  # BGR orange
COLOR_TRACKER = (0, 220, 0)
COLOR_TRACK = (170, 170, 170)  # a tracked animal or person that is not followed
FONT = cv2.FONT_HERSHEY_SIMPLEX
INSET_PX = 110  # side of the path inset, bottom right
INSET_M = 2.0  # metres shown either side of the car in the inset
STATUS_ROWS = ("state", "fps", "motors")  # the lines status_lines writes, top left


def whole(value: float) -> str:
    """``value`` rounded to a whole number, never ``-0``."""
    return str(round(value) + 0)


def box_label(record: Any, label: str) -> str:
    """``cat 0.87 detector`` for a valid box record (pool.BBOX or RESULT row), with ``#id`` of
    the followed track when it has one."""
    tid = int(record["track_id"]) if "track_id" in record.dtype.names else 0
    return f"{label} {float(record['score']):.2f} {SOURCE_NAMES[int(record['source'])]}" + (f" #{tid}" if tid else "")


def draw_tracks(canvas: np.ndarray, box: Any) -> None:
    """Every tracked animal or person that is not followed: a thin grey box, its id and class
    belief (``#3 cat 0.97``, or ``dog`` when P(dog) is the larger)."""
    for t in box["tracks"][: int(box["n_tracks"])]:
        if int(t["id"]) == int(box["track_id"]) and box["valid"]:
            continue
        x, y, w, h = (round(float(t[k])) for k in ("x", "y", "w", "h"))
        cv2.rectangle(canvas, (x, y), (x + w, y + h), COLOR_TRACK, 1)
        cat, dog = float(t["p_cat"]), float(t["p_dog"])
        _text(canvas, f"#{int(t['id'])} " + (f"cat {cat:.2f}" if cat >= dog else f"dog {dog:.2f}"),
              (x + 2, y + h - 4), 0.4)


def _text(canvas: np.ndarray, text: str, org: tuple[int, int], scale: float = 0.5) -> None:
    """White text on a dark outline, readable on any background."""
    cv2.putText(canvas, text, org, FONT, scale, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(canvas, text, org, FONT, scale, (255, 255, 255), 1, cv2.LINE_AA)


def status_lines(status: dict[str, Any]) -> list[str]:
    """The state and why, each thread's fps, and the motors, as short lines."""
    state = str(status.get("state", "?"))
    why = status.get("stop_reason") if state == "idle" else None
    motors = status.get("motors") or {}
    if motors.get("limited_by"):
        why = motors["limited_by"]
    if status.get("reason"):  # a reason the robot gives for not moving, where it gives one
        why = status["reason"]
    lines = [state.upper() + (f": {why}" if why else "")]
    fps = status.get("fps") or {}
    if fps:
        lines.append("fps " + " ".join(f"{k} {float(v):.0f}" for k, v in fps.items()))
    if motors:
        lines.append(f"speed {whole(motors.get('speed', 0.0))} steer {whole(motors.get('steer', 0.0))} "
                     f"pan {whole(motors.get('pan', 0.0))} tilt {whole(motors.get('tilt', 0.0))}")
    return lines


def _path_inset(canvas: np.ndarray, trail: np.ndarray, pose: tuple[float, float, float] | None) -> None:
    """The car's path (odometry, metres) in a small top view, the car at its centre, x up."""
    h, w = canvas.shape[:2]
    if pose is None or trail.shape[0] < 1 or h < 2 * INSET_PX or w < 2 * INSET_PX:
        return
    x0, y0 = w - INSET_PX - 6, h - INSET_PX - 6
    roi = canvas[y0:y0 + INSET_PX, x0:x0 + INSET_PX]
    roi //= 2  # darken in place (the canvas is ours)
    k = INSET_PX / (2 * INSET_M)
    c = INSET_PX / 2
    # odometry x forward, y left -> inset column = c - k*(y - y_car), row = c - k*(x - x_car)
    cols = c - k * (trail[:, 1] - pose[1])
    rows = c - k * (trail[:, 0] - pose[0])
    pts = np.stack([cols, rows], axis=1).astype(np.int32)
    cv2.polylines(roi, [pts], False, (255, 200, 0), 1, cv2.LINE_AA)
    tip = (int(c - k * 0.25 * np.sin(pose[2])), int(c - k * 0.25 * np.cos(pose[2])))
    cv2.arrowedLine(roi, (int(c), int(c)), tip, (0, 0, 255), 2, cv2.LINE_AA, tipLength=0.4)
    _text(canvas, "path", (x0 + 4, y0 + 14), 0.4)


def draw_overlay(canvas: np.ndarray, pixels: np.ndarray, box: Any, label: str, status: dict[str, Any],
                 trail: np.ndarray, held_s: float = 0.0) -> None:
    """Copy ``pixels`` into ``canvas`` and draw the box record ``box`` (pool.BBOX; ``held_s`` > 0:
    the last box, that old, drawn thin), ``status`` (the robot's status dict) and ``trail``
    (N x 2 odometry points) on it."""
    np.copyto(canvas, pixels)  # copy: the one copy of the web view's drawing
    if box is not None and not held_s:
        draw_tracks(canvas, box)
    if box is not None and box["valid"]:
        x, y, w, h = (round(float(box[k])) for k in ("x", "y", "w", "h"))
        color = COLOR_DETECTOR if int(box["source"]) == SOURCE_DETECTOR else COLOR_TRACKER
        cv2.rectangle(canvas, (x, y), (x + w, y + h), color, 1 if held_s else 2)
        state = TargetState(int(box["target_state"])).label
        text = f"{box_label(box, label)} {state}" + (f" (last seen {held_s:.1f} s ago)" if held_s else "")
        top = 20 * len(STATUS_ROWS) + 8  # below the status lines: else inside the box
        _text(canvas, text, (x + 2, y - 6 if y - 6 >= top else y + 18))
    for i, line in enumerate(status_lines(status)):
        _text(canvas, line, (8, 20 + 20 * i))
    pose = status.get("pose")
    _path_inset(canvas, trail, (pose["x"], pose["y"], np.radians(pose["heading_deg"])) if pose else None)
