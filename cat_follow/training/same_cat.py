"""Is this crop the cat we confirmed? The appearance embedding against the colour signature, as
the decider uses them (``verifier.same_cat``, ``verifier.same_look``):
``python -m cat_follow.training.same_cat [--per-video N]``.

- **The same cat:** on each sample and dev cat video, every reference crop against the gallery
  of the last 8 crops before it (up to 10 s back) that the classifier called cats; the two-cat
  video's crops only against their own cat's (``labels/checked``). Also for the crops the
  classifier does not call cats: those are the ones the look has to vouch for.
- **Not an animal, beside the cat:** for each of those crops, a box of its size just left or right
  of it on no labelled animal (``beside``: KCF slid off the cat onto the room), and the two
  together (``with_cat``: a box grown from the cat onto a cushion beside it, the cat at one end).
  A crop of the same room, taken in the same light a moment later, is what the look must not
  vouch for when the classifier says it is not a cat.
- **A dog:** each dog crop (dog-only dev videos, the held-out pets dogs) against every one of
  those galleries (a sample of one in four), as a dog that KCF slides onto beside a cat would be.

Prints the share of each that reaches a threshold, for several embedding thresholds and for the
colour threshold.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from cat_follow.config_verifier import VerifierConfig
from cat_follow.evaluation.identity import load_checked
from cat_follow.evaluation.scoring import load_reference, load_video_table
from cat_follow.evaluation.suite import default_labels_dir, default_videos_dir
from cat_follow.geometry import Box, intersection
from cat_follow.perception.belief import CAT
from cat_follow.perception.evidence import likeliest
from cat_follow.perception.manifest import load_manifest
from cat_follow.perception.verifier import CropVerifier, similarity
from cat_follow.training.data import DEFAULT_DATA, read_image, read_photos
from cat_follow.training.dev_crops import Crop, classify_video, targets
from cat_follow.training.train import backbone_files

BACK_FRAMES = 300  # 10 s at 30 fps: a kitten read as a puppy went this long between cat verdicts
GALLERY = 8        # perception/gallery.py SIZE


def _called_cat(c: Crop) -> bool:
    return likeliest(*c.new) == CAT


def _scene(c: Crop, others: list[Box], width: int, height: int) -> tuple[Crop, Crop] | None:
    """(beside, with_cat) for the cat crop ``c`` (see the module docstring); None when neither
    side has room clear of every labelled box ``others``."""
    x, y, w, h = c.box
    for bx in (x + w, x - w):
        b = (bx, y, w, h)
        if bx >= 0 and bx + w <= width and y + h <= height + 1 and not any(intersection(b, o) > 0 for o in others):
            u = (min(x, bx), y, 2 * w, h)
            return Crop(c.frame, b, "scene", c.who), Crop(c.frame, u, "scene", c.who)
    return None


def _all_boxes(name: str, labels: Path, frames: set[int]) -> dict[int, list[Box]]:
    """Every labelled box (any label) of the given frames of one video's labels (those checked
    by eye where there are, as ``targets`` reads them)."""
    checked = labels / "checked" / (Path(name).stem + ".json")
    if checked.is_file():
        by_eye = load_checked(checked).frames
        return {f: [b for _, b in by_eye[f].boxes] for f in frames}
    ref = load_reference(labels / (Path(name).stem + ".json")).frames
    return {f: [b for _, b in ref[f]] for f in frames}


def _scene_crops(ver: CropVerifier, path: Path, name: str, labels: Path,
                 crops: list[Crop]) -> dict[int, tuple[Crop, Crop]]:
    """The (beside, with_cat) crops of each cat crop that has room for them, by its index in
    ``crops``, checked by the classifier on the same frames."""
    cap = cv2.VideoCapture(str(path))
    width, height = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    cap.release()
    boxes = _all_boxes(name, labels, {c.frame for c in crops})
    pairs = {i: p for i, c in enumerate(crops) if (p := _scene(c, boxes[c.frame], width, height)) is not None}
    classify_video(ver, path, [c for p in pairs.values() for c in p], False)
    return pairs


def _scene_table(scene: dict[str, list[tuple[float, bool]]], own: np.ndarray, not_cat: np.ndarray) -> None:
    """Print how often crops of the room beside the cat reach each embedding threshold."""
    print("| threshold | same cat, not called cat | beside: any / not called cat | with_cat: any / not called cat |")
    print("|---|---|---|---|")
    arr = {k: (np.array([v[0] for v in rows]), ~np.array([v[1] for v in rows])) for k, rows in scene.items()}
    for t in (0.5, 0.55, 0.6, 0.65, 0.7, 0.8):
        cells = [f"{np.mean(e >= t):.3f} / {np.mean(e[n] >= t):.3f}" for e, n in arr.values()]
        print(f"| {t:g} | {np.mean(own[not_cat] >= t):.3f} | {' | '.join(cells)} |")
    print(", ".join(f"{k}: {len(e)} crops, {n.sum()} not called cats" for k, (e, n) in arr.items()))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cat_follow.training.same_cat")
    ap.add_argument("--per-video", type=int, default=240)
    args = ap.parse_args(argv)
    cfg = VerifierConfig()
    model, labels_file, _ = backbone_files()
    ver = CropVerifier(load_manifest("mobilenet_v2_imagenet_quant"), model, labels_file, margin=cfg.margin)
    vids, labels = default_videos_dir(), default_labels_dir()
    same: list[tuple[float, float, bool]] = []  # (embedding likeness, colour similarity, called cat)
    looks: list[tuple[list[np.ndarray], np.ndarray]] = []  # (gallery, last cat crop's colours)
    dogs: list[Crop] = []
    scene: dict[str, list[tuple[float, bool]]] = {"beside": [], "with_cat": []}  # (likeness, called cat)
    for name, info in load_video_table().items():
        path = vids / ("dev/" if info.set == "dev" else "") / name
        if info.score_as not in ("animal", "negative", "cat+decoys") or not path.is_file():
            continue
        crops = targets(name, labels, "negative" if info.score_as == "negative" else "animal", args.per_video)
        classify_video(ver, path, crops, False)
        crops = [c for c in crops if c.sig.any() and (info.score_as != "cat+decoys" or c.truth == "cat")]
        if info.score_as == "negative":
            dogs += crops
            continue
        pairs = _scene_crops(ver, path, name, labels, crops)
        for i, c in enumerate(crops):
            g = [d for d in crops[:i] if c.frame - BACK_FRAMES <= d.frame < c.frame and _called_cat(d)
                 and d.who == c.who][-GALLERY:]
            if g:
                same.append((max(float(d.emb @ c.emb) for d in g), similarity(g[-1].sig, c.sig), _called_cat(c)))
                for key, sc in zip(("beside", "with_cat"), pairs.get(i, ()), strict=False):
                    if sc.sig.any():
                        scene[key].append((max(float(d.emb @ sc.emb) for d in g), _called_cat(sc)))
                if i % 4 == 0:
                    looks.append(([d.emb for d in g], g[-1].sig))
    for photo in read_photos(DEFAULT_DATA):
        if photo.split == "test" and photo.label == 1:
            img = read_image(photo.path)
            c = Crop(0, (0.0, 0.0, float(img.shape[1]), float(img.shape[0])), "dog")
            v = ver.verify(img, c.box, c.sig, c.emb)
            c.new = (v.cat, v.dog, v.other)
            dogs.append(c)
    emb = np.array([s[0] for s in same])
    col = np.array([s[1] for s in same])
    not_cat = ~np.array([s[2] for s in same])
    dog_emb = np.array([[max(float(e @ d.emb) for e in g) for g, _ in looks] for d in dogs])
    dog_col = np.array([[similarity(sig, d.sig) for _, sig in looks] for d in dogs])
    print(f"{len(same)} crops of the same cat ({not_cat.sum()} not called cats), {len(looks)} cat looks, "
          f"{len(dogs)} dog crops")
    print("| test | threshold | same cat | ...not called cat | dog pairs | dogs matching any look |")
    print("|---|---|---|---|---|---|")
    rows = [("embedding", t, emb, dog_emb) for t in (0.5, 0.55, 0.6, 0.65, 0.7, 0.8)]
    rows.append(("colour", cfg.same_look, col, dog_col))
    for test, t, own, dog in rows:
        print(f"| {test} | {t:g} | {np.mean(own >= t):.3f} | {np.mean(own[not_cat] >= t):.3f} | "
              f"{np.mean(dog >= t):.4f} | {np.mean(dog.max(axis=1) >= t):.3f} |")
    print(f"dog crops' best likeness to any look: p50 {np.median(dog_emb.max(axis=1)):.2f}, "
          f"p99 {np.percentile(dog_emb.max(axis=1), 99):.2f}, max {dog_emb.max():.2f}")
    _scene_table(scene, emb, not_cat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
