"""Every animal and person as a track (``perception/scene.py``): ids kept by their motion through
a crossing, a late result matched where the tracks were at its own frame, one class belief per
track, the followed track, and the table the box record, status, overlay and replay log carry.
Constructed detections (the replay test reads the same table off a real video)."""

from __future__ import annotations

import numpy as np
import pytest

from cat_follow.config_tracks import TracksConfig
from cat_follow.geometry import Box, iou
from cat_follow.memory.pool import BBOX, SHOWN_TRACKS, TRACK_ROW, track_rows
from cat_follow.perception.port import KIND_CAT, KIND_DOG, KIND_PERSON, RESULT
from cat_follow.perception.scene import SceneTracks
from cat_follow.web.overlay import COLOR_TRACK, draw_overlay
from tests.test_decide import Feed

S = 1_000_000_000
STEP = S // 6  # a result every 5th frame at 30 fps


def _dets(*dets: tuple[Box, float, int]) -> np.ndarray:
    rec = np.zeros(1, RESULT)[0]
    rec["n"] = len(dets)
    for i, (b, s, k) in enumerate(sorted(dets, key=lambda d: -d[1])):
        rec["dets"][i] = (*b, s, k)
    return rec["dets"][: len(dets)]


def _scene(cfg: TracksConfig | None = None) -> SceneTracks:
    return SceneTracks(high=0.5, low=0.3, max_age_s=2.0, cfg=cfg or TracksConfig())


def _at(x: float) -> Box:
    return (x, 200.0, 80.0, 60.0)


def test_two_cats_crossing_keep_their_ids_by_their_motion() -> None:
    """Two cats walk toward each other, their boxes overlap for several results, and each id
    stays with the cat that had it (the nearer prediction wins, not the nearer last box)."""
    sc = _scene()
    ids_a, ids_b = [], []
    for k in range(16):
        t = k * STEP
        a, b = 100.0 + 240.0 * t / S, 460.0 - 240.0 * t / S  # 40 px per result each way
        sc.update(_dets((_at(a), 0.8, KIND_CAT), (_at(b), 0.7, KIND_CAT)), t)
        ids_a.append(sc.on(_at(a)).id)  # type: ignore[union-attr]
        ids_b.append(sc.on(_at(b)).id)  # type: ignore[union-attr]
    assert abs(a - b) > 200 and a > b  # they did cross
    assert len(set(ids_a)) == 1 and len(set(ids_b)) == 1 and ids_a[0] != ids_b[0]


