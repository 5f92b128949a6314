"""``cat-follow evaluate --pets``: the held-out pets photos replayed as videos, a proxy for cats
and dogs the project has never seen.

The pets set's ``test`` split (``training/data.py``: never trained on, never used to calibrate)
is read in place. Each class (cat, dog, other) becomes one video in ``out_dir/videos``: every
photo letterboxed into a ``FRAME`` frame and held ``HOLD_S`` at ``FPS``, in file-name order,
each followed by ``gap_s`` of black frames, long enough for a target to be let go
(``target.lost_after_s`` without a hit), so no box is carried from one photo into the next.
Each video is replayed like a dev video (``suite.replay_once``: ``replay --fast`` per timing, in
its own process) and scored per photo from the log: a cat photo is *found* when some frame of it
has a followed box; a dog or other photo is *followed* when any has. The share of the photos'
frames with a box is given too, and how many gaps still ended with a box (``carried``: then
the next photo's figure may be the last one's target). Close-ups at eye level, not a floor
robot's view: a proxy, not a goal. The videos are written here and never committed (the photos
stay in ``../shared``).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from cat_follow.evaluation.phases import phase_stem
from cat_follow.evaluation.scoring import EvaluationError, load_log
from cat_follow.geometry import Box
from cat_follow.perception.classifier import CLASSES
from cat_follow.training.data import Photo, read_image, read_photos

FRAME = (640, 480)  # width, height: the pool's frame
FPS = 15.0          # the Pi camera's rate in the service
HOLD_S = 1.0        # each photo's time on screen
GAP_S = 2.5         # black after each photo: over target.lost_after_s (2 s) and a detector period


@dataclass(frozen=True)
class PetsOptions:
    data: Path
    out_dir: Path
    timings: tuple[str, ...]
    jobs: int = 2
    limit: int = 0  # photos per class (0 = all): for a quick look and the tests
    breeds: tuple[str, ...] = ()  # only these breeds or Caltech categories (empty = all)
    gap_s: float = GAP_S  # black frames after each photo (0: cut straight to the next one)
    config_path: Path | None = None
    model_path: Path | None = None
    phases: int = 1  # each video also replayed 1..phases-1 frames in (replay --skip-frames; evaluate --phases)


def held_out(data: Path, limit: int = 0, breeds: tuple[str, ...] = ()) -> dict[str, list[Photo]]:
    """The ``test`` split's photos per class name, in file-name order (the first ``limit`` each;
    only ``breeds`` when given). EvaluationError for a breed the set does not have."""
    photos = read_photos(data)
    unknown = set(breeds) - {p.subclass for p in photos}
    if unknown:
        raise EvaluationError(f"pets data {data}: no breed or category {', '.join(sorted(unknown))}")
    by_class: dict[str, list[Photo]] = {c: [] for c in CLASSES}
    for p in photos:
        if p.split != "test" or (breeds and p.subclass not in breeds):
            continue
        if not limit or len(by_class[CLASSES[p.label]]) < limit:
            by_class[CLASSES[p.label]].append(p)
    return by_class


def letterboxed(image: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``image`` scaled to fit ``out`` (aspect kept), centred on black; ``out`` is overwritten."""
    h, w = out.shape[:2]
    s = min(w / image.shape[1], h / image.shape[0])
    nw, nh = max(1, round(image.shape[1] * s)), max(1, round(image.shape[0] * s))
    out[:] = 0
    x, y = (w - nw) // 2, (h - nh) // 2
    out[y:y + nh, x:x + nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    return out


def write_video(photos: list[Photo], path: Path, gap_s: float = GAP_S) -> tuple[int, int]:
    """Writes the photos, each held ``HOLD_S`` and followed by ``gap_s`` of black, as an MJPG
    video; returns (frames per photo, frames per gap)."""
    per, gap = max(1, round(HOLD_S * FPS)), max(0, round(gap_s * FPS))
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, FRAME)
    if not writer.isOpened():
        raise EvaluationError(f"cannot write {path} (OpenCV's MJPG writer)")
    frame = np.zeros((FRAME[1], FRAME[0], 3), np.uint8)
    black = np.zeros_like(frame)
    try:
        for p in photos:
            letterboxed(read_image(p.path), frame)
            for _ in range(per):
                writer.write(frame)
            for _ in range(gap):
                writer.write(black)
    finally:
        writer.release()
    return per, gap


