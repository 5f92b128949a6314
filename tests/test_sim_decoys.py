"""Decoys in the simulator: the scenario schema, sprites cut out of dog and person photos,
decoys drawn and occluding where geometry puts them, and ``decoy_fraction`` on a hand-made run."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pytest

from cat_follow.errors import ConfigError
from cat_follow.robot.state_machine import RobotState
from cat_follow.sim.metrics import Metrics, Sample, covered, on_decoy
from cat_follow.sim.render import Billboard, Renderer, camera_pose
from cat_follow.sim.scenario import load_scenario, scenario_from_dict, shipped_scenarios
from cat_follow.sim.simulation import cat_sprite

W, H, HFOV = 640, 480, 62.2
BASE: dict[str, Any] = {"name": "x", "duration_s": 5.0, "room": [4.0, 3.0], "cat": {"path": [[2.0, 1.0]]}}
DOG = {"kind": "dog", "photo": "dog_test_0.bmp", "path": [[2.0, 1.0], [2.0, 2.5]], "speed": 0.2,
       "height_m": 0.35, "radius_m": 0.15, "hidden": [[1.0, 2.0]]}

# Where the animal is in each photo, by eye (x, y, w, h in the photo's pixels).
BY_EYE = {("dog_test_0.bmp", "dog"): (130, 100, 305, 240), ("grace_hopper.bmp", "person"): (20, 10, 492, 590)}


def test_the_issue_schema_is_accepted_and_moves_the_decoy() -> None:
    sc = scenario_from_dict({**BASE, "decoys": [DOG, {"kind": "person", "path": [[1.0, 1.0]]}]}, "t")
    dog, person = sc.decoys
    assert dog.kind == "dog" and dog.speed == 0.2 and dog.hidden == ((1.0, 2.0),)
    assert (person.photo, person.height_m, person.radius_m) == ("grace_hopper.bmp", 1.6, 0.2)  # the kind's
    assert next(p for _, p in sc.decoys_in_sight(0.0))[:2] == (2.0, 1.0)
    assert len(sc.decoys_in_sight(1.5)) == 1          # the dog is hidden from 1 s to 2 s
    x, y, heading = next(p for d, p in sc.decoys_in_sight(5.0) if d.kind == "dog")
    assert (x, y) == pytest.approx((2.0, 2.0)) and heading == pytest.approx(math.pi / 2)


def test_a_scenario_may_have_no_cat() -> None:
    sc = scenario_from_dict({k: v for k, v in BASE.items() if k != "cat"} | {"decoys": [DOG]}, "t")
    assert sc.cat is None and sc.cat_in_sight(1.0) is None and sc.cat_hidden(0.0)
    with pytest.raises(ValueError, match="no cat"):
        sc.cat_position(0.0)


@pytest.mark.parametrize("decoy, message", [
    ({**DOG, "spede": 1}, r"decoys\[0\].spede: unknown key"),
    ({**DOG, "kind": "horse"}, r"decoys\[0\].kind: must be one of dog, person"),
    ({**DOG, "path": [[2.0, 1.0], [9.0, 1.0]]}, r"decoys\[0\].path\[1\].*outside the room"),
    ({**DOG, "path": []}, r"decoys\[0\].path: needs at least 1 rows"),
    ({**DOG, "speed": -1}, r"decoys\[0\].speed"),
    ({**DOG, "hidden": [1.0, 2.0]}, r"decoys\[0\].hidden"),
    ({**DOG, "height_m": "tall"}, r"decoys\[0\].height_m"),
])
def test_every_decoy_key_is_validated(decoy: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        scenario_from_dict({**BASE, "decoys": [decoy]}, "t")


def test_decoys_must_be_an_array_of_tables_and_success_knows_the_decoy_bound() -> None:
    with pytest.raises(ConfigError, match=r"decoys: must be an array of tables"):
        scenario_from_dict({**BASE, "decoys": DOG}, "t")
    with pytest.raises(ConfigError, match=r"success.max_decoy_fraction"):
        scenario_from_dict({**BASE, "success": {"max_decoy_fraction": 1.5}}, "t")
    assert scenario_from_dict(BASE, "t").success.max_decoy_fraction == 0.02


def test_shipped_scenarios_vary_the_cat_and_include_decoys() -> None:
    scs = [load_scenario(n) for n in shipped_scenarios()]
    assert len({s.cat.photo for s in scs if s.cat is not None}) >= 3
    assert any(s.cat is None and s.decoys for s in scs)
    assert sum(bool(s.decoys) for s in scs) >= 3


@pytest.mark.parametrize("photo, kind", sorted(BY_EYE))
def test_decoy_sprites_are_cut_out_of_the_animal(photo: str, kind: str) -> None:
    sprite = cat_sprite(photo, kind)
    x, y, w, h = BY_EYE[photo, kind]
    sh, sw = sprite.alpha.shape
    assert sprite.alpha.sum() > 0.3 * w * h                      # non-empty: a good part of the animal
    ox, oy = sprite.origin
    inside = sprite.alpha[max(0, y - oy):y + h - oy, max(0, x - ox):x + w - ox].sum()
    assert inside >= 0.95 * sprite.alpha.sum()                    # and (nearly) nothing else
    assert covered((ox, oy, sw, sh), (x, y, w, h)) >= 0.9


def test_a_decoy_is_drawn_where_geometry_puts_it_and_occludes_like_the_cat() -> None:
    r = Renderer(W, H, HFOV, (6.0, 4.0))
    dog, cat = cat_sprite("dog_test_0.bmp", "dog"), cat_sprite("cat_720p.jpg")
    cam = camera_pose(1.0, 2.0, 0.2, 4.0, 2.0, 0.11, 0.07)
    empty = r.render(cam, None, None, 0.25).copy()
    with_dog = r.render(cam, None, None, 0.25, others=[Billboard((2.5, 2.2), dog, 0.35)]).copy()
    changed = np.argwhere(np.any(np.abs(with_dog.astype(int) - empty.astype(int)) > 12, axis=2))
    (y0, x0), (y1, x1) = changed.min(axis=0), changed.max(axis=0)
    box = r.cat_box(cam, (2.5, 2.2), dog, 0.35)
    assert box is not None
    x, y, w, h, _ = box
    assert abs(x0 - x) <= 3 and abs(x1 - (x + w)) <= 3 and abs(y0 - y) <= 3 and abs(y1 - (y + h)) <= 3
    # the dog in front of the cat hides it where they overlap; behind it, it is hidden
    front = r.render(cam, (3.2, 2.3), cat, 0.25, others=[Billboard((2.5, 2.2), dog, 0.35)]).copy()
    behind = r.render(cam, (2.3, 2.2), cat, 0.25, others=[Billboard((3.0, 2.3), dog, 0.35)]).copy()
    cat_only = r.render(cam, (2.3, 2.2), cat, 0.25).copy()
    cx, cy, cw, ch, _ = r.cat_box(cam, (2.3, 2.2), cat, 0.25) or (0, 0, 0, 0, 0)
    core = np.s_[int(cy + 0.7 * ch):int(cy + 0.9 * ch), int(cx + 0.2 * cw):int(cx + 0.6 * cw)]  # its body
    assert np.abs(behind[core].astype(int) - cat_only[core]).max() <= 3  # the nearer cat covers the dog
    dcore = np.s_[int(y + 0.45 * h):int(y + 0.6 * h), int(x + 0.45 * w):int(x + 0.55 * w)]
    assert np.abs(front[dcore].astype(int) - with_dog[dcore]).max() <= 3  # the nearer dog covers the cat
    assert np.abs(front.astype(int) - with_dog).max() > 50           # the cat shows beside the dog


def _sample(t: float, target: tuple[float, float, float, float] | None, state: RobotState = RobotState.TRACK,
            cat: tuple[float, float] | None = (3.0, 2.0), decoys: list[tuple[float, float, float]] | None = None,
            robot: tuple[float, float, float] = (1.0, 2.0, 0.0)) -> Sample:
    return Sample(t, state, robot, robot, robot[:2], cat, 320.0 if cat else None, target=target,
                  cat_box=(300.0, 200.0, 40.0, 40.0) if cat else None,
                  decoys=decoys if decoys is not None else [(3.0, 1.0, 0.15)], decoy_boxes=[(400.0, 200.0, 60.0, 50.0)])


def _metrics(text: dict[str, Any]) -> Metrics:
    return Metrics(scenario_from_dict(text, "t"), 0.5, W, 0.1)


def test_decoy_fraction_is_the_share_of_time_the_target_lies_on_a_decoy() -> None:
    m = _metrics({**BASE, "room": [6.0, 4.0], "cat": {"path": [[3.0, 2.0]]}, "decoys": [{"path": [[3.0, 1.0]]}]})
    on_dog, on_cat, tie = (410.0, 210.0, 30.0, 30.0), (305.0, 205.0, 30.0, 30.0), (300.0, 200.0, 160.0, 50.0)
    for i, box in enumerate([on_dog, on_dog, on_dog, on_cat, on_cat, tie, None, None, None, None]):
        m.add(_sample(i * 0.1, box))
    out = m.summary()
    assert out["decoy_fraction"] == 0.3 and out["min_decoy_distance_m"] == pytest.approx(math.hypot(2.0, 1.0), 1e-3)
    assert not out["success"] and any("decoy_fraction 0.300 > 0.02" in r for r in out["reasons"])
    relaxed = _metrics({**BASE, "room": [6.0, 4.0], "cat": {"path": [[3.0, 2.0]]}, "success": {
        "max_decoy_fraction": 0.3, "min_centered_fraction": 0.0}})
    relaxed.samples = m.samples
    assert relaxed.summary()["reasons"] == []


def test_a_box_held_on_the_cats_place_while_a_dog_passes_in_front_is_not_on_the_dog() -> None:
    # dog_crosses_between, pi4, t=3.33 s: the held box lies wholly in the nearer dog's box and,
    # but for a pixel at its edge, in the hidden cat's
    held = Sample(3.3, RobotState.TRACK, (1.0, 2.0, 0.0), (1.0, 2.0, 0.0), (1.0, 2.0), (3.0, 2.0), 320.0,
                  target=(314.5, 201.2, 26.9, 73.2), cat_box=(299.6, 197.2, 40.9, 76.4),
                  decoys=[(2.0, 2.0, 0.15)], decoy_boxes=[(95.6, 67.0, 256.7, 252.3)])
    assert covered(held.target, held.cat_box) < covered(held.target, held.decoy_boxes[0]) == pytest.approx(1.0)
    assert not on_decoy(held)
    slid = dataclasses.replace(held, target=(334.0, 201.2, 26.9, 73.2))  # three-quarters of it off the cat
    assert on_decoy(slid)


def test_with_no_cat_success_means_never_tracking() -> None:
    text = {"name": "x", "duration_s": 5.0, "room": [6.0, 4.0], "decoys": [{"path": [[3.0, 1.0]]}]}
    quiet = _metrics(text)
    for i in range(5):
        quiet.add(_sample(i * 0.1, None, RobotState.SEARCH, cat=None))
    assert quiet.summary()["success"] and quiet.summary()["decoy_fraction"] == 0.0
    fooled = _metrics(text)
    for i in range(5):
        fooled.add(_sample(i * 0.1, (410.0, 210.0, 30.0, 30.0), RobotState.TRACK if i >= 2 else RobotState.SEARCH,
                           cat=None))
    out = fooled.summary()
    assert not out["success"] and any("no cat, yet something was tracked (TRACK at 0.2 s)" in r
                                      for r in out["reasons"])


def test_running_into_a_decoy_is_a_collision() -> None:
    m = _metrics({"name": "x", "duration_s": 5.0, "room": [6.0, 4.0], "decoys": [{"path": [[3.0, 1.0]]}]})
    for i, x in enumerate([2.0, 2.6, 2.7, 2.0]):  # the body's middle at x + 0.05 reaches the dog's radius
        m.add(_sample(i * 0.1, None, RobotState.SEARCH, cat=None, robot=(x, 1.0, 0.0)))
    assert m.summary()["collisions"] == 1
