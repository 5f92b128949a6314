"""Letterbox geometry and box arithmetic (pure functions, no buffers)."""

from __future__ import annotations

import math
from dataclasses import dataclass

Box = tuple[float, float, float, float]  # x, y, w, h in pixels


@dataclass(frozen=True)
class Letterbox:
    """Fit a src_w x src_h image into dst_w x dst_h keeping its aspect: dst = src*scale + pad."""

    src_w: int
    src_h: int
    dst_w: int
    dst_h: int
    scale: float
    new_w: int
    new_h: int
    pad_x: int
    pad_y: int

    @classmethod
    def fit(cls, src_w: int, src_h: int, dst_w: int, dst_h: int) -> Letterbox:
        if src_w <= 0 or src_h <= 0:
            raise ValueError(f"source size must be positive, got {src_w}x{src_h}")
        scale = min(dst_w / src_w, dst_h / src_h)
        new_w = max(1, min(dst_w, round(src_w * scale)))
        new_h = max(1, min(dst_h, round(src_h * scale)))
        return cls(src_w, src_h, dst_w, dst_h, scale, new_w, new_h,
                   (dst_w - new_w) // 2, (dst_h - new_h) // 2)

    @property
    def identity(self) -> bool:
        return self.src_w == self.dst_w and self.src_h == self.dst_h

    def to_src(self, box: Box) -> Box:
        """Map a box in destination pixels back to source pixels, clipped to the source."""
        return map_to_source(box, self.scale, self.pad_x, self.pad_y, self.src_w, self.src_h)


def map_to_source(box: Box, scale: float, pad_x: float, pad_y: float, src_w: int, src_h: int) -> Box:
    """Undo ``dst = src*scale + pad`` for a box and clip it to the source image."""
    x0 = (box[0] - pad_x) / scale
    y0 = (box[1] - pad_y) / scale
    x1 = (box[0] + box[2] - pad_x) / scale
    y1 = (box[1] + box[3] - pad_y) / scale
    x0, x1 = min(max(x0, 0.0), float(src_w)), min(max(x1, 0.0), float(src_w))
    y0, y1 = min(max(y0, 0.0), float(src_h)), min(max(y1, 0.0), float(src_h))
    return (x0, y0, x1 - x0, y1 - y0)


def intersection(a: Box, b: Box) -> float:
    """The area two x, y, w, h boxes share (0 when they do not meet)."""
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return ix * iy


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two x, y, w, h boxes (0 when either is empty)."""
    inter = intersection(a, b)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def reaches_column(x: float, w: float, col: float, half: float) -> bool:
    """Does the span x..x+w meet the window ``col`` +- ``half`` (False for a NaN window)?"""
    return x <= col + half and x + w >= col - half


def overlap_of_smaller(a: Box, b: Box) -> float:
    """The share of the smaller box that lies inside the other (1 = one inside the other)."""
    small = min(a[2] * a[3], b[2] * b[3])
    return intersection(a, b) / small if small > 0 else 0.0


def share_inside(box: Box, by: Box) -> float:
    """The share of ``box``'s area that lies inside ``by`` (0 for an empty ``box``)."""
    if box[2] <= 0 or box[3] <= 0:
        return 0.0
    return intersection(box, by) / (box[2] * box[3])


def size_step(a: Box, b: Box) -> float:
    """How far apart two boxes' sizes are: the larger |log| ratio of their widths or heights
    (0 = same size, log 2 = one side doubled); inf when either box is empty."""
    if min(a[2], a[3], b[2], b[3]) <= 0:
        return math.inf
    return max(abs(math.log(b[2] / a[2])), abs(math.log(b[3] / a[3])))


def clip_box(box: Box, width: int, height: int) -> Box:
    x0 = min(max(box[0], 0.0), float(width))
    y0 = min(max(box[1], 0.0), float(height))
    x1 = min(max(box[0] + box[2], 0.0), float(width))
    y1 = min(max(box[1] + box[3], 0.0), float(height))
    return (x0, y0, x1 - x0, y1 - y0)
