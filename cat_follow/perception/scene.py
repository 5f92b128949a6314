"""Every cat, dog and person the detector reports, as tracks with an id and a class belief
(ByteTrack's two-stage association on a constant-velocity Kalman filter, OC-SORT's recovery
from the last observation), and which of them the target is.

What it is for: status, the overlay and the replay log show every animal and person in view,
each with its id and P(cat) / P(dog), and which track the robot follows; a candidate is judged
by every crop check of its track (``cat_odds``), and jobs the followed cat does not need check
the animal whose belief is least sure (``least_sure``). Each track keeps a gallery of its checks'
embeddings, and which tracks were seen apart from it (disjoint boxes on one result: two animals
for sure); when the followed box moves onto another track the decider asks whose the next
crop is (``identify``). Vetoes by the tracks' ids alone cost more on the dev videos than they
gained (README, "Tracks").

Per detector RESULT (``update``), on the frame time of that result:
1. detections of different classes on one box (the detectors' NMS is per class: a kitten is
   often a cat AND a dog box) are merged, with a score per class (IoU >= ``SAME_BOX_IOU``);
2. every track is predicted to the result's OWN frame time (a late result is never matched
   against a newer box; a result older than the last one applied is ignored);
3. detections at or above ``detector.score_threshold`` are matched first, then the weaker ones
   (down to ``keep_threshold``) to the tracks left (ByteTrack), then what is left against each
   track's last observed box (OC-SORT: after an occlusion the velocity has run away); a pair
   whose box side changed by more than ``tracks.size_step`` is no match;
4. a matched track folds in the box and the detector's class scores; the crop check's verdict
   goes to the track on the box it checked (seen there, or missed on that result); strong detections
   left over start tracks, unless ``tracks.on_box`` inside a matched one of the same leading
   class (a part or a second box of it); a track unseen for ``target.lost_after_s`` (as long as
   a target is kept without a hit) ends.

Greedy matching (highest IoU first) instead of the Hungarian algorithm: with at most 16
detections and a handful of tracks the two disagree only when one box overlaps two tracks
almost equally. Why not norfair or ``trackers``: README, "Tracks". Owns the tracks and their
table; nothing here touches a frame.
"""

from __future__ import annotations

import math

import numpy as np

from cat_follow.config_tracks import TracksConfig
from cat_follow.geometry import Box, iou, overlap_of_smaller, share_inside, size_step
from cat_follow.perception.belief import CAT, DOG
from cat_follow.perception.gallery import Gallery
from cat_follow.perception.port import KIND_CAT, KIND_DOG, KIND_PERSON
from cat_follow.perception.track import Track

MAX_TRACKS = 32
SAME_BOX_IOU = 0.6  # the detectors' own NMS IoU (manifests' nms_iou): one object, another class
MATCH_IOU = 0.2     # ByteTrack's match_thresh 0.8 on the cost 1 - IoU


def _affinity(track_box: Box, det: Box, max_step: float) -> float:
    """IoU of a track's box and a detection, 0 when a side changed by more than ``max_step``
    (``geometry.size_step``: the log of the side ratio)."""
    return iou(track_box, det) if size_step(track_box, det) <= max_step else 0.0


