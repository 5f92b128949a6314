"""Frames from a video file through OpenCV, decoded into one reused buffer."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import cv2
import numpy as np

from cat_follow.errors import SourceError
from cat_follow.sources.source import FrameSource, PoolWriter, ReadStatus

log = logging.getLogger(__name__)

MAX_CONSECUTIVE_FAILURES = 5


class VideoFileSource(FrameSource):
    """A video file. Owns the VideoCapture and a decode buffer the size of the video."""

    def __init__(self, path: str | Path, loop: bool = False, skip: int = 0) -> None:
        self.path = Path(path)
        self.loop = loop  # start again at the end (a stand-in camera); frame indices keep counting
        self.skip = skip  # the video starts this many frames later (index 0 is file frame ``skip``)
        if loop and skip:
            raise SourceError(f"video {self.path}: a looping video cannot also skip frames")
        self.name = self.path.name
        self._cap: cv2.VideoCapture | None = None
        self._buf: np.ndarray | None = None
        self._pending: np.ndarray | None = None  # first frame, read at open to check the file
        self._index = 0
        self._failures = 0

    def open(self) -> None:
        if not self.path.is_file():
            raise SourceError(f"video {self.path}: no such file")
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"video {self.path}: OpenCV cannot open it as a video")
        ok, first = cap.read()
        if not ok or first is None:
            cap.release()
            raise SourceError(f"video {self.path}: not a video or has no decodable frame")
        for _ in range(self.skip):  # decoded into the same buffer and dropped: as if the file began later
            ok, first = cap.read(first)
            if not ok or first is None:
                cap.release()
                raise SourceError(f"video {self.path}: cannot skip {self.skip} frames, it has fewer")
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and math.isfinite(fps) and fps > 0 else 30.0
        count = cap.get(cv2.CAP_PROP_FRAME_COUNT)
        self._file_frames = int(count) - self.skip if count and count > 0 else None
        self.frame_count = None if self.loop else self._file_frames
        self._cap = cap
        self._buf = first  # decode buffer from here on: cap.read(self._buf) reuses it
        self._pending = first
        self._index = 0
        length = f"{self._file_frames} frames" if self._file_frames is not None else "length unknown"
        log.info("video %s: %dx%d, %.2f fps, %s%s", self.path, first.shape[1], first.shape[0],
                 self.fps, length, ", looping" if self.loop else "")

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def read(self, writer: PoolWriter) -> ReadStatus:
        if self._cap is None:
            raise SourceError(f"video {self.path}: read before open")
        index = self._index
        if self._pending is not None:
            frame: np.ndarray | None = self._pending
            self._pending = None
            ok = True
        else:
            ok, frame = self._cap.read(self._buf)
        if not ok and self.loop and self._failures == 0:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, frame = self._cap.read(self._buf)
        if not ok:
            remaining = self._file_frames is not None and index < self._file_frames
            self._failures += 1
            if remaining and self._failures <= MAX_CONSECUTIVE_FAILURES:
                self._index += 1  # a frame that would not decode: count it and move on
                return writer.reject("decode failure", index)
            return ReadStatus.END
        self._failures = 0
        self._index += 1
        assert self.fps is not None
        return writer.write(frame, frame_index=index, t_media_ns=round(index * 1e9 / self.fps))
