"""The crop classifier on crops of the dev videos, before (ImageNet class sums) and after
(the trained head): ``python -m cat_follow.training.dev_crops [--per-video N] [--sheets DIR]``.

Crops are the reference boxes (``../shared/labels``), each cut as the verifier cuts it
(``square_crop`` with the configured margin). The truth is the video's: on an `animal` video
every cat or dog box is the cat, on a `negative` video it is a dog; the two-cat video uses the
boxes checked by eye (``labels/checked``), which also give identities: the embedding's
nearest other crop should be the same cat. ``--sheets`` writes contact sheets (PNG) of the
crops each rule gets wrong, to check surprising figures by eye.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from cat_follow.config_verifier import VerifierConfig
from cat_follow.evaluation.scoring import load_video_table
from cat_follow.evaluation.suite import default_labels_dir, default_videos_dir
from cat_follow.geometry import Box
from cat_follow.perception.classifier import DEFAULT_HEAD
from cat_follow.perception.manifest import load_manifest
from cat_follow.perception.port import EMBED_LEN, SIGNATURE_LEN
from cat_follow.perception.verifier import CropVerifier, similarity
from cat_follow.training.train import backbone_files

MIN_SIDE = 64  # source pixels: smaller boxes are not judged (the verifier's min_box_px is 96 slot px)


@dataclass
class Crop:
    frame: int
    box: Box
    truth: str          # "cat" or "dog"
    who: str = ""       # identity on the checked two-cat video
    new: tuple[float, float, float] = (0.0, 0.0, 0.0)
    old: tuple[float, float] = (0.0, 0.0)
    emb: np.ndarray = field(default_factory=lambda: np.zeros(EMBED_LEN, np.float32))
    sig: np.ndarray = field(default_factory=lambda: np.zeros(SIGNATURE_LEN, np.float32))
    image: np.ndarray | None = None


def targets(video: str, labels: Path, mode: str, per_video: int) -> list[Crop]:
    checked = labels / "checked" / (Path(video).stem + ".json")
    crops: list[Crop] = []
    if checked.is_file():
        data = json.loads(checked.read_text(encoding="utf-8"))
        for n, f in data["frames"].items():
            for lab, x, y, w, h in f["boxes"]:
                if lab.startswith("cat:") and max(w, h) >= MIN_SIDE / 2:
                    crops.append(Crop(int(n), (x, y, w, h), "cat", lab[4:]))
        return crops
    ref = json.loads((labels / (Path(video).stem + ".json")).read_text(encoding="utf-8"))
    truth = {"animal": "cat", "negative": "dog"}.get(mode)
    if truth is None:
        return []
    for i, boxes in enumerate(ref["frames"]):
        for lab, x, y, w, h, _ in boxes:
            if lab in ("cat", "dog") and max(w, h) >= MIN_SIDE:
                crops.append(Crop(i, (x, y, w, h), truth))
    if len(crops) > per_video:  # evenly spread over the video
        crops = [crops[int(j)] for j in np.linspace(0, len(crops) - 1, per_video)]
    return crops


def classify_video(ver: CropVerifier, path: Path, crops: list[Crop], keep: bool) -> None:
    by_frame: dict[int, list[Crop]] = {}
    for c in crops:
        by_frame.setdefault(c.frame, []).append(c)
    cap = cv2.VideoCapture(str(path))
    last = max(by_frame, default=-1)
    for i in range(last + 1):
        if i not in by_frame:
            cap.grab()
            continue
        ok, frame = cap.read()
        if not ok:
            break
        for c in by_frame[i]:
            v = ver.verify(frame, c.box, c.sig, c.emb)
            c.new, c.old = (v.cat, v.dog, v.other), (v.imagenet_cat, v.imagenet_dog)
            if keep:
                c.image = cv2.resize(ver.crop, (112, 112))
    cap.release()


def _sheet(crops: list[Crop], path: Path) -> None:
    imgs = [c.image for c in crops if c.image is not None][:48]
    if not imgs:
        return
    cols = 8
    rows = [np.hstack(imgs[r:r + cols] + [np.zeros_like(imgs[0])] * (cols - len(imgs[r:r + cols])))
            for r in range(0, len(imgs), cols)]
    cv2.imwrite(str(path), np.vstack(rows))


def identity(crops: list[Crop]) -> dict[str, float]:
    """Leave-one-out nearest neighbour on the checked identities: embedding vs colour signature."""
    named = [c for c in crops if c.who]
    if len(named) < 3:
        return {}
    e = np.stack([c.emb for c in named])
    cos = e @ e.T
    np.fill_diagonal(cos, -9)
    sig = np.array([[similarity(a.sig, b.sig) if a is not b else -9 for b in named] for a in named])
    who = np.array([c.who for c in named])
    same = who[:, None] == who[None, :]
    off = ~np.eye(len(named), dtype=bool)
    return {"n": len(named), "nn_embedding": float((who[cos.argmax(1)] == who).mean()),
            "nn_colour": float((who[sig.argmax(1)] == who).mean()),
            "cos_same": float(cos[same & off].mean()), "cos_other": float(cos[~same].mean()),
            "cos_same_p10": float(np.percentile(cos[same & off], 10)),
            "cos_other_p90": float(np.percentile(cos[~same], 90))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cat_follow.training.dev_crops")
    ap.add_argument("--per-video", type=int, default=60)
    ap.add_argument("--head", type=Path, default=DEFAULT_HEAD)
    ap.add_argument("--sheets", type=Path, help="write contact sheets of the crops each rule gets wrong here")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--only", nargs="+", metavar="NAME", help="these video file names only")
    args = ap.parse_args(argv)
    model, labels_file, _ = backbone_files()
    ver = CropVerifier(load_manifest("mobilenet_v2_imagenet_quant"), model, labels_file,
                       margin=VerifierConfig().margin, head_path=args.head)
    table, labels, vids = load_video_table(), default_labels_dir(), default_videos_dir()
    rows = []
    print("| video | truth | crops | old: called cat | new: called cat | new: mean P(cat) |")
    print("|---|---|---|---|---|---|")
    for path in sorted(vids.glob("*.mp4")) + sorted((vids / "dev").glob("*.mp4")):
        if args.only and path.name not in args.only:
            continue
        mode = table[path.name].score_as if path.name in table else "checked only"
        crops = targets(path.name, labels, mode, args.per_video)
        if not crops:
            continue
        classify_video(ver, path, crops, args.sheets is not None)
        old = np.array([c.old[0] > c.old[1] for c in crops])
        new = np.array([c.new[0] > c.new[1] for c in crops])
        truth = crops[0].truth
        row = {"video": path.name, "truth": truth, "n": len(crops), "old_cat": float(old.mean()),
               "new_cat": float(new.mean()), "mean_p_cat": float(np.mean([c.new[0] for c in crops])),
               "identity": identity(crops)}
        rows.append(row)
        print(f"| {path.stem} | {truth} | {len(crops)} | {row['old_cat']:.2f} | {row['new_cat']:.2f} | "
              f"{row['mean_p_cat']:.2f} |")
        if args.sheets:
            args.sheets.mkdir(parents=True, exist_ok=True)
            for name, called in (("old", old), ("new", new)):
                _sheet([c for c, k in zip(crops, called, strict=True) if k != (truth == "cat")],
                       args.sheets / f"{path.stem}_{name}_wrong.png")
    for r in rows:
        if r["identity"]:
            print(f"identity ({r['video']}): {json.dumps(r['identity'])}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
