"""Model manifests: a small TOML file per model says how to feed it and read it.

A new detector of a known family is a new file in ``manifests/``, not code. Loading rejects
unknown keys and bad values with an error naming the file and the key, like the config.
Model files themselves stay out of the repository: ``file`` is found under an assets
directory's ``models/`` (``$CAT_FOLLOW_ASSETS``, the repository's ``assets/``), where
``setup.sh`` puts them, checked by sha256.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cat_follow.errors import ModelError
from cat_follow.perception.model import FIX_HINT, assets_dirs

MANIFEST_DIR = Path(__file__).resolve().parent / "manifests"
FAMILIES = ("ssd", "nanodet", "yolox", "yolo_e2e", "classifier")
CHANNEL_ORDERS = ("RGB", "BGR")
DTYPES = ("uint8", "float32")
# Output class index of person, cat and dog in each label map. COCO-90 as TensorFlow's SSD
# exports number it (COCO id - 1); COCO-80 is the contiguous 80-class list (YOLO, NanoDet).
LABEL_MAPS: dict[str, dict[str, int]] = {
    "coco90": {"person": 0, "cat": 16, "dog": 17},
    "coco80": {"person": 0, "cat": 15, "dog": 16},
    "imagenet1001": {},  # a classifier: the verifier reads class names from its labels file
}

_FIELDS: dict[str, tuple[type, bool]] = {  # key: (type, required)
    "name": (str, True), "family": (str, True), "file": (str, True), "sha256": (str, True),
    "licence": (str, True), "official_url": (str, True), "official_note": (str, False),
    "input_size": (list, True), "channel_order": (str, True), "input_dtype": (str, True),
    "mean": (list, False), "std": (list, False), "pad_value": (int, False),
    "label_map": (str, True), "labels_file": (str, False), "strides": (list, False),
    "reg_max": (int, False), "nms_iou": (float, False), "description": (str, False),
    "box_encoding": (str, False), "pi": (bool, False),
}
BOX_ENCODINGS = ("grid", "pixels")  # YOLOX: raw head offsets, or already decoded by the graph


@dataclass(frozen=True)
class Manifest:
    """How to run one model. ``official_url`` is "" when no official download exists
    (``official_note`` then says why)."""

    name: str
    family: str
    file: str
    sha256: str
    licence: str
    official_url: str
    official_note: str
    input_w: int
    input_h: int
    channel_order: str
    input_dtype: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    pad_value: int
    label_map: str
    labels_file: str
    strides: tuple[int, ...]
    reg_max: int
    nms_iou: float
    box_encoding: str
    source: Path
    pi: bool = False  # the car runs it: tests/arm64/check.sh proves it on an emulated Cortex-A72

    @property
    def runtime(self) -> str:
        return "onnx" if self.file.endswith(".onnx") else "tflite"

    @property
    def classes(self) -> dict[str, int]:
        return LABEL_MAPS[self.label_map]

    def model_path(self, explicit: str = "") -> Path:
        """The model file: ``explicit`` if given, else ``file`` under the first assets dir
        holding it; ModelError naming every place tried otherwise."""
        if explicit:
            p = Path(explicit)
            if not p.is_file():  # asked for by name: say so, not how to set up
                what = "is a directory, not a model file" if p.is_dir() else "no such file"
                raise ModelError(f"model {p}: {what} (named by --model or the config)")
            return p
        tried = [d / "models" / self.file for d in assets_dirs()]
        for p in tried:
            if p.is_file():
                return p
        raise ModelError(f"model {self.name}: {self.file} not found (tried "
                         f"{', '.join(map(str, tried))}); {FIX_HINT}")


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _numbers(key: str, value: Any, n: int | None, kind: type) -> tuple[Any, ...]:
    if not isinstance(value, list) or (n is not None and len(value) != n) or not value:
        raise ValueError(f"{key}: must be a list of {n or 'some'} numbers, got {value!r}")
    out = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or (kind is int and not isinstance(v, int)):
            raise ValueError(f"{key}: must hold {kind.__name__}s, got {v!r}")
        out.append(kind(v))
    return tuple(out)


def _three(key: str, value: Any) -> tuple[float, float, float]:
    """One float per colour channel (mean, std)."""
    a, b, c = _numbers(key, value, 3, float)
    return (a, b, c)


def _check_types(data: dict[str, Any]) -> None:
    for key, value in data.items():
        if key not in _FIELDS:
            raise ValueError(f"{key}: unknown key (known: {', '.join(sorted(_FIELDS))})")
        kind = _FIELDS[key][0]
        ok = isinstance(value, float | int) and not isinstance(value, bool) if kind is float else (
            isinstance(value, kind) and not (kind is int and isinstance(value, bool)))
        if not ok:
            raise ValueError(f"{key}: must be a {kind.__name__}, got {value!r}")
    for key, (_, required) in _FIELDS.items():
        if required and key not in data:
            raise ValueError(f"{key}: missing")


def _choice(key: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{key}: must be one of {', '.join(choices)}, got {value!r}")
    return value


def manifest_from_dict(data: dict[str, Any], source: Path) -> Manifest:
    """Validate a parsed manifest (raises ValueError naming the key)."""
    _check_types(data)
    family = _choice("family", data["family"], FAMILIES)
    w, h = _numbers("input_size", data["input_size"], 2, int)
    if not (16 <= w <= 2048 and 16 <= h <= 2048):
        raise ValueError(f"input_size: must be within 16..2048, got {[w, h]}")
    sha = data["sha256"].lower()
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise ValueError(f"sha256: must be 64 hex digits, got {data['sha256']!r}")
    url = data["official_url"]
    if url and not url.startswith("https://"):
        raise ValueError(f"official_url: must be an https:// URL or \"\", got {url!r}")
    if not url and not data.get("official_note"):
        raise ValueError("official_note: required when official_url is empty (say why none exists)")
    std = _three("std", data.get("std", [1, 1, 1]))
    if min(std) <= 0:
        raise ValueError(f"std: must be positive, got {list(std)}")
    strides = _numbers("strides", data.get("strides", [8, 16, 32]), None, int)
    nms_iou = float(data.get("nms_iou", 0.5))
    if not 0.0 < nms_iou <= 1.0:
        raise ValueError(f"nms_iou: must be in (0, 1], got {nms_iou}")
    pad = data.get("pad_value", 0)
    if not 0 <= pad <= 255:
        raise ValueError(f"pad_value: must be within 0..255, got {pad}")
    return Manifest(
        name=data["name"], family=family, file=data["file"], sha256=sha, licence=data["licence"],
        official_url=url, official_note=data.get("official_note", ""), input_w=w, input_h=h,
        channel_order=_choice("channel_order", data["channel_order"], CHANNEL_ORDERS),
        input_dtype=_choice("input_dtype", data["input_dtype"], DTYPES),
        mean=_three("mean", data.get("mean", [0, 0, 0])),
        std=std,
        pad_value=pad, label_map=_choice("label_map", data["label_map"], tuple(LABEL_MAPS)),
        labels_file=data.get("labels_file", ""), strides=strides, reg_max=data.get("reg_max", 7),
        nms_iou=nms_iou, box_encoding=_choice("box_encoding", data.get("box_encoding", "grid"), BOX_ENCODINGS),
        source=source, pi=data.get("pi", False))


def load_manifest(name_or_path: str) -> Manifest:
    """A shipped manifest by name (``manifests/<name>.toml``) or a manifest file by path."""
    p = Path(name_or_path)
    if p.suffix != ".toml":
        p = MANIFEST_DIR / f"{name_or_path}.toml"
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        known = ", ".join(shipped_manifests())
        raise ModelError(f"model manifest {p}: cannot be read ({exc.strerror or exc}); shipped: {known}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ModelError(f"model manifest {p}: not valid TOML: {exc}") from exc
    try:
        return manifest_from_dict(data, p)
    except ValueError as exc:
        raise ModelError(f"model manifest {p}: {exc}") from exc


def shipped_manifests() -> list[str]:
    return sorted(p.stem for p in MANIFEST_DIR.glob("*.toml"))
