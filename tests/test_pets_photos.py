"""`evaluate --pets`: the held-out pets photos as videos, replayed by the real pipeline and scored
per photo."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from cat_follow.evaluation.pets_photos import (
    FPS,
    GAP_S,
    HOLD_S,
    PetsOptions,
    held_out,
    letterboxed,
    phase_boxes,
    render_pets,
    run_pets,
    score_photos,
)
from cat_follow.evaluation.scoring import EvaluationError, load_log
from cat_follow.geometry import Box
from cat_follow.training.data import DEFAULT_DATA, Photo, split_of


def _photo(name: str, breed: str) -> Photo:
    return Photo(Path(name), 0, "0" * 64, breed)


def test_a_photo_counts_when_any_of_its_frames_has_a_box_and_a_gap_ending_boxed_is_counted() -> None:
    photos = [_photo("a.jpg", "Bombay"), _photo("b.jpg", "Bombay"), _photo("c.jpg", "Sphynx")]
    box = (1.0, 2.0, 30.0, 40.0)
    s = score_photos([None, None, None, box, box, box], photos, 2)
    assert (s["with_box"], s["photos"], s["frame_share"], s["carried"]) == (2, 3, 0.5, None)
    assert s["by_subclass"] == {"Bombay": 1, "Sphynx": 1} and s["without_box_by_subclass"] == {"Bombay": 1}
    assert s["files_with_box"] == ["b.jpg", "c.jpg"]
    with pytest.raises(EvaluationError, match="expected 2 \\+ 0 x 3"):
        score_photos([None] * 5, photos, 2)
    # each photo 2 frames then a gap of 2: a box in a gap is no photo's; one at a gap's end is carried
    gapped = [None, None, box, box, box, None, None, None, None, None, None, None]
    g = score_photos(gapped, photos, 2, 2)
    assert g["files_with_box"] == ["b.jpg"] and g["frame_share"] == pytest.approx(1 / 6, abs=1e-4)
    assert g["carried"] == 1


def test_a_later_phase_is_scored_on_the_videos_own_frames_and_its_boxed_dogs_listed(tmp_path: Path) -> None:
    box = [1.0, 2.0, 30.0, 40.0]
    rows = [{"frame": i, "bbox": box if i == 1 else None} for i in range(4)]
    (tmp_path / "pets_dog.p2.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    boxes = phase_boxes(tmp_path, "pets_dog", 2)  # its frame 1 is the video's frame 3
    assert boxes == [None, None, None, tuple(box), None, None]
    photos = [_photo("a.jpg", "pug"), _photo("b.jpg", "pug")]
    none: list[Box | None] = [None] * 6
    rows_out = [{"class": "dog", "timing": "pi4", "phase": k, **score_photos(b, photos, 3)}
                for k, b in ((0, none), (2, boxes))]
    cats = [_photo("c.jpg", "Sphynx"), _photo("d.jpg", "Bombay")]
    rows_out.append({"class": "cat", "timing": "pi4", "phase": 2, **score_photos(boxes, cats, 3)})
    text = render_pets({"phases": 3, "rows": rows_out})
    assert "Cats never boxed, by breed: pi4 phase 2: Sphynx 1" in text, "each phase's misses say which phase"
    assert "| dog | pi4 | 2 | 1 / 2 |" in text and "| dog | pi4 | 0 | 0 / 2 |" in text
    assert "dog photos boxed in any phase: b.jpg (pi4)" in text and "other photos boxed in any phase: none" in text


def test_a_photo_is_letterboxed_whole_and_centred() -> None:
    wide = np.full((50, 100, 3), 200, np.uint8)
    out = letterboxed(wide, np.full((480, 640, 3), 7, np.uint8))
    rows = np.flatnonzero(out[:, 320, 0] == 200)
    assert (rows.min(), rows.max()) == (80, 399)        # 640 x 320, centred
    assert out[0, 0, 0] == 0 and out[479, 639, 0] == 0  # the old content is gone


def _data() -> Path:
    if not (DEFAULT_DATA / "MANIFEST.tsv").is_file():
        pytest.fail(f"no pets data at {DEFAULT_DATA} (../shared/datasets/pets)")
    return DEFAULT_DATA


def test_only_the_test_split_is_used() -> None:
    sets = held_out(_data())
    assert all(split_of(p.sha256) == "test" for ps in sets.values() for p in ps)
    assert 150 < len(sets["cat"]) < 180 and 240 < len(sets["dog"]) < 280  # 20% of 828 and 1,271


def test_the_photos_are_replayed_by_the_pipeline_and_scored(tmp_path: Path) -> None:
    result = run_pets(PetsOptions(data=_data(), out_dir=tmp_path, timings=("instant",), limit=3))
    per = round(HOLD_S * FPS) + round(GAP_S * FPS)
    rows = {r["class"]: r for r in result["rows"]}
    assert set(rows) == {"cat", "dog", "other"} and all(r["photos"] == 3 for r in rows.values())
    for c in rows:
        cap = cv2.VideoCapture(str(tmp_path / "videos" / f"pets_{c}.avi"))
        assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 3 * per
        cap.release()
    assert rows["cat"]["with_box"] >= 2    # cats in close-up are found
    assert rows["dog"]["with_box"] == 0 and rows["other"]["with_box"] == 0
    assert (tmp_path / "pets.json").is_file()
    assert all(r["carried"] == 0 for r in rows.values())  # the gaps let every target go


def test_the_photos_are_replayed_in_another_phase_of_the_schedule(tmp_path: Path) -> None:
    """``--phases 2``: each video also replayed one frame in, scored on the video's own frames."""
    result = run_pets(PetsOptions(data=_data(), out_dir=tmp_path, timings=("pi4",), limit=2, phases=2,
                                  breeds=("Bombay", "chihuahua")))
    rows = {(r["class"], r["phase"]): r for r in result["rows"]}
    assert set(rows) == {(c, k) for c in ("cat", "dog") for k in (0, 1)} and result["phases"] == 2
    assert (tmp_path / "logs" / "pi4" / "pets_dog.p1.jsonl").is_file()
    assert all(rows["cat", k]["with_box"] == 2 and rows["dog", k]["with_box"] == 0 for k in (0, 1))
    logs = tmp_path / "logs" / "pi4"
    assert len(load_log(logs / "pets_cat.p1.jsonl")) == len(load_log(logs / "pets_cat.jsonl")) - 1, "begun 1 frame in"


