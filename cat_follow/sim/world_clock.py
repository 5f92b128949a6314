"""The clock of a real-time simulation: scenario seconds that run at real speed while the
robot's perception keeps up, and slow down with the machine when it does not."""

from __future__ import annotations

import logging
import threading
import time

log = logging.getLogger(__name__)

# frame periods the world may run ahead of the tracker: at most one frame step per frame tracked,
# as in lock-step (3 let the world step 0.2 s between frames at load 60: the cat was lost twice)
WORLD_LEAD_FRAMES = 1.0
SLOWER_THAN_REAL_TIME = 0.95  # a real-time factor below this is reported as slower than real time
# camera.stall_timeout_s of a real-time run: no world time passes while the renderer is slow, so
# the robot's real-time stall check (1 s) would stop it on a busy machine (it did, 162 times in
# one run under load 60) for a camera that is only slow; a hung one is still reported after this
REAL_TIME_STALL_S = 60.0


class WorldClock:
    """Scenario seconds for a real-time run: real time, held back so that the world is never
    more than ``lead_s`` ahead of the newest frame the tracker has finished (``caught_up``).
    Monotonic, and continuous at real speed whenever perception keeps up. Read by every thread
    of the run (camera, car, sonar, main): the one lock guards the hold bookkeeping."""

    def __init__(self, lead_s: float) -> None:
        self.lead_s = lead_s
        self.t0 = time.monotonic()
        self.held_s = 0.0  # real seconds the world has been held back
        self.limit = lead_s  # the world may not pass this yet
        self._lock = threading.Lock()
        self._first: tuple[float, float] | None = None  # (real, world) at the first frame tracked

    def __call__(self) -> float:
        with self._lock:
            t = time.monotonic() - self.t0 - self.held_s
            if t > self.limit:
                self.held_s += t - self.limit
                t = self.limit
            return t

    def caught_up(self, media_s: float) -> None:
        """The tracker has finished the frame of scenario time ``media_s``: the world may run to
        ``media_s + lead_s``."""
        with self._lock:
            self.limit = max(self.limit, media_s + self.lead_s)
            if self._first is None:
                self._first = (time.monotonic(), media_s)

    def real_time_factor(self) -> float | None:
        """Scenario seconds per real second since the first frame was tracked (start-up left out)."""
        if self._first is None:
            return None
        real = time.monotonic() - self._first[0]
        return round((self() - self._first[1]) / real, 2) if real > 0 else None

    def report(self, name: str) -> dict[str, float | bool | None]:
        """``real_time_factor`` and ``slower_than_real_time`` for the summary; a warning when slower."""
        rtf = self.real_time_factor()
        slower = rtf is not None and rtf < SLOWER_THAN_REAL_TIME
        if slower:
            log.warning("%s ran at %.2fx real time: the machine was too busy for real time, so the "
                        "simulated world slowed down to keep pace with the robot's perception", name, rtf)
        return {"real_time_factor": rtf, "slower_than_real_time": slower}
