"""The followed cat's identity after a loss and while it is held: a cat whose crop looks more like
another animal seen beside the followed one than like the followed cat is not taken for it for as
long as the robot looks for the lost cat (``lost_cat.py``); while KCF holds the target, the picker
takes no animal seen apart from it (``hits.py``); a lost cat the detector now calls a dog is taken
back by its look (``crop_checks.py``). Constructed results with unit embeddings for
looks (``_look``: two seeds are about orthogonal); the closed-loop scenarios with two cats are in
``test_sim.py``."""

from __future__ import annotations

import numpy as np

from cat_follow.memory.pool import HINT
from cat_follow.perception.gallery import Gallery
from cat_follow.perception.lost_cat import LostCat
from cat_follow.perception.port import KIND_CAT, KIND_DOG
from cat_follow.perception.target import DropReason, TargetState
from tests.test_decide import B_BOX, BOTH, CAT_BOX, MS, Feed, _look, _mix, _two_cats

S = 1_000 * MS


def _lost_beside(look_b: np.ndarray) -> Feed:
    """Follow cat A (look 1) beside cat B (``look_b``, from the other-animal checks), then A
    leaves the view: KCF fails and only B is detected. Returns the feed on that result."""
    f = Feed()
    _two_cats(f, _look(1), look_b)
    f.result([(B_BOX, 0.7, KIND_CAT)], kcf_lost=True)
    return f


def test_after_a_loss_a_cat_that_looks_like_the_other_one_is_dropped_and_not_taken_again() -> None:
    """A left the view; B, which the robot saw beside A, is taken where KCF failed (the detector's
    only cat), but its check looks like B, not A: the target is dropped as another cat, and B is
    not taken again while the robot looks for A. A, back, is taken and confirmed."""
    f = _lost_beside(_look(2))
    assert f.box == B_BOX and f.d.unseen  # taken, but not shown before its check
    assert not f.result([(B_BOX, 0.7, KIND_CAT)], cat_prob=0.9, emb=_look(2)).has_target
    assert f.d.drop_reason is DropReason.OTHER_CAT
    for _ in range(10):
        assert not f.result([(B_BOX, 0.7, KIND_CAT)], own=(0.9, 0.05)).has_target and f.box is None
    f.result(BOTH, own=(0.9, 0.05))
    assert f.box == CAT_BOX  # B is skipped, A taken
    assert f.result(BOTH, cat_prob=0.9, emb=_look(1)) is TargetState.TRACKING and f.box == CAT_BOX


def test_after_a_loss_the_cat_that_looks_like_the_lost_one_is_kept() -> None:
    """The cat taken after the loss has A's look (a new pose, cosine ~0.8): it is the lost cat."""
    f = _lost_beside(_look(2))
    pose = _mix(_look(1), _look(3), 0.45)
    assert f.result([(B_BOX, 0.7, KIND_CAT)], cat_prob=0.9, emb=pose) is TargetState.TRACKING
    assert f.box == B_BOX and not f.d.unseen


def test_with_no_other_animal_seen_any_cat_is_taken_after_a_loss() -> None:
    """Followed alone, then lost: a cat unlike it is still taken (no other animal's look to say
    whose it is; a cat in view is better than none)."""
    f = Feed()
    f.confirm(emb=_look(1))
    for _ in range(5):
        f.result([(CAT_BOX, 0.8, KIND_CAT)], cat_prob=0.9, emb=_look(1))
    f.result([(B_BOX, 0.7, KIND_CAT)], kcf_lost=True)
    assert f.result([(B_BOX, 0.7, KIND_CAT)], cat_prob=0.9, emb=_look(2)) is TargetState.TRACKING
    assert f.box == B_BOX


def test_after_the_search_the_other_cat_may_be_followed() -> None:
    """The robot looks for the lost cat for behaviour.detection_timeout_s + lost_search_s (6 s);
    after that, the cat it refused is a cat like any other."""
    f = _lost_beside(_look(2))
    f.result([(B_BOX, 0.7, KIND_CAT)], cat_prob=0.9, emb=_look(2))
    assert f.d.drop_reason is DropReason.OTHER_CAT
    window = f.d.lost.window_ns
    while f.d.lost.looking(f.t + 100 * MS):
        f.result([(B_BOX, 0.7, KIND_CAT)], own=(0.9, 0.05))
        assert f.box is None
    assert window == 6 * S
    f.result([(B_BOX, 0.7, KIND_CAT)], own=(0.9, 0.05))
    assert f.box == B_BOX and f.d.state is TargetState.TRACKING


def test_while_kcf_holds_the_target_no_cat_seen_apart_from_it_is_taken() -> None:
    """KCF holds A's box but the detector misses A on this result and sees only B: before, the
    picker took the strongest cat in view and the box jumped to B; now the held box stays (B was
    seen apart from A: another animal. A cat on a new track, not seen beside the target, may still
    be taken: the target itself, which the tracks failed to associate)."""
    f = Feed()
    _two_cats(f, _look(1), _look(2))
    held = f.box
    assert f.result([(B_BOX, 0.9, KIND_CAT)]) is TargetState.TRACKING
    assert f.box == held == CAT_BOX


