"""The tracker's decisions on each detector result: what counts as a hit, which cat to take,
when a target is a decoy, when its crop must be checked again. Pure logic on RESULT
records and boxes (no threads, no KCF), so it is tested on constructed results.

Rules (issue 9): a candidate is confirmed only once its crop verified as a cat, and a
not-cat crop vetoes it; a confirmed target is re-checked every ``every_s``, and at once
when its box jumps or changes size; it is dropped when its crop stops verifying
(``unverified``) or when a dog or person detection outscores every cat on it and the crop
does not verify (``decoy``); KCF is never (re-)initialised on a box that a dog or person
detection claims more strongly than the cat; after a loss, the candidate most like the
lost cat's colour signature is preferred.

The detector's cat-or-dog label is the weaker opinion (NanoDet calls a Siamese on a lawn and
some kittens dogs; the classifier tells them apart): with no target held, the strongest dog
detection's crop is checked (``probe_dogs``), and a cat verdict makes that box a cat
candidate, KCF starting on it only then. Such a target (``by_crop``) stays the classifier's:
dog detections on it count as hits, never as decoys, and its periodic checks decide. While KCF
has lost the confirmed cat, dog boxes are probed too: a cat verdict with the lost cat's look
(``verifier.same_cat``) takes it back at once (a kitten the detector now calls a dog). With no
target, a cat under ``detector.score_threshold`` that the job checked itself (``cat_check``) is
a candidate on a cat verdict, as a probed dog box is (a dark cat, a kitten on grass).

Identity (issue 17): where KCF lost the target, a box twice its size at the last place is another
cat; when the followed box moves onto another track, the next job checks it, and a crop more like
another animal's gallery than the previous track's (``verifier.other_cat_margin``) sends the
target back to the previous track's box (README, "Identity by appearance"). While the robot looks
for a cat it lost, a cat whose check is more like an animal seen beside it is dropped and not
taken again (``lost_cat.py``); while KCF holds a confirmed target, the picker takes no animal seen
apart from it (``hits.py``).
"""

from __future__ import annotations

import logging

import numpy as np

from cat_follow.config import Config
from cat_follow.geometry import Box
from cat_follow.perception.crop_checks import CropChecks
from cat_follow.perception.evidence import (
    CandidatePicker,
    CheckOdds,
    LocationHint,
    classify,
    decoy_over,
)
from cat_follow.perception.gallery import Gallery
from cat_follow.perception.hits import Hit, Hits
from cat_follow.perception.look import CatLooks
from cat_follow.perception.lost_cat import LostCat
from cat_follow.perception.port import EMBED_LEN, SIGNATURE_LEN, box_of, detections
from cat_follow.perception.scene import SceneTracks
from cat_follow.perception.target import DropReason, TargetLock, TargetState, Verify, max_misses

log = logging.getLogger(__name__)

