"""Finding, checking and loading the detector model and its label map."""

from __future__ import annotations

import logging
import os
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cat_follow.errors import ModelError

log = logging.getLogger(__name__)

ENV_MODEL = "CAT_FOLLOW_MODEL"
ENV_ASSETS = "CAT_FOLLOW_ASSETS"
REPO_ROOT = Path(__file__).resolve().parents[2]
SSD_SUBDIR = Path("models/ssd_mobilenet_v1_coco_quant")
VILIB_MODEL = Path("/opt/vilib/detect.tflite")
LABEL_NAMES = ("labelmap.txt", "coco_labels.txt", "labels.txt")
FIX_HINT = ("fix: run `./setup.sh --dev` (it downloads the model and checks its sha256), or "
            "`./setup.sh --dev --assets DIR` with a local copy, or pass --model PATH / set "
            f"${ENV_MODEL}")


def assets_dirs() -> list[Path]:
    """Where assets are looked for: $CAT_FOLLOW_ASSETS, then the repository's assets/."""
    dirs = []
    if os.environ.get(ENV_ASSETS):
        dirs.append(Path(os.environ[ENV_ASSETS]))
    dirs.append(REPO_ROOT / "assets")
    return dirs


def model_candidates(explicit: str | None) -> list[Path]:
    """Model paths in the order they are tried."""
    if explicit:
        return [Path(explicit)]
    out = []
    if os.environ.get(ENV_MODEL):
        out.append(Path(os.environ[ENV_MODEL]))
    out += [d / SSD_SUBDIR / "detect.tflite" for d in assets_dirs()]
    out.append(VILIB_MODEL)
    return out


def find_model(explicit: str | None) -> Path:
    """The first existing candidate, or ModelError naming every path tried and the fix."""
    if explicit:  # asked for by name (--model or detector.model): say so, not how to set up
        path = Path(explicit)
        if path.is_file():
            return path
        what = "is a directory, not a .tflite file" if path.is_dir() else "no such file"
        raise ModelError(f"detector model {path}: {what} (given by --model or detector.model)")
    candidates = model_candidates(explicit)
    for path in candidates:
        if path.is_file():
            return path
    tried = ", ".join(str(p) for p in candidates)
    raise ModelError(f"detector model not found (tried {tried}); {FIX_HINT}")


def find_labels(model: Path, explicit: str | None) -> Path:
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ModelError(f"label map {path}: no such file; {FIX_HINT}")
        return path
    for name in LABEL_NAMES:
        if (model.parent / name).is_file():
            return model.parent / name
    raise ModelError(f"no label map next to {model} (looked for {', '.join(LABEL_NAMES)}); {FIX_HINT}")


_ID_LINE = re.compile(r"^\s*(\d+)[\s:,]+(.+?)\s*$")


def parse_labels(lines: Iterable[str]) -> dict[int, str]:
    """Map model output class -> name. Two formats: ``<id> <name>`` lines (Coral's
    coco_labels.txt), or one name per line where a first line ``???`` means the output class
    c is line c+1 (TensorFlow's labelmap.txt)."""
    rows = [ln.rstrip("\n") for ln in lines]
    rows = [r for r in rows if r.strip()]
    if rows and all(_ID_LINE.match(r) for r in rows):
        return {int(m.group(1)): m.group(2) for m in (_ID_LINE.match(r) for r in rows) if m}
    offset = 1 if rows and rows[0].strip() == "???" else 0
    return {i - offset: name.strip() for i, name in enumerate(rows) if i >= offset}


def class_id(labels: dict[int, str], name: str, path: Path) -> int:
    for cid, label in labels.items():
        if label == name:
            return cid
    raise ModelError(f"label map {path} has no class named {name!r}")


@dataclass(frozen=True)
class ModelFiles:
    """The files a detector worker loads (paths only: picklable for a detector process).
    ``manifest`` None = the SSD manifest (``model`` is today's detect.tflite); ``verifier``
    None = no crop verifier."""

    model: Path
    labels: Path
    manifest: Path | None = None
    verifier: Path | None = None
    verifier_labels: Path | None = None
    verifier_manifest: Path | None = None


def resolve_model(model: str | None, labels: str | None) -> ModelFiles:
    path = find_model(model)
    return ModelFiles(path, find_labels(path, labels))


def load_interpreter(path: Path, num_threads: int, preserve_all_tensors: bool = False) -> Any:
    """A TFLite interpreter with tensors allocated: ai_edge_litert, else tflite_runtime.
    ``preserve_all_tensors``: intermediate tensors stay readable after ``invoke`` (the crop
    classifier reads the pooled layer; costs about 9 MB of RSS for MobileNet v2)."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter
        except ImportError as exc:
            raise ModelError("no TFLite runtime: install ai-edge-litert (or tflite-runtime); "
                             "setup.sh does it") from exc
    try:
        if preserve_all_tensors:
            with warnings.catch_warnings():  # its "for debugging only" warning: we need the layer
                warnings.simplefilter("ignore")
                interp = Interpreter(model_path=str(path), num_threads=num_threads,
                                     experimental_preserve_all_tensors=True)
        else:
            interp = Interpreter(model_path=str(path), num_threads=num_threads)
        interp.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise ModelError(f"model {path}: cannot be loaded as a TFLite model ({exc}); "
                         f"the file may be corrupt or truncated; {FIX_HINT}") from exc
    return interp
