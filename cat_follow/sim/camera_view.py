"""The simulator's camera view: the rendered frame with the tracker's box and the robot's
state, written to a video file at real speed and/or shown in a window."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from cat_follow.video_out import annotate, open_video_writer

MAX_WRITES_PER_CALL = 3  # video frames written per overlay call at most (see CameraView.show)
WINDOW = "cat-follow simulate"
QUIT_KEYS = (ord("q"), ord("Q"), 27)  # q or Esc in the window


class CameraView:
    """Writes the camera view with the tracker's box and the robot's state, and a live window.

    The video plays at real speed: frame k of the file shows the newest camera frame at
    scenario time k/fps, whatever the rate ``show`` is called at (one call per control tick
    in real time, one per camera frame in lock-step)."""

    def __init__(self, path: Path | None, canvas: np.ndarray, fps: float, live: bool) -> None:
        self.canvas = canvas
        self.fps = fps
        self.writer = None
        if path is not None:
            self.writer = open_video_writer(path, (canvas.shape[1], canvas.shape[0]), fps)
        self.live = live
        self.frames_written = 0
        self.last_t: float | None = None
        self.closed = False  # the user closed the window or pressed q/Esc in it: the run should end
        self._was_visible = False  # the backend reports visibility (GTK and old Cocoa builds say -1)

    def due(self, t: float) -> int:
        """How many video frames are due by scenario time ``t`` and not yet written."""
        if self.writer is None:
            return 0
        return int(t * self.fps + 1e-6) + 1 - self.frames_written

    def show(self, pixels: np.ndarray, box: Any, text: str, t: float) -> None:
        self.last_t = t
        due = self.due(t)
        if due <= 0 and not self.live:
            return
        rect = (float(box["x"]), float(box["y"]), float(box["w"]), float(box["h"])) if box["valid"] else None
        annotate(self.canvas, pixels, rect, (0, 220, 0), text, text_color=(20, 20, 20))
        if self.writer is not None:
            # the same picture again where the camera was slower than fps; a backlog (start-up)
            # is caught up a few frames per call so that no tick of the control loop waits long
            n = min(max(due, 0), MAX_WRITES_PER_CALL)
            for _ in range(n):
                self.writer.write(self.canvas)
            self.frames_written += n
        if self.live and not self.closed:
            cv2.imshow(WINDOW, self.canvas)
            key = cv2.waitKey(1) & 0xFF
            # A window closed with its title bar's button reports itself invisible, on backends
            # that report visibility at all: only a window once seen visible can be closed so.
            visible = cv2.getWindowProperty(WINDOW, cv2.WND_PROP_VISIBLE) >= 1
            self.closed = key in QUIT_KEYS or (self._was_visible and not visible)
            self._was_visible = self._was_visible or visible

    def close(self) -> None:
        if self.writer is not None:
            if self.last_t is not None:  # a backlog left at the end: the last picture until then
                for _ in range(max(self.due(self.last_t), 0)):
                    self.writer.write(self.canvas)
            self.writer.release()
        if self.live:
            cv2.destroyAllWindows()
