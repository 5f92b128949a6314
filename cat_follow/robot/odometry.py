"""Dead reckoning of (x, y, heading) from the commanded speed and steering (bicycle model).

Frame: origin where the service started, x forward, y left, heading counter-clockwise in
radians. PiCar-X steering is positive to the RIGHT (clockwise), hence the minus sign.
The pose lives in the pool's ``odometry`` array and is updated in place.
"""

from __future__ import annotations

import math

import numpy as np

from cat_follow.calib.store import Calibration


def wheel_speed_mps(cal: Calibration, speed_cmd: float, steer_deg: float) -> float:
    """Ground speed of the rear-axle centre. picarx's forward() scales the inner wheel's
    command by (100 - |steer|)/100, so the centre moves at the mean of the two wheels."""
    inner = speed_cmd * (100.0 - min(abs(steer_deg), 30.0)) / 100.0
    return 0.5 * (cal.speed_mps(speed_cmd) + cal.speed_mps(inner))


def yaw_rate(v_mps: float, steer_deg: float, wheelbase_m: float) -> float:
    """Heading change (rad/s, counter-clockwise) of a bicycle steering ``steer_deg`` right."""
    return -v_mps * math.tan(math.radians(steer_deg)) / wheelbase_m


def integrate(pose: np.ndarray, v_mps: float, steer_deg: float, wheelbase_m: float, dt: float) -> None:
    """Advance ``pose`` = [x, y, heading] in place by ``dt`` seconds (exact arc for constant
    inputs, so the result does not depend on the tick length)."""
    x, y, th = float(pose[0]), float(pose[1]), float(pose[2])
    w = yaw_rate(v_mps, steer_deg, wheelbase_m)
    if abs(w) < 1e-9:
        x += v_mps * math.cos(th) * dt
        y += v_mps * math.sin(th) * dt
    else:
        th1 = th + w * dt
        r = v_mps / w
        x += r * (math.sin(th1) - math.sin(th))
        y -= r * (math.cos(th1) - math.cos(th))
        th = th1
    pose[0], pose[1] = x, y
    pose[2] = math.atan2(math.sin(th), math.cos(th))


class Odometry:
    """Owns ``pool.odometry``; only the main thread calls ``update``."""

    def __init__(self, pose: np.ndarray, cal: Calibration) -> None:
        self.pose = pose
        self.cal = cal
        self.distance_m = 0.0

    def update(self, speed_cmd: float, steer_deg: float, dt: float) -> None:
        v = wheel_speed_mps(self.cal, speed_cmd, steer_deg)
        integrate(self.pose, v, steer_deg, self.cal.wheelbase_m, dt)
        self.distance_m += abs(v) * dt

    def as_tuple(self) -> tuple[float, float, float]:
        return float(self.pose[0]), float(self.pose[1]), float(self.pose[2])
