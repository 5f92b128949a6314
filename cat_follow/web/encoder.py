"""The web view's one encoder: newest frame -> overlay on its canvas -> JPEG, at most
``rate_hz`` times a second, and only while someone watches.

Owns: its reader entry in the pool (it pins the newest frame only while copying it into the
canvas), the canvas, a box-record buffer. Reads the robot's status through a callable and the
path through ``Trail``. Hands every JPEG to ``publish`` (the server's loop thread copies it
into the ring). The number of viewers never changes what it does.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from cat_follow.memory.pool import BBOX_TRACKER
from cat_follow.memory.shared_state import SharedState
from cat_follow.stats import LatencyRecorder
from cat_follow.threads.supervised import Health, SupervisedThread
from cat_follow.web.overlay import draw_overlay
from cat_follow.web.trail import Trail

HOLD_S = 0.6  # as long as the robot coasts on a box the tracker dropped (robot.main_loop.COAST_S)
Publish = Callable[[np.ndarray, int, int], None]


class FrameEncoder(SupervisedThread):
    def __init__(self, shared: SharedState, reader: int, canvas: np.ndarray, status: Callable[[], str],
                 trail: Trail, label: str, health: Health, *, rate_hz: float, quality: int) -> None:
        super().__init__("web-encoder", health)
        self.shared = shared
        self.reader = reader
        self.canvas = canvas
        self.status = status
        self.trail = trail
        self.label = label
        self.period = 1.0 / rate_hz
        self.params = [cv2.IMWRITE_JPEG_QUALITY, quality]
        self.watching = threading.Event()  # set by the server while at least one viewer is connected
        self.publish: Publish | None = None
        self._box = shared.new_bbox_buffer()
        self._last_box = shared.new_bbox_buffer()  # the last valid box, shown for HOLD_S
        self.encodes = 0
        self.failures = 0
        self.cpu_s = 0.0  # thread CPU time spent drawing and encoding
        self.encode_ms = LatencyRecorder(4096)
        self._seen = 0

    def loop(self) -> None:
        next_t = time.monotonic()
        while not self.stopping.is_set():
            self.beat()
            if not self.watching.wait(0.2):
                continue
            delay = next_t - time.monotonic()
            if delay > 0 and self.stopping.wait(delay):
                break
            # wait for the NEXT frame, not one published while we slept: the JPEG is then as
            # fresh as the camera allows (its age is the encode time, not up to a frame more)
            self.shared.wait_frame(self.reader, 0.0)
            if not self.shared.wait_frame(self.reader, 0.2) and self.shared.published_seq <= self._seen:
                continue
            if self.shared.closed.is_set():
                break
            next_t = max(next_t + self.period, time.monotonic())
            self.encode_newest()

    def encode_newest(self) -> bool:
        """Draw and encode the newest frame not yet encoded; False if there is none."""
        c0 = time.thread_time()
        ref = self.shared.acquire_latest(self.reader, newer_than=self._seen)
        if ref is None:
            return False
        try:
            t_capture_ns, seq = int(ref.meta["t_capture_ns"]), ref.seq
            box, held_s = self._box_to_draw()
            status = self._status()
            draw_overlay(self.canvas, ref.pixels, box, self.label, status, self.trail.points(), held_s=held_s)
        finally:
            self.shared.release(self.reader)  # the frame is in our canvas: unpin at once
        self._seen = seq
        ok, jpeg = cv2.imencode(".jpg", self.canvas, self.params)  # allocates its output; copied once
        self.cpu_s += time.thread_time() - c0
        if not ok:
            self.failures += 1
            return False
        self.encodes += 1
        self.encode_ms.add((time.monotonic_ns() - t_capture_ns) / 1e6)
        if self.publish is not None:
            self.publish(jpeg, t_capture_ns, seq)
        return True

    def _box_to_draw(self) -> tuple[Any, float]:
        """(box record, 0) when the tracker has a box now; else its last one and its age in
        seconds while younger than HOLD_S (the robot still steers on it: it coasts); else (None, 0)."""
        self.shared.read_bbox(BBOX_TRACKER, self._box)
        if self._box[0]["valid"]:
            np.copyto(self._last_box, self._box)
            return self._box[0], 0.0
        last = self._last_box[0]
        age = (time.monotonic_ns() - int(last["t_ns"])) / 1e9
        if last["valid"] and age < HOLD_S:
            return last, max(age, 1e-3)
        return None, 0.0

    def _status(self) -> dict[str, Any]:
        try:
            status = json.loads(self.status())
        except ValueError:
            return {"state": "?"}
        return status if isinstance(status, dict) else {"state": "?"}
