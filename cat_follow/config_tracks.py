"""The ``[tracks]`` section: what makes two boxes one animal, and how far one observation moves
a track's class belief (``perception/scene.py``, ``perception/belief.py``)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from cat_follow.config_schema import field_doc as _f


@dataclass(frozen=True)
class TracksConfig:
    size_step: float = _f(2.0, "A box whose side grows or shrinks by more than this factor between two detector "
                          "results is another object, never the same track (and, where the tracker lost the cat, "
                          "not the cat): a cat walking at 1 m/s toward a camera 1 m away grows 1.4x in 0.3 s; a "
                          "bigger step is the cat that walks in front of the followed one, whose box engulfs the "
                          "hidden one's last place.", lo=1.05, hi=10.0)
    on_box: float = _f(0.5, "A box this much on another is on that box's animal, not beside it. A detection on "
                       "the target's box (IoU): a dog or person one scoring above every cat there makes the target "
                       "a suspected decoy, dropped unless its crop verifies as a cat; a weak cat one where the "
                       "tracker lost the target is the target. A strong detection left over after matching (the "
                       "share of it inside a matched box of the same leading class) starts no new track: it is a "
                       "part or a second box of that animal (a kitten's head, a cat and its tail); a cat on a "
                       "person's lap or in front of a dog is never part of them. Half: more of it on the box than "
                       "off it.", lo=0.05, hi=1.0)
    p_min: float = _f(0.1, "No single observation is certain: a detector score or classifier probability counts "
                      "as at least this much, so one check moves a track's belief, or a candidate's odds of cat "
                      "over dog, by at most log(1/p_min) (2.2 at 0.1), and a verdict's class stays at most two "
                      "such steps behind the best one (two confident checks can always turn a belief: a track "
                      "that slid from a cat onto a dog). A crop whose cat probability is below it is a sure no: "
                      "a not-cat verdict, which vetoes a candidate and counts toward dropping a target (cat "
                      "likeliest verifies it; between the two, unsure). 0.1: the classifier's cat-vs-dog error "
                      "on the held-back floor views is 7.6 %, and it calls 8-29 % of four dev videos' cat crops "
                      "something else (README, \"Crop classifier\"): no verdict is surer than about 0.9.",
                      lo=1e-4, hi=0.3)

    @property
    def max_log_step(self) -> float:
        """``size_step`` as a bound on ``geometry.size_step`` (the log of the side ratio)."""
        return math.log(self.size_step)
