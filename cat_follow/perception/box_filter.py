"""A track's motion model: a constant-velocity Kalman filter on the box centre, a random walk on
its size.

Four independent 1-D filters (centre x, centre y, width, height), each with a position and a
velocity (held at zero for the size: detections every 5th frame give a size velocity so noisy
that a track coasting for a second shrank to nothing and was never matched again), on the
frames' own clock (nanoseconds), so a detection is compared with the track
as predicted for the time of ITS frame. The noise follows ByteTrack's choice (its
``std_weight_position`` 1/20 and ``std_weight_velocity`` 1/160 of the box size per frame at
30 fps): proportional to the box's size, so near and far animals are treated alike. These are
the paper's values, not tuned here. Pure Python floats: a few microseconds per step, nothing
allocated beyond the object.
"""

from __future__ import annotations

from cat_follow.geometry import Box

FRAME_S = 1.0 / 30.0   # ByteTrack's noise is per frame of a 30 fps video
POS_STD = 1.0 / 20.0   # share of the box size (ByteTrack std_weight_position)
VEL_STD = 1.0 / 160.0  # share of the box size per frame (ByteTrack std_weight_velocity)


class BoxFilter:
    """Owns one track's state: (cx, cy, w, h) and their velocities per second, with each
    coordinate's 2x2 covariance, valid at ``t_ns``."""

    __slots__ = ("p", "p00", "p01", "p11", "t_ns", "v")

    def __init__(self, box: Box, t_ns: int) -> None:
        x, y, w, h = box
        self.p = [x + w / 2, y + h / 2, w, h]
        self.v = [0.0, 0.0, 0.0, 0.0]
        s = max(w, h, 1.0)
        pos, vel = (2 * POS_STD * s) ** 2, (10 * VEL_STD * s / FRAME_S) ** 2  # ByteTrack's initial spread
        self.p00, self.p01, self.p11 = [pos] * 4, [0.0] * 4, [vel] * 4
        self.t_ns = t_ns

    def box_at(self, t_ns: int) -> Box:
        """The box predicted for ``t_ns`` (no state change)."""
        dt = (t_ns - self.t_ns) / 1e9
        cx, cy = self.p[0] + self.v[0] * dt, self.p[1] + self.v[1] * dt
        w, h = max(1.0, self.p[2] + self.v[2] * dt), max(1.0, self.p[3] + self.v[3] * dt)
        return (cx - w / 2, cy - h / 2, w, h)

    def predict(self, t_ns: int) -> None:
        """Advance to ``t_ns`` (never backwards: a late result is handled by the caller, who
        predicts to that result's own frame time, which is never before the last update)."""
        dt = (t_ns - self.t_ns) / 1e9
        if dt <= 0:
            return
        s = max(self.p[2], self.p[3], 1.0)
        frames = dt / FRAME_S
        qp, qv = (POS_STD * s) ** 2 * frames, (VEL_STD * s / FRAME_S) ** 2 * frames
        for i in range(4):
            self.p[i] += self.v[i] * dt
            p01, p11 = self.p01[i], self.p11[i]
            self.p00[i] += 2 * dt * p01 + dt * dt * p11 + qp
            self.p01[i] = p01 + dt * p11
            self.p11[i] = p11 + qv
        self.p[2], self.p[3] = max(1.0, self.p[2]), max(1.0, self.p[3])
        self.t_ns = t_ns

    def update(self, box: Box, t_ns: int) -> None:
        """Fold in a measured box of the frame at ``t_ns``."""
        self.predict(t_ns)
        x, y, w, h = box
        z = (x + w / 2, y + h / 2, w, h)
        r = (POS_STD * max(w, h, 1.0)) ** 2
        for i in range(4):
            s = self.p00[i] + r
            k0, k1 = self.p00[i] / s, self.p01[i] / s
            e = z[i] - self.p[i]
            self.p[i] += k0 * e
            self.v[i] += k1 * e if i < 2 else 0.0
            p00, p01, p11 = self.p00[i], self.p01[i], self.p11[i]
            self.p00[i] = (1 - k0) * p00
            self.p01[i] = (1 - k0) * p01
            self.p11[i] = p11 - k1 * p01
