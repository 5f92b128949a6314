"""Crop verifier: is the box a cat, a dog or neither? MobileNet v2 features and a trained head.

The detector alone confuses cats and dogs, and the ImageNet classes alone call black cats
"schipperke" and calico kittens puppies. The verifier runs MobileNet v2 (ImageNet, uint8)
on a square crop around the box, reads its pooled 1280-d layer and applies the head that
``cat-follow train-classifier`` trained on pet photos (``perception.classifier``): calibrated
probabilities for cat, dog and other, and an appearance embedding for identity. Owns the
interpreter (one thread only), the square crop buffer, the feature buffers and a small
buffer for the colour signature; nothing frame-sized is allocated per run.

The ImageNet cat and dog class sums of the same run are kept in the verdict for comparison
only (``imagenet_cat``, ``imagenet_dog``: what the verifier used before the head).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from cat_follow.errors import ModelError
from cat_follow.geometry import Box
from cat_follow.perception.classifier import CAT, DEFAULT_HEAD, DOG, OTHER, PooledFeatures, load_head
from cat_follow.perception.manifest import Manifest
from cat_follow.perception.port import EMBED_LEN, SIGNATURE_LEN
from cat_follow.perception.runtime import TfliteRuntime

# ImageNet's domestic cats; the dogs are ImageNet classes 151..268 (Chihuahua .. Mexican
# hairless), +1 in a 1001-line label file whose line 0 is "background".
CAT_CLASSES = ("tabby", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat")
DOG_FIRST, DOG_LAST = "Chihuahua", "Mexican hairless"
SIG_BINS = (8, 4, 2)  # hue x saturation x value: SIGNATURE_LEN bins
assert SIG_BINS[0] * SIG_BINS[1] * SIG_BINS[2] == SIGNATURE_LEN
_SIG_SIDE = 48


@dataclass(frozen=True)
class Verdict:
    cat: float    # calibrated P(cat) from the trained head
    dog: float    # calibrated P(dog)
    other: float  # calibrated P(neither); cat + dog + other = 1
    ms: float
    imagenet_cat: float = 0.0  # the old rule, for comparison: summed ImageNet cat classes
    imagenet_dog: float = 0.0  # summed ImageNet dog classes


def class_indices(labels: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(cat indices, dog indices) in the classifier's output, from its label lines."""
    first = [ln.split(",")[0].strip() for ln in labels]
    cats = [i for i, name in enumerate(first) if name in CAT_CLASSES]
    try:
        d0, d1 = first.index(DOG_FIRST), first.index(DOG_LAST)
    except ValueError as exc:
        raise ModelError(f"classifier labels lack {exc}: not an ImageNet label file") from exc
    if len(cats) != len(CAT_CLASSES) or d1 - d0 + 1 != 118:
        raise ModelError(f"classifier labels: found {len(cats)} cat classes and {d1 - d0 + 1} dog classes "
                         f"(expected {len(CAT_CLASSES)} and 118)")
    return np.array(cats, np.int64), np.arange(d0, d1 + 1, dtype=np.int64)


def square_crop(box: Box, width: int, height: int, margin: float) -> tuple[int, int, int, int]:
    """A square around ``box`` (its longer side plus ``margin`` of it), moved inside the
    image and shrunk only where the image is smaller: x0, y0, x1, y1."""
    x, y, w, h = box
    side = round(max(w, h) * (1.0 + margin))
    side = max(8, min(side, width, height))
    cx, cy = x + w / 2, y + h / 2
    x0 = int(min(max(cx - side / 2, 0), width - side))
    y0 = int(min(max(cy - side / 2, 0), height - side))
    return x0, y0, x0 + side, y0 + side


