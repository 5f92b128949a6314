"""One animal's track: its Kalman-filtered box, class belief, crop-check gallery and the tracks
seen apart from it. ``SceneTracks`` (``scene.py``) owns every track and is the only writer."""

from __future__ import annotations

from cat_follow.geometry import Box
from cat_follow.perception.belief import Belief, detection_probs
from cat_follow.perception.box_filter import BoxFilter
from cat_follow.perception.gallery import Gallery


class Track:
    """One animal or person: its motion, its class belief, when it was last seen."""

    __slots__ = ("apart", "belief", "hits", "id", "kf", "last_box", "last_seen_ns", "look", "seen")

    def __init__(self, tid: int, box: Box, t_ns: int, p_min: float) -> None:
        self.id = tid
        self.kf = BoxFilter(box, t_ns)
        self.belief = Belief(p_min)
        self.last_box = box       # the last detection matched to it
        self.last_seen_ns = t_ns
        self.hits = 0
        self.seen = False         # matched on the latest result
        self.look: Gallery | None = None  # its crop checks' embeddings, from its first check
        self.apart: set[int] = set()  # tracks seen on one result with it, not overlapping: other animals

    def box_at(self, t_ns: int) -> Box:
        return self.kf.box_at(t_ns)

    def observe(self, box: Box, t_ns: int, cls: list[float]) -> None:
        self.kf.update(box, t_ns)
        self.last_box, self.last_seen_ns, self.seen = box, t_ns, True
        self.hits += 1
        self.belief.add_detection(detection_probs(cls[0], cls[1], cls[2]))
