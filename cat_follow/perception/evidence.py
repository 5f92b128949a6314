"""Reading a detector RESULT for the tracker: which cat to follow, is it a decoy, when to
check its crop again, and what a check said. Pure functions on records and boxes, plus a
small colour-signature scratch the tracker owns for comparing candidates.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from cat_follow.config_verifier import VerifierConfig
from cat_follow.geometry import Box, iou, reaches_column, size_step
from cat_follow.perception.belief import CAT, DOG, OTHER
from cat_follow.perception.port import KIND_CAT, KIND_DOG, SIGNATURE_LEN, box_of
from cat_follow.perception.scene import MATCH_IOU
from cat_follow.perception.target import Verify
from cat_follow.perception.verifier import similarity, write_signature

# A detection "on" a box: the tracks' match (ByteTrack's), one notion of "the same object" for the
# tracks and the decider (it was a tuned 0.3; README, "The cat's look")
OVERLAP_IOU = MATCH_IOU


def likeliest(cat_prob: float, dog_prob: float, other_prob: float) -> int:
    """The classifier's likeliest class for a crop: CAT, DOG or OTHER (a tie with neither goes to
    cat, any other tie to OTHER)."""
    if cat_prob > dog_prob and cat_prob >= other_prob:
        return CAT
    return DOG if dog_prob > cat_prob and dog_prob > other_prob else OTHER


def classify(cat_prob: float, dog_prob: float, other_prob: float, p_min: float) -> Verify:
    """One crop check's verdict (the classifier's calibrated probabilities). A crop verifies as a
    cat when cat is its likeliest class, and is not a cat when its cat probability is below
    ``p_min`` (``tracks.p_min``: what the beliefs count as a sure no); a crop at cat 0.30 / dog 0.55
    (a blanket beside a kitten) is neither, only unsure."""
    if likeliest(cat_prob, dog_prob, other_prob) == CAT:
        return Verify.CAT
    return Verify.NOT_CAT if cat_prob < p_min else Verify.UNSURE


def other_class_wins(dets: np.ndarray, box: Box, score: float, min_iou: float, *, dogs: bool = True) -> bool:
    """A dog (unless not ``dogs``) or person detection overlapping ``box`` by ``min_iou``
    scores above ``score`` (the cat's): the region is more likely another animal."""
    for d in dets:
        kind = int(d["kind"])
        if kind == KIND_CAT or (kind == KIND_DOG and not dogs):
            continue
        if float(d["score"]) > score and iou(box_of(d), box) >= min_iou:
            return True
    return False


def decoy_over(dets: np.ndarray, box: Box, min_iou: float, *, dogs: bool = True) -> bool:
    """Does a dog (unless not ``dogs``) or person detection overlap the tracked ``box`` and
    outscore every cat detection on it?"""
    cat_score = 0.0
    for d in dets:
        if int(d["kind"]) == KIND_CAT and iou(box_of(d), box) >= OVERLAP_IOU:
            cat_score = max(cat_score, float(d["score"]))
    return other_class_wins(dets, box, cat_score, min_iou, dogs=dogs)


def cat_on(dets: np.ndarray, box: Box, min_score: float, min_iou: float,
           dog_iou: float | None = None, max_step: float = math.inf) -> int:
    """Index of the best cat detection overlapping ``box`` (IoU >= min_iou), or -1. With
    ``dog_iou``, a dog detection overlapping it at least that much counts too (a target the
    classifier called a cat where the detector says dog). A detection whose size differs from
    ``box``'s by more than ``max_step`` (``geometry.size_step``) is not on it."""
    best, best_s = -1, min_score
    for i, d in enumerate(dets):
        s, kind = float(d["score"]), int(d["kind"])
        if s < best_s or (max_step < math.inf and size_step(box, box_of(d)) > max_step):
            continue
        overlap = iou(box_of(d), box)
        if (kind == KIND_CAT and overlap >= min_iou) or (kind == KIND_DOG and dog_iou is not None
                                                          and overlap >= dog_iou):
            best, best_s = i, s
    return best


def moved(box: Box, ref: Box, cfg: VerifierConfig) -> bool:
    """Has ``box`` jumped (its centre left ``ref``, the box that was checked) or changed area
    by more than ``resize`` since ``ref``?"""
    if ref[2] <= 0 or ref[3] <= 0 or box[2] <= 0 or box[3] <= 0:
        return True
    dx = (box[0] + box[2] / 2) - (ref[0] + ref[2] / 2)
    dy = (box[1] + box[3] / 2) - (ref[1] + ref[3] / 2)
    area = (box[2] * box[3]) / (ref[2] * ref[3])
    return abs(dx) > ref[2] / 2 or abs(dy) > ref[3] / 2 or not 1 / cfg.resize <= area <= cfg.resize


class CandidatePicker:
    """Chooses which cat detection to acquire. With a remembered cat (``remember``), the one
    whose colour signature is most like it; otherwise the highest score. Owns a signature
    buffer and the resize scratch for computing candidates' signatures."""

    def __init__(self) -> None:
        self.cat_sig = np.zeros(SIGNATURE_LEN, np.float32)
        self.has_cat = False
        self.t_ns = 0
        self._sig = np.zeros(SIGNATURE_LEN, np.float32)
        self._scratch = (np.zeros((48, 48, 3), np.uint8), np.zeros((48, 48, 3), np.uint8))

    def remember(self, signature: np.ndarray, t_ns: int) -> None:
        np.copyto(self.cat_sig, signature)
        self.has_cat = bool(signature.any())
        self.t_ns = t_ns

    def similarity_to_cat(self, frame: np.ndarray, box: Box) -> float:
        write_signature(frame, box, self._sig, self._scratch)
        return similarity(self._sig, self.cat_sig)

    def pick(self, frame: np.ndarray, dets: np.ndarray, min_score: float, t_ns: int, within_ns: int,
             skip: Box | None = None, unlike: Callable[[Box], bool] | None = None) -> int:
        """Index into ``dets`` of the cat to acquire, or -1. Never one ``unlike`` says is another
        cat than the lost one. With another cat in view, not one overlapping ``skip`` (a box the
        verifier just rejected); alone, it is asked about again (a distant cat the classifier once
        read as a dog)."""
        cats = [i for i, d in enumerate(dets) if int(d["kind"]) == KIND_CAT and float(d["score"]) >= min_score
                and (unlike is None or not unlike(box_of(d)))]
        others = [i for i in cats if skip is None or iou(box_of(dets[i]), skip) < OVERLAP_IOU]
        cats = others or cats
        if len(cats) <= 1 or not self.has_cat or t_ns - self.t_ns > within_ns:
            return cats[0] if cats else -1  # rows are sorted by score
        return max(cats, key=lambda i: self.similarity_to_cat(frame, box_of(dets[i])))


class CheckOdds:
    """The log-odds of cat over dog, summed over the crop checks of one candidate (naive Bayes
    over its checks): a candidate is a cat by its checks together, not by its latest one.
    Held-out miniature pinschers were confirmed on one check: one checked dog 0.93 twice, then
    cat 0.55; another probed three times (cat 0.45, 0.39, 0.52) and taken on the last."""

    def __init__(self, p_min: float) -> None:
        self.p_min = p_min  # tracks.p_min: the belief's floor
        self.total = 0.0
        self._key: tuple[int, bool] = (-1, False)
        self._box: Box = (0.0, 0.0, 0.0, 0.0)

    def add(self, box: Box, gen: int, probe: bool, cat_prob: float, dog_prob: float) -> float:
        """Fold in one check of ``box`` (the decider's ``gen`` and whether it was a probe of a dog
        box); a new candidate (another gen, or a probe elsewhere) starts from 0. Returns the sum."""
        if (gen, probe) != self._key or (probe and iou(box, self._box) < OVERLAP_IOU):
            self.total = 0.0
        self._key, self._box = (gen, probe), box
        self.total += math.log(max(self.p_min, cat_prob) / max(self.p_min, dog_prob))
        return self.total


class LocationHint:
    """Which cat the user means: the one where the commanded ``cat_location`` lies in the image.
    The main loop posts its column and its radius's half-width every tick (NaN while out of
    view), or a point clicked in the web view (half-width 0). While it is pending, only
    detections within that window count: a cat elsewhere is neither taken nor kept. Once a cat
    is confirmed after it (by it, when the place was in view) it is spent, so a cat that walks
    off is followed, not the place; a click is spent as soon as a candidate under it is taken
    (the camera then turns to it). A new hint (a new id) makes a new one."""

    def __init__(self) -> None:
        self.id, self.x, self.half, self._spent = 0, math.nan, math.nan, 0

    def post(self, hint_id: int, x: float, half: float) -> None:
        self.id, self.x, self.half = hint_id, x, half

    @property
    def active(self) -> bool:
        return self.id not in (0, self._spent) and math.isfinite(self.x)

    def spend(self) -> None:
        self._spent = self.id

    def covers(self, box: Box) -> bool:
        """Does ``box`` reach into the window (its span meets column x +- half)?"""
        return reaches_column(box[0], box[2], self.x, self.half)

    def elsewhere(self, box: Box) -> bool:
        """Is a hint pending that ``box`` does not reach (the user means another cat)?"""
        return self.active and not self.covers(box)

    def within(self, dets: np.ndarray) -> np.ndarray:
        """The detections that reach into the window (a small new array; the rows stay sorted)."""
        keep = (dets["x"] <= self.x + self.half) & (dets["x"] + dets["w"] >= self.x - self.half)
        return dets[keep]

    def nearest(self, dets: np.ndarray, min_score: float) -> int:
        """Index of the cat detection (score >= ``min_score``) whose centre is nearest the
        column, or -1."""
        best, best_d = -1, math.inf
        for i, d in enumerate(dets):
            dist = abs(float(d["x"]) + float(d["w"]) / 2 - self.x)
            if int(d["kind"]) == KIND_CAT and float(d["score"]) >= min_score and dist < best_d:
                best, best_d = i, dist
        return best
