"""The port between the tracker and the detector: request -> ticket -> result.

The tracker never touches the detector's fields. It submits a ``DetectJob`` and gets a
ticket (or None while a job is in flight or the detector is down); later it ``take``s the
newest finished ``RESULT`` record, copied whole into a buffer it owns. The same protocol is
served by the detector thread (``ThreadDetectorPort``) and, where configured, by a detector
process: the records below are fixed-size numpy records, so they can live in shared memory.

What runs a job is a ``DetectorWorker`` (a detector back-end, plus a verifier where one is
configured), built by ``make_worker`` from picklable arguments so a spawned process can
build its own.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from cat_follow.geometry import Box, iou
from cat_follow.stats import LatencyRecorder

Roi = tuple[int, int, int, int]  # x0, y0, x1, y1 in slot pixels

KIND_OTHER, KIND_CAT, KIND_DOG, KIND_PERSON = 0, 1, 2, 3
KIND_NAMES = {KIND_OTHER: "other", KIND_CAT: "cat", KIND_DOG: "dog", KIND_PERSON: "person"}
MAX_DETECTIONS = 16
SIGNATURE_LEN = 64
EMBED_LEN = 128  # the classifier's appearance embedding (PCA of the backbone's pooled features)
# In lock-step (--fast) the tracker waits this long for its ticket's result: those runs promise the
# same result on any machine, so a slow run there is waited for, not treated as a hang.
LOCKSTEP_WAIT_S = 30.0

# One detection, in slot pixels.
DETECTION = np.dtype([
    ("x", np.float64), ("y", np.float64), ("w", np.float64), ("h", np.float64),
    ("score", np.float64), ("kind", np.int64),
], align=True)

# One finished job, published and copied whole (never field by field).
RESULT = np.dtype([
    ("ticket", np.int64),          # the job's ticket; 0 = no result yet
    ("seq", np.int64),             # frame the detector ran on
    ("t_media_ns", np.int64),      # that frame's source-clock time
    ("t_capture_ns", np.int64),    # that frame's capture time (monotonic)
    ("t_done_ns", np.int64),       # monotonic time the result was published
    ("ms", np.float64),            # time the worker spent on the job
    ("n", np.int64),               # detections in ``dets``
    ("dets", DETECTION, (MAX_DETECTIONS,)),  # sorted by score, highest first
    ("verified", np.int64),        # 1 = the verifier ran, on ``verify_box``
    ("verify_box", np.float64, (4,)),  # the crop it checked: the job's ``verify``, or the cat it chose (``check_cat``)
    ("cat_prob", np.float64),      # classifier: calibrated P(cat) of the crop
    ("signature", np.float32, (SIGNATURE_LEN,)),  # verifier: HSV colour histogram (L1 = 1)
    ("verify_ms", np.float64),
    ("dog_prob", np.float64),      # classifier: calibrated P(dog)
    ("cls_other_prob", np.float64),  # classifier: calibrated P(neither cat nor dog); the three sum to 1
    ("embedding", np.float32, (EMBED_LEN,)),  # classifier: appearance embedding, L2 = 1 (cosine = dot)
], align=True)

# A job, as one record (for a detector in another process).
JOB = np.dtype([
    ("ticket", np.int64), ("after_seq", np.int64),
    ("has_roi", np.int64), ("roi", np.int64, (4,)),
    ("min_score", np.float64),
    ("has_verify", np.int64), ("verify", np.float64, (4,)),
    ("has_check_cat", np.int64), ("check_cat", np.float64, (2,)),
], align=True)


@dataclass(frozen=True)
class DetectJob:
    """What the tracker asks for."""

    roi: Roi | None            # where to look; None = the whole frame
    min_score: float           # report detections at or above this score
    verify: Box | None = None  # also run the verifier on this crop (x, y, w, h)
    after_seq: int = 0         # run on the newest frame with seq >= after_seq
    # no ``verify`` box: check the strongest cat this job finds with (score, longer side) at
    # least these, so a candidate's first sighting carries its own check (None = no)
    check_cat: tuple[float, float] | None = None

    def to_record(self, rec: np.void, ticket: int) -> None:
        """Write this job into a JOB record the caller owns."""
        rec["ticket"], rec["after_seq"], rec["min_score"] = ticket, self.after_seq, self.min_score
        rec["has_roi"] = self.roi is not None
        rec["roi"] = self.roi if self.roi is not None else (0, 0, 0, 0)
        rec["has_verify"] = self.verify is not None
        rec["verify"] = self.verify if self.verify is not None else (0.0, 0.0, 0.0, 0.0)
        rec["has_check_cat"] = self.check_cat is not None
        rec["check_cat"] = self.check_cat if self.check_cat is not None else (0.0, 0.0)

    @classmethod
    def from_record(cls, rec: np.void) -> DetectJob:
        r, v = rec["roi"], rec["verify"]
        roi = (int(r[0]), int(r[1]), int(r[2]), int(r[3])) if rec["has_roi"] else None
        verify = (float(v[0]), float(v[1]), float(v[2]), float(v[3])) if rec["has_verify"] else None
        c = rec["check_cat"]
        check_cat = (float(c[0]), float(c[1])) if rec["has_check_cat"] else None
        return cls(roi, float(rec["min_score"]), verify, int(rec["after_seq"]), check_cat)


def box_of(det: Any) -> Box:
    """A DETECTION row's box."""
    return (float(det["x"]), float(det["y"]), float(det["w"]), float(det["h"]))


