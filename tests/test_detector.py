from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from cat_follow.errors import ModelError
from cat_follow.geometry import iou
from cat_follow.perception.model import find_model, parse_labels, resolve_model
from cat_follow.perception.ssd import SsdDetector

CATS = ["cat.bmp", "cat_720p.jpg", "cat_test_0.bmp", "cat_train_0.bmp", "resized_cat.bmp"]
NOT_CATS = ["grace_hopper.bmp", "bird.bmp", "dog_test_0.bmp", "sunflower.bmp"]


@pytest.mark.parametrize("name", CATS)
def test_cat_photos_have_a_cat(detector: SsdDetector, assets: Path, name: str) -> None:
    img = cv2.imread(str(assets / "images" / name))
    found, box, score = detector.best(img)
    assert found and score >= 0.5
    h, w = img.shape[:2]
    x, y, bw, bh = box
    assert x >= 0 and y >= 0 and x + bw <= w + 0.5 and y + bh <= h + 0.5
    assert bw * bh > 0.1 * w * h  # these photos are close-ups


@pytest.mark.parametrize("name", NOT_CATS)
def test_nothing_is_called_a_cat_on_other_photos(detector: SsdDetector, assets: Path, name: str) -> None:
    img = cv2.imread(str(assets / "images" / name))
    assert detector.detect(img) == []
    assert detector.best(img)[0] is False


def test_boxes_are_in_image_pixels_whatever_the_padding(detector: SsdDetector, assets: Path) -> None:
    """The same cat pasted into a larger canvas is found at the pasted offset."""
    cat = cv2.imread(str(assets / "images" / "cat.bmp"))
    _, box, _ = detector.best(cat)
    canvas = np.full((cat.shape[0] + 300, cat.shape[1] + 100, 3), 90, np.uint8)
    ox, oy = 60, 250
    canvas[oy:oy + cat.shape[0], ox:ox + cat.shape[1]] = cat
    found, moved, _ = detector.best(canvas)
    assert found
    assert iou(moved, (box[0] + ox, box[1] + oy, box[2], box[3])) > 0.8


def test_frames_are_fed_as_rgb(detector: SsdDetector, assets: Path) -> None:
    """The input tensor holds the photo's RGB pixels (the camera's BGR, swapped)."""
    cat = cv2.imread(str(assets / "images" / "resized_cat.bmp"))  # 224 x 224
    detector.best(cat)
    tensor = detector.interp.get_tensor(detector._in_index)[0]
    expect = cv2.cvtColor(cv2.resize(cat, (300, 300), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
    assert np.array_equal(tensor, expect)


def test_label_maps_in_both_formats() -> None:
    tf = parse_labels(["???", "person", "bicycle"])
    assert tf == {0: "person", 1: "bicycle"}
    coral = parse_labels(["0  person", "16  cat", ""])
    assert coral == {0: "person", 16: "cat"}


def test_missing_model_names_the_paths_and_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a model asked for by name is missing: say so (set-up would not help)
    with pytest.raises(ModelError, match=r"nope\.tflite: no such file") as exc:
        find_model(str(tmp_path / "nope.tflite"))
    assert "setup.sh" not in str(exc.value)
    with pytest.raises(ModelError, match="no such file"):
        resolve_model(str(tmp_path / "x.tflite"), None)
    # no model found where set-up puts it: name the places tried and the fix
    import cat_follow.perception.model as model_mod

    monkeypatch.setenv("CAT_FOLLOW_ASSETS", str(tmp_path))
    monkeypatch.delenv("CAT_FOLLOW_MODEL", raising=False)
    monkeypatch.setattr(model_mod, "REPO_ROOT", tmp_path / "repo")
    monkeypatch.setattr(model_mod, "VILIB_MODEL", tmp_path / "vilib.tflite")
    with pytest.raises(ModelError, match=r"not found \(tried .*tmp.*\).*setup\.sh"):
        find_model(None)


def test_corrupt_model_is_one_clear_error(models, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "detect.tflite"
    bad.write_bytes(models.model.read_bytes()[:50_000])
    (tmp_path / "labelmap.txt").write_bytes(models.labels.read_bytes())
    with pytest.raises(ModelError, match=rf"{bad}.*corrupt"):
        SsdDetector(bad, tmp_path / "labelmap.txt")


def test_detect_command_prints_one_json_line_per_image(assets: Path, cli_env: dict[str, str]) -> None:
    imgs = [assets / "images" / "cat.bmp", assets / "images" / "grace_hopper.bmp"]
    out = subprocess.run([sys.executable, "-m", "cat_follow", "detect", *map(str, imgs)],
                         capture_output=True, text=True, env=cli_env, timeout=120)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["image"] for r in rows] == list(map(str, imgs))
    assert rows[0]["detections"][0]["label"] == "cat" and len(rows[0]["detections"][0]["box"]) == 4
    assert rows[1]["detections"] == []


def test_detection_inside_a_region_is_mapped_to_frame_pixels(detector: SsdDetector, assets: Path) -> None:
    """A small cat, missed in the whole frame, is found in a region around it, at the
    right place."""
    cat = cv2.imread(str(assets / "images" / "cat.bmp"))
    _, box, _ = detector.best(cat)
    small = cv2.resize(cat, (cat.shape[1] // 4, cat.shape[0] // 4), interpolation=cv2.INTER_AREA)
    frame = np.full((480, 640, 3), 90, np.uint8)
    ox, oy = 420, 300
    frame[oy:oy + small.shape[0], ox:ox + small.shape[1]] = small
    assert not detector.best(frame)[0]  # too small for the whole frame
    roi = (ox - 40, oy - 60, ox - 40 + 240, oy - 60 + 240)
    found, got, score = detector.best(frame, roi=roi)
    assert found and score >= 0.5
    expect = (ox + box[0] / 4, oy + box[1] / 4, box[2] / 4, box[3] / 4)
    assert iou(got, expect) > 0.7, (got, expect)
