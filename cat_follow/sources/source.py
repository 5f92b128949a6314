"""The frame-source interface and the one place frames enter the pool.

A ``FrameSource`` owns its device or file and its own decode buffer (allocated once,
when it opens). ``read(writer)`` hands one frame to a ``PoolWriter`` while the source
still owns it (for picamera2: inside the request's mapping), and the writer validates
it, then copies or letterboxes it into a claimed pool slot and publishes it. A bad
frame is rejected, counted and logged before any pool byte is touched.
"""

from __future__ import annotations

import enum
import logging
import time
from abc import ABC, abstractmethod
from types import TracebackType
from typing import Any

import cv2
import numpy as np

from cat_follow.geometry import Letterbox
from cat_follow.memory.shared_state import SharedState

log = logging.getLogger(__name__)


class ReadStatus(enum.Enum):
    FRAME = "frame"        # published into the pool
    REJECTED = "rejected"  # a bad frame: counted, nothing written
    NO_SLOT = "no_slot"    # every slot pinned: frame dropped, counted
    END = "end"            # the source has no more frames


def frame_problem(frame: Any) -> str | None:
    """Why ``frame`` cannot go into the pool, or None if it can (uint8, H x W x 3)."""
    if frame is None:
        return "no frame (None)"
    if not isinstance(frame, np.ndarray):
        return f"not an array ({type(frame).__name__})"
    if frame.dtype != np.uint8:
        return f"dtype {frame.dtype}, expected uint8"
    if frame.ndim != 3 or frame.shape[2] != 3:
        return f"shape {frame.shape}, expected (H, W, 3)"
    if frame.shape[0] < 2 or frame.shape[1] < 2:
        return f"frame too small {frame.shape}"
    return None


class PoolWriter:
    """Writes validated frames into the pool. Owned by the camera thread alone."""

    def __init__(self, shared: SharedState) -> None:
        self.shared = shared
        meta = shared.pool.frame_meta
        self.width = int(meta["width"][0])
        self.height = int(meta["height"][0])
        self._letterbox: Letterbox | None = None
        self._rejects_logged = 0

    def reject(self, reason: str, frame_index: int) -> ReadStatus:
        """Count and log a bad frame (the log is thinned after the first ten)."""
        self.shared.counters["frames_rejected"] += 1
        n = int(self.shared.counters["frames_rejected"])
        if n <= 10 or n % 100 == 0:
            log.warning("frame %d rejected: %s (%d rejected so far)", frame_index, reason, n)
        return ReadStatus.REJECTED

    def letterbox_for(self, src_w: int, src_h: int) -> Letterbox:
        lb = self._letterbox
        if lb is None or lb.src_w != src_w or lb.src_h != src_h:
            lb = Letterbox.fit(src_w, src_h, self.width, self.height)
            self._letterbox = lb
        return lb

    def write(self, frame: Any, *, frame_index: int, t_media_ns: int,
              t_capture_ns: int | None = None) -> ReadStatus:
        """Validate ``frame`` and publish it into a free slot (copy or letterbox)."""
        problem = frame_problem(frame)
        if problem is not None:
            return self.reject(problem, frame_index)
        if t_capture_ns is None:
            t_capture_ns = time.monotonic_ns()
        lb = self.letterbox_for(int(frame.shape[1]), int(frame.shape[0]))
        with self.shared.writing() as slot:
            if slot is None:
                return ReadStatus.NO_SLOT
            dst = self.shared.slot_pixels(slot)
            if lb.identity:
                np.copyto(dst, frame)  # copy: source-owned buffer -> pool slot (the one copy in)
            else:
                self._letterbox_into(frame, dst, lb)
            meta = self.shared.slot_meta(slot)
            meta["src_width"], meta["src_height"] = lb.src_w, lb.src_h
            meta["scale"], meta["pad_x"], meta["pad_y"] = lb.scale, lb.pad_x, lb.pad_y
            self.shared.publish_slot(slot, t_capture_ns=t_capture_ns, t_media_ns=t_media_ns,
                                     frame_index=frame_index)
        return ReadStatus.FRAME

    @staticmethod
    def _letterbox_into(frame: np.ndarray, dst: np.ndarray, lb: Letterbox) -> None:
        """Resize straight into the slot's content region and clear the bars (no temporary)."""
        y0, y1, x0, x1 = lb.pad_y, lb.pad_y + lb.new_h, lb.pad_x, lb.pad_x + lb.new_w
        dst[:y0] = 0
        dst[y1:] = 0
        dst[y0:y1, :x0] = 0
        dst[y0:y1, x1:] = 0
        roi = dst[y0:y1, x0:x1]
        shrink = lb.scale < 1.0
        out = cv2.resize(frame, (lb.new_w, lb.new_h), dst=roi,
                         interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        if out is not roi and out.__array_interface__["data"][0] != roi.__array_interface__["data"][0]:
            raise RuntimeError("cv2.resize did not write into the pool slot")  # would lose the frame


class FrameSource(ABC):
    """A source of BGR frames. Use as a context manager; ``read`` until END."""

    #: frames per second of the source's own clock (None for unknown)
    fps: float | None = None
    #: number of frames if known in advance
    frame_count: int | None = None
    #: True for a camera: replay pacing does not apply
    live: bool = False
    name: str = "source"

    def open(self) -> None:  # noqa: B027 - sources without a device need no opening
        """Acquire the device or file; raise SourceError with a clear message on failure."""

    def close(self) -> None:  # noqa: B027 - likewise nothing to release by default
        """Release the device or file. Safe to call twice."""

    @abstractmethod
    def read(self, writer: PoolWriter) -> ReadStatus:
        """Deliver the next frame to ``writer``; return what happened to it."""

    def __enter__(self) -> FrameSource:
        self.open()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
