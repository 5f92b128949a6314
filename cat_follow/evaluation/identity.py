"""Identity scoring against labels checked by eye (pure: files in, numbers out).

``../shared/labels/checked/<video>.json`` holds evenly sampled frames of a video, each with its
boxes labelled by eye (``cat:A``, ``cat:B``, ``dog``, ``person``, ``other``), whether a cat is
in view (``cat_visible``) and how many cats in view have no box (``unboxed_cats``). On those
frames, for one replay log:

- ``present``: share of the frames with a cat in view where the log has a box;
- ``on_cat``: share of the same frames where the box is on a labelled cat (IoU >= 0.3; the cat
  with the highest IoU is the one followed);
- ``followed``: on how many sampled frames the box was on each cat;
- ``switches``: how often the followed box moved from one cat to the other while the first was
  still in view (labelled, or an unboxed cat in the frame), counted between consecutive sampled
  frames where the box is on a cat. A switch and back between two samples (1.7 s apart on the
  two-cat video) is not seen: this is a lower bound.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cat_follow.evaluation.scoring import ON_CAT_IOU, EvaluationError, parse_box
from cat_follow.geometry import Box, iou

CAT_PREFIX = "cat:"
CHECKED_LABELS = ("dog", "person", "other")


@dataclass(frozen=True)
class CheckedFrame:
    cat_visible: bool
    unboxed_cats: int
    boxes: list[tuple[str, Box]]   # (label, box in source pixels)

    def cats(self) -> set[str]:
        """The identities labelled in this frame (``A``, ``B``...)."""
        return {label[len(CAT_PREFIX):] for label, _ in self.boxes if label.startswith(CAT_PREFIX)}


@dataclass(frozen=True)
class Checked:
    video: str
    legend: dict[str, str]             # identity -> what it looks like
    frames: dict[int, CheckedFrame]    # source frame index -> its labels


@dataclass(frozen=True)
class IdentityScore:
    video: str
    sampled: int                       # checked frames with a cat in view
    present: float | None
    on_cat: float | None
    followed: dict[str, int]           # identity -> sampled frames the box was on it
    switches: int
    switch_frames: list[list[Any]]     # [frame before, frame after, from, to] of each switch

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_checked(path: Path) -> Checked:
    """Read and check one ``checked/<video>.json`` file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise EvaluationError(f"checked labels {path}: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("frames"), dict) or \
            not isinstance(data.get("legend"), dict):
        raise EvaluationError(f"checked labels {path}: expected {{'video', 'legend': {{...}}, 'frames': {{N: ...}}}}")
    legend = {str(k): str(v) for k, v in data["legend"].items()}
    frames: dict[int, CheckedFrame] = {}
    for key, f in data["frames"].items():
        where = f"checked labels {path}: frame {key}"
        if not str(key).isdigit() or not isinstance(f, dict) or not isinstance(f.get("boxes"), list):
            raise EvaluationError(f"{where}: expected a frame number and {{'cat_visible', 'unboxed_cats', 'boxes'}}")
        boxes = []
        for b in f["boxes"]:
            label = b[0] if isinstance(b, list) and len(b) == 5 else None
            known = label in CHECKED_LABELS or (isinstance(label, str) and label[len(CAT_PREFIX):] in legend
                                                and label.startswith(CAT_PREFIX))
            if not known:
                raise EvaluationError(f"{where}: expected [label, x, y, w, h] with a label in {CHECKED_LABELS} or "
                                      f"cat:<one of {', '.join(legend)}>, got {b!r}")
            boxes.append((str(label), parse_box(b[1:], where)))
        frames[int(key)] = CheckedFrame(bool(f.get("cat_visible", bool(boxes))), int(f.get("unboxed_cats", 0)),
                                        boxes)
    return Checked(str(data.get("video", path.stem)), legend, frames)


def followed_cat(box: Box | None, frame: CheckedFrame) -> str | None:
    """The identity of the labelled cat ``box`` is on (highest IoU, at least ON_CAT_IOU), or None."""
    if box is None:
        return None
    best, who = ON_CAT_IOU, None
    for label, ref in frame.boxes:
        if label.startswith(CAT_PREFIX) and (v := iou(box, ref)) >= best:
            best, who = v, label[len(CAT_PREFIX):]
    return who


def score_identity(boxes: list[Box | None], checked: Checked) -> IdentityScore:
    """Score one log's boxes (frame order, whole video) on the checked frames."""
    if checked.frames and max(checked.frames) >= len(boxes):
        raise EvaluationError(f"{checked.video}: the log has {len(boxes)} frames but frame {max(checked.frames)} is "
                              "checked: score a `replay --fast` log of the whole video")
    sampled = present = on_cat = switches = 0
    followed: dict[str, int] = dict.fromkeys(checked.legend, 0)
    switch_frames: list[list[Any]] = []
    last: tuple[int, str] | None = None
    for index in sorted(checked.frames):
        frame = checked.frames[index]
        if not frame.cat_visible:
            continue
        sampled += 1
        box = boxes[index]
        present += box is not None
        who = followed_cat(box, frame)
        if who is None:
            continue
        on_cat += 1
        followed[who] = followed.get(who, 0) + 1
        if last is not None and last[1] != who and (last[1] in frame.cats() or frame.unboxed_cats > 0):
            switches += 1
            switch_frames.append([last[0], index, last[1], who])
        last = (index, who)
    return IdentityScore(checked.video, sampled, _share(present, sampled), _share(on_cat, sampled), followed,
                         switches, switch_frames)


def _share(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None
