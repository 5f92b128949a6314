"""A simulated PiCar-X with the real car's limits, lags and sensor failures.

The Car calls go through the same picar-x call sequence as PicarxCar (``drive_calls``), into
a model of what picar-x does with them (``PicarxModel``: the remembered steering angle, the
per-wheel duty set at ``forward`` time, its speed-to-duty mapping). Each wheel turns at a
ground speed read off the sim's own duty -> m/s table (NOT the calibration's: a real car is
never exactly calibrated, and odometry must be judged against the car, not against itself),
reached with a first-order lag; servos slew (not jump); the true pose follows a kinematic
bicycle on the servo's ACTUAL angle at the mean of the two wheel speeds. The ultrasonic sensor sits where the
PiCar-X's does, on the front bumper (``SONAR_FORWARD_M`` ahead of the rear axle), and sees walls
and round obstacles in a cone from there, with noise, a 4 m range and dropouts that read -1;
each reading takes time. ``fail_next`` makes the next I2C-backed call raise like a Robot HAT that went away.

Time comes from an injected clock, so tests can step it; state is guarded by a lock because
the sensor thread reads while the car thread drives.
"""

from __future__ import annotations

import itertools
import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from cat_follow.calib.store import Calibration
from cat_follow.car.interface import Car, Order, clamp
from cat_follow.car.picarx_car import drive_calls, look_calls
from cat_follow.car.picarx_model import SONAR_FORWARD_M, PicarxModel

SUBSTEP_S = 0.005


@dataclass
class SimWorld:
    """A rectangular room (x0, y0, x1, y1), wall segments (x0, y0, x1, y1) inside it and round
    obstacles (x, y, radius), metres."""

    room: tuple[float, float, float, float] | None = (-1.0, -2.0, 3.0, 2.0)
    obstacles: list[tuple[float, float, float]] = field(default_factory=list)
    walls: tuple[tuple[float, float, float, float], ...] = ()


# PWM duty (percent) -> wheel ground speed (m/s) of a TT gear motor on two 18650 cells: it
# stalls below about half duty. With speed_scale 1 it passes through the default calibration's
# rows at the duties picar-x gives those commands (10 -> 55 %, 30 -> 65 %, 50 -> 75 %, 100 -> 100 %).
DUTY_TABLE = ((0.0, 0.0), (50.0, 0.0), (55.0, 0.10), (65.0, 0.20), (75.0, 0.30), (100.0, 0.55))


def _interp(table: tuple[tuple[float, float], ...], x: float) -> float:
    for (x0, y0), (x1, y1) in itertools.pairwise(table):
        if x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0) if x1 > x0 else y1
    return table[-1][1]


def integrate(pose: np.ndarray, v_mps: float, steer_deg: float, wheelbase_m: float, dt: float) -> None:
    """The true motion: a kinematic bicycle, steering positive to the right (clockwise); one
    step of ``dt`` (the sim's 5 ms substeps keep the Euler error far below the odometry's)."""
    w = -v_mps * math.tan(math.radians(steer_deg)) / wheelbase_m
    th = float(pose[2]) + 0.5 * w * dt  # midpoint heading
    pose[0] += v_mps * math.cos(th) * dt
    pose[1] += v_mps * math.sin(th) * dt
    th2 = float(pose[2]) + w * dt
    pose[2] = math.atan2(math.sin(th2), math.cos(th2))


@dataclass(frozen=True)
class SimParams:
    speed_scale: float = 0.93        # scales DUTY_TABLE: 7 % slower than the default calibration
    duty_table: tuple[tuple[float, float], ...] = DUTY_TABLE
    motor_tau_s: float = 0.15        # motor + gearbox time constant
    servo_rate_dps: float = 400.0    # SG90-class servo under load
    range_max_cm: float = 400.0
    range_min_cm: float = 2.0
    cone_half_deg: float = 15.0
    range_noise_cm: float = 0.5
    dropout: float = 0.03            # share of readings that come back -1 (no echo)
    read_latency_s: float = 0.008