def test_a_late_result_is_matched_where_the_track_was_at_its_own_frame() -> None:
    sc = _scene()
    for k in range(6):  # a cat crossing at 240 px/s
        sc.update(_dets((_at(100.0 + 40.0 * k), 0.8, KIND_CAT)), k * STEP)
    (tid,) = [t.id for t in sc.tracks]
    # the next result is of a frame 0.7 s on (results came late, frames were skipped): the cat is
    # matched where its motion puts it at THAT frame, far from its last box
    assert sc.update(_dets((_at(300.0 + 240.0 * 0.7), 0.8, KIND_CAT)), 5 * STEP + 7 * S // 10)
    assert [t.id for t in sc.tracks] == [tid]
    # and a result older than the last one applied changes nothing
    assert not sc.update(_dets((_at(50.0), 0.9, KIND_DOG)), 5 * STEP)
    assert [t.id for t in sc.tracks] == [tid]


def test_a_box_that_doubles_is_another_animal_and_a_duplicate_box_starts_no_track() -> None:
    """The cat in front of the followed one: its box engulfs the hidden cat's last place (IoU
    above the match threshold) but is twice its size, so the hidden cat's track does not take it;
    the detector's second box on that same cat (half inside it) starts no track of its own."""
    sc = _scene()
    small = (270.0, 195.0, 95.0, 80.0)
    sc.update(_dets((small, 0.8, KIND_CAT)), 0)
    (hidden,) = sc.tracks
    big, dup = (210.0, 160.0, 140.0, 185.0), (212.0, 120.0, 143.0, 178.0)
    assert iou(small, big) > 0.2
    sc.update(_dets((big, 0.7, KIND_CAT), (dup, 0.6, KIND_CAT)), STEP)
    assert not hidden.seen and len(sc.tracks) == 2
    front = sc.on(big)
    assert front is not None and front is not hidden and sc.on(dup) is front


def test_the_size_gate_the_part_share_and_the_belief_floor_are_the_configs() -> None:
    """``[tracks]`` decides: with ``size_step`` 3 the engulfing box above is the hidden cat's
    (its sides grew 1.5x and 2.3x); with ``on_box`` 1 the second box, not wholly inside the
    first, starts a track of its own; with a higher ``p_min`` one certain verdict moves a belief less."""
    small, big, dup = (270.0, 195.0, 95.0, 80.0), (210.0, 160.0, 140.0, 185.0), (212.0, 120.0, 143.0, 178.0)
    loose = _scene(TracksConfig(size_step=3.0))
    loose.update(_dets((small, 0.8, KIND_CAT)), 0)
    (hidden,) = loose.tracks
    loose.update(_dets((big, 0.7, KIND_CAT)), STEP)
    assert hidden.seen and len(loose.tracks) == 1
    strict = _scene(TracksConfig(on_box=1.0))
    strict.update(_dets((big, 0.7, KIND_CAT), (dup, 0.6, KIND_CAT)), 0)
    assert len(strict.tracks) == 2
    moved = []
    for p_min in (0.02, 0.2):
        sc = _scene(TracksConfig(p_min=p_min))
        sc.update(_dets((small, 0.8, KIND_CAT)), 0)
        sc.on_verdict(small, 0.0, 1.0, 0.0)
        moved.append(sc.tracks[0].belief.prob(1))
    assert moved[0] > 0.9 > moved[1] > 0.5


def test_a_cat_inside_a_dogs_or_persons_box_is_a_track_of_its_own() -> None:
    """A part or second box of one animal starts no track, but a cat on a person's lap or in
    front of a dog is no part of them: it gets its own track and its own crop checks."""
    sc = _scene()
    dog, person, cat = (100.0, 100.0, 200.0, 150.0), (380.0, 40.0, 200.0, 400.0), (220.0, 150.0, 120.0, 100.0)
    lap = (420.0, 200.0, 100.0, 80.0)
    sc.update(_dets((dog, 0.9, KIND_DOG), (person, 0.9, KIND_PERSON), (cat, 0.7, KIND_CAT), (lap, 0.6, KIND_CAT)), 0)
    assert len(sc.tracks) == 4
    sc.on_verdict(cat, 0.95, 0.03, 0.02)
    assert sc.on(cat) is not sc.on(dog) and sc.on(cat).belief.prob(0) > 0.9  # type: ignore[union-attr]
    assert sc.on(dog).belief.prob(0) < 0.5  # type: ignore[union-attr]


def test_no_box_or_a_nan_box_starts_nothing() -> None:
    sc = _scene()
    nan = float("nan")
    assert sc.update(_dets(((nan, 10.0, 50.0, 50.0), 0.9, KIND_CAT), ((10.0, 10.0, 0.0, 50.0), 0.9, KIND_DOG),
                           ((10.0, 10.0, 50.0, 50.0), nan, KIND_CAT)), 0)
    assert sc.tracks == [] and sc.write(np.zeros(SHOWN_TRACKS, TRACK_ROW), 0) == 0


def test_a_weak_detection_continues_a_track_but_does_not_start_one() -> None:
    sc = _scene()
    sc.update(_dets((_at(100.0), 0.8, KIND_CAT)), 0)
    sc.update(_dets((_at(104.0), 0.35, KIND_CAT), (_at(400.0), 0.35, KIND_CAT)), STEP)
    assert len(sc.tracks) == 1 and sc.tracks[0].seen and sc.tracks[0].hits == 2


def test_a_weak_box_on_part_of_an_animal_has_that_animals_checks() -> None:
    """A Great Pyrenees puppy of the held-out pets photos: a weak cat box (0.34) on its rear
    starts no track and overlaps its box too little to be seen on it; it is part of it, so a
    candidate there is judged by the puppy's checks, not by its own one."""
    sc = _scene()
    puppy, rear, apart = (156.0, 40.0, 305.0, 314.0), (384.0, 211.0, 108.0, 133.0), (10.0, 380.0, 80.0, 60.0)
    sc.update(_dets((puppy, 0.64, KIND_DOG), (rear, 0.34, KIND_CAT), (apart, 0.34, KIND_CAT)), 0)
    assert len(sc.tracks) == 1 and sc.on(rear) is None and iou(puppy, rear) < 0.2
    assert sc.cat_odds(rear) == sc.cat_odds(puppy) == 0.0  # no check yet
    for _ in range(2):
        sc.on_verdict(puppy, 0.01, 0.99, 0.0)
    odds = sc.cat_odds(rear)
    assert odds is not None and odds < -4.0 and odds == sc.cat_odds(puppy)
    assert sc.cat_odds(apart) is None  # beside it: no animal's checks
    sc.update(_dets((rear, 0.34, KIND_CAT)), STEP)  # the puppy missed on one result: still there
    dog = sc.tracks[0]
    assert not dog.seen and sc.cat_odds(rear) == odds and sc.at(puppy) is dog
    assert sc.on_verdict(puppy, 0.01, 0.99, 0.0) is dog  # a check of its box, missed: still its own
    sc.update(_dets((rear, 0.6, KIND_CAT)), 2 * STEP)  # the rear, strong: a track of its own
    own = sc.on(rear)
    assert own is not None and own is not dog
    wide = (300.0, 150.0, 340.0, 330.0)  # round the rear, IoU < 0.2 with each, half of it in neither
    assert max(iou(wide, rear), iou(wide, puppy)) < 0.2 and sc.cat_odds(wide) is None
    inner = (400.0, 220.0, 50.0, 50.0)  # inside both: the one seen on this result holds it
    assert sc.at(inner) is None and sc.cat_odds(inner) == 0.0 != sc.cat_odds(puppy)
    assert sc.on_verdict(inner, 0.9, 0.05, 0.05) is None  # a part's check is no animal's look


def test_one_box_called_cat_and_dog_is_one_track_and_the_crop_check_decides_its_class() -> None:
    """The detector calls a kitten a dog more than a cat: its belief leans dog until crop checks
    of that box say cat; a person beside it is a track of its own that stays 'other'."""
    sc = _scene()
    kitten, person = _at(100.0), (400.0, 50.0, 80.0, 300.0)
    for k in range(5):
        sc.update(_dets((kitten, 0.6, KIND_DOG), ((101.0, 201.0, 80.0, 60.0), 0.45, KIND_CAT),
                        (person, 0.9, KIND_PERSON)), k * STEP)
    assert len(sc.tracks) == 2
    tk, tp = sc.on(kitten), sc.on(person)
    assert tk is not None and tp is not None and tk is not tp
    assert tk.belief.prob(1) > tk.belief.prob(0)  # dog, on the detector's word
    for _ in range(2):
        sc.on_verdict(kitten, 0.95, 0.03, 0.02)
    assert tk.belief.prob(0) > 0.9  # the classifier's verdicts turn it
    assert tp.belief.prob(0) < 0.2 and tp.belief.prob(1) < 0.2


def test_the_followed_track_is_the_one_on_the_hit_and_never_the_dog_beside_it() -> None:
    sc = _scene()
    cat, dog = _at(100.0), _at(300.0)
    sc.update(_dets((cat, 0.7, KIND_CAT), (dog, 0.9, KIND_DOG)), 0)
    sc.follow(cat, held=True)
    tcat = sc.on(cat)
    assert tcat is not None and sc.followed == tcat.id
    sc.update(_dets((dog, 0.9, KIND_DOG)), STEP)  # the cat unseen this time: it keeps its track
    sc.follow(None, held=True)
    assert sc.followed == tcat.id
    sc.update(_dets((cat, 0.7, KIND_CAT), (dog, 0.9, KIND_DOG)), 2 * STEP)
    sc.follow(dog, held=True)  # the decider's hit is on the dog's box (it would never be): no cat track there
    assert sc.followed != tcat.id and sc.get(sc.followed) is not None
    sc.follow(None, held=False)
    assert sc.followed == 0


def test_the_table_has_the_followed_track_first_with_its_belief_and_predicted_box() -> None:
    sc = _scene()
    dog = _at(300.0)
    for k in range(3):
        sc.update(_dets(((100.0 + 20 * k, 200.0, 80.0, 60.0), 0.6, KIND_CAT), (dog, 0.9, KIND_DOG)), k * STEP)
    sc.follow((140.0, 200.0, 80.0, 60.0), held=True)
    rows = np.zeros(SHOWN_TRACKS, TRACK_ROW)
    n = sc.write(rows, 3 * STEP)
    assert n == 2 and rows[0]["id"] == sc.followed
    assert float(rows[0]["x"]) > 140.0  # carried on along its motion to the frame asked for
    assert float(rows[1]["p_dog"]) > 0.5 > float(rows[1]["p_cat"])
    sc.update(_dets((dog, 0.9, KIND_DOG)), 3 * STEP)  # the cat missed: shown where last seen, not drifting on
    assert sc.write(rows, 6 * STEP) == 2 and float(rows[0]["x"]) == pytest.approx(140.0)
    rec = np.zeros(1, BBOX)[0]
    rec["n_tracks"], rec["tracks"][:n], rec["track_id"] = n, rows[:n], sc.followed
    table = track_rows(rec)
    assert [r["id"] for r in table] == [int(rows[0]["id"]), int(rows[1]["id"])]
    assert iou(tuple(table[1]["box"]), dog) > 0.9  # type: ignore[arg-type]


def test_the_overlay_draws_every_track_but_the_followed_one_in_grey() -> None:
    rec = np.zeros(1, BBOX)[0]
    rec["valid"], rec["track_id"], rec["n_tracks"] = 1, 1, 2
    rec["x"], rec["y"], rec["w"], rec["h"] = 100, 100, 80, 60
    rec["tracks"][0] = (1, 0.99, 0.01, 100, 100, 80, 60)
    rec["tracks"][1] = (2, 0.10, 0.85, 300, 120, 100, 80)
    canvas = np.zeros((480, 640, 3), np.uint8)
    draw_overlay(canvas, np.zeros_like(canvas), rec, "cat", {}, np.zeros((0, 2)))
    assert tuple(canvas[160, 300]) == COLOR_TRACK  # the dog's left edge, grey
    assert tuple(canvas[130, 100]) != COLOR_TRACK  # the followed one is drawn as the box


@pytest.mark.parametrize("kcf_lost", [False, True])
def test_the_decider_names_the_followed_track_and_folds_its_crop_checks_into_it(kcf_lost: bool) -> None:
    f = Feed()
    f.confirm()
    sc = f.d.scene
    tid = sc.followed
    assert tid != 0 and sc.get(tid) is not None
    before = sc.get(tid).belief.prob(0)  # type: ignore[union-attr]
    f.result([((105.0, 100.0, 120.0, 100.0), 0.8, KIND_CAT)], kcf_lost=kcf_lost)
    assert sc.followed == tid
    assert before > 0.9  # the confirming crop check went to this track


def _unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=128).astype(np.float32)
    return v / np.linalg.norm(v)


