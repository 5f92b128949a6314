"""The car's calibration file: geometry, speed table and camera model (read-only after load).

Written by the procedures in ``procedures.py`` on the car (``calibration/README.md``); until then the defaults below,
PiCar-X v2 figures with the Pi camera v2 (62.2 x 48.8 degree field of view), are used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from cat_follow.config_schema import build_section, document_as_toml, read_toml
from cat_follow.config_schema import field_doc as _f
from cat_follow.errors import ConfigError


@dataclass(frozen=True)
class Calibration:
    wheelbase_m: float = _f(0.095, "Distance between front and rear axles.", lo=0.02, hi=1.0)
    speed_table: tuple[tuple[float, float], ...] = _f(
        ((0.0, 0.0), (10.0, 0.10), (30.0, 0.20), (50.0, 0.30), (100.0, 0.55)),
        "Motor speed command -> ground speed (m/s), increasing rows; negative speeds mirror it.",
        row=2, min_rows=2)
    camera_hfov_deg: float = _f(62.2, "Camera horizontal field of view.", lo=10.0, hi=180.0)
    camera_vfov_deg: float = _f(48.8, "Camera vertical field of view.", lo=10.0, hi=180.0)
    camera_height_m: float = _f(0.11, "Camera height above the floor.", lo=0.0, hi=2.0)
    camera_forward_m: float = _f(0.07, "Camera ahead of the rear axle (m).",
                                 lo=-1.0, hi=1.0)
    steering_offset_deg: float = _f(0.0, "Steering servo zero (picar-x's picarx_dir_servo).", lo=-20.0, hi=20.0)
    pan_offset_deg: float = _f(0.0, "Camera pan zero (picarx_cam_pan_servo).", lo=-20.0, hi=20.0)
    tilt_offset_deg: float = _f(0.0, "Camera tilt zero (picarx_cam_tilt_servo).", lo=-20.0, hi=20.0)

    def check(self) -> None:
        cmds = [r[0] for r in self.speed_table]
        speeds = [r[1] for r in self.speed_table]
        if cmds[0] != 0.0 or speeds[0] != 0.0:
            raise ValueError("speed_table: the first row must be [0, 0]")
        if any(b <= a for a, b in pairwise(cmds)) or \
                any(b < a for a, b in pairwise(speeds)):
            raise ValueError("speed_table: commands must increase and speeds must not decrease")

    def speed_mps(self, command: float) -> float:
        """Ground speed for a motor command (piecewise linear; sign follows the command)."""
        mag = abs(command)
        table = self.speed_table
        if mag >= table[-1][0]:
            v = table[-1][1]
        else:
            v = 0.0
            for (c0, v0), (c1, v1) in pairwise(table):
                if mag <= c1:
                    v = v0 + (v1 - v0) * (mag - c0) / (c1 - c0)
                    break
        return math.copysign(v, command) if command else 0.0

    def focal_px(self, width_px: int) -> float:
        """Pinhole focal length in pixels for an image ``width_px`` wide."""
        return (width_px / 2) / math.tan(math.radians(self.camera_hfov_deg) / 2)


def load_calibration(path: str | Path | None) -> Calibration:
    """The calibration in ``path``; None or "" gives the defaults. Errors name the key."""
    if not path:
        return Calibration()
    p = Path(path)
    data = read_toml(p, "calibration file")
    try:
        cal: Calibration = build_section("calibration", Calibration, data)
    except ConfigError as exc:
        raise ConfigError(f"{p}: {exc}") from exc
    return cal


def calibration_as_toml(cal: Calibration) -> str:
    return document_as_toml([(None, cal)], "cat_follow calibration")