class SimCar(Car):
    def __init__(self, cal: Calibration, *, start: tuple[float, float, float] = (0.0, 0.0, 0.0),
                 world: SimWorld | None = None, params: SimParams | None = None,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 seed: int = 0) -> None:
        self.cal = cal
        self.params = params or SimParams()
        self.world = world if world is not None else SimWorld()
        self.clock, self.sleep = clock, sleep
        self.rng = random.Random(seed)
        self.start = start
        self.pose = np.array([start[0], start[1], math.radians(start[2])], dtype=np.float64)
        self.v = 0.0                # actual ground speed, m/s
        self.steer = 0.0            # actual servo angles, deg
        self.pan = 0.0
        self.tilt = 0.0
        self.applied = Order()
        self.px = PicarxModel()     # what picar-x was told (the sim's side of the picar-x calls)
        self.fail_next: BaseException | None = None
        self.zeros: dict[str, float] = {}
        self.calls = 0
        self.moving_drives = 0      # drive calls that left a motor turning (non-zero speed)
        self.travelled_m = 0.0      # path length of the rear axle's centre, either direction
        self._t = clock()
        self._lock = threading.Lock()

    # ---- physics -----------------------------------------------------------------------
    def advance(self) -> None:
        """Integrate the true state up to the clock's now."""
        with self._lock:
            self._advance_locked()

    def _advance_locked(self) -> None:
        now = self.clock()
        p = self.params
        target_v = self.ground_speed_mps()
        while self._t < now:
            dt = min(SUBSTEP_S, now - self._t)
            self._t += dt
            step = p.servo_rate_dps * dt
            self.steer += clamp(self.px.dir_current_angle - self.steer, -step, step)
            self.pan += clamp(self.px.pan - self.pan, -step, step)
            self.tilt += clamp(self.px.tilt - self.tilt, -step, step)
            self.v += (target_v - self.v) * (1 - math.exp(-dt / p.motor_tau_s))
            self.travelled_m += abs(self.v) * dt
            integrate(self.pose, self.v, self.steer, self.cal.wheelbase_m, dt)

    def ground_speed_mps(self) -> float:
        """The speed the rear axle's centre settles at: the mean of the two wheels' speeds,
        each from its duty as picar-x last set it."""
        p = self.params
        wheels = [d * p.speed_scale * _interp(p.duty_table, duty) for d, duty in zip(self.px.direction, self.px.duty,
                                                                                    strict=True)]
        return 0.5 * (wheels[0] + wheels[1])

    def _io(self) -> None:
        self.calls += 1
        if self.fail_next is not None:
            exc, self.fail_next = self.fail_next, None
            raise exc

    # ---- Car interface -----------------------------------------------------------------
    def drive(self, speed: float, steer_deg: float) -> None:
        with self._lock:
            self._advance_locked()
            self._io()
            self.applied = drive_calls(self.px, self.applied, speed, steer_deg)
            self.moving_drives += self.applied.speed != 0

    def look(self, pan_deg: float, tilt_deg: float) -> None:
        with self._lock:
            self._advance_locked()
            self._io()
            self.applied = look_calls(self.px, self.applied, pan_deg, tilt_deg)

    def stop(self) -> None:
        with self._lock:
            self._advance_locked()
            self.px.stop()
            self.applied = replace(self.applied, speed=0.0)

    def set_zero(self, which: str, degrees: float) -> None:
        with self._lock:
            self._io()
            self.zeros[which] = degrees

    def read_distance_cm(self) -> float:
        p = self.params
        self.sleep(p.read_latency_s * (0.5 + self.rng.random()))
        with self._lock:
            self._advance_locked()
            if self.rng.random() < p.dropout:
                return -1.0
            d = self._true_range_m()
        if d is None:
            return -1.0
        cm = d * 100 + self.rng.gauss(0.0, p.range_noise_cm)
        return round(max(p.range_min_cm, cm), 2)

    # ---- sensing -----------------------------------------------------------------------
    def sensor_pose(self) -> tuple[float, float, float]:
        """Where the ultrasonic sensor is and where it faces (world x, y, heading in radians)."""
        x, y, th = (float(v) for v in self.pose)
        return x + SONAR_FORWARD_M * math.cos(th), y + SONAR_FORWARD_M * math.sin(th), th

    def _true_range_m(self) -> float | None:
        """Nearest wall or obstacle in the sensor's cone, from the front bumper, facing forward."""
        x, y, th = self.sensor_pose()
        half = math.radians(self.params.cone_half_deg)
        best: float | None = None
        for k in range(-4, 5):  # rays across the cone
            a = th + half * k / 4
            r = self._ray(x, y, math.cos(a), math.sin(a))
            if r is not None and (best is None or r < best):
                best = r
        if best is None or best * 100 > self.params.range_max_cm:
            return None
        return best

    def _ray(self, x: float, y: float, dx: float, dy: float) -> float | None:
        hits = []
        if self.world.room is not None:
            x0, y0, x1, y1 = self.world.room
            for bound, d, o in ((x0, dx, x), (x1, dx, x), (y0, dy, y), (y1, dy, y)):
                if abs(d) > 1e-9:
                    t = (bound - o) / d
                    if t > 0:
                        hits.append(t)
        for x0, y0, x1, y1 in self.world.walls:
            ex, ey = x1 - x0, y1 - y0
            den = dx * ey - dy * ex
            if abs(den) > 1e-12:
                t = ((x0 - x) * ey - (y0 - y) * ex) / den
                u = ((x0 - x) * dy - (y0 - y) * dx) / den
                if t > 0 and 0 <= u <= 1:
                    hits.append(t)
        for ox, oy, rad in list(self.world.obstacles):
            fx, fy = x - ox, y - oy
            b = fx * dx + fy * dy
            c = fx * fx + fy * fy - rad * rad
            disc = b * b - c
            if disc >= 0:
                t = -b - math.sqrt(disc)
                if t > 0:
                    hits.append(t)
        return min(hits) if hits else None

    # ---- for tests and the simulator ---------------------------------------------------
    def pose_in_start_frame(self) -> tuple[float, float, float]:
        """The true pose expressed in the odometry frame (origin and heading at the start)."""
        with self._lock:
            self._advance_locked()
            x, y, th = (float(v) for v in self.pose)
        sx, sy, sth = self.start[0], self.start[1], math.radians(self.start[2])
        dx, dy = x - sx, y - sy
        c, s = math.cos(-sth), math.sin(-sth)
        rel = th - sth
        return dx * c - dy * s, dx * s + dy * c, math.atan2(math.sin(rel), math.cos(rel))
