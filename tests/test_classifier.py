"""The pet head's file and numerics, the pets split and the floor-view augmentation (fast: no
model run except where a verifier is built)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cat_follow.errors import ModelError
from cat_follow.perception.classifier import (
    CLASSES,
    DEFAULT_HEAD,
    FEATURE_LEN,
    PetHead,
    l2_normalise,
    load_head,
    save_head,
)
from cat_follow.perception.port import EMBED_LEN
from cat_follow.training.augment import SIDE, floor_view
from cat_follow.training.data import DEFAULT_DATA, manifest_sha256, read_photos, split_of
from cat_follow.training.fit import fit_softmax, fit_temperature, reliability


def _random_head(seed: int = 0) -> PetHead:
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(FEATURE_LEN, EMBED_LEN)))
    return PetHead(rng.normal(size=(FEATURE_LEN, 3)).astype(np.float32), rng.normal(size=3).astype(np.float32),
                   1.7, rng.random(FEATURE_LEN).astype(np.float32), q.astype(np.float32))


def test_shipped_head_loads_and_is_small() -> None:
    head = load_head(DEFAULT_HEAD)
    assert DEFAULT_HEAD.stat().st_size < 200_000
    meta = json.loads(DEFAULT_HEAD.with_suffix(".json").read_text())
    assert meta["test_clean"]["cat_vs_dog"] >= 0.98 and meta["test_clean"]["ece"] <= 0.03
    x = l2_normalise(np.random.default_rng(1).random((5, FEATURE_LEN)).astype(np.float32))
    p = head.probs(x)
    assert p.shape == (5, len(CLASSES)) and np.allclose(p.sum(axis=1), 1.0, atol=1e-5)
    assert np.allclose(np.linalg.norm(head.embed(x), axis=1), 1.0, atol=1e-5)


def test_head_round_trip_keeps_verdicts_and_embeddings(tmp_path: Path) -> None:
    head = _random_head()
    save_head(head, tmp_path / "h.npy", {"what": "test"})
    back = load_head(tmp_path / "h.npy")
    x = l2_normalise(np.random.default_rng(2).random((20, FEATURE_LEN)).astype(np.float32))
    assert np.allclose(back.probs(x), head.probs(x), atol=1e-6)
    cos = (back.embed(x) * head.embed(x)).sum(axis=1)
    assert cos.min() > 0.999  # the int8 projection loses almost nothing


def test_a_damaged_or_foreign_head_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "h.npy"
    save_head(_random_head(), path, {})
    raw = bytearray(path.read_bytes())
    raw[-5] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(ModelError, match="sha256"):
        load_head(path)
    np.save(tmp_path / "other.npy", np.zeros(3, np.float32))
    with pytest.raises(ModelError, match="not a head"):
        load_head(tmp_path / "other.npy")
    with pytest.raises(ModelError, match="cannot be read"):
        load_head(tmp_path / "missing.npy")


def test_split_is_fixed_by_file_hash() -> None:
    if not (DEFAULT_DATA / "MANIFEST.tsv").is_file():
        pytest.fail(f"no pets data at {DEFAULT_DATA} (../shared/datasets/pets)")
    photos = read_photos(DEFAULT_DATA)
    assert len(photos) == 2509
    shares = {s: sum(p.split == s for p in photos) / len(photos) for s in ("train", "calib", "test")}
    assert abs(shares["test"] - 0.2) < 0.03 and abs(shares["calib"] - 0.1) < 0.03
    assert split_of("00000000" + "f" * 56) == "test" and split_of("00000002" + "0" * 56) == "calib"
    meta = json.loads(DEFAULT_HEAD.with_suffix(".json").read_text())
    assert meta["data_manifest_sha256"] == manifest_sha256(DEFAULT_DATA)


def test_floor_view_is_deterministic_per_seed() -> None:
    img = np.random.default_rng(3).integers(0, 255, (200, 300, 3), dtype=np.uint8)
    a = floor_view(img, np.random.default_rng([17, 5, 1]))
    b = floor_view(img, np.random.default_rng([17, 5, 1]))
    c = floor_view(img, np.random.default_rng([17, 5, 2]))
    assert a.shape == (SIDE, SIDE, 3) and np.array_equal(a, b) and not np.array_equal(a, c)


def test_softmax_regression_and_temperature_on_overlapping_data() -> None:
    rng = np.random.default_rng(4)
    centres = rng.normal(size=(3, 16))
    y = np.repeat(np.arange(3), [300, 450, 150])  # unbalanced, as the pets set is
    x = centres[y] + rng.normal(size=(len(y), 16)) * 1.5
    mean = x.mean(axis=0)
    lin = fit_softmax(x, y, mean, 3, steps=200)
    logits = lin.logits(x, mean)
    right = logits.argmax(1) == y
    assert 0.6 < right.mean() < 0.99 and right[y == 2].mean() > 0.5  # the small class is not ignored
    t1 = fit_temperature(logits, y)
    t5 = fit_temperature(logits * 5.0, y)  # the same model, over-confident: cooled down five times as much
    assert abs(t5 / t1 - 5.0) < 0.2
    ece, rows = reliability(np.eye(3)[y] * 0.9 + 0.1 / 3, y)
    assert abs(ece - (1 - (0.9 + 0.1 / 3))) < 1e-9 and rows[-1]["n"] == len(y)
