"""Which detection of a result is the target's hit: the cat on KCF's box, else at the place
where KCF lost it, else the one the user points at, else the candidate picker's choice, else
a dog box the classifier just called a cat. A mixin of ``TargetDecider`` (``decide.py``), which
owns every field named here; kept apart so each module stays one subject.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cat_follow.config_verifier import VerifierConfig
from cat_follow.geometry import Box, iou
from cat_follow.perception.evidence import (
    OVERLAP_IOU,
    CandidatePicker,
    LocationHint,
    cat_on,
    other_class_wins,
)
from cat_follow.perception.gallery import Gallery
from cat_follow.perception.look import CatLooks
from cat_follow.perception.lost_cat import LostCat
from cat_follow.perception.port import box_of
from cat_follow.perception.scene import SceneTracks
from cat_follow.perception.target import TargetLock, TargetState


@dataclass(frozen=True)
class Hit:
    box: Box
    score: float


class Hits:
    """Finds the hit on a result and books it as a new place when it moved (see the module docstring)."""

    vcfg: VerifierConfig
    verifying: bool
    lock: TargetLock
    picker: CandidatePicker
    looks: CatLooks
    lost: LostCat
    scene: SceneTracks
    score_threshold: float
    keep_threshold: float
    on_box: float
    identity_ns: int
    gen: int
    recheck: bool
    unseen: bool
    by_crop: bool
    _back: Box | None
    _probed: Box | None
    _cand_emb: np.ndarray
    cat_look: Gallery
    _hint: LocationHint
    _rejected: Box | None
    _rejected_t_ns: int

    def _hit(self, dets: np.ndarray, frame: np.ndarray, box: Box | None, last: Box | None,
             t_ns: int) -> Hit | None:
        if self._back is not None:  # the check said the box is on another cat: back to the followed one
            back, self._back, self._probed = self._back, None, None
            return Hit(back, self.score_threshold)
        dog_iou = self.on_box if self.by_crop else None  # the detector's word for this cat
        i = cat_on(dets, box, self.keep_threshold, OVERLAP_IOU, dog_iou) if box is not None else -1
        i = -1 if i >= 0 and box is not None and self.scene.followed_elsewhere(box_of(dets[i]), box) else i
        if i < 0 and box is None and last is not None:
            # KCF lost it a moment ago: a cat where it was is the same cat. Without this the
            # colour signature alone chose, and a white blanket beside a white kitten won. A box
            # twice its size there is another animal (the tracks' size gate): a cat walking past
            # in front of the lost one, whose box engulfs its last place.
            i = cat_on(dets, last, self.score_threshold, OVERLAP_IOU, dog_iou, self.scene.max_step)
            if i < 0:  # ...and a weaker one right there (on it, as a decoy would be) too
                on = self.on_box
                i = cat_on(dets, last, self.keep_threshold, on, on if self.by_crop else None)
            if i >= 0:
                box = last
        if i < 0 and self._hint.active:
            i = self._hint.nearest(dets, self.score_threshold)  # the one the user means
        if i < 0:
            skip = self._rejected if t_ns - self._rejected_t_ns <= self.lock.lost_after_ns else None
            held = box is not None and self.lock.state == TargetState.TRACKING
            i = self.picker.pick(frame, dets, self.score_threshold, t_ns, self.identity_ns, skip,
                                 unlike=lambda b: self._unlike(frame, b, t_ns, held))
        if i < 0 and self._probed is not None and box is None:
            # the classifier called the probed box a cat (with no target, or the lost cat's look)
            # on this result's frame: the detection it checked (a weak cat), else the one there
            # now (a dog box of the last result: it moved), else the box it checked
            i = next((j for j, d in enumerate(dets) if box_of(d) == self._probed), -1)
            i = cat_on(dets, self._probed, self.keep_threshold, OVERLAP_IOU, OVERLAP_IOU) if i < 0 else i
            hit = Hit(box_of(dets[i]), float(dets[i]["score"])) if i >= 0 else Hit(self._probed, self.score_threshold)
            return self._placed(hit, None, last)
        if i < 0:
            return None
        if self._probed is not None:  # a cat detection won: a probe's verdict was not about it,
            self._probed = None        # nor is its crop this cat's look
            self._cand_emb.fill(0.0)
        det, score = box_of(dets[i]), float(dets[i]["score"])
        if other_class_wins(dets, det, score, self.on_box, dogs=not self.by_crop):
            return None  # more dog (or person) than cat there: never initialise on it
        if (self.verifying and self.lock.state != TargetState.TRACKING and score >= self.score_threshold
                and max(det[2], det[3]) < self.vcfg.min_box_px):
            self.lock.verified = True  # too small to check: the detector decides, until the box grows
            self.recheck = True        # ...then its first check must not say not-cat
        return self._placed(Hit(det, score), box, last)

    def _unlike(self, frame: np.ndarray, box: Box, t_ns: int, held: bool) -> bool:
        """Is the cat at ``box`` not one to take: another cat than the lost one by its track's crop
        checks (its look, ``lost_cat.py``) or by its colours (``look.py``), too small to check while
        that question is open (``LostCat.undecidable``), or, while KCF holds the confirmed target
        (``held``), an animal seen apart from the followed one?"""
        tr = self.scene.on(box)
        if tr is not None and (self.lost.is_other(tr.id, t_ns) or (held and self.scene.apart_from_followed(tr.id))):
            return True
        if max(box[2], box[3]) < self.vcfg.min_box_px and self.lost.undecidable(self.cat_look, t_ns):
            return True  # too small to check while the lost cat and another are both known: a guess
        return self.looks.is_other(frame, box, t_ns)

    def _placed(self, hit: Hit, box: Box | None, last: Box | None) -> Hit:
        """Book a hit away from ``box`` (KCF's) or ``last`` (where KCF lost the target) as a new
        place: checks of the old place no longer count, a candidate's verification was of something
        else, a confirmed target's new box is checked, and, if KCF had lost it (the detector took
        whatever else was in view), not shown before that check (``shows``)."""
        ref = box if box is not None else last
        if ref is None or iou(ref, hit.box) < OVERLAP_IOU:
            self.gen += 1
            if self.lock.state == TargetState.TRACKING:
                self.recheck = self.recheck or ref is not None
                self.unseen = self.unseen or (box is None and last is not None)
            elif max(hit.box[2], hit.box[3]) >= self.vcfg.min_box_px:
                self.lock.verified = self.lock.of_hit = False  # ...a too-small one keeps the detector's word
        return hit

