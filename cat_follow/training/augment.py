"""What a floor robot sees, made from a pet photo: each augmented copy is a partial view,
seen from low down (perspective), sometimes mirrored, blurred, dim, noisy or small.

``floor_view`` is deterministic in its ``rng``; the trainer seeds one per (photo, copy).
"""

from __future__ import annotations

import cv2
import numpy as np

SIDE = 224


def clean_view(img: np.ndarray) -> np.ndarray:
    """The whole photo squashed to SIDE x SIDE (half the set is already squashed square)."""
    return cv2.resize(img, (SIDE, SIDE), interpolation=cv2.INTER_AREA)


def floor_view(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One augmented SIDE x SIDE BGR copy of ``img``."""
    h, w = img.shape[:2]
    # partial view: a random crop of 35-100% of the area, roughly square
    area = rng.uniform(0.35, 1.0) * w * h
    aspect = np.exp(rng.uniform(np.log(0.75), np.log(1.33)))
    cw, ch = min(w, int(np.sqrt(area * aspect))), min(h, int(np.sqrt(area / aspect)))
    x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    crop = img[y0:y0 + ch, x0:x0 + cw]
    # low angle: the top edge narrower than the bottom one, and the image squashed vertically
    k, s = rng.uniform(0.0, 0.25), rng.uniform(0.0, 0.15)
    src = np.array([[0, 0], [cw, 0], [cw, ch], [0, ch]], np.float32)
    dst = np.array([[k * cw / 2, s * ch], [cw - k * cw / 2, s * ch], [cw, ch], [0, ch]], np.float32)
    m = cv2.getPerspectiveTransform(src, dst)
    warped = cv2.warpPerspective(crop, m, (cw, ch), borderMode=cv2.BORDER_REFLECT)
    out = cv2.resize(warped, (SIDE, SIDE), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.5:
        out = out[:, ::-1].copy()
    if rng.random() < 0.3:  # small in the frame: seen at a few dozen pixels
        small = int(rng.integers(32, 96))
        out = cv2.resize(cv2.resize(out, (small, small), interpolation=cv2.INTER_AREA), (SIDE, SIDE),
                         interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.5:  # defocus or motion blur
        if rng.random() < 0.5:
            out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.8, 2.5))
        else:
            n = int(rng.integers(5, 13))
            kern = np.zeros((n, n), np.float32)
            kern[n // 2, :] = 1.0 / n
            rot = cv2.getRotationMatrix2D((n / 2 - 0.5, n / 2 - 0.5), rng.uniform(0, 180), 1.0)
            out = cv2.filter2D(out, -1, cv2.warpAffine(kern, rot, (n, n)))
    f = out.astype(np.float32) / 255.0
    if rng.random() < 0.6:  # dim light: gamma, gain and a colour cast
        f = f ** rng.uniform(1.0, 2.2) * rng.uniform(0.35, 1.0)
        f *= rng.uniform(0.85, 1.15, 3).astype(np.float32)
    else:
        f = f * rng.uniform(0.8, 1.2) + rng.uniform(-0.08, 0.08)
    if rng.random() < 0.4:  # sensor noise
        f += rng.normal(0.0, rng.uniform(0.01, 0.04), f.shape).astype(np.float32)
    return np.clip(f * 255.0 + 0.5, 0, 255).astype(np.uint8)
