"""Scoring a replay log against reference boxes (pure: files in, numbers out).

The reference (``../shared/labels/<video>.json``) has one list of ``[label, x, y, w, h, score]``
per decoded frame, in source pixels; a replay log (``cat-follow replay --log``) has one JSON row
per source frame with ``bbox`` = ``[x, y, w, h]`` in source pixels or null. How a reference
label counts (the cat, a decoy, or nothing) depends on the video's scoring mode, read from
``videos.toml`` beside this module (copied from the labels README's table).

Per video:
- ``present``: share of frames with a reference cat where the log has a box;
- ``on_cat``: share of the same frames (those with a reference cat) where the box has
  IoU >= 0.3 with a reference cat, so ``on_cat <= present``;
- ``on_decoy``: share of logged boxes that lie on a decoy and on no cat. A box *lies on* a
  reference box when their IoU is >= 0.3 or at least half of the logged box is inside it (a
  tracker box on a dog's head is on the dog);
- ``false``: on ``negative`` videos, share of frames with a box.
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from cat_follow.errors import CatFollowError
from cat_follow.geometry import Box, iou, share_inside

MODES = ("animal", "cat+decoys", "negative", "by-eye")
ON_CAT_IOU = 0.3
LIES_ON_IOU = 0.3
LIES_ON_COVER = 0.5
LABELS = ("cat", "dog", "person")


class EvaluationError(CatFollowError):
    """A log, a reference file or the video table that cannot be scored (the message says why)."""


@dataclass(frozen=True)
class VideoInfo:
    name: str
    set: str
    score_as: str
    what: str


@dataclass(frozen=True)
class Reference:
    video: str
    width: int
    height: int
    frames: list[list[tuple[str, Box]]]


@dataclass(frozen=True)
class VideoScore:
    video: str
    score_as: str
    frames: int
    frames_with_box: int
    cat_frames: int              # frames with a reference cat
    present: float | None        # None where the reference has no cat (or the mode has none)
    on_cat: float | None
    on_decoy: float | None       # None when the log has no box
    false: float | None          # negative videos only

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_video_table(path: Path | None = None) -> dict[str, VideoInfo]:
    """The scoring mode of every known video, from ``path`` (default: the packaged videos.toml)."""
    origin = str(path) if path else "cat_follow/evaluation/videos.toml"
    try:
        text = path.read_text(encoding="utf-8") if path else \
            (resources.files("cat_follow.evaluation") / "videos.toml").read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise EvaluationError(f"{origin}: {exc}") from exc
    if set(data) != {"videos"} or not isinstance(data["videos"], dict):
        raise EvaluationError(f"{origin}: expected only a [videos.\"NAME\"] table per video")
    table = {}
    for name, row in data["videos"].items():
        keys = {"set", "score_as", "what"}
        if not isinstance(row, dict) or set(row) != keys:
            raise EvaluationError(f"{origin}: videos.{name!r}: needs exactly the keys {', '.join(sorted(keys))}")
        if row["score_as"] not in MODES:
            raise EvaluationError(f"{origin}: videos.{name!r}.score_as: {row['score_as']!r} is not one of "
                                  f"{', '.join(MODES)}")
        table[name] = VideoInfo(name, str(row["set"]), row["score_as"], str(row["what"]))
    return table


def video_info(video: str, table: dict[str, VideoInfo]) -> VideoInfo:
    """The table's row for ``video`` (a file name or path); an unknown video is an error."""
    name = Path(video).name
    if name not in table:
        raise EvaluationError(f"video {name!r} has no scoring mode: add it to cat_follow/evaluation/videos.toml "
                              f"(score_as = one of {', '.join(MODES)}; see ../shared/labels/README.md)")
    return table[name]


def parse_box(values: Any, where: str) -> Box:
    if not isinstance(values, list) or len(values) != 4 or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values):
        raise EvaluationError(f"{where}: a box must be 4 finite numbers [x, y, w, h], got {values!r}")
    x, y, w, h = (float(v) for v in values)
    if w < 0 or h < 0:
        raise EvaluationError(f"{where}: negative box size {values!r}")
    return (x, y, w, h)


