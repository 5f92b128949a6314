"""The crop verifier on real photos: cats are cats, the dog is a dog and not a cat (the trained
head's calibrated probabilities); the crop is square and inside the image; the colour signature
and the embedding tell two looks apart; the worker fills the RESULT record's classifier fields."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from cat_follow.config import Config
from cat_follow.errors import ModelError
from cat_follow.perception.manifest import load_manifest
from cat_follow.perception.model import ModelFiles
from cat_follow.perception.port import EMBED_LEN, KIND_CAT, SIGNATURE_LEN, DetectJob, detections, new_result_buffer
from cat_follow.perception.verifier import CropVerifier, class_indices, similarity, square_crop
from cat_follow.perception.worker import make_worker


@pytest.fixture(scope="module")
def verifier(assets: Path) -> CropVerifier:
    m = load_manifest("mobilenet_v2_imagenet_quant")
    return CropVerifier(m, assets / "models" / m.file, assets / "models" / m.labels_file)


def _whole(img: np.ndarray) -> tuple[float, float, float, float]:
    return (0.0, 0.0, float(img.shape[1]), float(img.shape[0]))


@pytest.mark.parametrize("name", ["cat.bmp", "cat_test_0.bmp", "cat_train_0.bmp", "cat_720p.jpg"])
def test_cat_crops_verify_as_cats(verifier: CropVerifier, assets: Path, name: str) -> None:
    img = cv2.imread(str(assets / "images" / name))
    v = verifier.verify(img, _whole(img))
    assert v.cat >= 0.8 and v.dog < 0.1
    assert abs(v.cat + v.dog + v.other - 1.0) < 1e-5


def test_the_dog_crop_is_a_dog_not_a_cat(verifier: CropVerifier, assets: Path) -> None:
    img = cv2.imread(str(assets / "images" / "dog_test_0.bmp"))
    v = verifier.verify(img, (118.0, 98.0, 291.0, 220.0))  # NanoDet's dog box on it
    assert v.cat < 0.05 and v.dog > 0.9
    assert v.imagenet_dog > 0.9  # the old rule agrees on this one


def test_a_cat_pasted_into_a_frame_is_checked_on_its_box_only(verifier: CropVerifier, assets: Path) -> None:
    frame = np.zeros((480, 640, 3), np.uint8)
    dog = cv2.resize(cv2.imread(str(assets / "images" / "dog_test_0.bmp")), (320, 213))
    cat = cv2.resize(cv2.imread(str(assets / "images" / "cat.bmp")), (200, 133))
    frame[0:213, 0:320] = dog
    frame[300:433, 420:620] = cat
    assert verifier.verify(frame, (420.0, 300.0, 200.0, 133.0)).cat > 0.5
    assert verifier.verify(frame, (0.0, 0.0, 320.0, 213.0)).cat < 0.1


def test_square_crop_stays_inside() -> None:
    for box in [(0.0, 0.0, 50.0, 20.0), (600.0, 400.0, 40.0, 80.0), (100.0, 100.0, 600.0, 30.0)]:
        x0, y0, x1, y1 = square_crop(box, 640, 480, 0.15)
        assert x1 - x0 == y1 - y0 and 0 <= x0 < x1 <= 640 and 0 <= y0 < y1 <= 480


def test_signature_tells_two_cats_apart(verifier: CropVerifier, assets: Path) -> None:
    sigs = []
    for name in ["cat.bmp", "cat_test_0.bmp"]:
        img = cv2.imread(str(assets / "images" / name))
        sig = np.zeros(SIGNATURE_LEN, np.float32)
        verifier.verify(img, _whole(img), sig)
        assert abs(float(sig.sum()) - 1.0) < 1e-3
        sigs.append(sig)
    assert similarity(sigs[0], sigs[0]) > 0.999
    assert similarity(sigs[0], sigs[1]) < 0.8


def test_labels_without_imagenet_classes_are_refused() -> None:
    with pytest.raises(ModelError, match="ImageNet"):
        class_indices(["background", "cat", "dog"])


def test_embedding_is_unit_and_same_photo_matches_best(verifier: CropVerifier, assets: Path) -> None:
    embs = {}
    for name in ["cat.bmp", "cat_test_0.bmp", "dog_test_0.bmp"]:
        img = cv2.imread(str(assets / "images" / name))
        e = np.zeros(EMBED_LEN, np.float32)
        verifier.verify(img, _whole(img), embedding=e)
        assert abs(float(np.linalg.norm(e)) - 1.0) < 1e-4
        embs[name] = e
    img = cv2.imread(str(assets / "images" / "cat.bmp"))
    moved = np.zeros(EMBED_LEN, np.float32)  # the same cat, its box shifted and shrunk a little
    h, w = img.shape[:2]
    verifier.verify(img, (w * 0.05, h * 0.05, w * 0.9, h * 0.9), embedding=moved)
    same = float(moved @ embs["cat.bmp"])
    assert same > float(moved @ embs["cat_test_0.bmp"]) and same > float(moved @ embs["dog_test_0.bmp"])


def test_worker_fills_the_classifier_fields(models: ModelFiles, assets: Path) -> None:
    worker = make_worker(Config(), models)  # the real SSD and the real verifier with the shipped head
    img = cv2.imread(str(assets / "images" / "dog_test_0.bmp"))
    worker.prepare([(img.shape[1], img.shape[0])])
    out = new_result_buffer()
    worker.run(DetectJob(None, 0.5, verify=(118.0, 98.0, 291.0, 220.0)), img, out[0])
    r = out[0]
    assert r["verified"] == 1 and r["dog_prob"] > 0.9
    assert abs(r["cat_prob"] + r["dog_prob"] + r["cls_other_prob"] - 1.0) < 1e-5
    assert abs(float(np.linalg.norm(r["embedding"])) - 1.0) < 1e-4
    assert abs(float(r["signature"].sum()) - 1.0) < 1e-3


def test_a_job_with_no_box_checks_the_strongest_cat_it_finds(models: ModelFiles, assets: Path) -> None:
    """``check_cat``: the real detector finds the cat, the real classifier checks that very box
    (the result says which); nothing is checked when no cat is big or strong enough, or none is found."""
    worker = make_worker(Config(), models)
    images = {n: cv2.imread(str(assets / "images" / n)) for n in ("cat.bmp", "dog_test_0.bmp")}
    worker.prepare([(im.shape[1], im.shape[0]) for im in images.values()])
    out = new_result_buffer()
    worker.run(DetectJob(None, 0.25, check_cat=(0.4, 96.0)), images["cat.bmp"], out[0])
    r = out[0]
    cats = [d for d in detections(r) if d["kind"] == KIND_CAT and d["score"] >= 0.4]
    assert cats and r["verified"] == 1 and r["cat_prob"] > 0.9
    assert tuple(r["verify_box"]) == (cats[0]["x"], cats[0]["y"], cats[0]["w"], cats[0]["h"])
    worker.run(DetectJob(None, 0.25, check_cat=(0.4, 10_000.0)), images["cat.bmp"], out[0])
    assert out[0]["verified"] == 0  # too small for the classifier, by the job's bound
    worker.run(DetectJob(None, 0.25, check_cat=(0.4, 96.0)), images["dog_test_0.bmp"], out[0])
    assert out[0]["verified"] == 0 and not any(d["kind"] == KIND_CAT for d in detections(out[0]))
