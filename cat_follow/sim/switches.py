"""Which cat the robot follows, from the simulator's ground truth: identity switches and how soon
the cat is followed again after it hid.

A sample's target box is *on* a cat when that cat's projected box covers at least half of it
and no other cat's does (two cats overlapping in the image are a tie: no one). ``switches``
counts the times the followed cat changed between consecutive samples where the box is on a
cat, whether or not the first cat was still in view: the robot should keep the cat it chose.
Samples while the robot is IDLE do not count: it follows nothing yet (the tracker's box before
the first ``cat_location`` is not a choice the user made).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cat_follow.robot.state_machine import RobotState

if TYPE_CHECKING:
    from cat_follow.sim.metrics import Sample

ON_SHARE = 0.5  # as metrics.ON_SHARE: a box lies on what covers at least this share of it
MAIN_CAT = "cat"


def followed(s: Sample) -> str | None:
    """``cat`` (the scenario's [cat]), ``cat2``, ``cat3``... (the other cats, in [[decoys]] order) or None."""
    from cat_follow.sim.metrics import covered

    if s.target is None:
        return None
    cats = [(MAIN_CAT, s.cat_box)] + [(f"cat{i + 2}", b) for i, b in enumerate(s.other_cat_boxes)]
    on = [name for name, box in cats if covered(s.target, box) >= ON_SHARE]
    return on[0] if len(on) == 1 else None


def followed_share(samples: list[Sample]) -> dict[str, float]:
    """Share of the run's samples in which the box was on each cat (only the cats it was ever on)."""
    counts: dict[str, int] = {}
    for s in samples:
        if (who := followed(s)) is not None:
            counts[who] = counts.get(who, 0) + 1
    return {k: round(v / len(samples), 3) for k, v in sorted(counts.items())}


def switches(samples: list[Sample]) -> list[tuple[float, str, str]]:
    """(time, from, to) of each change of the followed cat."""
    out: list[tuple[float, str, str]] = []
    last: str | None = None
    for s in samples:
        who = followed(s)
        if who is None or s.state is RobotState.IDLE:
            continue
        if last is not None and who != last:
            out.append((round(s.t, 2), last, who))
        last = who
    return out


def back_after_hiding(samples: list[Sample], hidden: tuple[tuple[float, float], ...],
                      end_t: float) -> list[float]:
    """For each span the cat hid in while the robot was tracking it: seconds from the cat's
    return until the robot tracks it again (TRACK with the box on it); the rest of the run if never."""
    out = []
    for a, b in hidden:
        before = [s for s in samples if s.t < a]
        if not before or before[-1].state is not RobotState.TRACK or followed(before[-1]) != MAIN_CAT:
            continue  # not following this cat when it hid
        back = next((s.t for s in samples if s.t >= b and s.state is RobotState.TRACK and followed(s) == MAIN_CAT),
                    None)
        out.append(round((back if back is not None else end_t) - b, 2))
    return out
