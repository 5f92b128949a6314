"""The robot's status: the pool's state record and the JSON line that ``status`` answers.

The main thread publishes once per tick (``StatusBoard.publish``); the command server's
thread reads ``json()``. The dict is replaced whole, never edited in place, so a reader
always sees one tick's status.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

import numpy as np

from cat_follow.memory.pool import SOURCE_NAMES, Pool, track_rows
from cat_follow.perception.target import DropReason
from cat_follow.robot.motion import Decision
from cat_follow.robot.state_machine import RobotState, StateMachine

FPS_WINDOW_S = 1.0


class StageRates:
    """Frames (or ticks) per second of each stage, over windows of FPS_WINDOW_S."""

    def __init__(self) -> None:
        self.rates: dict[str, float] = {}
        self._mark: tuple[float, dict[str, int]] | None = None

    def update(self, now: float, counts: dict[str, int]) -> dict[str, float]:
        if self._mark is None:
            self._mark = (now, counts)
            return self.rates
        t0, c0 = self._mark
        if now - t0 >= FPS_WINDOW_S:
            self.rates = {k: round((counts[k] - c0[k]) / (now - t0), 1) for k in counts}
            self._mark = (now, counts)
        return self.rates


def motion_reason(sm: StateMachine, decision: Decision) -> str | None:
    """Why the robot is not moving (or moves slower than its behaviour asks), for status."""
    if sm.state is RobotState.IDLE:
        return f"idle: {sm.stop_reason or 'waiting for a cat_location command'}"
    return decision.reason or None


def motors(decision: Decision, stop_confirmed: bool = True) -> dict[str, Any]:
    """The order in force, and ``stop``: whether the last stop the car was sent is known to
    have reached the motors ("unconfirmed": the HAT did not take it; sent again until it does)."""
    o = decision.order
    return {"speed": round(o.speed, 1), "steer": round(o.steer, 1), "pan": round(o.pan, 1),
            "tilt": round(o.tilt, 1), "limited_by": decision.reason or None,
            "stop": "confirmed" if stop_confirmed else "unconfirmed"}


class StatusBoard:
    """Owns the status dict and writes the pool's ``state`` record (main thread only); reads
    the state machine and the tracker's box record it is handed, never writes them."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.rates = StageRates()
        self._status: dict[str, Any] = {}

    def _record(self, sm: StateMachine, box: np.void) -> dict[str, Any] | None:
        """Update the pool's state record; returns the last box seen, for status."""
        st = self.pool.state[0]
        st["state"] = int(sm.state)
        tx, ty = sm.target if sm.target else (math.nan, math.nan)
        st["target_x"], st["target_y"] = tx, ty
        if box["valid"]:
            st["last_x"], st["last_y"], st["last_w"], st["last_h"] = box["x"], box["y"], box["w"], box["h"]
            st["last_bbox_t_ns"] = box["t_ns"]
        if not int(st["last_bbox_t_ns"]):
            return None
        return {"bbox": [round(float(st[k]), 1) for k in ("last_x", "last_y", "last_w", "last_h")],
                "age_s": round((time.monotonic_ns() - int(st["last_bbox_t_ns"])) / 1e9, 2),
                "source": SOURCE_NAMES[int(box["source"])] if box["valid"] else None}

    def publish(self, now: float, sm: StateMachine, box: np.void, pose: tuple[float, float, float],
                decision: Decision, range_cm: float | None, *, counts: dict[str, int],
                health: dict[str, Any], stop_confirmed: bool = True) -> None:
        """One tick's status. ``counts``: each stage's running count (for the rates);
        ``health``: the robot's own safety facts, appended as given; ``stop_confirmed``: the car
        thread's word on its last stop."""
        last_box = self._record(sm, box)
        fps = self.rates.update(now, counts)
        x, y, th = pose
        self._status = {  # replaced whole: the server thread reads one consistent dict
            "state": sm.state.label,
            "pose": {"x": round(x, 3), "y": round(y, 3), "heading_deg": round(math.degrees(th), 1)},
            "target": list(sm.target) if sm.target else None,
            "last_bbox": last_box,
            "fps": dict(fps),
            "stop_reason": sm.stop_reason,
            "reason": motion_reason(sm, decision),
            "target_drop_reason": DropReason(int(box["drop_reason"])).label,  # the tracker's, published one way
            "followed_track": int(box["track_id"]) or None,
            "tracks": track_rows(box),  # every animal and person tracked: id, P(cat), P(dog), box (slot px)
            "motors": motors(decision, stop_confirmed),
            "range_cm": range_cm,
            **health,
        }

    def json(self) -> str:
        """One JSON line (called from the server thread)."""
        return json.dumps(self._status or {"state": "starting"})
