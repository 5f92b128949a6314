"""Shared fixtures: real assets (model, photos, videos) from setup.sh or ../shared."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from cat_follow.config import Config
from cat_follow.perception.model import ModelFiles
from cat_follow.perception.ssd import SsdDetector

REPO = Path(__file__).resolve().parents[1]


def _assets_dir() -> Path:
    candidates = [Path(os.environ["CAT_FOLLOW_ASSETS"])] if os.environ.get("CAT_FOLLOW_ASSETS") else []
    candidates += [REPO / "assets", REPO.parent / "shared" / "assets"]
    for c in candidates:
        if (c / "models" / "ssd_mobilenet_v1_coco_quant" / "detect.tflite").is_file():
            return c
    pytest.fail(f"no assets in {', '.join(map(str, candidates))}: run ./setup.sh --dev "
                "(--assets ../shared/assets)")


@pytest.fixture(scope="session")
def assets() -> Path:
    return _assets_dir()


@pytest.fixture(scope="session")
def models(assets: Path) -> ModelFiles:
    """SSD (fast, and the file the older tests were written for) with the crop verifier."""
    d = assets / "models" / "ssd_mobilenet_v1_coco_quant"
    v = assets / "models" / "mobilenet_v2_imagenet_quant"
    manifests = REPO / "cat_follow" / "perception" / "manifests"
    return ModelFiles(d / "detect.tflite", d / "labelmap.txt", manifests / "ssd_mobilenet_v1_coco_quant.toml",
                      v / "mobilenet_v2_1.0_224_quant.tflite", v / "imagenet_labels.txt",
                      manifests / "mobilenet_v2_imagenet_quant.toml")


@pytest.fixture(scope="session")
def detector(models: ModelFiles) -> SsdDetector:
    return SsdDetector(models.model, models.labels, num_threads=2)


@pytest.fixture(scope="session")
def kittens(assets: Path) -> Path:
    return assets / "video" / "kittens_floor.mp4"


@pytest.fixture
def config() -> Config:
    return Config()


@pytest.fixture
def cli_env(assets: Path) -> Iterator[dict[str, str]]:
    env = dict(os.environ)
    env["CAT_FOLLOW_ASSETS"] = str(assets)
    yield env
