"""The decider's crop checks: which box to send to the classifier with the next detector job,
and what its verdict does to the candidate or target (confirm, veto, drop, the confirmed cat's
look). A mixin of ``TargetDecider`` (``decide.py``), which owns every field named here; kept
apart so each module stays one subject.
"""

from __future__ import annotations

import logging

import numpy as np

from cat_follow.config_verifier import VerifierConfig
from cat_follow.geometry import Box, iou
from cat_follow.perception.belief import DOG
from cat_follow.perception.evidence import (
    OVERLAP_IOU,
    CandidatePicker,
    CheckOdds,
    LocationHint,
    classify,
    likeliest,
    moved,
)
from cat_follow.perception.gallery import Gallery
from cat_follow.perception.lost_cat import LostCat
from cat_follow.perception.port import KIND_DOG, strongest
from cat_follow.perception.scene import SceneTracks
from cat_follow.perception.target import DropReason, TargetLock, TargetState, Verify

log = logging.getLogger(__name__)


def _probs(rec: np.void) -> tuple[float, float, float]:
    """The classifier's (cat, dog, neither) for the checked crop."""
    return float(rec["cat_prob"]), float(rec["dog_prob"]), float(rec["cls_other_prob"])


class CropChecks:
    """Asks for and applies crop checks (see the module docstring)."""

    verifying: bool
    vcfg: VerifierConfig
    lock: TargetLock
    picker: CandidatePicker
    odds: CheckOdds
    scene: SceneTracks
    gen: int
    suspect: bool
    recheck: bool
    unseen: bool
    every_ns: int
    identity_ns: int
    _cat_ns: int
    _probe: Box | None
    _probed: Box | None
    _probe_rejects: list[tuple[Box, int]]
    _pending: tuple[int, int, Box, bool, int] | None
    _found: int
    score_threshold: float
    keep_threshold: float
    p_min: float
    _other: tuple[int, Box] | None
    _other_t_ns: int
    _checked_t_ns: int
    _checked_box: Box
    _cand_sig: np.ndarray
    _cand_emb: np.ndarray
    cat_look: Gallery
    _rejected: Box | None
    _rejected_t_ns: int
    _was: int
    _hint: LocationHint
    _back: Box | None
    _who: tuple[float, float] | None
    lost: LostCat

    def drop(self, reason: DropReason) -> None:
        raise NotImplementedError

    # ---- what to ask ---------------------------------------------------------------------
    def verify_box(self, box: Box | None, t_ns: int) -> Box | None:
        """The box to check with the next job, if a check is due (``box`` = KCF's, or None)."""
        self._other = None
        if not self.verifying:
            return None
        if not self.lock.state.has_target or box is None:
            return self._probe  # no target, or KCF lost it: a dog box that may be a cat (``_next_probe``)
        if max(box[2], box[3]) < self.vcfg.min_box_px:
            return None  # too small for the classifier to judge
        if self.lock.state == TargetState.ACQUIRING:
            return None if self.lock.verified else box
        due = t_ns - self._checked_t_ns >= self.every_ns
        if self.suspect or self.recheck or self._was or due or moved(box, self._checked_box, self.vcfg):
            return box
        return self._other_check(t_ns)

    def cat_check(self) -> tuple[float, float] | None:
        """With no target held, a job that carries no other check checks the strongest cat it
        finds itself, (score, longer side) at least these: a candidate's first sighting then
        brings its own verdict, and a cat is confirmed one detector run sooner (about 155 ms on
        a Pi 4; README, "Acquisition"). Down to ``detector.keep_threshold``: a weak cat (a dark
        one, a kitten on grass) may become a candidate by that verdict (``_weak_cat``)."""
        if not self.verifying or self.lock.state.has_target:
            return None
        return self.keep_threshold, float(self.vcfg.min_box_px)

    def _other_check(self, t_ns: int) -> Box | None:
        """A job the followed cat does not need: the crop of the animal in view whose class belief
        is least sure, at most every ``verifier.every_s``, so that each animal has its verdicts
        before it is ever a candidate (a puppy beside the cat is then a dog by its checks)."""
        if t_ns - self._other_t_ns < self.every_ns:
            return None
        self._other = self.scene.least_sure(t_ns, self.vcfg.min_box_px)
        if self._other is None:
            return None
        self._other_t_ns = t_ns
        return self._other[1]

    def submitted(self, ticket: int, verify: Box | None, cat_check: bool = False) -> None:
        """The job ``ticket`` carries the check of ``verify`` (``verify_box``'s answer): remember
        (ticket, gen, box, probe, track), track > 0 for another animal's check (that track's id);
        or, ``cat_check``, of the cat it finds (``cat_check``'s answer)."""
        self._found = ticket if cat_check and verify is None else 0
        if verify is not None:
            other = self._other[0] if self._other is not None and verify is self._other[1] else 0
            self._pending = (ticket, self.gen, verify, verify is self._probe, other)

    def _back_to_followed(self, tid: int) -> bool:
        """The checked ``box`` is another cat than the followed one: back to the followed one's
        track where it is seen on this result (``_back``, taken by ``_hit``). Out of view, the
        target stays where it is (a cat in view is better than none)."""
        tr = self.scene.get(tid)
        if tr is None or not tr.seen or self._hint.elsewhere(tr.last_box):
            return False  # out of view, or not where the user now points
        self._back, self.gen = tr.last_box, self.gen + 1  # checks of the other cat no longer count
        self.recheck = self.unseen = self.suspect = False
        return True

    def _track_on(self, box: Box) -> int:
        """Id of the track seen at ``box`` on the last result (0: none)."""
        tr = self.scene.on(box)
        return 0 if tr is None else tr.id

    def _judged_other(self, emb: np.ndarray, box: Box, t_ns: int) -> bool:
        """Is the crop (embedding ``emb``) at ``box`` another cat than the one the robot looks for
        (``LostCat.judge``)? Never while a ``cat_location`` or a click is pending: the user names the cat."""
        return not self._hint.active and self.lost.judge(self.cat_look, emb, self._track_on(box), t_ns)

    def _another_cat(self, emb: np.ndarray, box: Box, t_ns: int) -> bool:
        """A check of a candidate, or of the box KCF jumped to after losing the target, while the
        robot looks for the cat it lost: not like that cat's look, it is another cat, dropped
        (``lost_cat.py``). The followed cat's own checks are the tracks' identity question; while a
        ``cat_location`` or a click is pending, the user names the cat."""
        if (self.lock.state == TargetState.TRACKING and not self.unseen) or not self._judged_other(emb, box, t_ns):
            return False  # the followed cat's own check, or not another cat
        log.debug("another cat t=%.3f box=%s: not the lost one's look", t_ns / 1e9, [round(v) for v in box])
        self.drop(DropReason.OTHER_CAT)
        self._rejected, self._rejected_t_ns = box, t_ns  # not re-picked at once, even if off every track
        return True

    def _next_probe(self, dets: np.ndarray, t_ns: int, lost: bool) -> None:
        """After a result with no target held, or with the confirmed one lost by KCF (``lost``):
        the dog box to check with the next job (the detector calls some cats dogs: a Siamese on a
        lawn, kittens, and a lost cat may come back as one), one that overlaps none the classifier
        rejected within ``target.lost_after_s`` first (``_probe_verdict``)."""
        self._probe = None
        if self.vcfg.probe_dogs and (lost or not self.lock.state.has_target):
            self._probe_rejects = [(b, t) for b, t in self._probe_rejects if t_ns - t <= self.lock.lost_after_ns]
            skip = [b for b, _ in self._probe_rejects]
            side = self.vcfg.min_box_px
            self._probe = (strongest(dets, KIND_DOG, self.score_threshold, side, skip, OVERLAP_IOU)
                           or strongest(dets, KIND_DOG, self.score_threshold, side))

    def _look(self, emb: np.ndarray) -> float:
        """How much a crop (embedding ``emb``) looks like the confirmed cat (0 without a look to
        compare; ``verifier.same_cat`` and above: the same cat)."""
        return self.cat_look.likeness(emb) if self.cat_look.n and Gallery.usable(emb) else 0.0

    def _cat_crop(self, signature: np.ndarray, emb: np.ndarray) -> None:
        """A crop the classifier called a cat: its colours and embedding, taken into the cat's
        look if it is confirmed (copies: the RESULT slot is reused)."""
        np.copyto(self._cand_sig, signature)
        if Gallery.usable(emb):
            np.copyto(self._cand_emb, emb)

    # ---- what came back --------------------------------------------------------------------
    def _found_box(self, rec: np.void) -> Box | None:
        """The cat box this result's job chose and checked itself (``cat_check``), else None."""
        if not self._found or self._found != int(rec["ticket"]) or not int(rec["verified"]):
            return None
        self._found = 0
        b = rec["verify_box"]
        return float(b[0]), float(b[1]), float(b[2]), float(b[3])

    def _found_verdict(self, rec: np.void, found: Box, hit: Box, t_ns: int) -> None:
        """The check of the cat the job found, applied once the result's hit is counted: to a new
        candidate on that same box only (another cat taken instead is checked as usual)."""
        if self.lock.state == TargetState.ACQUIRING and iou(found, hit) >= OVERLAP_IOU:
            self._pending = (int(rec["ticket"]), self.gen, found, False, 0)
            self._verdict(rec, t_ns, of_hit=True)

    def _odds(self, rec: np.void, pending: tuple[int, int, Box, bool, int]) -> float:
        """A candidate's log-odds of cat over dog after this check: every check of its track (the
        animal's life in view, ``SceneTracks.cat_odds``), else those of this candidacy."""
        odds = self.odds.add(pending[2], pending[1], pending[3], float(rec["cat_prob"]), float(rec["dog_prob"]))
        life = self.scene.cat_odds(pending[2])
        return odds if life is None else life

    def _probe_verdict(self, rec: np.void, box: Box, raw: Verify, odds: float | None, t_ns: int) -> None:
        """A dog box probed: a cat verdict makes it a candidate with no target held (``odds``, the
        candidate's, say cat), or the lost target again (``odds`` None: a target is held) when its
        crop has the cat's look; not where a pending hint points elsewhere. Another verdict sends
        the next probes elsewhere."""
        takes = (odds > 0 if odds is not None else self._look(rec["embedding"]) >= self.vcfg.same_cat
                 ) and not self._hint.elsewhere(box)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("probe t=%.3f box=%s cat=%.2f dog=%.2f -> %s", t_ns / 1e9, [round(v) for v in box],
                      float(rec["cat_prob"]), float(rec["dog_prob"]), raw.name)
        if raw is Verify.CAT and takes:
            self._probed = box
            self._cat_crop(rec["signature"], rec["embedding"])
        elif raw is not Verify.CAT:
            # the next probes try other dog boxes first: a puppy beside a Siamese that the
            # detector also calls a dog must not be the only box ever asked about
            # (each for as long as a rejected candidate is, target.lost_after_s: ``_next_probe`` prunes them)
            self._probe_rejects.append((box, t_ns))

    def _verdict(self, rec: np.void, t_ns: int, of_hit: bool = False) -> None:
        pending, ticket = self._pending, int(rec["ticket"])
        if pending is None or pending[0] != ticket:
            return
        self._pending = None
        if pending[4]:
            return  # another animal's check: its track took the verdict (SceneTracks.on_verdict)
        if not int(rec["verified"]) or pending[1] != self.gen:
            return  # no verifier ran, or it checked a box we no longer follow
        verdict = raw = classify(*_probs(rec), self.p_min)
        held = self.lock.state.has_target
        odds = self._odds(rec, pending) if pending[3] or self.lock.state == TargetState.ACQUIRING else 1.0
        if pending[3]:
            other = self._judged_other(rec["embedding"], pending[2], t_ns)
            self._probe_verdict(rec, pending[2], Verify.NOT_CAT if other else raw, odds if not held else None, t_ns)
            return
        self._checked_t_ns, self._checked_box = t_ns, pending[2]
        emb = rec["embedding"]
        look = self._look(emb)
        # The cat's look stands in for a cat verdict only for a while after the classifier's last
        # one, and never for a new place (a jump): a box that jumped is judged by its own check.
        same = (look >= self.vcfg.same_cat and t_ns - self._cat_ns <= self.identity_ns
                and not self.recheck)
        who, asked, self._was, self._who = self._who, self._was, 0, None
        if log.isEnabledFor(logging.DEBUG):  # -v: why each check was taken as it was
            log.debug("check t=%.3f box=%s cat=%.2f other=%.2f look=%.2f who=%s -> %s (%s)", t_ns / 1e9,
                      [round(v) for v in pending[2]], float(rec["cat_prob"]), float(rec["dog_prob"]), look,
                      who and [round(v, 2) for v in who], verdict.name, self.lock.state.name)
        if self._another_cat(emb, pending[2], t_ns):
            return  # not the cat the robot is looking for, by its look
        if (who is not None and who[1] > who[0] + self.vcfg.other_cat_margin
                and self.lock.state == TargetState.TRACKING and self._back_to_followed(asked)):
            return  # another cat, by its look: back to the followed one
        if same and self.lock.state == TargetState.TRACKING:
            verdict, self.suspect, self.recheck = max(verdict, Verify.UNSURE), False, False  # the cat we confirmed
        elif same and likeliest(*_probs(rec)) != DOG and t_ns - self.picker.t_ns <= self.identity_ns:
            verdict = Verify.CAT  # the cat we lost a moment ago, back (a partial view may read not-cat)
        elif raw is Verify.CAT and odds <= 0:
            verdict = Verify.UNSURE  # a cat by this check, not by the candidate's checks together
        if raw is Verify.CAT:  # only the classifier's own verdict: a look match must not move the cat's look
            self._cat_ns = t_ns
            self._cat_crop(rec["signature"], emb)
            if self.lock.state == TargetState.TRACKING:
                self.picker.remember(self._cand_sig, t_ns)  # appearance drifts with pose and light
                if Gallery.usable(emb):
                    self.cat_look.add(emb)
        doggy = verdict is Verify.NOT_CAT or (
            verdict is Verify.UNSURE and float(rec["dog_prob"]) > float(rec["cat_prob"]))
        if self.suspect and doggy:
            self.drop(DropReason.DECOY)
        elif self.recheck and verdict is Verify.NOT_CAT:
            self.drop(DropReason.UNVERIFIED)  # it jumped onto something that is not a cat
        else:
            self.lock.on_verdict(verdict, of_hit)
        self.suspect = self.recheck = self.unseen = False
        if held and not self.lock.state.has_target:
            # Do not pick the same thing again at once: a vetoed blanket beside a kitten was
            # re-picked (by its colour) on the next result, again and again.
            self._rejected, self._rejected_t_ns = pending[2], t_ns
