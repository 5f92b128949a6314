"""One class belief per track: cat, dog or other (a person, a cushion), in log-odds.

Every observation of a track is a probability vector over the three classes, and the belief
is a sum of their logarithms (naive Bayes), in two terms:

- the classifier's verdicts on the track's crops, summed (different crops, poses and light);
- the detector's class scores, as a SHRUNK MEAN (their sum over ``n + 1``): successive
  detections of one animal are far from independent (a kitten the detector calls a dog in 30
  frames is one opinion, not 30), so the detector's say is bounded, while one detection counts
  half as much as many.

Each probability counts as at least ``p_min`` (config ``tracks.p_min``): no single observation
is certain. Verdict logits are kept relative to the best class and floored two such steps
below it, so that no history is final: two confident verdicts can always turn a belief (a
track that slid from a cat onto a dog). Pure arithmetic on a few floats.

Why not Frigate's anchor (the median of the detector's score history above a threshold): a
median of one class's scores cannot use a classifier verdict, cannot say "dog" for a box the
detector calls a cat at 0.5, and weighs a track's first frames as much as its last.
"""

from __future__ import annotations

import math

CAT, DOG, OTHER = 0, 1, 2  # as the classifier's order


def detection_probs(cat: float, dog: float, person: float) -> tuple[float, float, float]:
    """A detector's class scores on one box (0 for a class it did not report there) as a
    probability vector: each class gets its score, and what the scores leave unclaimed is
    spread evenly (a weak cat detection is weak evidence for cat, not evidence against it)."""
    rest = max(0.0, 1.0 - cat - dog - person) / 3
    return (cat + rest, dog + rest, person + rest)


class Belief:
    """Owns one track's detector term (sum of log-probabilities and count) and verdict term;
    ``p_min``: the least any observation's probability counts as (``tracks.p_min``)."""

    __slots__ = ("det", "floor", "n", "p_min", "ver")

    def __init__(self, p_min: float) -> None:
        self.p_min = p_min
        self.floor = 2 * math.log(1 / p_min)  # a class at most two certain verdicts behind the best one
        self.det = [0.0, 0.0, 0.0]
        self.n = 0
        self.ver = [0.0, 0.0, 0.0]

    def add_detection(self, probs: tuple[float, float, float]) -> None:
        """One detection's class probabilities (``detection_probs``)."""
        for i in range(3):
            self.det[i] += math.log(max(self.p_min, min(1.0, probs[i])))
        self.n += 1

    def add_verdict(self, probs: tuple[float, float, float]) -> None:
        """One crop check's class probabilities."""
        v = self.ver
        for i in range(3):
            v[i] += math.log(max(self.p_min, min(1.0, probs[i])))
        top = max(v)
        for i in range(3):
            v[i] = max(-self.floor, v[i] - top)

    @property
    def logit(self) -> tuple[float, float, float]:
        k = 1.0 / (self.n + 1)
        return (k * self.det[0] + self.ver[0], k * self.det[1] + self.ver[1], k * self.det[2] + self.ver[2])

    def prob(self, cls: int) -> float:
        """Posterior probability of class ``cls``."""
        lg = self.logit
        top = max(lg)
        total = math.exp(lg[0] - top) + math.exp(lg[1] - top) + math.exp(lg[2] - top)
        return math.exp(lg[cls] - top) / total

    @property
    def margin(self) -> float:
        """Log-odds of the best class over the runner-up: 0 = undecided."""
        _, b, c = sorted(self.logit)
        return c - b
