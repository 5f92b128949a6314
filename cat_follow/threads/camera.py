"""Camera thread: source -> pool slot -> published latest frame.

Owns the FrameSource (opened before the thread starts, closed by the caller) and the
PoolWriter. Pacing: a live camera paces itself; a file is paced at its fps unless
``fast``. In lock-step mode (``SharedState.lockstep``) it waits after each published
frame until every lock-step reader has finished it, so results do not depend on speed.
"""

from __future__ import annotations

import logging
import time

from cat_follow.memory.shared_state import SharedState
from cat_follow.sources.source import FrameSource, PoolWriter, ReadStatus
from cat_follow.threads.supervised import Health, SupervisedThread

log = logging.getLogger(__name__)


class CameraThread(SupervisedThread):
    def __init__(self, shared: SharedState, source: FrameSource, health: Health, *,
                 paced: bool = True, max_frames: int | None = None, pace_fps: float | None = None) -> None:
        super().__init__("camera", health)
        self.shared = shared
        self.source = source
        self.writer = PoolWriter(shared)
        self.paced = paced and not source.live
        self.max_frames = max_frames
        self.pace_fps = pace_fps  # None: the source's own fps
        self.frames_read = 0  # frames taken from the source, whatever became of them
        self.ended = False
        # The stall clock: 0 until the thread runs (the car may take 15 s to come up before
        # that), then the thread's start, then each delivered frame's time.
        self.last_frame_ns = 0

    def step(self) -> ReadStatus:
        """Read one frame into the pool (no pacing, no lock-step wait)."""
        status = self.source.read(self.writer)
        if status is not ReadStatus.END:
            self.frames_read += 1
        if status is ReadStatus.FRAME:
            self.last_frame_ns = time.monotonic_ns()
        return status

    def loop(self) -> None:
        self.last_frame_ns = time.monotonic_ns()
        t0 = time.monotonic()
        fps = self.pace_fps or self.source.fps or 30.0
        status: ReadStatus | None = None
        while not self.stopping.is_set() and not self.shared.closed.is_set():
            if self.max_frames is not None and self.frames_read >= self.max_frames:
                break
            if self.paced:
                delay = t0 + self.frames_read / fps - time.monotonic()
                if delay > 0 and self.stopping.wait(delay):
                    break
            status = self.step()
            self.beat()
            if status is ReadStatus.END:
                break
            if status is ReadStatus.FRAME and self.shared.lockstep:
                seq = self.shared.published_seq
                while not self.shared.wait_consumers(seq, timeout=0.2):
                    if self.stopping.is_set() or self.health.fault.is_set():
                        return
        self.ended = True
        if status is ReadStatus.END:
            log.info("camera: source ended after %d frames", self.frames_read)
        else:
            log.info("camera: stopped after %d frames", self.frames_read)
