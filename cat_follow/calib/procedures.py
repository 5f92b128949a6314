"""Calibration procedures a user runs on the car (or on the simulated car, to try them).

Each one talks to the user through ``ask``/``say`` (stdin/stdout by default), moves the car
through the Car interface from the calling thread only, always stops the motors on the way
out, and returns what it measured; ``save_calibration`` writes it to the one calibration
file the app reads, and servo zeros also go to picar-x's own file so both agree.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from cat_follow.calib.maths import (
    PICARX_KEYS,
    Intrinsics,
    calibrate_camera,
    find_corners,
    fit_speed_mps,
    write_picarx_conf,
)
from cat_follow.calib.store import Calibration, calibration_as_toml, load_calibration
from cat_follow.car.interface import Car
from cat_follow.errors import CatFollowError

Ask = Callable[[str], str]
Say = Callable[[str], None]
ZERO_LIMIT = 20.0
CAL_FIELD = {"steering": "steering_offset_deg", "pan": "pan_offset_deg", "tilt": "tilt_offset_deg"}


class Cancelled(CatFollowError):
    """The user quit a procedure; nothing was saved."""


def servo_zero(car: Car, which: str, start: float, ask: Ask, say: Say) -> float:
    """Nudge servo ``which`` (steering, pan, tilt) until it looks straight; returns its zero."""
    value = start
    car.set_zero(which, value)
    say(f"{which}: adjust until it points straight ahead.")
    while True:
        reply = ask(f"{which} zero {value:+.1f} deg  [+/- 0.5, ++/-- 2, a number, s = save, q = quit] ").strip()
        if reply == "s":
            return value
        if reply == "q":
            raise Cancelled(f"{which} zero not changed")
        steps = {"+": 0.5, "-": -0.5, "++": 2.0, "--": -2.0}
        if reply in steps:
            value += steps[reply]
        else:
            try:
                value = float(reply)
            except ValueError:
                say(f"not understood: {reply!r}")
                continue
        value = max(-ZERO_LIMIT, min(ZERO_LIMIT, value))
        car.set_zero(which, value)


def _range_cm(car: Car, n: int = 5) -> float | None:
    readings = [d for d in (car.read_distance_cm() for _ in range(n)) if d > 0]
    return statistics.median(readings) if len(readings) >= 3 else None


def measure_speeds(car: Car, speeds: Sequence[float], ask: Ask, say: Say, *,
                   clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                   start_min_cm: float = 80.0, stop_cm: float = 30.0, max_s: float = 6.0) -> dict[float, float]:
    """Drive straight at a wall at each speed, timing the ultrasonic range; back up after."""
    results: dict[float, float] = {}
    for cmd in speeds:
        for _attempt in range(3):
            ask(f"speed {cmd:g}: put the car 1.5-2.5 m from a flat wall, facing it, wheels straight; Enter ")
            d0 = _range_cm(car)
            if d0 is not None and d0 >= start_min_cm:
                break
            say(f"range {'unknown' if d0 is None else f'{d0:.0f} cm'}: need a wall {start_min_cm:.0f}-300 cm ahead")
        else:
            raise CatFollowError(f"speed {cmd:g}: no wall at a usable distance")
        samples: list[tuple[float, float]] = []
        t0 = clock()
        try:
            car.drive(cmd, 0.0)
            while clock() - t0 < max_s:
                d = car.read_distance_cm()
                samples.append((clock() - t0, d))
                if 0 < d < stop_cm:
                    break
                sleep(0.05)
        finally:
            car.stop()
        driven = clock() - t0
        v = fit_speed_mps(samples)
        results[cmd] = v
        say(f"speed {cmd:g}: {v:.3f} m/s ({len(samples)} readings over {driven:.1f} s)")
        try:  # back to about where it started, for the next run
            car.drive(-cmd, 0.0)
            end = clock() + driven
            while clock() < end:
                sleep(0.05)
        finally:
            car.stop()
    return results


def camera_intrinsics(images: Sequence[np.ndarray], cols: int, rows: int, square_m: float,
                      say: Say) -> Intrinsics:
    """Intrinsics from chessboard views; says which views were usable."""
    views = []
    for i, img in enumerate(images):
        corners = find_corners(img, cols, rows)
        say(f"view {i + 1}: {'board found' if corners is not None else 'no board'}")
        if corners is not None:
            views.append(corners)
    h, w = images[0].shape[:2]
    intr = calibrate_camera(views, cols, rows, square_m, (w, h))
    say(f"fx {intr.fx:.1f} fy {intr.fy:.1f} px, centre ({intr.cx:.1f}, {intr.cy:.1f}), "
        f"field of view {intr.hfov_deg:.1f} x {intr.vfov_deg:.1f} deg, reprojection error {intr.rms_px:.2f} px")
    return intr


def load_images(folder: Path) -> list[np.ndarray]:
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp"))
    images = [img for img in (cv2.imread(str(p)) for p in paths) if img is not None]
    if len(images) < 3:
        raise CatFollowError(f"{folder}: need at least 3 readable chessboard photos, found {len(images)}")
    return images


def save_calibration(path: Path, **fields: Any) -> Calibration:
    """Replace ``fields`` in the calibration file (created with defaults if missing)."""
    cal = load_calibration(path) if path.is_file() else Calibration()
    cal = dataclasses.replace(cal, **fields)
    cal.check()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(calibration_as_toml(cal), encoding="utf-8")
    return cal


def save_zero(cal_path: Path, picarx_conf: Path, which: str, value: float) -> None:
    """A servo zero goes to both files, so the app and picar-x agree."""
    save_calibration(cal_path, **{CAL_FIELD[which]: value})
    write_picarx_conf(picarx_conf, {PICARX_KEYS[which]: f"{value:g}"})