class TargetDecider(CropChecks, Hits):
    """Owns the TargetLock, the candidate picker (the remembered cat) and the bookkeeping of
    which crop check belongs to which candidate."""

    def __init__(self, config: Config) -> None:
        d, t, self.vcfg = config.detector, config.target, config.verifier
        self.verifying = self.vcfg.enabled
        self.lock = TargetLock(t.decide_after, t.lost_after_s, require_verified=self.verifying,
                               max_misses=max_misses(config), drop_after=t.decide_after)
        self.score_threshold, self.keep_threshold = d.score_threshold, d.keep_threshold
        self.p_min = config.tracks.p_min  # a crop's cat probability below it: not a cat
        self.on_box = config.tracks.on_box  # a detection on the target's box, not beside it
        self.every_ns = round(self.vcfg.every_s * 1e9)
        self.identity_ns = round(self.vcfg.identity_s * 1e9)
        self._cat_ns = -(1 << 62)     # when the classifier itself last called the followed thing a cat
        self.picker = CandidatePicker()
        self.suspect = False          # a decoy is suspected: check the crop now
        self.recheck = False          # the target's box jumped to another detection: check it now
        self.unseen = False           # ...away from where KCF lost it: not shown until checked
        self.gen = 0                  # bumped whenever the followed thing may have changed
        self.by_crop = False          # the target is a cat by the classifier's word, a dog by the detector's
        self._probe: Box | None = None   # no target: a dog box to check with the next job
        self._probed: Box | None = None  # ...one the classifier called a cat, for this result
        self._probe_rejects: list[tuple[Box, int]] = []  # dog boxes it called not cats, and when
        # (ticket, gen, box, probe, track) of a check in flight; probe = of a dog box, with no target
        # held; track = another animal's track id, for a check of that animal (0: of the target)
        self._pending: tuple[int, int, Box, bool, int] | None = None
        self._found = 0  # ticket of a job that checks the cat it finds (``cat_check``)
        self._other: tuple[int, Box] | None = None  # (track, box) of another animal to check next, and when last
        self._other_t_ns = -(1 << 62)
        self._checked_t_ns = -(1 << 62)
        self._checked_box: Box = (0.0, 0.0, 0.0, 0.0)
        self._cand_sig = np.zeros(SIGNATURE_LEN, np.float32)
        self._cand_emb = np.zeros(EMBED_LEN, np.float32)  # the last crop the classifier called a cat
        self.cat_look = Gallery()  # the confirmed cat's crops the classifier called cats (verifier.same_cat)
        # the last box a crop check ended, and when: it yields to any other cat for as long as the
        # tracks remember an unseen object (target.lost_after_s)
        self._rejected: Box | None = None
        self._rejected_t_ns = 0
        self.odds = CheckOdds(config.tracks.p_min)  # a candidate's checks summed: its latest alone does not confirm it
        self._hint = LocationHint()  # which cat the user means
        b = config.behaviour  # the robot looks for a lost cat this long before it searches anew: so long the
        self.looks = CatLooks(round((b.detection_timeout_s + b.lost_search_s) * 1e9),  # other cat is not taken for it
                              self.vcfg.same_look)
        self.lost = LostCat(self.looks.within_ns, self.vcfg.other_cat_margin)  # ...nor one like another
        self._was = 0  # the followed track before the box moved onto another one: whose is the next check?
        self._who: tuple[float, float] | None = None  # its answer: (like that track, like the most alike other)
        self._back: Box | None = None  # the answer was "another cat": the followed track's box on this result
        self.scene = SceneTracks(d.score_threshold, d.keep_threshold, t.lost_after_s, config.tracks)  # every animal

    @property
    def state(self) -> TargetState:
        return self.lock.state

    def hint(self, rec: np.void, box: Box | None, t_ns: int) -> None:
        """The main loop's HINT record, read by the tracker each frame (``box`` = KCF's). A new
        cat_location away from the held target drops it now (the car must not turn to it), and
        its colours are remembered as another cat's, and its look is forgotten. Any new one ends
        the search for a lost cat: the user names the cat now, none is "the other one"."""
        new = int(rec["id"]) != self._hint.id
        self._hint.post(int(rec["id"]), float(rec["x"]), float(rec["half"]))
        if new and self._hint.active:
            self.lost.forget()
        if new and box is not None and self._hint.elsewhere(box):
            self.drop(DropReason.NONE)
            self.looks.demote(t_ns)
            self.cat_look.clear()

    def drop(self, reason: DropReason) -> None:
        self.lock.drop(reason)
        self._forget()

    def _forget(self) -> None:
        """The target is gone (dropped here or by the lock): checks and flags about it lapse,
        so none carries over to the next one."""
        self.gen += 1
        self.suspect = self.recheck = self.unseen = self.by_crop = False
        self._was, self._who, self._back = 0, None, None
        self._cand_emb.fill(0.0)  # its last cat crop is not the next target's

    def on_result(self, rec: np.void, frame: np.ndarray, box: Box | None, last: Box | None = None) -> Hit | None:
        """Apply a taken RESULT (``box`` = KCF's current box, None without one; ``last`` = where
        the target was when KCF lost it, None if KCF holds it or there is no target). Returns
        the cat detection to (re-)initialise on or confirm, or None."""
        t_ns = int(rec["t_media_ns"])
        before, gen, pending, found = self.lock.state, self.gen, self._hint.active, self._found_box(rec)
        self._scene(rec, t_ns, found)
        self._verdict(rec, t_ns)
        back = self._back is not None  # the target goes back to the track it was on
        dets = detections(rec)
        weak = found is not None and not self.lock.state.has_target and self._weak_cat(rec, dets, found, t_ns)
        if pending:  # a cat_location is pending: only what is there counts
            if box is not None and self.lock.state.has_target and not self._hint.covers(box):
                self.drop(DropReason.NONE)  # following another cat than the one the user means
            dets = self._hint.within(dets)
        if (box is not None and self.lock.state == TargetState.TRACKING and not back
                and decoy_over(dets, box, self.on_box, dogs=not self.by_crop)):
            if self.verifying:
                self.suspect = True  # the next job checks the crop; a not-cat answer drops it
            else:
                self.drop(DropReason.DECOY)
        hit = None
        if self.lock.state.has_target or self.lock.state == before:  # nothing acquired on the result that dropped
            held = self.lock.state.has_target
            hit = self._hit(dets, frame, box if held else None, last if held else None, t_ns)
        self.lock.on_detection(hit is not None, t_ns)
        if hit is not None and found is not None and not weak:
            self._found_verdict(rec, found, hit.box, t_ns)  # this very result checked the cat it found
        self._took_probe(hit, t_ns)
        self._next_probe(dets, t_ns, box is None and hit is None and self.lock.state == TargetState.TRACKING)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("result t=%.3f kcf=%s last=%s dets=%s hit=%s -> %s", t_ns / 1e9,
                      box and [round(v) for v in box], last and [round(v) for v in last],
                      [(int(d["kind"]), round(float(d["score"]), 2), [round(v) for v in box_of(d)]) for d in dets],
                      hit and ([round(v) for v in hit.box], round(hit.score, 2)), self.lock.state.name)
        if self.lock.state == TargetState.TRACKING and before != TargetState.TRACKING:
            self._confirmed_look(t_ns)
            self.picker.remember(self._cand_sig, t_ns)
        if self.lock.state != before and not self.lock.state.has_target:
            self._forget()  # the lock dropped it itself (misses)
        if hit is not None and self.lock.state == TargetState.TRACKING and not self.unseen:
            self.looks.see(frame, dets, hit.box, self.score_threshold, t_ns)  # its look, and another cat's
            self.lost.seen(t_ns, self._track_on(hit.box))
        point = pending and self._hint.half == 0.0  # a click: it names the one detection under it
        if hit is not None and ((self.lock.state == TargetState.TRACKING and self.gen == gen)
                                or (point and self.lock.state.has_target)):
            self._hint.spend()  # a cat confirmed after the hint (by it while in view), or clicked: followed as any
        was = self.scene.followed
        self.scene.follow(hit.box if hit is not None else None, self.lock.state.has_target)
        if self.scene.followed == self._was:
            self._was = 0  # back on the track the question was about: nothing to ask
        elif (self.lock.state == TargetState.TRACKING and was and self.scene.followed != was and not self._was
              and self.scene.can_identify(was) and not back):
            self._was = was  # onto another animal's track: whose crop is it? (checked with the next job)
        return hit if self.lock.state.has_target else None

    def _weak_cat(self, rec: np.void, dets: np.ndarray, found: Box, t_ns: int) -> bool:
        """The job checked the strongest cat it found, under ``detector.score_threshold`` (no
        picker takes it): a cat verdict, by its track's checks summed too, and not another cat's
        look, makes it a candidate as a probed dog box is (``_probed``: its second hit confirms it)."""
        score = max((float(d["score"]) for d in dets if box_of(d) == found), default=1.0)
        if score >= self.score_threshold or self._hint.elsewhere(found):
            return False  # the picker's to take, or not where the user points
        odds = self._odds(rec, (0, self.gen, found, True, 0))  # every check of it counts, dog ones too
        cat, dog, other = float(rec["cat_prob"]), float(rec["dog_prob"]), float(rec["cls_other_prob"])
        if (classify(cat, dog, other, self.p_min) is not Verify.CAT or odds <= 0
                or self._judged_other(rec["embedding"], found, t_ns)):
            return False
        log.debug("weak cat t=%.3f box=%s score=%.2f cat=%.2f", t_ns / 1e9, [round(v) for v in found], score, cat)
        self._probed = found
        self._cat_crop(rec["signature"], rec["embedding"])
        return True

    def _took_probe(self, hit: Hit | None, t_ns: int) -> None:
        """The hit is the probed dog box, or the weak cat, the classifier called a cat (``_probed``):
        from now on a cat by the classifier's word (``by_crop``: dog boxes on it are hits). A
        candidate is verified by that check; the confirmed cat KCF had lost is back by its look,
        and the probe was its check."""
        probed, self._probed = self._probed, None
        if hit is None or probed is None:
            return
        self.by_crop, self._cat_ns = True, t_ns
        if self.lock.state == TargetState.ACQUIRING:
            self.lock.on_verdict(Verify.CAT)  # the probe's check was of this very box
        elif self.lock.state == TargetState.TRACKING:
            self.recheck = self.unseen = False
            self._checked_t_ns, self._checked_box = t_ns, hit.box

    def _confirmed_look(self, t_ns: int) -> None:
        """A target was just confirmed: its last cat crop joins the cat's look, which starts anew
        once the cat followed before is forgotten (``identity_s`` after it was last called a cat)."""
        if t_ns - self.picker.t_ns > self.identity_ns:
            self.cat_look.clear()
            self.lost.forget()
        if Gallery.usable(self._cand_emb):
            self.cat_look.add(self._cand_emb)
            self._cand_emb.fill(0.0)  # taken: a later confirmation without a new cat crop adds nothing

    def _scene(self, rec: np.void, t_ns: int, found: Box | None) -> None:
        """Every animal of the result into the tracks, and the crop check's verdict to the one it
        checked (``found``: the cat the job chose to check itself)."""
        self._who = None
        if not self.scene.update(detections(rec), t_ns):
            return
        if log.isEnabledFor(logging.DEBUG):
            log.debug("tracks t=%.3f followed=%d %s", t_ns / 1e9, self.scene.followed,
                      [(tr.id, tr.seen, [round(v) for v in tr.last_box], round(tr.belief.prob(0), 2))
                       for tr in self.scene.tracks])
        pending = self._pending
        if pending is not None and pending[0] == int(rec["ticket"]) and int(rec["verified"]):
            if not pending[4] and self._was:  # before its embedding joins a gallery
                self._who = self.scene.identify(rec["embedding"], self._was)
            self.scene.on_verdict(pending[2], float(rec["cat_prob"]), float(rec["dog_prob"]),
                                  float(rec["cls_other_prob"]), pending[4], rec["embedding"])
            if (pending[4] and self.scene.apart_from_followed(pending[4]) and pending[1] == self.gen
                    and self.lock.state == TargetState.TRACKING and not (self.unseen or self._was)):
                self.lost.seen_other(rec["embedding"])  # beside the cat surely followed: not it, later
        elif found is not None:
            self.scene.on_verdict(found, float(rec["cat_prob"]), float(rec["dog_prob"]),
                                  float(rec["cls_other_prob"]), 0, rec["embedding"])

    def update(self, t_ns: int) -> TargetState:
        before = self.lock.state
        state = self.lock.update(t_ns)
        if state != before:
            if state.has_target:
                self.gen += 1
            else:
                self._forget()  # dropped on timeout
        return state

    def shows(self, box: Box) -> bool:
        """May the held box be published (the main loop looks at candidates too)? Always when it
        is too small to check; otherwise a candidate only once its crop verified, and a confirmed
        target not while a jump away from where KCF lost it waits for its check: a box the
        verifier has not passed (often a dog, or a bit of sofa) must not turn the car's head."""
        if not self.verifying or max(box[2], box[3]) < self.vcfg.min_box_px:
            return True
        if self.lock.state == TargetState.TRACKING:
            return not self.unseen
        return self.lock.verified

    @property
    def drop_reason(self) -> DropReason:
        return self.lock.drop_reason
