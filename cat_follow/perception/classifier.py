"""The cat / dog / other crop classifier: a small trained head on MobileNet v2's pooled features.

``PetHead`` is the head ``cat-follow train-classifier`` writes (``pet_head.npy``, one numpy
record, no pickle; provenance in ``pet_head.json``): a calibrated softmax regression over
CLASSES and a fixed PCA projection to an EMBED_LEN appearance embedding. ``PooledFeatures``
reads the backbone's global-average-pooled layer (tensor ``MobilenetV2/Logits/AvgPool``,
1280 uint8 values) after a run. Both fill buffers the caller owns; nothing is allocated per
crop beyond numpy's few small temporaries (a 1280-float vector, never a frame).

Features are L2-normalised before the head and the projection, so a crop's brightness and
the backbone's quantisation scale do not move the verdict.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cat_follow.errors import ModelError
from cat_follow.perception.port import EMBED_LEN

CLASSES = ("cat", "dog", "other")
CAT, DOG, OTHER = 0, 1, 2
FEATURE_LEN = 1280
POOLED_TENSOR = "MobilenetV2/Logits/AvgPool"
HEAD_DIR = Path(__file__).resolve().parent
DEFAULT_HEAD = HEAD_DIR / "pet_head.npy"

# The head file: one record. ``weights`` already include the per-feature standardisation
# (logits = (x - mean) @ weights + bias, x = L2-normalised features); ``proj`` is int8 with a
# scale per output column (PCA components, |value| <= 1, so int8 loses < 0.4% per value).
HEAD = np.dtype([
    ("weights", "<f4", (FEATURE_LEN, len(CLASSES))),
    ("bias", "<f4", (len(CLASSES),)),
    ("temperature", "<f4"),
    ("mean", "<f4", (FEATURE_LEN,)),
    ("proj", "i1", (FEATURE_LEN, EMBED_LEN)),
    ("proj_scale", "<f4", (EMBED_LEN,)),
])


@dataclass(frozen=True)
class PetHead:
    """The trained head, dequantised once at load. Read-only after construction."""

    weights: np.ndarray     # (FEATURE_LEN, 3) float32
    bias: np.ndarray        # (3,) float32
    temperature: float      # calibration: logits are divided by this before the softmax
    mean: np.ndarray        # (FEATURE_LEN,) float32, the training features' mean
    proj: np.ndarray        # (FEATURE_LEN, EMBED_LEN) float32

    def logits(self, x: np.ndarray) -> np.ndarray:
        """Uncalibrated logits of L2-normalised features ``x`` ((F,) or (N, F))."""
        return (x - self.mean) @ self.weights + self.bias

    def probs(self, x: np.ndarray) -> np.ndarray:
        """Calibrated probabilities over CLASSES for L2-normalised features ``x``."""
        return softmax(self.logits(x) / self.temperature)

    def embed(self, x: np.ndarray) -> np.ndarray:
        """The L2-normalised EMBED_LEN embedding of L2-normalised features ``x`` ((F,) or (N, F))."""
        e = (x - self.mean) @ self.proj
        n = np.linalg.norm(e, axis=-1, keepdims=True)
        return e / np.maximum(n, 1e-12)

    def to_record(self) -> np.ndarray:
        """The (1,) HEAD record that ``save_head`` writes (projection quantised to int8)."""
        rec = np.zeros(1, HEAD)
        rec["weights"], rec["bias"], rec["temperature"], rec["mean"] = (self.weights, self.bias,
                                                                        self.temperature, self.mean)
        scale = np.maximum(np.abs(self.proj).max(axis=0), 1e-12) / 127.0
        rec["proj"] = np.clip(np.round(self.proj / scale), -127, 127).astype(np.int8)
        rec["proj_scale"] = scale
        return rec


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def l2_normalise(f: np.ndarray) -> np.ndarray:
    """Rows of ``f`` scaled to unit length (an all-zero row stays zero)."""
    n = np.linalg.norm(f, axis=-1, keepdims=True)
    return f / np.maximum(n, 1e-12)


def embedding_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two embeddings (both L2 = 1): 1 = the same look; an all-zero
    embedding (no classifier run) gives 0."""
    return float(np.dot(a, b))


