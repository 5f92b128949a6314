"""Detector workers: what runs a ``DetectJob`` on the detector thread (or process).

``make_worker`` builds one from picklable arguments (the config and the model files), so
a spawned detector process can build its own: the detector back-end named by its manifest
(``ObjectDetector``) and, when configured, the crop verifier. ``resolve_models`` finds the
files for a config.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cat_follow.config import Config
from cat_follow.errors import ModelError
from cat_follow.perception.backend import ObjectDetector
from cat_follow.perception.classifier import head_path
from cat_follow.perception.manifest import MANIFEST_DIR, Manifest, load_manifest, sha256_of, shipped_manifests
from cat_follow.perception.model import ModelFiles
from cat_follow.perception.port import KIND_CAT, DetectJob, DetectorWorker, strongest
from cat_follow.perception.ssd import SsdDetector
from cat_follow.perception.verifier import CropVerifier

SSD_MANIFEST = MANIFEST_DIR / "ssd_mobilenet_v1_coco_quant.toml"


class ModelWorker:
    """A detector back-end plus an optional crop verifier. Owns both (their runtimes live
    on the detector thread only)."""

    def __init__(self, detector: ObjectDetector, verifier: CropVerifier | None = None) -> None:
        self.detector = detector
        self.verifier = verifier

    def prepare(self, sizes: Sequence[tuple[int, int]]) -> None:
        self.detector.prepare(sizes)

    def run(self, job: DetectJob, frame: np.ndarray, out: np.void) -> None:
        t0 = time.perf_counter()
        roi = job.roi
        image = frame if roi is None else frame[roi[1]:roi[3], roi[0]:roi[2]]  # a view
        offset = (0, 0) if roi is None else (roi[0], roi[1])
        out["n"] = self.detector.detect(image, job.min_score, out["dets"], offset)
        out["verified"] = 0
        box = job.verify
        if box is None and job.check_cat is not None:
            box = strongest(out["dets"][: int(out["n"])], KIND_CAT, *job.check_cat)
        if box is not None and self.verifier is not None:
            v = self.verifier.verify(frame, box, out["signature"], out["embedding"])
            out["verified"], out["cat_prob"], out["dog_prob"], out["cls_other_prob"] = 1, v.cat, v.dog, v.other
            out["verify_box"], out["verify_ms"] = box, v.ms
        out["ms"] = (time.perf_counter() - t0) * 1e3


class SsdWorker:
    """The TFLite SSD detector of ``perception.ssd`` as a DetectorWorker, with no verifier
    (tests and the pool-vs-baseline bench use it). Owns the detector."""

    def __init__(self, detector: SsdDetector) -> None:
        self.detector = detector

    def prepare(self, sizes: Sequence[tuple[int, int]]) -> None:
        self.detector.prepare(list(sizes))

    def run(self, job: DetectJob, frame: np.ndarray, out: np.void) -> None:
        t0 = time.perf_counter()
        out["n"] = self.detector.detect_into(frame, job.roi, job.min_score, out["dets"])
        out["verified"] = 0
        out["ms"] = (time.perf_counter() - t0) * 1e3


def _manifest_for_file(path: Path, fallback: Manifest) -> Manifest:
    """The shipped manifest whose sha256 is this file's; else, for a .tflite file given with
    an ONNX manifest, the SSD manifest (what ``--model`` always meant); else ``fallback``."""
    digest = sha256_of(path)
    if digest == fallback.sha256:
        return fallback
    for name in shipped_manifests():
        m = load_manifest(name)
        if m.sha256 == digest:
            return m
    if path.suffix == ".tflite" and fallback.runtime != "tflite":
        return load_manifest(str(SSD_MANIFEST))
    return fallback


def resolve_models(config: Config) -> ModelFiles:
    """The detector's (and verifier's) files for ``config``; ModelError naming what is missing."""
    manifest = load_manifest(config.detector.manifest)
    model = manifest.model_path(config.detector.model)
    if config.detector.model:
        manifest = _manifest_for_file(model, manifest)
    labels = model.parent / "labelmap.txt" if manifest.family == "ssd" else manifest.source
    files = ModelFiles(model, labels, manifest.source)
    if not config.verifier.enabled:
        return files
    vm = load_manifest(config.verifier.manifest)
    vmodel = vm.model_path(config.verifier.model)
    vlabels = vmodel.parent / Path(vm.labels_file).name
    if not vlabels.is_file():
        raise ModelError(f"classifier labels {vlabels}: no such file (manifest {vm.source})")
    return ModelFiles(model, labels, manifest.source, vmodel, vlabels, vm.source)


def make_worker(config: Config, models: ModelFiles) -> DetectorWorker:
    """The configured worker, with its models loaded (call on the thread that will use it)."""
    manifest = load_manifest(str(models.manifest or SSD_MANIFEST))
    threads = config.detector.num_threads
    detector = ObjectDetector(manifest, models.model, threads, config.detector.onnx_runtime)
    verifier = None
    if config.verifier.enabled and (models.verifier is None or models.verifier_labels is None):
        raise ModelError("verifier.enabled but no classifier files were given (resolve_models finds them; "
                         "or set verifier.enabled = false)")
    if config.verifier.enabled and models.verifier is not None and models.verifier_labels is not None:
        vm = load_manifest(str(models.verifier_manifest or config.verifier.manifest))
        verifier = CropVerifier(vm, models.verifier, models.verifier_labels, num_threads=threads,
                                margin=config.verifier.margin, head_path=head_path(config.verifier.head))
    return ModelWorker(detector, verifier)