class SceneTracks:
    """Owns the tracks, the merge scratch and the followed track's id; ``cfg``: what makes two
    boxes one animal and how far one observation moves a belief."""

    def __init__(self, high: float, low: float, max_age_s: float, cfg: TracksConfig) -> None:
        self.high, self.low = high, low
        self.max_step, self.on_box, self.p_min = cfg.max_log_step, cfg.on_box, cfg.p_min
        self.max_age_ns = round(max_age_s * 1e9)
        self.tracks: list[Track] = []
        self.next_id = 1
        self.t_ns = -(1 << 62)  # frame time of the last result applied
        self.followed = 0       # the target's track id (0 = none)
        self._box: list[Box] = []
        self._cls: list[list[float]] = []

    def get(self, tid: int) -> Track | None:
        return next((t for t in self.tracks if t.id == tid), None)

    def _merge(self, dets: np.ndarray) -> int:
        """Merge the rows (sorted by score) of a cat, dog or person into the scratch; how many."""
        self._box.clear()
        self._cls.clear()
        cols = (dets[k].tolist() for k in ("x", "y", "w", "h", "score", "kind"))
        for x, y, w, h, s, kind in zip(*cols, strict=True):
            if kind not in (KIND_CAT, KIND_DOG, KIND_PERSON) or not s >= self.low:
                continue
            if not (math.isfinite(x) and math.isfinite(y) and w > 0 and h > 0 and math.isfinite(w + h)):
                continue  # no box: nothing to track
            box, col = (x, y, w, h), 0 if kind == KIND_CAT else 1 if kind == KIND_DOG else 2
            for j, other in enumerate(self._box):
                if iou(box, other) >= SAME_BOX_IOU:
                    self._cls[j][col] = max(self._cls[j][col], s)
                    break
            else:
                cls = [0.0, 0.0, 0.0]
                cls[col] = s
                self._box.append(box)
                self._cls.append(cls)
        return len(self._box)

    def _lead(self, di: int) -> int:
        """The class merged detection ``di`` scores highest (0 cat, 1 dog, 2 person)."""
        c = self._cls[di]
        return max(range(3), key=c.__getitem__)

    def _match(self, dets: list[int], pool: list[Track], t_ns: int, observed: bool,
               pairs: list[tuple[Track, int]]) -> None:
        """Greedy IoU matching of detection indices to tracks (removes the matched from both
        lists, appends (track, detection) to ``pairs``); ``observed``: against each track's last
        detection instead of its prediction for ``t_ns``."""
        cand = sorted(((_affinity(tr.last_box if observed else tr.box_at(t_ns), self._box[di], self.max_step), ti, di)
                       for ti, tr in enumerate(pool) for di in dets), reverse=True)
        used_t: set[int] = set()
        used_d: set[int] = set()
        for o, ti, di in cand:
            if o < MATCH_IOU:
                break
            if ti in used_t or di in used_d:
                continue
            used_t.add(ti)
            used_d.add(di)
            pairs.append((pool[ti], di))
        pool[:] = [t for i, t in enumerate(pool) if i not in used_t]
        dets[:] = [d for d in dets if d not in used_d]

    def update(self, dets: np.ndarray, t_ns: int) -> bool:
        """Apply one result's detections (a RESULT's ``dets`` rows) of the frame at ``t_ns``;
        False (nothing changed) for a result older than the last one applied."""
        if t_ns < self.t_ns:
            return False
        self.t_ns = t_ns
        n = self._merge(dets)
        high = [i for i in range(n) if max(self._cls[i]) >= self.high]
        low = [i for i in range(n) if max(self._cls[i]) < self.high]
        pool = list(self.tracks)
        pairs: list[tuple[Track, int]] = []
        self._match(high, pool, t_ns, False, pairs)
        self._match(low, pool, t_ns, False, pairs)
        self._match(high, pool, t_ns, True, pairs)
        for tr in self.tracks:
            tr.seen = False
        for tr, di in pairs:
            tr.observe(self._box[di], t_ns, self._cls[di])
        taken = [(self._box[di], self._lead(di)) for _, di in pairs]
        for di in high:  # strong detections left over are new animals (best first); weak ones, parts and duplicates not
            if len(self.tracks) >= MAX_TRACKS:
                break
            lead = self._lead(di)  # a cat on a person's lap or in front of a dog is no part of it
            if any(k == lead and overlap_of_smaller(self._box[di], b) >= self.on_box for b, k in taken):
                continue
            tr = Track(self.next_id, self._box[di], t_ns, self.p_min)
            taken.append((self._box[di], lead))
            self.next_id += 1
            tr.observe(self._box[di], t_ns, self._cls[di])
            self.tracks.append(tr)
        n = len(self.tracks)
        self.tracks = [t for t in self.tracks if t_ns - t.last_seen_ns <= self.max_age_ns]
        if len(self.tracks) < n:  # ended tracks leave the others' ``apart`` (bounded over hours)
            live = {t.id for t in self.tracks}
            for t in self.tracks:
                t.apart &= live
        self._apart()
        return True

    def _apart(self) -> None:
        """Mark the tracks seen on this result with disjoint boxes as two animals for sure: two
        overlapping boxes may be one animal (a kitten and a box over it and the cushion it lies on)."""
        seen = [t for t in self.tracks if t.seen]
        for i, a in enumerate(seen):
            for b in seen[i + 1:]:
                if b.id not in a.apart and overlap_of_smaller(a.last_box, b.last_box) == 0.0:
                    a.apart.add(b.id)
                    b.apart.add(a.id)

    def on_verdict(self, box: Box, cat: float, dog: float, other: float, tid: int = 0,
                   emb: np.ndarray | None = None) -> Track | None:
        """A crop check of ``box`` (at the last result's frame): to track ``tid`` when the check was
        asked for that track (gone: to none), else to the track at ``box`` (``at``: seen there, or
        missed on this result); never to an animal ``box`` is only part of, whose look it is not;
        its embedding ``emb`` into that track's gallery. Returns the track that took it."""
        tr = self.get(tid) if tid else self.at(box)
        if tr is not None:
            tr.belief.add_verdict((cat, dog, other))
            if emb is not None and Gallery.usable(emb):
                if tr.look is None:
                    tr.look = Gallery()
                tr.look.add(emb)
        return tr

    def _looks(self, tid: int) -> tuple[Gallery, list[Gallery]] | None:
        """Track ``tid``'s gallery and those of the animals seen apart from it; None while either
        is missing (a gallery exists only once it holds an embedding)."""
        tr = self.get(tid)
        if tr is None or tr.look is None:
            return None
        others = [o.look for o in self.tracks if o.look is not None and o.id in tr.apart]
        return (tr.look, others) if others else None

    def can_identify(self, tid: int) -> bool:
        """Can ``identify`` answer for track ``tid``?"""
        return self._looks(tid) is not None

    def identify(self, emb: np.ndarray, tid: int) -> tuple[float, float] | None:
        """How much a crop's embedding ``emb`` looks like track ``tid`` and like the most alike of
        the animals seen apart from it (their galleries' likeness); None while either has no gallery."""
        looks = self._looks(tid)
        if looks is None:
            return None
        own, others = looks
        return own.likeness(emb), max(g.likeness(emb) for g in others)

    def cat_odds(self, box: Box) -> float | None:
        """Log-odds of cat over dog by every crop check of the track at ``box`` (``at``), else of the
        one ``box`` is part of (``_holder``: a weak box on a part of an animal starts no track);
        None: no track there. A candidate's checks over the animal's life, not over one candidacy."""
        tr = self.at(box) or self._holder(box)
        return None if tr is None else tr.belief.ver[CAT] - tr.belief.ver[DOG]

    def at(self, box: Box) -> Track | None:
        """The track seen on the last result at ``box`` (``on``), else the live one the detector
        missed on it whose last box overlaps ``box`` most (IoU >= MATCH_IOU): the animal's own track."""
        seen = self.on(box)
        if seen is not None:
            return seen
        best, best_o = None, MATCH_IOU
        for tr in self.tracks:
            o = 0.0 if tr.seen else iou(tr.last_box, box)
            if o >= best_o:
                best, best_o = tr, o
        return best

    def _holder(self, box: Box) -> Track | None:
        """The live track ``box`` is part of: at least ``on_box`` of ``box`` inside its last box (not
        its prediction, which drifts while the detector misses it); one seen on the last result
        first, then the most inside, then the smallest. Whatever its class: a weak box inside an
        animal or person judged a dog is no cat candidate on its own check (a box round a smaller
        animal is no part of it)."""
        best, best_key = None, (False, self.on_box, -float("inf"))
        for tr in self.tracks:
            key = (tr.seen, share_inside(box, tr.last_box), -tr.last_box[2] * tr.last_box[3])
            if key[1] >= self.on_box and key > best_key:
                best, best_key = tr, key
        return best

    def least_sure(self, t_ns: int, min_side: float) -> tuple[int, Box] | None:
        """(id, box at ``t_ns``) of the animal seen on the last result, not the followed one, at
        least ``min_side`` (for the classifier), whose class belief is least sure (smallest margin)."""
        best, best_m = None, float("inf")
        for tr in self.tracks:
            box = tr.box_at(t_ns)
            if tr.seen and tr.id != self.followed and max(box[2], box[3]) >= min_side and tr.belief.margin < best_m:
                best, best_m = (tr.id, box), tr.belief.margin
        return best

    def on(self, box: Box) -> Track | None:
        """The track seen on the last result whose box overlaps ``box`` most (IoU >= MATCH_IOU)."""
        best, best_o = None, MATCH_IOU
        for tr in self.tracks:
            o = iou(tr.last_box, box) if tr.seen else 0.0
            if o >= best_o:
                best, best_o = tr, o
        return best

    def apart_from_followed(self, tid: int) -> bool:
        """Was track ``tid`` seen apart from the followed track (another animal than it)?"""
        tr = self.get(self.followed)
        return tr is not None and tid in tr.apart

    def followed_elsewhere(self, det: Box, held: Box) -> bool:
        """Was the followed track matched, on this result, to a detection other than ``det`` (not
        one box with it) that lies more on ``held`` (KCF's box) than ``det`` does? Then ``det`` is
        a neighbour, not the target (a blanket the detector calls a cat beside a kitten it calls a dog)."""
        tr = self.get(self.followed)
        if tr is None or not tr.seen or iou(tr.last_box, det) >= SAME_BOX_IOU:
            return False
        return iou(tr.last_box, held) > iou(det, held)

    def follow(self, box: Box | None, held: bool) -> None:
        """After a result: the target is the track on ``box`` (the decider's hit; None = no hit,
        the target keeps its track while that lives), none when no target is ``held``."""
        if not held:
            self.followed = 0
        elif box is not None and (tr := self.on(box)) is not None:
            self.followed = tr.id
        elif self.get(self.followed) is None:
            self.followed = 0

    def write(self, rows: np.ndarray, t_ns: int) -> int:
        """Fill ``rows`` (pool.TRACK_ROW, preallocated) with the tracks, the followed one first, then
        by P(cat); returns how many rows are in use. A track seen on the last result is shown as
        predicted for ``t_ns``; one the detector missed, where it was last seen (its prediction
        would drift across the view for up to ``max_age_s``)."""
        order = sorted(((tr.id != self.followed, -tr.belief.prob(CAT), tr.id, tr) for tr in self.tracks),
                       key=lambda o: o[:3])
        n = min(len(order), len(rows))
        for row, (_, minus_cat, _, tr) in zip(rows[:n], order[:n], strict=True):
            x, y, w, h = tr.box_at(t_ns) if tr.seen else tr.last_box
            row["id"], row["p_cat"], row["p_dog"] = tr.id, -minus_cat, tr.belief.prob(DOG)
            row["x"], row["y"], row["w"], row["h"] = x, y, w, h
        return n