def test_lost_cat_judges_by_the_nearer_look_and_only_while_it_looks() -> None:
    own, other = Gallery(), _look(2)
    own.add(_look(1))
    lost = LostCat(window_ns=6 * S, margin=0.1)
    assert not lost.judge(own, other, 7, 0), "no other animal seen yet: nothing says whose it is"
    lost.seen(0, 0)
    lost.seen_other(other)
    assert lost.judge(own, _look(2), 7, S) and lost.is_other(7, S)
    assert not lost.judge(own, _mix(_look(1), _look(2), 0.5), 8, S), "halfway: within the margin"
    assert not lost.judge(own, _look(1), 7, S) and not lost.is_other(7, S), "a later crop like it clears it"
    lost.judge(own, _look(2), 7, S)
    lost.seen(S, 7)
    assert not lost.is_other(7, S), "the track followed now is no other cat"
    lost.judge(own, _look(2), 7, S)
    assert not lost.is_other(7, 8 * S), "the search is over"
    lost.forget()
    assert not lost.judge(own, _look(2), 7, S)


def test_a_cat_the_user_names_is_no_longer_the_other_one() -> None:
    """B was dropped as the other cat during the search for A; a new cat_location (the user names a
    cat) ends that search: nothing is "the other one" any more, so B can be taken and kept."""
    f = _lost_beside(_look(2))
    f.result([(B_BOX, 0.7, KIND_CAT)], cat_prob=0.9, emb=_look(2))
    assert f.d.drop_reason is DropReason.OTHER_CAT and f.d.lost.others
    rec = np.zeros(1, HINT)[0]
    rec["id"], rec["x"], rec["half"] = 1, B_BOX[0] + B_BOX[2] / 2, 80.0
    f.d.hint(rec, f.box, f.t)
    assert not f.d.lost.others and not f.d.lost.other_look.n


def _lost_as_dog() -> tuple[Feed, tuple[tuple[float, float, float, float], float, int]]:
    """Follow a cat alone (look 1), then KCF loses it and the detector sees only a "dog" elsewhere
    (kittens and a Siamese are often called dogs). Returns the feed and that detection."""
    f = Feed()
    f.confirm(emb=_look(1))
    for _ in range(3):
        f.result([(CAT_BOX, 0.8, KIND_CAT)], cat_prob=0.9, emb=_look(1))
    kitten = ((260.0, 150.0, 140.0, 120.0), 0.5, KIND_DOG)
    assert f.result([kitten], kcf_lost=True) is TargetState.TRACKING and f.box == CAT_BOX
    assert f.d.verify_box(None, f.t + 1) == kitten[0], "the dog box is checked with the next job"
    return f, kitten


def test_a_lost_cat_the_detector_now_calls_a_dog_is_taken_back_by_its_look() -> None:
    """The check of the dog box says cat, with the lost cat's look (a new pose): the target is back
    on it at once, shown, a cat by the classifier's word (dog detections on it are hits)."""
    f, kitten = _lost_as_dog()
    pose = _mix(_look(1), _look(3), 0.45)
    assert f.result([kitten], cat_prob=0.8, dog_prob=0.1, emb=pose, kcf_lost=True) is TargetState.TRACKING
    assert f.box == kitten[0] and f.d.shows(kitten[0]) and f.d.by_crop
    assert f.result([kitten]) is TargetState.TRACKING and f.d.lock.misses == 0


def test_a_dog_box_with_another_look_or_a_dog_verdict_is_not_the_lost_cat() -> None:
    """A cat verdict with another look (another cat), or a dog verdict: the target stays where it
    was lost, and is dropped on time as before."""
    for cat_prob, dog_prob, emb in ((0.8, 0.1, _look(2)), (0.05, 0.9, _look(1))):
        f, kitten = _lost_as_dog()
        assert f.result([kitten], cat_prob=cat_prob, dog_prob=dog_prob, emb=emb, kcf_lost=True) is TargetState.TRACKING
        assert f.box == CAT_BOX and not f.d.by_crop
        while f.d.state is TargetState.TRACKING:
            f.result([kitten], cat_prob=cat_prob, dog_prob=dog_prob, emb=emb, kcf_lost=True)
            assert f.box in (CAT_BOX, None)
        assert f.d.drop_reason is DropReason.TIMEOUT


def test_during_the_search_a_cat_too_small_to_check_is_not_taken_once_another_cat_was_seen() -> None:
    """Cat A lost beside cat B: a cat box too small for the classifier (a dumbbell stack the
    detector called a cat, on the two-cat video) could be either, and is not taken while the
    robot looks for A. Followed alone, the same box is taken (no other cat to mistake it for)."""
    small: tuple[float, float, float, float] = (300.0, 300.0, 80.0, 70.0)
    f = _lost_beside(_look(2))
    f.result([(B_BOX, 0.7, KIND_CAT)], cat_prob=0.9, emb=_look(2))
    assert f.d.drop_reason is DropReason.OTHER_CAT
    for _ in range(5):
        assert not f.result([(small, 0.5, KIND_CAT)]).has_target and f.box is None
    alone = Feed()
    alone.confirm(emb=_look(1))
    alone.result([(small, 0.5, KIND_CAT)], kcf_lost=True)
    assert alone.box == small
