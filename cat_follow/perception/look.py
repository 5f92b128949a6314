"""Which of two cats is which, by their colours: the followed cat's look and the look of the
last other cat seen beside it, both taken from the frames in the tracker thread (so a cat too
small for the classifier has one too).

Used where the decider picks a cat to acquire after the followed one was lost (or was let go
for a ``cat_location`` elsewhere): a cat that does not look like the followed one (below
``verifier.same_look``) and looks more like the other cat is the other cat, not the followed
one come back, and is not taken while the robot still looks for the lost one. With no other
cat seen lately nothing changes: one cat alone is always taken back, and two cats that look
alike (colours at ``same_look`` or closer) are not told apart by colour.
Not used where KCF lost a target that is still held and a cat is at its last place: tried,
it cost kittens_floor most of its presence in the Pi's timing (README, "Which cat").
"""

from __future__ import annotations

import numpy as np

from cat_follow.geometry import Box, iou
from cat_follow.perception.evidence import OVERLAP_IOU
from cat_follow.perception.port import KIND_CAT, SIGNATURE_LEN, box_of
from cat_follow.perception.verifier import similarity, write_signature


class CatLooks:
    """Owns the two signatures, when each was last taken, and the scratch to compute them."""

    def __init__(self, within_ns: int, same_look: float) -> None:
        self.within_ns = within_ns  # an other cat seen longer ago than this no longer counts
        self.same_look = same_look  # a crop at least this like the followed cat may be it (verifier.same_look)
        self.followed = np.zeros(SIGNATURE_LEN, np.float32)
        self.other = np.zeros(SIGNATURE_LEN, np.float32)
        self.has_followed = False
        self.other_t_ns = -(1 << 62)
        self._sig = np.zeros(SIGNATURE_LEN, np.float32)
        self._scratch = (np.zeros((48, 48, 3), np.uint8), np.zeros((48, 48, 3), np.uint8))

    def see(self, frame: np.ndarray, dets: np.ndarray, held: Box, min_score: float, t_ns: int) -> None:
        """A result while the target is followed at ``held`` (its detection this frame): take its
        look when no other cat detection touches it (a clear view), and the strongest other cat
        detection's as the other cat's: one not on the held box whose centre lies outside it (a
        detection of part of the held cat has its centre inside)."""
        clear, other = True, None
        for d in dets:
            if int(d["kind"]) != KIND_CAT or float(d["score"]) < min_score:
                continue
            box = box_of(d)
            overlap = iou(box, held)
            if overlap >= OVERLAP_IOU:
                continue  # the held cat's own detection (or a duplicate of it)
            clear = clear and overlap == 0.0
            cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
            outside = not (held[0] <= cx <= held[0] + held[2] and held[1] <= cy <= held[1] + held[3])
            if other is None and outside:
                other = d  # rows are sorted by score
        if clear:
            write_signature(frame, held, self.followed, self._scratch)
            self.has_followed = bool(self.followed.any())
        if other is not None:
            write_signature(frame, box_of(other), self.other, self._scratch)
            self.other_t_ns = t_ns if self.other.any() else self.other_t_ns

    def demote(self, t_ns: int) -> None:
        """The followed cat is not the one the user means (a cat_location elsewhere): its look
        becomes the other cat's, so the decider does not take it back when the meant one is lost."""
        if self.has_followed:
            np.copyto(self.other, self.followed)
            self.other_t_ns, self.has_followed = t_ns, False

    def is_other(self, frame: np.ndarray, box: Box, t_ns: int) -> bool:
        """Does the cat at ``box`` look more like the other cat seen lately than like the
        followed one? False when either look is missing."""
        if not self.has_followed or t_ns - self.other_t_ns > self.within_ns:
            return False
        write_signature(frame, box, self._sig, self._scratch)
        if not self._sig.any():
            return False
        own = similarity(self._sig, self.followed)
        return own < self.same_look and similarity(self._sig, self.other) > own
