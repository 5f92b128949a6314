"""Which animals are, by their look, not the followed cat while the robot looks for it after
losing it.

The followed cat's look is a gallery of the crops the classifier called it a cat
(``TargetDecider.cat_look``; ``gallery.py``); the animals seen apart from it (on one result,
boxes disjoint) have theirs, from the checks of other animals (``other_look``). For as long as the
robot searches where the cat was last seen (``behaviour.detection_timeout_s +
behaviour.lost_search_s`` after it was last followed), a crop check of another box, whether a new
candidate or the box KCF jumped to after losing the cat, is compared with both: more like an
animal seen beside the cat than like the cat, by ``verifier.other_cat_margin``, it is another cat.
The decider drops it, and its track is not picked again while the search lasts (a probe of its
dog box that reads otherwise clears it; a track the user then names and the robot follows is
cleared too). The same question the decider
asks when the held box moves onto another track (README, "Identity by appearance"), asked after a
loss. With no other animal seen, after the search, or with no look yet, any cat may be taken: the
robot follows a cat rather than none, and one cat alone is always taken back. A cat too small to
check is not taken during a search with both looks: it could be either (``undecidable``).

Owns the set of track ids judged so, the other animals' gallery and when the followed cat was
last seen; the gallery is one fixed buffer (``Gallery``), nothing is allocated per result.
"""

from __future__ import annotations

import numpy as np

from cat_follow.perception.gallery import Gallery


class LostCat:
    """The other cats of one search (see the module docstring)."""

    def __init__(self, window_ns: int, margin: float) -> None:
        self.window_ns = window_ns  # how long after the cat was last followed the search lasts
        self.margin = margin        # verifier.other_cat_margin: this much more like another animal is it
        self.seen_ns = -(1 << 62)   # when the followed cat was last seen (a hit while followed)
        self.others: set[int] = set()
        self.other_look = Gallery()  # crops of animals seen apart from the followed cat

    def seen_other(self, emb: np.ndarray) -> None:
        """A crop check of an animal seen apart from the followed cat (its embedding ``emb``)."""
        if Gallery.usable(emb):
            self.other_look.add(emb)

    def forget(self) -> None:
        """The followed cat's look starts anew: the animals seen beside the last one are history."""
        self.other_look.clear()
        self.others.clear()

    def seen(self, t_ns: int, tid: int) -> None:
        """The followed cat was seen at ``t_ns`` on track ``tid`` (the decider's hit on it while
        followed; 0: on no track): the followed one is no other cat, whatever was judged before."""
        self.seen_ns = t_ns
        self.others.discard(tid)

    def looking(self, t_ns: int) -> bool:
        """Is the robot still looking for the cat it followed last?"""
        return t_ns - self.seen_ns <= self.window_ns

    def judge(self, look: Gallery, emb: np.ndarray, tid: int, t_ns: int) -> bool:
        """A crop check with embedding ``emb`` of track ``tid`` (0: on no track), made while
        the robot looks for the cat whose look is ``look``: is it another cat? Remembers the
        answer for the track. False without a look, an embedding, or a search under way."""
        if not self.looking(t_ns) or not look.n or not self.other_look.n or not Gallery.usable(emb):
            return False
        other = self.other_look.likeness(emb) > look.likeness(emb) + self.margin
        if other and tid:
            self.others.add(tid)
        elif not other:
            self.others.discard(tid)
        return other

    def undecidable(self, look: Gallery, t_ns: int) -> bool:
        """Would a cat whose crop cannot be checked (too small for the classifier) be a guess
        between the lost cat and another one? While the search is under way with both looks."""
        return self.looking(t_ns) and bool(look.n) and bool(self.other_look.n)

    def is_other(self, tid: int, t_ns: int) -> bool:
        """Was track ``tid`` judged another cat during the search under way?"""
        if not self.looking(t_ns):
            self.others.clear()
            return False
        return tid in self.others