class CropVerifier:
    """MobileNet v2 ImageNet (uint8 RGB 224) plus the pet head, on a square crop of a BGR frame."""

    def __init__(self, manifest: Manifest, model_path: Path, labels_path: Path, *,
                 num_threads: int = 2, margin: float = 0.15, head_path: Path = DEFAULT_HEAD) -> None:
        if manifest.family != "classifier":
            raise ModelError(f"model manifest {manifest.source}: family {manifest.family!r} is not a classifier")
        self.rt = TfliteRuntime(model_path, num_threads, preserve_all_tensors=True)
        if self.rt.input_dtype != np.uint8:
            raise ModelError(f"classifier {model_path}: input dtype {self.rt.input_dtype}, expected uint8")
        try:
            labels = labels_path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ModelError(f"classifier labels {labels_path}: cannot be read ({exc})") from exc
        self.cats, self.dogs = class_indices(labels)
        det = self.rt.output_details[0]
        self.out_scale = float(det["quantization"][0]) or 1.0
        self.out_zero = int(det["quantization"][1])
        self.head = load_head(head_path)
        self.features = PooledFeatures(self.rt.interp)
        self.margin = margin
        self.crop = np.zeros((self.rt.input_h, self.rt.input_w, 3), np.uint8)  # the crop buffer
        self._sig_bgr = np.zeros((_SIG_SIDE, _SIG_SIDE, 3), np.uint8)
        self._sig_hsv = np.zeros((_SIG_SIDE, _SIG_SIDE, 3), np.uint8)

    def verify(self, frame_bgr: np.ndarray, box: Box, signature: np.ndarray | None = None,
               embedding: np.ndarray | None = None) -> Verdict:
        """Classify the square crop around ``box``. Fills ``signature`` (SIGNATURE_LEN floats)
        with the box's colour signature and ``embedding`` (EMBED_LEN floats) with its
        appearance embedding, where given."""
        t0 = time.perf_counter()
        hgt, wid = frame_bgr.shape[:2]
        x0, y0, x1, y1 = square_crop(box, wid, hgt, self.margin)
        cv2.resize(frame_bgr[y0:y1, x0:x1], (self.crop.shape[1], self.crop.shape[0]), dst=self.crop,
                   interpolation=cv2.INTER_AREA)
        return self.classify_crop(t0, signature, embedding, frame_bgr, box)

    def classify_crop(self, t0: float, signature: np.ndarray | None = None, embedding: np.ndarray | None = None,
                      frame_bgr: np.ndarray | None = None, box: Box | None = None) -> Verdict:
        """Classify what is in ``self.crop`` now (BGR, the input size); ``t0`` = perf_counter
        at the start, for the verdict's ``ms``. The signature needs the frame and box."""
        cv2.cvtColor(self.crop, cv2.COLOR_BGR2RGB, dst=self.rt.input_view())  # BGR -> RGB, into the tensor
        self.rt.invoke()
        out = self.rt.outputs()[0]
        icat = (float(out[self.cats].astype(np.float64).sum()) - self.out_zero * len(self.cats)) * self.out_scale
        idog = (float(out[self.dogs].astype(np.float64).sum()) - self.out_zero * len(self.dogs)) * self.out_scale
        del out
        x = self.features.read()
        p = self.head.probs(x)
        if embedding is not None:
            embedding[:EMBED_LEN] = self.head.embed(x)
        if signature is not None and frame_bgr is not None and box is not None:
            write_signature(frame_bgr, box, signature, (self._sig_bgr, self._sig_hsv))
        return Verdict(float(p[CAT]), float(p[DOG]), float(p[OTHER]), (time.perf_counter() - t0) * 1e3, icat, idog)


def write_signature(frame_bgr: np.ndarray, box: Box, out: np.ndarray,
                    scratch: tuple[np.ndarray, np.ndarray]) -> None:
    """Write into ``out`` an L1-normalised hue/saturation/value histogram of the box's middle
    (inset by a sixth on each side, to keep the background out). ``scratch`` = two
    (side, side, 3) uint8 buffers the caller owns (BGR resize, HSV)."""
    hgt, wid = frame_bgr.shape[:2]
    x, y, w, h = box
    xa, ya = int(max(0, x + w / 6)), int(max(0, y + h / 6))
    xb, yb = int(min(wid, x + w * 5 / 6)), int(min(hgt, y + h * 5 / 6))
    if xb - xa < 2 or yb - ya < 2:
        out[:] = 0.0
        return
    bgr, hsv = scratch
    cv2.resize(frame_bgr[ya:yb, xa:xb], (bgr.shape[1], bgr.shape[0]), dst=bgr, interpolation=cv2.INTER_AREA)
    cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV, dst=hsv)
    hist = cv2.calcHist([hsv], [0, 1, 2], None, list(SIG_BINS), [0, 180, 0, 256, 0, 256])
    total = float(hist.sum()) or 1.0
    np.multiply(hist.reshape(-1), 1.0 / total, out=out[:SIGNATURE_LEN], casting="unsafe")


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Bhattacharyya coefficient of two L1-normalised signatures: 1 = same colours, 0 = disjoint."""
    return float(np.sqrt(np.clip(a, 0, None) * np.clip(b, 0, None)).sum())