def test_a_crop_is_identified_against_the_animals_seen_apart_from_the_track() -> None:
    """Each track's gallery holds its checks' embeddings. A crop is compared with a track's
    gallery and with those of the animals seen beside it on one result; a second track that
    only ever lay on the first one (one kitten's duplicate box) is not another animal."""
    sc = _scene()
    a, b = _at(100.0), _at(400.0)
    sc.update(_dets((a, 0.8, KIND_CAT), (b, 0.8, KIND_CAT)), 0)
    ta, tb = sc.on(a), sc.on(b)
    assert ta is not None and tb is not None and tb.id in ta.apart
    assert sc.on_verdict(a, 0.9, 0.05, 0.05, emb=_unit(1)) is ta
    assert not sc.can_identify(ta.id)  # B has no gallery yet
    sc.on_verdict(b, 0.9, 0.05, 0.05, tid=tb.id, emb=_unit(2))
    assert sc.can_identify(ta.id)
    own, other = sc.identify(_unit(2), ta.id)  # type: ignore[misc]
    assert other > 0.99 and abs(own) < 0.3  # the crop is B's look
    own, other = sc.identify(_unit(1), ta.id)  # type: ignore[misc]
    assert own > 0.99 and abs(other) < 0.3
    sc.on_verdict(a, 0.9, 0.05, 0.05, emb=np.zeros(128, np.float32))  # no classifier ran: not added
    assert ta.look is not None and ta.look.n == 1
    on_a = (150.0, 200.0, 80.0, 60.0)  # a dog box over part of A (a kitten the detector calls both)
    sc.update(_dets((a, 0.8, KIND_CAT), (on_a, 0.7, KIND_DOG)), STEP)
    td = sc.on(on_a)
    assert td is not None and td.id not in (ta.id, tb.id)
    assert td.id not in ta.apart  # seen together, but overlapping: maybe one animal
    for k in range(2, 18):  # B unseen for 2.5 s: its track ends, and leaves A's record
        sc.update(_dets((a, 0.8, KIND_CAT)), k * STEP)
    assert sc.get(tb.id) is None and tb.id not in ta.apart
