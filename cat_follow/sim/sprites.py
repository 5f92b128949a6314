"""Cats, dogs and people cut out of real photos with the PASCAL VOC segmentation model
(class 8 = cat, 12 = dog, 15 = person).

The largest connected region of the wanted class of the photo becomes an RGBA sprite, its edge feathered
by a pixel or two so the paste does not leave a hard halo for the detector to latch onto.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from cat_follow.errors import ModelError
from cat_follow.perception.model import load_interpreter

log = logging.getLogger(__name__)

PASCAL_CAT = 8
PASCAL_CLASSES = {"cat": PASCAL_CAT, "dog": 12, "person": 15}
TALL_SHARE = 0.35
SEG_SUBPATH = Path("models/deeplabv3_mnv2_pascal_quant/deeplabv3_mnv2_pascal_quant.tflite")


@dataclass(frozen=True)
class Sprite:
    name: str
    bgr: np.ndarray    # (h, w, 3) uint8
    alpha: np.ndarray  # (h, w) float32 in 0..1
    origin: tuple[int, int] = (0, 0)  # x, y of the sprite's top-left corner in its photo

    @property
    def aspect(self) -> float:
        return self.bgr.shape[1] / self.bgr.shape[0]


class Segmenter:
    """One DeepLab v3 interpreter (513 x 513 uint8 in, a class per pixel out)."""

    def __init__(self, model: Path, num_threads: int = 2) -> None:
        if not model.is_file():
            raise ModelError(f"segmentation model {model}: no such file; run ./setup.sh --dev")
        self.interp = load_interpreter(model, num_threads)
        d = self.interp.get_input_details()[0]
        self.index, self.size = d["index"], int(d["shape"][1])
        self.out_index = self.interp.get_output_details()[0]["index"]

    def mask(self, bgr: np.ndarray, kind: str = "cat") -> np.ndarray:
        """Boolean mask of the pixels of ``kind`` (cat, dog or person), same size as ``bgr``."""
        if kind not in PASCAL_CLASSES:
            raise ValueError(f"kind {kind!r}: must be one of {', '.join(PASCAL_CLASSES)}")
        h, w = bgr.shape[:2]
        s = self.size / max(h, w)
        nh, nw = max(1, round(h * s)), max(1, round(w * s))
        inp = np.zeros((1, self.size, self.size, 3), np.uint8)
        inp[0, :nh, :nw] = cv2.cvtColor(cv2.resize(bgr, (nw, nh), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
        self.interp.set_tensor(self.index, inp)
        self.interp.invoke()
        classes = self.interp.get_tensor(self.out_index)[0][:nh, :nw]
        small = (classes == PASCAL_CLASSES[kind]).astype(np.uint8)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)


def cut_out(name: str, bgr: np.ndarray, mask: np.ndarray, feather_px: int = 2, kind: str = "cat") -> Sprite:
    """The largest connected region of ``mask``, trimmed to where it stands tall, as a tight
    RGBA sprite."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n < 2:
        raise ValueError(f"{name}: no {kind} found to cut out")
    best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    x, y, w, h = (int(v) for v in stats[best, :4])
    region = (labels[y:y + h, x:x + w] == best).astype(np.float32)
    # Keep the run of columns where the region stands tall: a neighbour's tail or a paw
    # lying flat beside the cat is cut off (it would widen the box for nothing).
    heights = region.sum(axis=0)
    tall = heights >= TALL_SHARE * heights.max()
    c = int(np.argmax(heights))
    left, right = c, c
    while left > 0 and tall[left - 1]:
        left -= 1
    while right < w - 1 and tall[right + 1]:
        right += 1
    region = region[:, left:right + 1]
    rows = np.flatnonzero(region.any(axis=1))
    top, bottom = int(rows[0]), int(rows[-1])
    region = region[top:bottom + 1]
    x, y, w, h = x + left, y + top, right - left + 1, bottom - top + 1
    k = 2 * feather_px + 1
    alpha = cv2.GaussianBlur(region, (k, k), 0) * region  # soft inside edge, nothing outside
    return Sprite(name, np.ascontiguousarray(bgr[y:y + h, x:x + w]), alpha, (x, y))


def load_sprite(path: Path, segmenter: Segmenter, kind: str = "cat") -> Sprite:
    """The ``kind`` (cat, dog or person) cut out of the photo at ``path``."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ModelError(f"{kind} photo {path}: cannot read it; run ./setup.sh --dev")
    try:
        sprite = cut_out(path.name, bgr, segmenter.mask(bgr, kind), kind=kind)
    except ValueError as exc:
        raise ModelError(f"{kind} photo {path}: the segmentation model finds no {kind} in it") from exc
    log.debug("%s sprite %s: %dx%d", kind, path.name, sprite.bgr.shape[1], sprite.bgr.shape[0])
    return sprite
