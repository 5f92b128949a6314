"""The TFLite SSD detector: BGR frame -> letterboxed RGB input tensor -> best cat box.

Supports the post-processed SSD signature (boxes [1,N,4] ymin,xmin,ymax,xmax normalised;
classes [1,N]; scores [1,N]; count [1]), as in TensorFlow's ``detect.tflite`` and
EfficientDet-Lite exports, with uint8 or float32 input. Frames are BGR (camera order) and
the models are trained on RGB: the conversion happens while writing into the tensor.
Owns: the interpreter and, per input frame size, a resize scratch buffer made once.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from cat_follow.errors import ModelError
from cat_follow.geometry import Box, Letterbox
from cat_follow.perception.model import class_id, parse_labels
from cat_follow.perception.port import KIND_CAT, KIND_DOG, KIND_OTHER, KIND_PERSON, Roi
from cat_follow.perception.runtime import TfliteRuntime

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Detection:
    label: str
    score: float
    box: Box  # x, y, w, h in the pixels of the frame given to ``detect``


@dataclass
class _Geometry:
    lb: Letterbox
    resized: np.ndarray  # (new_h, new_w, 3) uint8 scratch
    rgb: np.ndarray | None  # float models: RGB uint8 scratch before scaling


class SsdDetector:
    """One interpreter, used from one thread."""

    def __init__(self, model: Path, labels: Path, *, num_threads: int = 2, label: str = "cat",
                 score_threshold: float = 0.5) -> None:
        self.model_path = model
        try:
            self.labels = parse_labels(labels.read_text(encoding="utf-8").splitlines())
        except (OSError, UnicodeDecodeError) as exc:
            raise ModelError(f"label map {labels}: cannot be read ({exc})") from exc
        self.label = label
        self.target_class = class_id(self.labels, label, labels)
        # class id -> KIND_*: what the tracker needs to tell a cat from a decoy
        kinds = {label: KIND_CAT, "dog": KIND_DOG, "person": KIND_PERSON}
        self._kind = np.full(max(self.labels, default=0) + 2, KIND_OTHER, np.int64)
        for cid, name in self.labels.items():
            self._kind[cid] = kinds.get(name, KIND_OTHER)
        self.score_threshold = score_threshold
        runtime = TfliteRuntime(model, num_threads)  # loads it and checks its one [1,H,W,3] input
        self.interp = runtime.interp
        self._in_index = runtime.input_index
        self.input_h, self.input_w, self.input_dtype = runtime.input_h, runtime.input_w, runtime.input_dtype
        if self.input_dtype not in (np.dtype(np.uint8), np.dtype(np.float32)):
            raise ModelError(f"model {model}: input dtype {self.input_dtype} is not uint8 or float32")
        self._geoms: dict[tuple[int, int], _Geometry] = {}
        self._outputs = self._find_outputs()
        self.last_ms = 0.0

    # ---- set-up ------------------------------------------------------------------------
    def _find_outputs(self) -> tuple[int, int, int, int]:
        """Indices of (boxes, classes, scores, count), checked by shape, then by values."""
        outs = self.interp.get_output_details()
        if len(outs) != 4:
            raise ModelError(f"model {self.model_path}: {len(outs)} outputs; expected the SSD "
                             "post-processed signature (boxes, classes, scores, count)")
        boxes = [o for o in outs if len(o["shape"]) == 3 and o["shape"][2] == 4]
        count = [o for o in outs if list(o["shape"]) == [1]]
        pair = [o for o in outs if len(o["shape"]) == 2]
        if len(boxes) != 1 or len(count) != 1 or len(pair) != 2:
            raise ModelError(f"model {self.model_path}: outputs {[list(o['shape']) for o in outs]} "
                             "do not match boxes [1,N,4], classes [1,N], scores [1,N], count [1]")
        classes, scores = pair[0], pair[1]  # TF1 order: PostProcess:1 classes, :2 scores
        names = [str(o["name"]) for o in pair]
        if not all(n.startswith("TFLite_Detection_PostProcess") for n in names):
            # Other exporters order them differently: classes are whole numbers; scores
            # of a grey frame are not.
            self._fill_input(np.full((self.input_h, self.input_w, 3), 127, np.uint8))
            self.interp.invoke()
            a, b = (self.interp.get_tensor(o["index"]) for o in pair)
            if np.all(a == np.round(a)) and not np.all(b == np.round(b)):
                classes, scores = pair
            elif np.all(b == np.round(b)) and not np.all(a == np.round(a)):
                scores, classes = pair
        return (int(boxes[0]["index"]), int(classes["index"]), int(scores["index"]),
                int(count[0]["index"]))

    def prepare(self, sizes: list[tuple[int, int]]) -> None:
        """Make the resize buffers for every image size it will be given, now (start-up),
        so that no run allocates them later."""
        for w, h in sizes:
            self._geometry(w, h)

    def _geometry(self, w: int, h: int) -> _Geometry:
        g = self._geoms.get((w, h))
        if g is None:
            lb = Letterbox.fit(w, h, self.input_w, self.input_h)
            rgb = np.zeros((lb.new_h, lb.new_w, 3), np.uint8) if self.input_dtype != np.uint8 else None
            g = _Geometry(lb, np.zeros((lb.new_h, lb.new_w, 3), np.uint8), rgb)
            self._geoms[(w, h)] = g
        return g

    # ---- per run -----------------------------------------------------------------------
    def _fill_input(self, frame_bgr: np.ndarray) -> Letterbox:
        """Letterbox ``frame_bgr`` into the input tensor as RGB, in place (no allocation
        beyond the tensor view object)."""
        g = self._geometry(frame_bgr.shape[1], frame_bgr.shape[0])
        lb = g.lb
        y0, y1, x0, x1 = lb.pad_y, lb.pad_y + lb.new_h, lb.pad_x, lb.pad_x + lb.new_w
        cv2.resize(frame_bgr, (lb.new_w, lb.new_h), dst=g.resized, interpolation=cv2.INTER_AREA)
        tensor = self.interp.tensor(self._in_index)()[0]  # a view of the interpreter's input
        if self.input_dtype == np.uint8:
            fill = 0
            cv2.cvtColor(g.resized, cv2.COLOR_BGR2RGB, dst=tensor[y0:y1, x0:x1])  # BGR -> RGB
        else:
            fill = -1  # black after (x - 127.5) / 127.5
            assert g.rgb is not None
            cv2.cvtColor(g.resized, cv2.COLOR_BGR2RGB, dst=g.rgb)
            roi = tensor[y0:y1, x0:x1]
            np.subtract(g.rgb, 127.5, out=roi, casting="unsafe")
            np.multiply(roi, 1.0 / 127.5, out=roi)
        tensor[:y0] = fill  # bars: the arena may reuse input memory between runs
        tensor[y1:] = fill
        tensor[y0:y1, :x0] = fill
        tensor[y0:y1, x1:] = fill
        return lb  # the views die here: invoke() refuses to run while one is alive

    def _run(self, frame_bgr: np.ndarray) -> tuple[Letterbox, np.ndarray, np.ndarray, np.ndarray, int]:
        t0 = time.perf_counter()
        lb = self._fill_input(frame_bgr)
        self.interp.invoke()
        bi, ci, si, ni = self._outputs
        boxes = self.interp.get_tensor(bi)[0]
        classes = self.interp.get_tensor(ci)[0]
        scores = self.interp.get_tensor(si)[0]
        count = min(int(self.interp.get_tensor(ni)[0]), len(scores))
        self.last_ms = (time.perf_counter() - t0) * 1e3
        return lb, boxes, classes, scores, count

    def _to_frame(self, lb: Letterbox, row: np.ndarray) -> Box:
        ymin, xmin, ymax, xmax = (float(v) for v in row)
        box = (xmin * self.input_w, ymin * self.input_h,
               (xmax - xmin) * self.input_w, (ymax - ymin) * self.input_h)
        return lb.to_src(box)

    def best(self, frame_bgr: np.ndarray, roi: tuple[int, int, int, int] | None = None,
             min_score: float | None = None) -> tuple[bool, Box, float]:
        """(found, box, score) of the highest-scoring target-class detection in the frame, or
        only inside ``roi`` = (x0, y0, x1, y1) (a view, no copy: a distant cat fills more of
        the model's input). Boxes are in frame pixels either way."""
        image = frame_bgr if roi is None else frame_bgr[roi[1]:roi[3], roi[0]:roi[2]]
        lb, boxes, classes, scores, count = self._run(image)
        best_i, best_s = -1, self.score_threshold if min_score is None else min_score
        for i in range(count):
            if int(classes[i]) == self.target_class and float(scores[i]) >= best_s:
                best_i, best_s = i, float(scores[i])
        if best_i < 0:
            return False, (0.0, 0.0, 0.0, 0.0), 0.0
        x, y, w, h = self._to_frame(lb, boxes[best_i])
        if roi is not None:
            x, y = x + roi[0], y + roi[1]
        return True, (x, y, w, h), best_s

    def detect_into(self, frame_bgr: np.ndarray, roi: Roi | None, min_score: float, out: np.ndarray) -> int:
        """Write the cat, dog and person detections scoring at least ``min_score`` into ``out``
        (DETECTION rows the caller owns), highest score first, in frame pixels; return how
        many. Looks only inside ``roi`` = (x0, y0, x1, y1) when given (a view, no copy)."""
        image = frame_bgr if roi is None else frame_bgr[roi[1]:roi[3], roi[0]:roi[2]]
        lb, boxes, classes, scores, count = self._run(image)
        ox, oy = (roi[0], roi[1]) if roi is not None else (0, 0)
        order = np.argsort(-scores[:count], kind="stable")
        n = 0
        for i in order:
            score = float(scores[i])
            if score < min_score or n >= len(out):
                break
            cls = int(classes[i])
            kind = int(self._kind[cls]) if 0 <= cls < len(self._kind) else KIND_OTHER
            if kind == KIND_OTHER:
                continue
            x, y, w, h = self._to_frame(lb, boxes[i])
            row = out[n]
            row["x"], row["y"], row["w"], row["h"] = x + ox, y + oy, w, h
            row["score"], row["kind"] = score, kind
            n += 1
        return n

    def detect(self, frame_bgr: np.ndarray, *, all_classes: bool = False) -> list[Detection]:
        """Every detection above the threshold (only the target class unless ``all_classes``)."""
        lb, boxes, classes, scores, count = self._run(frame_bgr)
        out = []
        for i in range(count):
            cls, score = int(classes[i]), float(scores[i])
            if score < self.score_threshold or (not all_classes and cls != self.target_class):
                continue
            out.append(Detection(self.labels.get(cls, str(cls)), score, self._to_frame(lb, boxes[i])))
        out.sort(key=lambda d: -d.score)
        return out


def make_detector(model: Path, labels: Path, cfg: Any) -> SsdDetector:
    """An SsdDetector from a DetectorConfig."""
    return SsdDetector(model, labels, num_threads=cfg.num_threads, label=cfg.label,
                       score_threshold=cfg.score_threshold)