def strongest(dets: np.ndarray, kind: int, min_score: float, min_side: float,
              skip: Sequence[Box] = (), skip_iou: float = 1.0) -> Box | None:
    """The box of the highest-scoring ``kind`` row of ``dets`` (sorted by score) with at least
    ``min_score``, a longer side of at least ``min_side`` (big enough for the classifier) and an
    IoU below ``skip_iou`` with every box in ``skip``; None if there is none. What a crop check
    is asked about with no target: the cat a job found, a dog box that may be a cat."""
    for d in dets:
        if float(d["score"]) < min_score:
            return None
        b = box_of(d)
        if int(d["kind"]) == kind and max(b[2], b[3]) >= min_side and all(iou(b, s) < skip_iou for s in skip):
            return b
    return None


def detections(result: np.void) -> np.ndarray:
    """The valid rows of a RESULT's ``dets`` (a view into the caller's record)."""
    return result["dets"][: int(result["n"])]


class DetectorWorker(Protocol):
    """Runs jobs; lives on the detector thread (or in the detector process) only."""

    def prepare(self, sizes: Sequence[tuple[int, int]]) -> None:
        """Make the buffers for every image size it will be given, now (start-up)."""

    def run(self, job: DetectJob, frame: np.ndarray, out: np.void) -> None:
        """Run ``job`` on ``frame`` (BGR slot pixels); fill ``out``'s ``n``, ``dets``, ``ms``
        and, when the job asks, the verifier fields. The port fills ticket, seq and times."""


class DetectorPort(Protocol):
    """The tracker's only view of the detector."""

    runs: int
    latency: LatencyRecorder

    @property
    def busy(self) -> bool:
        """A job is in flight (``submit`` would return None)."""

    def submit(self, job: DetectJob) -> int | None:
        """Queue ``job``; its ticket, or None while busy or while the detector is down."""

    def take(self, out: np.ndarray) -> bool:
        """Copy the newest finished result not taken before into ``out`` ((1,) RESULT)."""

    def wait(self, ticket: int, timeout_s: float, stopping: threading.Event) -> bool:
        """Lock-step: block until ``ticket`` is finished (False on timeout, stop or fault)."""

    def status(self) -> str:
        """``ok``, ``restarting (n)`` or ``down: <why>``."""


def new_result_buffer() -> np.ndarray:
    """A consumer's own (1,) RESULT buffer for ``take`` (allocate once, outside loops)."""
    return np.zeros(1, dtype=RESULT)
