"""Writing annotated frames: one way to open a video file and to draw a box and a label."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from cat_follow.errors import CatFollowError


def open_video_writer(path: Path, size: tuple[int, int], fps: float) -> Any:
    """An MPEG-4 writer for ``size`` = (width, height) frames, or a clear error."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    if not writer.isOpened():
        raise CatFollowError(f"cannot write video {path} (is the folder there and writable?)")
    return writer


def annotate(canvas: np.ndarray, pixels: np.ndarray, box: tuple[float, float, float, float] | None,
             color: tuple[int, int, int], label: str, text_color: tuple[int, int, int] = (255, 255, 255)) -> None:
    """Copy ``pixels`` onto ``canvas`` (never draw on a shared slot), then the box and the label."""
    np.copyto(canvas, pixels)  # copy: the one copy for drawing
    if box is not None:
        x, y, w, h = (round(v) for v in box)
        cv2.rectangle(canvas, (x, y), (x + w, y + h), color, 2)
    cv2.putText(canvas, label, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.55, text_color, 2, cv2.LINE_AA)
