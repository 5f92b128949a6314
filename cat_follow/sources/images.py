"""Frames from a directory of still images (and arrays, for tests and the simulator)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2

from cat_follow.errors import SourceError
from cat_follow.sources.source import FrameSource, PoolWriter, ReadStatus

IMAGE_SUFFIXES = {".bmp", ".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}


class ImageDirSource(FrameSource):
    """Every image file of a directory in name order, at ``fps`` frames per second.

    Decoding a file allocates its image (cv2.imread has no destination argument): this
    source is for replaying stills, not a camera hot path.
    """

    def __init__(self, path: str | Path, fps: float = 10.0, loop: bool = False) -> None:
        self.path = Path(path)
        self.name = self.path.name
        self.fps = self._fps = fps
        self.loop = loop
        self._files: list[Path] = []
        self._index = 0

    def open(self) -> None:
        if not self.path.is_dir():
            raise SourceError(f"image directory {self.path}: no such directory")
        self._files = sorted(p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self._files:
            raise SourceError(f"image directory {self.path}: no image files "
                              f"({', '.join(sorted(IMAGE_SUFFIXES))})")
        self.frame_count = None if self.loop else len(self._files)
        self._index = 0

    def read(self, writer: PoolWriter) -> ReadStatus:
        if not self._files:
            raise SourceError(f"image directory {self.path}: read before open")
        if self._index >= len(self._files) and not self.loop:
            return ReadStatus.END
        index = self._index
        path = self._files[index % len(self._files)]
        self._index += 1
        frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if frame is None:
            return writer.reject(f"{path.name}: cannot decode", index)
        return writer.write(frame, frame_index=index, t_media_ns=round(index * 1e9 / self._fps))


class ArraySource(FrameSource):
    """Frames from a sequence of arrays (anything: bad ones are rejected like a camera's)."""

    def __init__(self, frames: Sequence[Any], fps: float = 30.0, name: str = "arrays") -> None:
        self.frames = frames
        self.fps = self._fps = fps
        self.frame_count = len(frames)
        self.name = name
        self._index = 0

    def read(self, writer: PoolWriter) -> ReadStatus:
        if self._index >= len(self.frames):
            return ReadStatus.END
        index = self._index
        self._index += 1
        return writer.write(self.frames[index], frame_index=index,
                            t_media_ns=round(index * 1e9 / self._fps))
