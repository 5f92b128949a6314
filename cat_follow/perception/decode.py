"""Decoders from each model family's raw outputs to cat / dog / person candidates.

Every decoder writes into a preallocated ``Candidates`` (x0, y0, x1, y1 in the model's
input pixels, score, kind) and keeps only the three kinds the tracker cares about. Buffers
sized by the model's anchor count are made once at construction; what a run still
allocates is bounded by ``MAX_CANDIDATES`` rows (index arrays of a few hundred bytes).
"""

from __future__ import annotations

import numpy as np

from cat_follow.errors import ModelError
from cat_follow.perception.manifest import Manifest
from cat_follow.perception.port import KIND_CAT, KIND_DOG, KIND_NAMES, KIND_OTHER, KIND_PERSON

__all__ = ["KIND_CAT", "KIND_DOG", "KIND_NAMES", "KIND_OTHER", "KIND_PERSON", "Candidates", "make_decoder"]
MAX_CANDIDATES = 96


class Candidates:
    """Decoded boxes before NMS; rows [0, n) are valid."""

    def __init__(self, size: int = MAX_CANDIDATES) -> None:
        self.boxes = np.zeros((size, 4), np.float32)
        self.scores = np.zeros(size, np.float32)
        self.kinds = np.zeros(size, np.int64)
        self.n = 0

    def add(self, x0: np.ndarray, y0: np.ndarray, x1: np.ndarray, y1: np.ndarray,
            scores: np.ndarray, kinds: np.ndarray) -> None:
        k = min(len(scores), len(self.scores) - self.n)
        sl = slice(self.n, self.n + k)
        self.boxes[sl, 0], self.boxes[sl, 1] = x0[:k], y0[:k]
        self.boxes[sl, 2], self.boxes[sl, 3] = x1[:k], y1[:k]
        self.scores[sl], self.kinds[sl] = scores[:k], kinds[:k]
        self.n += k


def kind_columns(manifest: Manifest) -> tuple[np.ndarray, np.ndarray]:
    """(class columns, their kinds) for cat, dog and person in the manifest's label map."""
    c = manifest.classes
    return (np.array([c["cat"], c["dog"], c["person"]], np.int64),
            np.array([KIND_CAT, KIND_DOG, KIND_PERSON], np.int64))


def _top(best: np.ndarray, mask: np.ndarray, min_score: float, limit: int) -> np.ndarray:
    """Indices of ``best`` at or above ``min_score``, at most ``limit`` (the highest)."""
    np.greater_equal(best, min_score, out=mask)
    idx = np.flatnonzero(mask)
    if len(idx) > limit:
        idx = idx[np.argpartition(best[idx], -limit)[-limit:]]
    return idx