def load_reference(path: Path) -> Reference:
    """Read and check one reference file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise EvaluationError(f"reference {path}: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("frames"), list):
        raise EvaluationError(f"reference {path}: expected {{'video', 'width', 'height', 'frames': [...]}}")
    frames: list[list[tuple[str, Box]]] = []
    for i, boxes in enumerate(data["frames"]):
        row = []
        for b in boxes:
            if not isinstance(b, list) or len(b) != 6 or b[0] not in LABELS:
                raise EvaluationError(f"reference {path}: frame {i}: expected [label, x, y, w, h, score] with a "
                                      f"label in {LABELS}, got {b!r}")
            row.append((str(b[0]), parse_box(b[1:5], f"reference {path}: frame {i}")))
        frames.append(row)
    return Reference(str(data.get("video", path.stem)), int(data.get("width", 0)), int(data.get("height", 0)),
                     frames)


def load_log(path: Path) -> list[Box | None]:
    """The logged box of every frame of a replay log, in frame order (frames 0..N-1, each once)."""
    boxes: list[Box | None] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise EvaluationError(f"log {path}: {exc.strerror or exc}") from exc
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise EvaluationError(f"log {path}:{n}: not JSON: {exc}") from exc
        if not isinstance(row, dict) or "frame" not in row or "bbox" not in row:
            raise EvaluationError(f"log {path}:{n}: expected a replay row with 'frame' and 'bbox'")
        if row["frame"] != len(boxes):
            raise EvaluationError(f"log {path}:{n}: frame {row['frame']!r} where {len(boxes)} was expected "
                                  "(one row per source frame, in order)")
        boxes.append(None if row["bbox"] is None else parse_box(row["bbox"], f"log {path}:{n}"))
    return boxes


def roles(mode: str) -> tuple[frozenset[str], frozenset[str]]:
    """(labels that are the cat, labels that are decoys) under a scoring mode."""
    if mode == "animal":
        return frozenset({"cat", "dog"}), frozenset({"person"})
    if mode in ("cat+decoys", "by-eye"):
        return frozenset({"cat"}), frozenset({"dog", "person"})
    if mode == "negative":
        return frozenset(), frozenset(LABELS)
    raise EvaluationError(f"scoring mode {mode!r}: must be one of {', '.join(MODES)}")


def lies_on(box: Box, ref: Box) -> bool:
    """``box`` sits on ``ref``: IoU >= 0.3, or at least half of ``box`` is inside ``ref``."""
    return iou(box, ref) >= LIES_ON_IOU or share_inside(box, ref) >= LIES_ON_COVER


def _share(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def _frame(box: Box | None, refs: list[tuple[str, Box]], cat_labels: frozenset[str],
           decoy_labels: frozenset[str]) -> tuple[bool, bool, bool]:
    """One frame as the figures count it: (a reference cat in it, the box on a cat at IoU >=
    ON_CAT_IOU, the box lying on a decoy and on no cat)."""
    cats = [b for label, b in refs if label in cat_labels]
    if box is None:
        return bool(cats), False, False
    decoys = [b for label, b in refs if label in decoy_labels]
    return (bool(cats), any(iou(box, c) >= ON_CAT_IOU for c in cats),
            any(lies_on(box, d) for d in decoys) and not any(lies_on(box, c) for c in cats))


def score_video(boxes: list[Box | None], ref: Reference, mode: str) -> VideoScore:
    """Score one log's boxes against its reference under ``mode``; frame counts must agree."""
    if len(boxes) != len(ref.frames):
        raise EvaluationError(f"{ref.video}: the log has {len(boxes)} frames but the reference has "
                              f"{len(ref.frames)}: score a `replay --fast` log of the whole video (no --max-frames)")
    cat_labels, decoy_labels = roles(mode)
    cat_frames = present = on_cat = with_box = on_decoy = 0
    for box, refs in zip(boxes, ref.frames, strict=True):
        has_cat, is_on_cat, is_on_decoy = _frame(box, refs, cat_labels, decoy_labels)
        cat_frames += has_cat
        present += has_cat and box is not None
        on_cat += is_on_cat
        with_box += box is not None
        on_decoy += is_on_decoy
    return VideoScore(ref.video, mode, len(boxes), with_box, cat_frames, _share(present, cat_frames),
                      _share(on_cat, cat_frames), _share(on_decoy, with_box),
                      _share(with_box, len(boxes)) if mode == "negative" else None)


MISSES = ("no box", "off the cat", "on a decoy")


def miss_runs(boxes: list[Box | None], ref: Reference, mode: str) -> list[tuple[str, int, int]]:
    """The frames a log loses its figures on, as runs ``(what, first frame, last frame)`` of one
    kind in a row (``MISSES``), counted as ``score_video`` counts them (``_frame``): where to look
    first when a figure surprises (frames by eye)."""
    if len(boxes) != len(ref.frames):
        raise EvaluationError(f"{ref.video}: the log has {len(boxes)} frames but the reference has {len(ref.frames)}")
    cat_labels, decoy_labels = roles(mode)
    runs: list[tuple[str, int, int]] = []
    for i, (box, refs) in enumerate(zip(boxes, ref.frames, strict=True)):
        has_cat, is_on_cat, is_on_decoy = _frame(box, refs, cat_labels, decoy_labels)
        if is_on_decoy:
            what = MISSES[2]
        elif has_cat and not is_on_cat:
            what = MISSES[0] if box is None else MISSES[1]
        else:
            continue
        if runs and runs[-1][0] == what and runs[-1][2] == i - 1:
            runs[-1] = (what, runs[-1][1], i)
        else:
            runs.append((what, i, i))
    return runs


COLUMNS = ("video", "score_as", "frames", "frames_with_box", "present", "on_cat", "on_decoy", "false")


def markdown_table(scores: list[VideoScore]) -> str:
    """The scores as a markdown table (``-`` where a figure does not apply)."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for s in scores:
        d = s.as_dict()
        cells = ["-" if d[c] is None else (f"{d[c]:.3f}" if isinstance(d[c], float) else str(d[c])) for c in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
