"""An animal's look as a moving gallery of appearance embeddings (the classifier's, one per crop
check), and how much a new crop looks like it.

The embedding (``classifier.PetHead.embed``: MobileNet v2's pooled features projected and
L2-normalised) tells the two cats of the checked two-cat dev video apart far better than the
colour histogram (README, "The crop classifier": nearest other crop the same cat for 48 of 49
crops, against 39 of 49). One crop is one pose in one light; a gallery of the last few keeps
the poses a cat was seen in, and a new crop is compared with the closest of them (the maximum
cosine), as re-identification trackers do with their per-track feature banks.

Owns one fixed (SIZE, EMBED_LEN) buffer, allocated at construction; a check adds only numpy's
small temporaries (SIZE cosines), never a frame.
"""

from __future__ import annotations

import numpy as np

from cat_follow.perception.port import EMBED_LEN

SIZE = 8  # embeddings kept: at most the last 4 s of a followed cat's checks at verifier.every_s = 0.5


class Gallery:
    """The last SIZE embeddings of one animal (a ring), oldest overwritten first."""

    __slots__ = ("_emb", "_next", "n")

    def __init__(self) -> None:
        self._emb = np.zeros((SIZE, EMBED_LEN), np.float32)
        self._next = 0
        self.n = 0  # how many are held (at most SIZE)

    @staticmethod
    def usable(emb: np.ndarray) -> bool:
        """Is ``emb`` an embedding (L2 about 1), not all-zero or non-finite (no classifier ran)?"""
        return 0.5 < float(np.dot(emb, emb)) < 2.0

    def add(self, emb: np.ndarray) -> None:
        """Copy in one embedding (``emb``: EMBED_LEN floats that ``usable`` accepts)."""
        np.copyto(self._emb[self._next], emb)  # the RESULT slot is reused: keep a copy
        self._next = (self._next + 1) % SIZE
        self.n = min(self.n + 1, SIZE)

    def clear(self) -> None:
        """Forget every embedding (another animal's look starts here)."""
        self._next = self.n = 0

    def likeness(self, emb: np.ndarray) -> float:
        """The highest cosine similarity of ``emb`` to the embeddings held (at least one)."""
        return float((self._emb[:self.n] @ emb).max())
