"""One detector interface over every model family: BGR image -> cat/dog/person records.

``ObjectDetector`` = manifest + runtime + input writer + family decoder + class-aware NMS.
It owns its runtime (one thread only), the per-size input scratch (``prepare``) and the
candidate buffer; results go into a caller's preallocated DETECTION array, in the pixels of
the image it was given plus ``offset`` (so a region-of-interest view maps to frame pixels).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from cat_follow.geometry import Letterbox
from cat_follow.perception.decode import Candidates, make_decoder
from cat_follow.perception.manifest import Manifest
from cat_follow.perception.port import DETECTION, MAX_DETECTIONS
from cat_follow.perception.runtime import InputWriter, open_runtime

__all__ = ["DETECTION", "MAX_DETECTIONS", "ObjectDetector"]


class ObjectDetector:
    """A detector built from a manifest; ``detect`` is the hot path."""

    def __init__(self, manifest: Manifest, model_path: Path, num_threads: int = 2,
                 onnx_runtime: str = "onnxruntime") -> None:
        self.manifest = manifest
        self.model_path = model_path
        self.runtime = open_runtime(manifest, model_path, num_threads, onnx_runtime)
        self.writer = InputWriter(manifest, self.runtime)
        self.decoder = make_decoder(manifest)
        self.cand = Candidates()
        self._xywh = np.zeros((len(self.cand.scores), 4), np.float64)
        self.last_ms = 0.0

    def prepare(self, sizes: Sequence[tuple[int, int]]) -> None:
        """Make the input scratch for every image size it will be given, now (start-up)."""
        for w, h in sizes:
            self.writer.prepare(w, h)

    def detect(self, image_bgr: np.ndarray, min_score: float, out: np.ndarray,
               offset: tuple[int, int] = (0, 0)) -> int:
        """Fill ``out`` (a DETECTION array) with up to len(out) cat/dog/person detections at or
        above ``min_score``, highest score first; returns how many."""
        t0 = time.perf_counter()
        lb = self.writer.write(image_bgr)
        self.runtime.invoke()
        n = self.decode(lb, min_score, out, offset)
        self.last_ms = (time.perf_counter() - t0) * 1e3
        return n

    def decode(self, lb: Letterbox, min_score: float, out: np.ndarray, offset: tuple[int, int] = (0, 0)) -> int:
        """Decode the last run's outputs into ``out`` (the part of ``detect`` after invoke)."""
        self.cand.n = 0
        self.decoder.decode(self.runtime.outputs(), min_score, self.cand)
        return self._nms_into(out, lb, offset)

    def _nms_into(self, out: np.ndarray, lb: Letterbox, offset: tuple[int, int]) -> int:
        cand, k = self.cand, self.cand.n
        if k == 0:
            return 0
        xywh = self._xywh[:k]
        xywh[:, :2] = cand.boxes[:k, :2]
        np.subtract(cand.boxes[:k, 2:], cand.boxes[:k, :2], out=xywh[:, 2:])
        # class-aware: a dog box and a cat box on one animal both survive (the tracker
        # needs to see the disagreement)
        keep = cv2.dnn.NMSBoxesBatched(xywh, cand.scores[:k], cand.kinds[:k], 0.0, self.manifest.nms_iou)
        keep = np.asarray(keep, np.int64).reshape(-1)
        keep = keep[np.argsort(-cand.scores[keep], kind="stable")][: len(out)]
        to_src = lb.to_src
        for j, i in enumerate(keep.tolist()):
            x, y, w, h = to_src((float(xywh[i, 0]), float(xywh[i, 1]), float(xywh[i, 2]), float(xywh[i, 3])))
            rec = out[j]
            rec["x"], rec["y"], rec["w"], rec["h"] = x + offset[0], y + offset[1], w, h
            rec["score"], rec["kind"] = float(cand.scores[i]), int(cand.kinds[i])
        return len(keep)
