"""Dead reckoning for the followed box between KCF losing it and the detector's answer.

When KCF fails on a frame, the tracker asks the detector about that frame at once; on a Pi 4
the answer comes 4-5 frames later (``docs/pi_budget.md``), and until then the car had no box
to steer by. ``Coast`` keeps KCF's recent motion and carries the last KCF box on at that
velocity for those frames: at most ``max_frames`` (the detector's interval while tracking: a
coasted box is never older than a KCF box the detector has not checked), and only until the
next detector result is applied (that result re-initialises KCF, or says the cat is not where
KCF had it). A box that would leave the frame is not shown.

Owns a few floats (no frame data); tracker thread only.
"""

from __future__ import annotations

from cat_follow.geometry import Box


class Coast:
    """KCF's last box, its velocity over the last ``max_frames`` frames, and the coast state."""

    def __init__(self, max_frames: int, width: int, height: int) -> None:
        self.max_frames = max(1, max_frames)
        self.width, self.height = width, height
        # (centre x, centre y, t_ns) of KCF's boxes since its last (re-)initialisation, newest last
        self._hist: list[tuple[float, float, int]] = []
        self._box: Box = (0.0, 0.0, 0.0, 0.0)
        self._t_ns = 0
        self._left = 0  # frames the current coast may still show; 0 = not coasting

    def restart(self, box: Box, t_ns: int) -> None:
        """KCF (re-)initialised on ``box``: its motion so far is forgotten (the box jumped)."""
        self._hist.clear()
        self.observe(box, t_ns)

    def observe(self, box: Box, t_ns: int) -> None:
        """KCF's box on a frame it tracked."""
        x, y, w, h = box
        self._hist.append((x + w / 2, y + h / 2, t_ns))
        if len(self._hist) > self.max_frames + 1:
            del self._hist[0]
        self._box, self._t_ns, self._left = box, t_ns, 0

    def lost(self) -> None:
        """KCF failed on the current frame: coast from its last box."""
        if self._left == 0 and self._hist:
            self._left = self.max_frames

    def answered(self) -> None:
        """A detector result was applied: whatever it said, the coast ends."""
        self._left = 0

    @property
    def velocity(self) -> tuple[float, float]:
        """Pixels per second of KCF's box centre over its history (0, 0 with fewer than 2 boxes)."""
        if len(self._hist) < 2:
            return (0.0, 0.0)
        (x0, y0, t0), (x1, y1, t1) = self._hist[0], self._hist[-1]
        dt = (t1 - t0) / 1e9
        return ((x1 - x0) / dt, (y1 - y0) / dt) if dt > 0 else (0.0, 0.0)

    def box_at(self, t_ns: int) -> Box | None:
        """The coasted box on the frame at ``t_ns`` (counts one of the coast's frames), or None
        when not coasting, the coast is used up, or the box would leave the frame."""
        if self._left <= 0:
            return None
        self._left -= 1
        vx, vy = self.velocity
        dt = (t_ns - self._t_ns) / 1e9
        x, y, w, h = self._box
        x, y = x + vx * dt, y + vy * dt
        if x < -w / 2 or y < -h / 2 or x + w / 2 > self.width or y + h / 2 > self.height:
            self._left = 0  # its centre left the frame: the cat went out of view
            return None
        return (x, y, w, h)
