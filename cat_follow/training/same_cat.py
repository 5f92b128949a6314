"""Is this crop the cat we confirmed? The appearance embedding against the colour signature, as
the decider uses them (``verifier.same_cat``, ``verifier.same_look``):
``python -m cat_follow.training.same_cat [--per-video N]``.

- **The same cat:** on each sample and dev cat video, every reference crop against the gallery
  of the last 8 crops before it (up to 10 s back) that the classifier called cats; the two-cat
  video's crops only against their own cat's (``labels/checked``). Also for the crops the
  classifier does not call cats: those are the ones the look has to vouch for.
- **A dog:** each dog crop (dog-only dev videos, the held-out pets dogs) against every one of
  those galleries (a sample of one in four), as a dog that KCF slides onto beside a cat would be.

Prints the share of each that reaches a threshold, for several embedding thresholds and for the
colour threshold.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from cat_follow.config_verifier import VerifierConfig
from cat_follow.evaluation.scoring import load_video_table
from cat_follow.evaluation.suite import default_labels_dir, default_videos_dir
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
        for i, c in enumerate(crops):
            g = [d for d in crops[:i] if c.frame - BACK_FRAMES <= d.frame < c.frame and _called_cat(d)
                 and d.who == c.who][-GALLERY:]
            if g:
                same.append((max(float(d.emb @ c.emb) for d in g), similarity(g[-1].sig, c.sig), _called_cat(c)))
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
