"""A ``record`` folder as a frame source: its complete video segments, in order, as one video.

Each frame carries its recorded number ``k`` as its index (so replay pairs it with its rows in
frames.jsonl and telemetry.jsonl) and its true capture time as its media time. A segment cut
by a crash is not listed and not played (``record_files``).
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from cat_follow.errors import SourceError
from cat_follow.record_files import Recording
from cat_follow.sources.source import FrameSource, PoolWriter, ReadStatus

log = logging.getLogger(__name__)


class RecordingSource(FrameSource):
    """Owns one VideoCapture at a time (the current segment) and one decode buffer."""

    def __init__(self, recording: Recording) -> None:
        self.recording = recording
        self.name = recording.folder.name
        self.frame_count = recording.playable_frames
        t = recording.frame_t
        span = t[self.frame_count - 1] - t[0] if 1 < self.frame_count <= len(t) else 0.0
        # paced replay runs at the recording's true average rate, not the nominal camera fps
        self.fps = (self.frame_count - 1) / span if span > 0 else recording.fps
        self._cap: cv2.VideoCapture | None = None
        self._buf: np.ndarray | None = None
        self._seg = -1  # the segment being read
        self._i = 0  # next frame within it

    def open(self) -> None:
        if not self.recording.segments:
            raise SourceError(f"recording {self.recording.folder}: no complete video segment (cut before the "
                              "first one was closed)")
        self._next_segment()

    def _next_segment(self) -> bool:
        """Open the next segment; False after the last."""
        self.close()
        self._seg += 1
        self._i = 0
        if self._seg >= len(self.recording.segments):
            return False
        path = self.recording.segments[self._seg].path
        cap = cv2.VideoCapture(str(path))
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"recording {self.recording.folder}: {path.name} cannot be opened as a video")
        self._cap = cap
        return True

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def read(self, writer: PoolWriter) -> ReadStatus:
        while self._cap is not None:
            seg = self.recording.segments[self._seg]
            ok, frame = self._cap.read(self._buf) if self._i < seg.frames else (False, None)
            if ok and frame is not None:
                self._buf = frame  # the decode buffer from here on (same size in every segment)
                k = seg.first_k + self._i
                self._i += 1
                return writer.write(frame, frame_index=k, t_media_ns=self.recording.frame_time_ns(k))
            if self._i < seg.frames:
                log.warning("recording %s: %s has %d of its %d frames", self.recording.folder, seg.path.name,
                            self._i, seg.frames)
            if not self._next_segment():
                break
        return ReadStatus.END
