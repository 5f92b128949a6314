"""Every detector back-end decodes real model outputs: real inference (TFLite, onnxruntime,
OpenCV DNN) on the shared photos; cats give a cat, the dog photo a dog and no cat."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from cat_follow.geometry import iou
from cat_follow.perception.backend import DETECTION, MAX_DETECTIONS, ObjectDetector
from cat_follow.perception.decode import KIND_CAT, KIND_DOG, KIND_PERSON
from cat_follow.perception.manifest import load_manifest

CATS = ["cat.bmp", "cat_test_0.bmp", "cat_train_0.bmp", "resized_cat.bmp"]
# (manifest, ONNX runtime): every family, and both ONNX runtimes
BACKENDS = [("ssd_mobilenet_v1_coco_quant", ""), ("nanodet_plus_m_1.5x_416", "onnxruntime"),
            ("nanodet_plus_m_1.5x_416", "opencv"), ("nanodet_plus_m_1.5x_416_tflite", ""),
            ("yolox_nano_416", ""), ("yolox_nano_416_onnx", "onnxruntime"), ("yolo26n_320_int8", "")]
_cache: dict[tuple[str, str], ObjectDetector] = {}


def detector(assets: Path, name: str, runtime: str) -> ObjectDetector:
    if (name, runtime) not in _cache:
        m = load_manifest(name)
        _cache[(name, runtime)] = ObjectDetector(m, assets / "models" / m.file, 2, runtime or "onnxruntime")
    return _cache[(name, runtime)]


def run(det: ObjectDetector, img: np.ndarray, min_score: float = 0.3) -> np.ndarray:
    out = np.zeros(MAX_DETECTIONS, DETECTION)
    return out[: det.detect(img, min_score, out)].copy()


def best(dets: np.ndarray, kind: int) -> np.void | None:
    rows = dets[dets["kind"] == kind]
    return rows[0] if len(rows) else None


@pytest.mark.slow
@pytest.mark.parametrize(("name", "runtime"), BACKENDS)
def test_cats_are_cats_and_the_dog_is_not(assets: Path, name: str, runtime: str) -> None:
    det = detector(assets, name, runtime)
    for photo in CATS:
        img = cv2.imread(str(assets / "images" / photo))
        cat = best(run(det, img), KIND_CAT)
        assert cat is not None and cat["score"] >= 0.5, (photo, run(det, img))
        h, w = img.shape[:2]
        assert cat["x"] >= 0 and cat["y"] >= 0 and cat["x"] + cat["w"] <= w + 0.5 and cat["y"] + cat["h"] <= h + 0.5
        assert cat["w"] * cat["h"] > 0.15 * w * h  # close-ups
    dets = run(det, cv2.imread(str(assets / "images" / "dog_test_0.bmp")))
    assert best(dets, KIND_CAT) is None, dets
    if name != "ssd_mobilenet_v1_coco_quant":  # SSD's best dog score on it is 0.12: it cannot tell
        dog = best(dets, KIND_DOG)
        assert dog is not None and dog["score"] >= 0.5
    person = best(run(det, cv2.imread(str(assets / "images" / "grace_hopper.bmp"))), KIND_PERSON)
    assert person is not None and person["score"] >= 0.5


@pytest.mark.slow
def test_the_back_ends_agree_on_where_the_cat_is(assets: Path) -> None:
    img = cv2.imread(str(assets / "images" / "cat_test_0.bmp"))
    boxes = {k: best(run(detector(assets, *k), img), KIND_CAT) for k in BACKENDS}
    ref = boxes[("nanodet_plus_m_1.5x_416", "onnxruntime")]
    assert ref is not None
    xywh = ["x", "y", "w", "h"]
    for k, b in boxes.items():
        assert b is not None and iou(tuple(b[xywh].tolist()), tuple(ref[xywh].tolist())) > 0.7, k
    # the same network three ways (onnxruntime, OpenCV DNN, converted TFLite): the same box
    for k in [("nanodet_plus_m_1.5x_416", "opencv"), ("nanodet_plus_m_1.5x_416_tflite", "")]:
        assert np.allclose(boxes[k][["x", "y", "w", "h"]].tolist(), ref[["x", "y", "w", "h"]].tolist(), atol=1.0)
    # YOLOX: the grid decoded here (raw ONNX head) = the grid decoded inside the TFLite graph
    a, b = boxes[("yolox_nano_416_onnx", "onnxruntime")], boxes[("yolox_nano_416", "")]
    assert np.allclose(a[["x", "y", "w", "h"]].tolist(), b[["x", "y", "w", "h"]].tolist(), atol=1.0)


@pytest.mark.slow
@pytest.mark.parametrize(("name", "runtime"), [BACKENDS[1], BACKENDS[4], BACKENDS[6]])
def test_a_region_maps_back_to_frame_pixels(assets: Path, name: str, runtime: str) -> None:
    """The cat pasted into a bigger canvas and looked for in a region around it (a view plus
    an offset, as the worker does) is found at the pasted place."""
    det = detector(assets, name, runtime)
    cat = cv2.imread(str(assets / "images" / "cat.bmp"))
    ref = best(run(det, cat), KIND_CAT)
    canvas = np.full((900, 1200, 3), 90, np.uint8)
    ox, oy = 500, 400
    canvas[oy:oy + cat.shape[0], ox:ox + cat.shape[1]] = cat
    roi = (ox - 40, oy - 40, ox + cat.shape[1] + 40, oy + cat.shape[0] + 40)
    out = np.zeros(MAX_DETECTIONS, DETECTION)
    n = det.detect(canvas[roi[1]:roi[3], roi[0]:roi[2]], 0.3, out, (roi[0], roi[1]))
    found = best(out[:n], KIND_CAT)
    assert ref is not None and found is not None
    moved = (float(ref["x"]) + ox, float(ref["y"]) + oy, float(ref["w"]), float(ref["h"]))
    assert iou(tuple(found[["x", "y", "w", "h"]].tolist()), moved) > 0.8


def test_results_are_sorted_and_bounded(assets: Path) -> None:
    det = detector(assets, "yolox_nano_416", "")
    out = np.zeros(3, DETECTION)  # fewer rows than detections: the best ones are kept
    n = det.detect(cv2.imread(str(assets / "images" / "grace_hopper.bmp")), 0.01, out)
    assert n == 3
    assert list(out["score"]) == sorted(out["score"], reverse=True)


@pytest.mark.slow
@pytest.mark.parametrize(("name", "runtime"), [BACKENDS[1], BACKENDS[4], BACKENDS[6]])
def test_a_mirrored_cat_gives_the_mirrored_box(assets: Path, name: str, runtime: str) -> None:
    """A decoder that measures boxes from the wrong point of each grid cell shifts every box
    the same way (NanoDet from the cell's corner: half a stride up and left); mirroring the
    picture then moves the box by a whole stride instead of mirroring it."""
    det = detector(assets, name, runtime)
    cat = cv2.resize(cv2.imread(str(assets / "images" / "cat.bmp")), (220, 146), interpolation=cv2.INTER_AREA)
    canvas = np.full((416, 416, 3), 120, np.uint8)
    canvas[150:296, 110:330] = cat  # whole, off-centre, clear of the edges
    a = best(run(det, canvas), KIND_CAT)
    b = best(run(det, np.ascontiguousarray(canvas[:, ::-1])), KIND_CAT)
    assert a is not None and b is not None
    centre_a = float(a["x"]) + float(a["w"]) / 2
    centre_b = 416 - (float(b["x"]) + float(b["w"]) / 2)  # b's centre, mirrored back
    assert abs(centre_a - centre_b) < 6.0, (a, b)
    assert abs(float(a["y"]) - float(b["y"])) < 6.0 and abs(float(a["w"]) - float(b["w"])) < 8.0