def score_photos(boxes: list[Box | None], photos: list[Photo], per: int, gap: int = 0) -> dict[str, Any]:
    """Per photo, whether any of its ``per`` frames has a box; the share of those frames with one;
    the photos with a box counted by breed (or category); the gaps that ended with a box."""
    if len(boxes) != (per + gap) * len(photos):
        raise EvaluationError(f"log has {len(boxes)} frames, expected {per} + {gap} x {len(photos)} photos")
    start = [i * (per + gap) for i in range(len(photos))]
    hit = [sum(b is not None for b in boxes[s:s + per]) for s in start]
    boxed = [p for p, n in zip(photos, hit, strict=True) if n]
    missed = [p for p, n in zip(photos, hit, strict=True) if not n]
    return {"photos": len(photos), "with_box": len(boxed),
            "frame_share": round(sum(hit) / (per * len(photos)), 4) if photos else 0.0,
            "carried": sum(boxes[s + per + gap - 1] is not None for s in start[:-1]) if gap else None,
            "by_subclass": dict(sorted(Counter(p.subclass for p in boxed).items())),
            "without_box_by_subclass": dict(sorted(Counter(p.subclass for p in missed).items())),
            "files_with_box": [p.path.name for p in boxed]}


def phase_boxes(logs: Path, stem: str, phase: int) -> list[Box | None]:
    """Phase ``phase``'s boxes on the video's own frames: its log begins ``phase`` frames in
    (``replay --skip-frames``), so those first frames of the first photo count as unseen."""
    return [None] * phase + load_log(logs / f"{phase_stem(stem, phase)}.jsonl")


def run_pets(opts: PetsOptions) -> dict[str, Any]:
    """Writes the videos, replays each in each timing, scores them; writes ``pets.json`` in
    ``out_dir`` and returns what it holds."""
    from cat_follow.evaluation.suite import SuiteOptions, replay_once

    sets = {c: ps for c, ps in held_out(opts.data, opts.limit, opts.breeds).items() if ps}
    if not sets:
        raise EvaluationError(f"no held-out photos in {opts.data}")
    videos = {c: opts.out_dir / "videos" / f"pets_{c}.avi" for c in sets}
    frames = {c: write_video(sets[c], videos[c], opts.gap_s) for c in sets}
    suite = SuiteOptions(out_dir=opts.out_dir, jobs=opts.jobs, config_path=opts.config_path,
                         model_path=opts.model_path)
    for t in opts.timings:
        (opts.out_dir / "logs" / t).mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    phases = max(1, opts.phases)
    runs = [(c, t, k) for k in range(phases) for t in opts.timings
            for c in sorted(sets, key=lambda c: -len(sets[c]))]
    with ThreadPoolExecutor(max(1, opts.jobs)) as pool:
        list(pool.map(lambda r: replay_once(videos[r[0]], opts.out_dir / "logs" / r[1], suite, r[1], r[2]), runs))
    rows = [{"class": c, "timing": t, "phase": k,
             **score_photos(phase_boxes(opts.out_dir / "logs" / t, videos[c].stem, k), sets[c], *frames[c])}
            for c, t, k in sorted(runs)]
    result = {"data": str(opts.data), "split": "test", "hold_s": HOLD_S, "gap_s": opts.gap_s, "fps": FPS,
              "phases": phases, "wall_s": round(time.monotonic() - t0, 1), "rows": rows}
    (opts.out_dir / "pets.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result


def render_pets(result: dict[str, Any]) -> str:
    """A markdown table: per class, timing (and phase), photos with a box and the share of frames;
    with phases, the dog and other photos boxed in any phase."""
    phased = result.get("phases", 1) > 1
    phase, rule = (" phase |", "---|") if phased else ("", "")
    lines = [f"| photos | timing |{phase} with a box | frames with a box | gaps ending with a box "
             "| breeds with a box |", f"|---|---|{rule}---|---|---|---|"]
    for r in result["rows"]:
        breeds = ", ".join(f"{k} {v}" for k, v in r["by_subclass"].items()) if r["class"] != "cat" else "-"
        carried = "-" if r["carried"] is None else str(r["carried"])
        lines.append(f"| {r['class']} | {r['timing']} |" + (f" {r.get('phase', 0)} |" if phased else "")
                     + f" {r['with_box']} / {r['photos']} | {r['frame_share']:.3f} | {carried} | {breeds or '-'} |")
    if phased:
        for c in ("dog", "other"):
            boxed = sorted({(f, r["timing"]) for r in result["rows"] if r["class"] == c for f in r["files_with_box"]})
            lines.append(f"\n{c} photos boxed in any phase: " + (", ".join(f"{f} ({t})" for f, t in boxed) or "none"))
    missed = [r["timing"] + (f" phase {r.get('phase', 0)}" if phased else "") + ": "
              + ", ".join(f"{k} {v}" for k, v in r["without_box_by_subclass"].items())
              for r in result["rows"] if r["class"] == "cat" and r["without_box_by_subclass"]]
    if missed:
        lines.append("\nCats never boxed, by breed: " + "; ".join(missed))
    return "\n".join(lines)
