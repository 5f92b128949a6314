"""Model manifests: every shipped one is valid and matches its file; errors name the key;
each says where its official download is (or why there is none), and the defaults have one
that setup.sh fetches and checks."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cat_follow.config import Config
from cat_follow.errors import ModelError
from cat_follow.perception.manifest import load_manifest, sha256_of, shipped_manifests

REPO = Path(__file__).resolve().parents[1]


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "m.toml"
    p.write_text(text, encoding="utf-8")
    return p


GOOD = (REPO / "cat_follow/perception/manifests/yolox_nano_416.toml").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", shipped_manifests())
def test_each_shipped_manifest_is_valid_and_matches_its_file(name: str, assets: Path) -> None:
    m = load_manifest(name)
    path = assets / "models" / m.file
    assert path.is_file(), path
    assert sha256_of(path) == m.sha256
    # where to get it: an official https URL, or a sentence saying why there is none
    assert m.official_url.startswith("https://") or len(m.official_note) > 20


def test_the_defaults_have_an_official_download_that_setup_sh_checks() -> None:
    setup = (REPO / "setup.sh").read_text(encoding="utf-8")
    cfg = Config()
    for name in (cfg.detector.manifest, cfg.verifier.manifest):
        m = load_manifest(name)
        assert m.official_url, f"{name}: a default needs an official download"
        bases = re.findall(r'^\w+_BASE="([^"]+)"', setup, re.M)
        srcs = [ln.split()[1] for ln in setup.splitlines() if ln.endswith(" " + m.sha256) and len(ln.split()) == 3]
        assert any(f"{b}/{src}" == m.official_url for b in bases for src in srcs), \
            f"setup.sh does not fetch {m.official_url} and check its sha256"


def test_official_downloads_per_manifest() -> None:
    """Which models have an official download (the README table says the same)."""
    official = {n for n in shipped_manifests() if load_manifest(n).official_url}
    assert official == {"ssd_mobilenet_v1_coco_quant", "nanodet_plus_m_1.5x_416", "mobilenet_v2_imagenet_quant"}


def test_unknown_key_is_named(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"m\.toml: colour_order: unknown key"):
        load_manifest(str(_write(tmp_path, GOOD + 'colour_order = "RGB"\n')))


@pytest.mark.parametrize(("line", "key"), [
    ('channel_order = "BRG"', "channel_order"),
    ("input_size = [416]", "input_size"),
    ('sha256 = "abc"', "sha256"),
    ('label_map = "coco91"', "label_map"),
    ("std = [0.0, 1.0, 1.0]", "std"),
    ('official_url = "http://example.org/x.onnx"', "official_url"),
    ('family = "yolov9"', "family"),
])
def test_bad_value_is_named(tmp_path: Path, line: str, key: str) -> None:
    k = line.split(" = ")[0]
    text = re.sub(rf"^{k} = .*$", line, GOOD, flags=re.M) if re.search(rf"^{k} = ", GOOD, re.M) else GOOD + line + "\n"
    with pytest.raises(ModelError, match=rf"{key}: "):
        load_manifest(str(_write(tmp_path, text)))


def test_missing_key_and_unknown_name(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="sha256: missing"):
        load_manifest(str(_write(tmp_path, re.sub(r"^sha256 = .*$", "", GOOD, flags=re.M))))
    with pytest.raises(ModelError, match=r"shipped: .*nanodet"):
        load_manifest("no_such_model")