class _PerAnchor:
    """Best of the three kinds per anchor: preallocated (anchors x 3) scores."""

    def __init__(self, anchors: int, manifest: Manifest) -> None:
        self.cols, self.col_kinds = kind_columns(manifest)
        self.sub = np.zeros((anchors, 3), np.float32)
        self.best = np.zeros(anchors, np.float32)
        self.arg = np.zeros(anchors, np.int64)
        self.mask = np.zeros(anchors, bool)

    def pick(self, cls: np.ndarray, min_score: float, limit: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(anchor indices, scores, kinds) of anchors whose best kind scores >= min_score."""
        np.take(cls, self.cols, axis=1, out=self.sub)
        return self.pick_filled(min_score, limit)

    def pick_filled(self, min_score: float, limit: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``pick`` once ``sub`` holds the three kinds' scores."""
        self.sub.max(axis=1, out=self.best)
        self.sub.argmax(axis=1, out=self.arg)
        idx = _top(self.best, self.mask, min_score, limit)
        return idx, self.best[idx], self.col_kinds[self.arg[idx]]


class SsdDecoder:
    """TF SSD post-processed outputs: boxes [N,4] (ymin, xmin, ymax, xmax, 0..1), classes,
    scores, count. Output order is found once from shapes and values (``bind``)."""

    def __init__(self, manifest: Manifest) -> None:
        self.w, self.h = manifest.input_w, manifest.input_h
        cols, kinds = kind_columns(manifest)
        self.kind_of = dict(zip(cols.tolist(), kinds.tolist(), strict=True))
        self.order: tuple[int, int, int, int] | None = None

    def bind(self, outs: list[np.ndarray]) -> None:
        """Which output is which: boxes by shape, count by size, classes are whole numbers."""
        if len(outs) != 4:
            raise ModelError(f"SSD model: {len(outs)} outputs, expected boxes, classes, scores, count")
        boxes = [i for i, o in enumerate(outs) if o.ndim == 2 and o.shape[1] == 4]
        count = [i for i, o in enumerate(outs) if o.size == 1]
        pair = [i for i in range(4) if i not in boxes + count]
        if len(boxes) != 1 or len(count) != 1 or len(pair) != 2:
            raise ModelError(f"SSD model: outputs {[o.shape for o in outs]} are not boxes, classes, scores, count")
        a, b = pair
        if not np.all(outs[a] == np.round(outs[a])) and np.all(outs[b] == np.round(outs[b])):
            a, b = b, a
        self.order = (boxes[0], a, b, count[0])

    def decode(self, outs: list[np.ndarray], min_score: float, cand: Candidates) -> None:
        if self.order is None:
            self.bind(outs)
        assert self.order is not None
        bi, ci, si, ni = self.order
        boxes, classes, scores = outs[bi], outs[ci], outs[si]
        count = min(int(outs[ni].reshape(-1)[0]), len(scores))
        for i in range(count):  # at most 10 rows: a Python loop is cheapest here
            kind = self.kind_of.get(int(classes[i]))
            if kind is None or scores[i] < min_score:
                continue
            ymin, xmin, ymax, xmax = boxes[i]
            r = cand.n
            if r >= len(cand.scores):
                break
            cand.boxes[r] = (xmin * self.w, ymin * self.h, xmax * self.w, ymax * self.h)
            cand.scores[r], cand.kinds[r] = scores[i], kind
            cand.n += 1


def _grid(w: int, h: int, strides: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[int]]:
    """Cell x, y (in cells) and stride of every anchor, level by level; and each level's size."""
    gx, gy, gs, sizes = [], [], [], []
    for s in strides:
        nw, nh = -(-w // s), -(-h // s)
        ys, xs = np.mgrid[0:nh, 0:nw]
        gx.append(xs.ravel())
        gy.append(ys.ravel())
        gs.append(np.full(nw * nh, s))
        sizes.append(nw * nh)
    return (np.concatenate(gx).astype(np.float32), np.concatenate(gy).astype(np.float32),
            np.concatenate(gs).astype(np.float32), sizes)


class NanoDetDecoder:
    """NanoDet-Plus: per level a class tensor [N,80] (sigmoid applied) and a box tensor
    [N, 4*(reg_max+1)] of distribution-focal-loss bins: the distance from the cell's centre
    point (x*stride + (stride-1)/2, same for y) to each side is the softmax-weighted mean bin,
    times stride.

    The centre, not the corner (x*stride) that RangiLyu's own NanoDet-Plus head uses: the
    OpenCV Zoo export we ship decodes from the centre (its reference decoder, nanodet.py in
    opencv_zoo). From the corner every box came out half a stride up and left (about 30
    px on a close cat in a 640x480 frame), which moved where the car pointed and how near
    it drove; from the centre a rendered cat's box lies within ~5 px of its true outline.
    """

    def __init__(self, manifest: Manifest) -> None:
        self.bins = manifest.reg_max + 1
        gx, gy, gs, self.sizes = _grid(manifest.input_w, manifest.input_h, manifest.strides)
        self.levels = [(gx[a:a + n], gy[a:a + n], gs[a:a + n]) for a, n in
                       zip(np.cumsum([0, *self.sizes[:-1]]).tolist(), self.sizes, strict=True)]
        self.pickers = [_PerAnchor(n, manifest) for n in self.sizes]
        self.project = np.arange(self.bins, dtype=np.float32)
        self.order: list[tuple[int, int]] | None = None

    def bind(self, outs: list[np.ndarray]) -> None:
        """Pair each level's class and box outputs by anchor count."""
        order = []
        for n in self.sizes:
            cls = [i for i, o in enumerate(outs) if o.shape == (n, 80)]
            box = [i for i, o in enumerate(outs) if o.shape == (n, 4 * self.bins)]
            if len(cls) != 1 or len(box) != 1:
                raise ModelError(f"NanoDet model: outputs {[o.shape for o in outs]} lack a level of {n} anchors "
                                 f"with 80 classes and {4 * self.bins} box bins")
            order.append((cls[0], box[0]))
        self.order = order

    def decode(self, outs: list[np.ndarray], min_score: float, cand: Candidates) -> None:
        if self.order is None:
            self.bind(outs)
        assert self.order is not None
        for (ci, bi), picker, (gx, gy, gs) in zip(self.order, self.pickers, self.levels, strict=True):
            idx, scores, kinds = picker.pick(outs[ci], min_score, MAX_CANDIDATES)
            if not len(idx):
                continue
            reg = outs[bi][idx].reshape(len(idx), 4, self.bins)
            reg = np.exp(reg - reg.max(axis=2, keepdims=True))
            dist = (reg @ self.project) / reg.sum(axis=2)  # (k, 4): left, top, right, bottom in strides
            s = gs[idx]
            cx, cy = gx[idx] * s + (s - 1) / 2, gy[idx] * s + (s - 1) / 2
            cand.add(cx - dist[:, 0] * s, cy - dist[:, 1] * s, cx + dist[:, 2] * s, cy + dist[:, 3] * s,
                     scores, kinds)


class YoloxDecoder:
    """YOLOX head [N, 85]: box, objectness and 80 class scores (both already sigmoid in the
    exported graph); score = objectness x class. The box is (dx, dy, log w, log h) per grid
    cell (``box_encoding = "grid"``, Megvii's export) or centre and size in input pixels
    (``"pixels"``, exports that decode inside the graph)."""

    def __init__(self, manifest: Manifest) -> None:
        self.grid = manifest.box_encoding == "grid"
        self.gx, self.gy, self.gs, sizes = _grid(manifest.input_w, manifest.input_h, manifest.strides)
        self.n = sum(sizes)
        self.picker = _PerAnchor(self.n, manifest)

    def decode(self, outs: list[np.ndarray], min_score: float, cand: Candidates) -> None:
        out = outs[0]
        if out.shape != (self.n, 85):
            raise ModelError(f"YOLOX model: output {out.shape}, expected ({self.n}, 85)")
        sub = self.picker.sub
        for j, c in enumerate(self.picker.cols.tolist()):  # only cat, dog, person: objectness x class
            np.multiply(out[:, 5 + c], out[:, 4], out=sub[:, j])
        idx, scores, kinds = self.picker.pick_filled(min_score, MAX_CANDIDATES)
        if not len(idx):
            return
        rows = out[idx]
        if self.grid:
            s = self.gs[idx]
            cx, cy = (rows[:, 0] + self.gx[idx]) * s, (rows[:, 1] + self.gy[idx]) * s
            hw, hh = np.exp(np.minimum(rows[:, 2], 10.0)) * s / 2, np.exp(np.minimum(rows[:, 3], 10.0)) * s / 2
        else:
            cx, cy, hw, hh = rows[:, 0], rows[:, 1], rows[:, 2] / 2, rows[:, 3] / 2
        cand.add(cx - hw, cy - hh, cx + hw, cy + hh, scores, kinds)


class YoloE2eDecoder:
    """End-to-end YOLO (no NMS): [300, 6] = x1, y1, x2, y2 (0..1 of the input), score, class."""

    def __init__(self, manifest: Manifest) -> None:
        self.w, self.h = manifest.input_w, manifest.input_h
        cols, kinds = kind_columns(manifest)
        self.kind_lut = np.zeros(1024, np.int64)
        self.kind_lut[cols] = kinds

    def decode(self, outs: list[np.ndarray], min_score: float, cand: Candidates) -> None:
        out = outs[0]
        if out.ndim != 2 or out.shape[1] != 6:
            raise ModelError(f"end-to-end YOLO model: output {out.shape}, expected (N, 6)")
        cls = np.clip(out[:, 5], 0, len(self.kind_lut) - 1).astype(np.int64)
        kinds = self.kind_lut[cls]
        idx = np.flatnonzero((out[:, 4] >= min_score) & (kinds != KIND_OTHER))
        r = out[idx]
        cand.add(r[:, 0] * self.w, r[:, 1] * self.h, r[:, 2] * self.w, r[:, 3] * self.h, r[:, 4], kinds[idx])


Decoder = SsdDecoder | NanoDetDecoder | YoloxDecoder | YoloE2eDecoder


def make_decoder(manifest: Manifest) -> Decoder:
    if manifest.family == "ssd":
        return SsdDecoder(manifest)
    if manifest.family == "nanodet":
        return NanoDetDecoder(manifest)
    if manifest.family == "yolox":
        return YoloxDecoder(manifest)
    if manifest.family == "yolo_e2e":
        return YoloE2eDecoder(manifest)
    raise ModelError(f"model manifest {manifest.source}: family {manifest.family!r} is not a detector")
