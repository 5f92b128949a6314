from __future__ import annotations

from cat_follow.perception.target import TargetLock, TargetState, Verify

S = 1_000_000_000


def test_confirmed_after_n_hits_and_lost_after_t_without_one() -> None:
    lock = TargetLock(confirm_hits=2, lost_after_s=2.0)
    assert lock.state is TargetState.NONE
    assert lock.on_detection(False, 0) is TargetState.NONE
    assert lock.on_detection(True, 1 * S) is TargetState.ACQUIRING
    assert lock.on_detection(True, 2 * S) is TargetState.TRACKING
    assert lock.on_detection(False, 3 * S) is TargetState.TRACKING  # a miss alone keeps it
    assert lock.update(4 * S) is TargetState.TRACKING  # exactly 2 s: not yet
    assert lock.update(4 * S + 1) is TargetState.LOST
    assert lock.on_detection(True, 5 * S) is TargetState.ACQUIRING  # found again: count anew
    assert lock.on_detection(True, 6 * S) is TargetState.TRACKING


def test_unconfirmed_candidate_falls_back_to_none() -> None:
    lock = TargetLock(confirm_hits=3, lost_after_s=0.5)
    lock.on_detection(True, 0)
    assert lock.update(S) is TargetState.NONE
    assert lock.hits == 0


def test_one_hit_confirms_when_configured() -> None:
    assert TargetLock(1, 1.0).on_detection(True, 0) is TargetState.TRACKING


def test_a_cat_verdict_on_the_hits_own_box_confirms_on_one_hit() -> None:
    """Two hits, or one hit whose own box (its own frame) the classifier called a cat; a verdict
    on another frame's box still waits for the second hit, and an unsure or not-cat verdict on
    the hit's own box confirms nothing."""
    own = TargetLock(2, 2.0, require_verified=True)
    assert own.on_detection(True, 0) is TargetState.ACQUIRING
    assert own.on_verdict(Verify.CAT, of_hit=True) is TargetState.TRACKING
    other = TargetLock(2, 2.0, require_verified=True)
    other.on_detection(True, 0)
    assert other.on_verdict(Verify.CAT) is TargetState.ACQUIRING
    assert other.on_detection(True, S) is TargetState.TRACKING
    for verdict in (Verify.UNSURE, Verify.NOT_CAT):
        lock = TargetLock(2, 2.0, require_verified=True)
        lock.on_detection(True, 0)
        assert lock.on_verdict(verdict, of_hit=True) is TargetState.ACQUIRING and not lock.of_hit
