"""Backbone features of the pets photos: the pooled MobileNet v2 layer of each view.

``Backbone`` owns one interpreter (preserve-all-tensors, as the verifier's) and its pooled
layer reader; ``extract`` runs it over photos and their augmented copies and returns one
feature row per view, with the old ImageNet rule's cat and dog sums for comparison.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from cat_follow.perception.classifier import FEATURE_LEN, PooledFeatures
from cat_follow.perception.runtime import TfliteRuntime
from cat_follow.perception.verifier import class_indices
from cat_follow.training.augment import clean_view, floor_view
from cat_follow.training.data import Photo, read_image

log = logging.getLogger(__name__)


class Backbone:
    """MobileNet v2 (uint8) on a 224 x 224 BGR view: unit pooled features and the ImageNet sums."""

    def __init__(self, model: Path, labels: Path, threads: int) -> None:
        self.rt = TfliteRuntime(model, threads, preserve_all_tensors=True)
        self.pooled = PooledFeatures(self.rt.interp)
        self.cats, self.dogs = class_indices(labels.read_text(encoding="utf-8").splitlines())
        q = self.rt.output_details[0]["quantization"]
        self.scale, self.zero = float(q[0]) or 1.0, int(q[1])

    def run(self, view_bgr: np.ndarray, out: np.ndarray) -> tuple[float, float]:
        """Write the view's unit features into ``out``; return the ImageNet (cat, dog) sums."""
        cv2.cvtColor(view_bgr, cv2.COLOR_BGR2RGB, dst=self.rt.input_view())
        self.rt.invoke()
        p = self.rt.outputs()[0].astype(np.float64)
        cat = (p[self.cats].sum() - self.zero * len(self.cats)) * self.scale
        dog = (p[self.dogs].sum() - self.zero * len(self.dogs)) * self.scale
        out[:] = self.pooled.read()
        return float(cat), float(dog)


@dataclass
class Views:
    """One row per view: features (N, FEATURE_LEN), label, photo index, copy (0 = clean), and
    the ImageNet rule's (cat, dog) sums."""

    x: np.ndarray
    y: np.ndarray
    photo: np.ndarray
    copy: np.ndarray
    imagenet: np.ndarray

    def select(self, mask: np.ndarray) -> Views:
        return Views(self.x[mask], self.y[mask], self.photo[mask], self.copy[mask], self.imagenet[mask])


def extract(backbone: Backbone, photos: Sequence[Photo], copies: Sequence[int], seed: int) -> tuple[Views, float]:
    """Features of photo i's clean view and ``copies[i]`` augmented ones (each seeded by the
    seed, the photo's sha256 and the copy number); (views, seconds)."""
    n = len(photos) + int(sum(copies))
    x = np.zeros((n, FEATURE_LEN), np.float32)
    y, pi, ci = np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros(n, np.int64)
    imnet = np.zeros((n, 2), np.float64)
    t0, row = time.perf_counter(), 0
    for i, (photo, k) in enumerate(zip(photos, copies, strict=True)):
        img = read_image(photo.path)
        for c in range(k + 1):
            rng = np.random.default_rng([seed, int(photo.sha256[:16], 16), c])
            view = clean_view(img) if c == 0 else floor_view(img, rng)
            imnet[row] = backbone.run(np.ascontiguousarray(view), x[row])
            y[row], pi[row], ci[row] = photo.label, i, c
            row += 1
        if (i + 1) % 250 == 0:
            log.info("features: %d/%d photos, %d views, %.0f s", i + 1, len(photos), row, time.perf_counter() - t0)
    return Views(x, y, pi, ci, imnet), time.perf_counter() - t0