def head_from_record(rec: np.ndarray) -> PetHead:
    r = rec.reshape(-1)[0]
    proj = r["proj"].astype(np.float32) * r["proj_scale"].astype(np.float32)
    return PetHead(np.array(r["weights"], np.float32), np.array(r["bias"], np.float32),
                   float(r["temperature"]), np.array(r["mean"], np.float32), proj)


def save_head(head: PetHead, path: Path, meta: dict[str, Any]) -> None:
    """Write ``path`` (.npy, one HEAD record) and its provenance ``path.with_suffix('.json')``
    (``meta`` plus the .npy's sha256, which ``load_head`` checks)."""
    rec = head.to_record()
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, rec, allow_pickle=False)
    meta = {**meta, "head_sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    path.with_suffix(".json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")


def load_head(path: Path) -> PetHead:
    """The head at ``path``; ModelError if it is missing, of another layout, or does not match
    the sha256 its .json records."""
    try:
        raw = path.read_bytes()
        rec = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ModelError(f"classifier head {path}: cannot be read ({exc}); "
                         "`cat-follow train-classifier --out FILE` writes one") from exc
    if rec.dtype != HEAD or rec.size != 1:
        raise ModelError(f"classifier head {path}: not a head of this version (dtype {rec.dtype}, "
                         f"{rec.size} records); retrain it with `cat-follow train-classifier`")
    meta_path = path.with_suffix(".json")
    if meta_path.is_file():
        try:
            want = json.loads(meta_path.read_text(encoding="utf-8")).get("head_sha256")
        except (OSError, ValueError) as exc:
            raise ModelError(f"classifier head {meta_path}: unreadable ({exc})") from exc
        if want and want != hashlib.sha256(raw).hexdigest():
            raise ModelError(f"classifier head {path}: sha256 differs from {meta_path.name}'s")
    head = head_from_record(rec)
    if not (np.isfinite(head.weights).all() and head.temperature > 0):
        raise ModelError(f"classifier head {path}: non-finite weights or temperature <= 0")
    return head


def head_path(configured: str) -> Path:
    """The head file ``verifier.head`` names: empty = the shipped DEFAULT_HEAD."""
    return Path(configured) if configured else DEFAULT_HEAD


def pooled_index(tensor_details: list[dict[str, Any]]) -> tuple[int, float, int]:
    """(index, scale, zero point) of the pooled tensor in an interpreter's tensor details."""
    for d in tensor_details:
        if d["name"] == POOLED_TENSOR:
            if int(np.prod(d["shape"])) != FEATURE_LEN:
                raise ModelError(f"tensor {POOLED_TENSOR} has shape {list(d['shape'])}, expected {FEATURE_LEN}")
            scale, zero = d["quantization"]
            return int(d["index"]), float(scale) or 1.0, int(zero)
    raise ModelError(f"classifier has no tensor {POOLED_TENSOR!r}: not the MobileNet v2 the head was trained on")


class PooledFeatures:
    """Reads the pooled layer of a TFLite interpreter (made with preserve-all-tensors, so the
    layer is not overwritten by later ones) into a float32 buffer it owns."""

    def __init__(self, interp: Any) -> None:
        self.interp = interp
        self.index, self.scale, self.zero = pooled_index(interp.get_tensor_details())
        self.raw = np.zeros(FEATURE_LEN, np.float32)   # dequantised
        self.unit = np.zeros(FEATURE_LEN, np.float32)  # L2-normalised

    def read(self) -> np.ndarray:
        """After ``invoke``: the L2-normalised features (this object's buffer: copy to keep)."""
        q = self.interp.tensor(self.index)().reshape(-1)  # a view; dropped before the next invoke
        np.subtract(q, self.zero, out=self.raw, casting="unsafe")
        self.raw *= self.scale
        n = float(np.sqrt(np.dot(self.raw, self.raw)))
        np.multiply(self.raw, 1.0 / max(n, 1e-12), out=self.unit)
        del q
        return self.unit