def test_the_held_out_dogs_once_followed_get_no_box_and_the_black_cats_are_found(tmp_path: Path) -> None:
    """Held-out photos the robot once followed (Great Pyrenees under a weak cat box on part of the
    puppy, session 17; chihuahuas, session 14) get no box in either timing; every held-out black
    Bombay is found."""
    breeds = ("great_pyrenees", "chihuahua", "Bombay")
    result = run_pets(PetsOptions(data=_data(), out_dir=tmp_path, timings=("instant", "pi4"), breeds=breeds))
    rows = {(r["class"], r["timing"]): r for r in result["rows"]}
    assert set(rows) == {(c, t) for c in ("cat", "dog") for t in ("instant", "pi4")}
    for t in ("instant", "pi4"):
        assert rows["dog", t]["photos"] >= 15 and rows["dog", t]["with_box"] == 0, rows["dog", t]["files_with_box"]
        assert rows["cat", t]["photos"] >= 8 and rows["cat", t]["with_box"] == rows["cat", t]["photos"]
    with pytest.raises(EvaluationError, match="no breed or category Siamese_dog"):
        held_out(_data(), breeds=("Siamese_dog",))


def test_pets_with_suite_or_a_log_is_refused_with_a_word(capsys: pytest.CaptureFixture[str]) -> None:
    from cat_follow.__main__ import main

    for argv in (["evaluate", "--pets", "--suite"], ["evaluate", "--pets", "some.jsonl"]):
        assert main(argv) != 0
        assert "--pets replays the held-out photos" in capsys.readouterr().err
