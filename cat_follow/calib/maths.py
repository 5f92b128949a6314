"""Calibration maths, separate from the hardware so it can be checked on synthetic data."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

MIN_SAMPLES = 5


def fit_speed_mps(samples: Sequence[tuple[float, float]], skip_s: float = 0.3) -> float:
    """Ground speed from ultrasonic ranges (seconds, cm) taken while driving straight at a
    wall. Readings of -1/-2 (unknown) and the first ``skip_s`` (the motor spinning up) are
    dropped; the slope is the median of pairwise slopes (Theil-Sen), so a few bad echoes
    do not move it."""
    good = [(t, d) for t, d in samples if d > 0]
    if not good:
        raise ValueError("no valid ultrasonic reading")
    t0 = good[0][0]
    pts = [(t, d) for t, d in good if t - t0 >= skip_s]
    if len(pts) < MIN_SAMPLES:
        raise ValueError(f"only {len(pts)} valid readings after {skip_s} s; need {MIN_SAMPLES}")
    slopes = [(d2 - d1) / (t2 - t1) for i, (t1, d1) in enumerate(pts) for t2, d2 in pts[i + 1:] if t2 - t1 > 1e-6]
    return -float(np.median(slopes)) / 100.0


def speed_table(measured: dict[float, float]) -> tuple[tuple[float, float], ...]:
    """Calibration rows [(command, m/s)] from measured speeds: (0, 0) first, commands
    increasing, speeds made non-decreasing (a noisy slower reading is raised to its
    predecessor: the table must be monotonic to be inverted)."""
    rows = [(0.0, 0.0)]
    for cmd in sorted(c for c in measured if c > 0):
        rows.append((float(cmd), max(rows[-1][1], float(measured[cmd]))))
    if len(rows) < 2:
        raise ValueError("no positive speed measured")
    return tuple(rows)


@dataclass(frozen=True)
class Intrinsics:
    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int
    rms_px: float
    dist: tuple[float, ...]

    @property
    def hfov_deg(self) -> float:
        return math.degrees(2 * math.atan(self.width / (2 * self.fx)))

    @property
    def vfov_deg(self) -> float:
        return math.degrees(2 * math.atan(self.height / (2 * self.fy)))


def board_points(cols: int, rows: int, square_m: float) -> np.ndarray:
    """The inner corners of a cols x rows chessboard in its own plane (z = 0), metres."""
    grid = np.zeros((rows * cols, 3), np.float32)
    grid[:, :2] = np.mgrid[0:cols, 0:rows].T.reshape(-1, 2) * square_m
    return grid


def find_corners(image: np.ndarray, cols: int, rows: int) -> np.ndarray | None:
    """Sub-pixel inner corners of the chessboard in ``image``, or None if it is not seen."""
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    found, corners = cv2.findChessboardCorners(gray, (cols, rows),
                                               cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_NORMALIZE_IMAGE)
    if not found:
        return None
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 30, 0.001)
    return cv2.cornerSubPix(gray, corners, (11, 11), (-1, -1), criteria)


def calibrate_camera(views: Iterable[np.ndarray], cols: int, rows: int, square_m: float,
                     size: tuple[int, int]) -> Intrinsics:
    """Pinhole intrinsics from corner sets of several views (OpenCV's calibrateCamera)."""
    img_pts = [v.reshape(-1, 1, 2).astype(np.float32) for v in views]
    if len(img_pts) < 3:
        raise ValueError(f"need at least 3 views of the chessboard, got {len(img_pts)}")
    obj = [board_points(cols, rows, square_m)] * len(img_pts)
    rms, k, dist, _, _ = cv2.calibrateCamera(obj, img_pts, size, None, None)
    return Intrinsics(float(k[0, 0]), float(k[1, 1]), float(k[0, 2]), float(k[1, 2]), size[0], size[1],
                      float(rms), tuple(float(v) for v in dist.ravel()))


def chessboard_image(cols: int, rows: int, square_px: int, margin_px: int = 40) -> np.ndarray:
    """A printable board with ``cols`` x ``rows`` INNER corners (so cols+1 x rows+1 squares)."""
    h, w = (rows + 1) * square_px + 2 * margin_px, (cols + 1) * square_px + 2 * margin_px
    img = np.full((h, w), 255, np.uint8)
    for r in range(rows + 1):
        for c in range(cols + 1):
            if (r + c) % 2 == 0:
                y, x = margin_px + r * square_px, margin_px + c * square_px
                img[y:y + square_px, x:x + square_px] = 0
    return img


# ---- picar-x's own calibration file (robot_hat.fileDB format: "name = value" lines) -----
PICARX_KEYS = {"steering": "picarx_dir_servo", "pan": "picarx_cam_pan_servo", "tilt": "picarx_cam_tilt_servo"}


def read_picarx_conf(path: Path) -> dict[str, str]:
    """The name = value pairs of picar-x.conf ({} when it does not exist)."""
    if not path.is_file():
        return {}
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#") and "=" in line:
            name, value = line.split("=", 1)
            out[name.strip()] = value.strip()
    return out


def write_picarx_conf(path: Path, updates: dict[str, str]) -> None:
    """Set ``updates`` in picar-x.conf, keeping every other line as it was."""
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else [
        "# robot-hat config and calibration value of robots", ""]
    done = set()
    for i, line in enumerate(lines):
        if line.strip() and not line.lstrip().startswith("#") and "=" in line:
            name = line.split("=", 1)[0].strip()
            if name in updates:
                lines[i] = f"{name} = {updates[name]}"
                done.add(name)
    lines += [f"{k} = {v}" for k, v in updates.items() if k not in done]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
