"""Retraining the pet head from the shared pets photos reproduces the shipped one (slow: real
model runs over the photos)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cat_follow.perception.classifier import CAT, DEFAULT_HEAD, DOG, load_head
from cat_follow.training.data import DEFAULT_DATA
from cat_follow.training.train import Budget, train


@pytest.fixture(scope="module")
def data_ok() -> None:
    if not (DEFAULT_DATA / "MANIFEST.tsv").is_file():
        pytest.fail(f"no pets data at {DEFAULT_DATA} (../shared/datasets/pets)")


@pytest.mark.slow
def test_same_seed_same_head(data_ok: None) -> None:
    a = train(DEFAULT_DATA, Budget(copies=1, per_class=4))
    b = train(DEFAULT_DATA, Budget(copies=1, per_class=4))
    assert np.array_equal(a.head.weights, b.head.weights) and a.head.temperature == b.head.temperature
    assert np.array_equal(a.head.proj, b.head.proj)
    c = train(DEFAULT_DATA, Budget(copies=1, per_class=4, seed=18))  # other augmentations
    assert not np.array_equal(a.head.weights, c.head.weights)


@pytest.mark.slow
def test_retraining_on_a_reduced_budget_matches_the_shipped_head(data_ok: None) -> None:
    """Reduced budget for CI: no augmented copies (2,509 model runs instead of 8,525); the
    shipped head was trained with 3 copies per training photo (`cat-follow train-classifier`)."""
    meta = json.loads(DEFAULT_HEAD.with_suffix(".json").read_text())
    t = train(DEFAULT_DATA, Budget(copies=0))
    assert t.report["data_manifest_sha256"] == meta["data_manifest_sha256"]
    assert t.report["photos"] == meta["photos"]
    got, want = t.report["test_clean"], meta["test_clean"]
    assert got["n"] == want["n"]
    assert got["cat_vs_dog"] >= 0.97 and abs(got["cat_vs_dog"] - want["cat_vs_dog"]) <= 0.015
    assert got["ece"] <= 0.05
    shipped = load_head(DEFAULT_HEAD)  # the same verdicts on the same test photos
    v = t.test_clean
    a, b = shipped.probs(v.x), t.head.probs(v.x)
    pets = v.y != 2
    agree = ((a[pets, CAT] > a[pets, DOG]) == (b[pets, CAT] > b[pets, DOG])).mean()
    assert agree >= 0.97
