"""``evaluate --suite --phases N``: each figure over N phases of the detector's schedule (pure).

A lock-step replay is one phase of the schedule against the video: a detector result every few
frames while tracking, and in ``pi4`` each one some frames late. The decision chain is chaotic
(one result applied a frame earlier can send a box onto a blanket for seconds), so one replay's
figure moves by several points with the phase. Phase k replays the video as if it began k frames
later (``replay --skip-frames k``) and is scored against the reference (and the labels checked by
eye) shifted by k. The mean and the worst of the N phases are what a change is judged by.
"""

from __future__ import annotations

from typing import Any

from cat_follow.evaluation.identity import Checked
from cat_follow.evaluation.scoring import Reference

FIGURES = ("present", "on_cat", "on_decoy", "false")
WORST = {"present": min, "on_cat": min, "on_decoy": max, "false": max}  # the worst phase of each figure


def phase_stem(stem: str, phase: int) -> str:
    """A phase's replay files in ``logs/<timing>/`` (``.jsonl``, ``.summary.json``, ``.stderr``):
    phase 0 keeps the video's plain stem."""
    return stem if phase == 0 else f"{stem}.p{phase}"


def shifted_reference(ref: Reference, k: int) -> Reference:
    """The reference of the video begun ``k`` frames later."""
    return Reference(ref.video, ref.width, ref.height, ref.frames[k:])


def shifted_checked(checked: Checked, k: int) -> Checked:
    """The frames checked by eye, renumbered for the video begun ``k`` frames later."""
    return Checked(checked.video, checked.legend, {f - k: v for f, v in checked.frames.items() if f >= k})


def summarise(figures: list[dict[str, Any]]) -> dict[str, Any]:
    """One video and timing: ``figures`` = each phase's row (phase 0 first). Returns each figure's
    mean and worst (None where the reference scores none), and the identity switches per phase."""
    out: dict[str, Any] = {"phases": len(figures)}
    for f in FIGURES:
        values = [r[f] for r in figures if r.get(f) is not None]
        out[f] = round(sum(values) / len(values), 4) if values else None
        out[f + "_worst"] = WORST[f](values) if values else None
    switches = [r["identity"]["switches"] for r in figures if r.get("identity")]
    if switches:
        out["switches"] = switches
    return out


def phases_table(result: dict[str, Any]) -> str:
    """Markdown: per video, each figure's mean (worst) over the phases, ``instant / pi4``; ''
    without phases."""
    rows = result.get("phases")
    if not rows:
        return ""
    timings = result.get("timings") or ["instant"]
    by_video: dict[str, dict[str, dict[str, Any]]] = {}
    for r in rows:
        by_video.setdefault(r["video"], {})[r["timing"]] = r

    def cell(r: dict[str, Any] | None, f: str) -> str:
        if r is None or r.get(f) is None:
            return "-"
        return f"{r[f]:.3f} ({r[f + '_worst']:.3f})"

    lines = ["| video | " + " | ".join(FIGURES) + " | switches |", "|" + "---|" * (len(FIGURES) + 2)]
    for video, per in by_video.items():
        cells = [" / ".join(cell(per.get(t), f) for t in timings) for f in FIGURES]
        sw = [per[t].get("switches") for t in timings if t in per]
        switches = " / ".join(str(sum(s)) for s in sw if s) or "-"
        lines.append(f"| {video} | " + " | ".join(cells) + f" | {switches} |")
    n = rows[0]["phases"]
    return (f"\nOver {n} phases (the video begun 0..{n - 1} frames later; `replay --skip-frames`): each figure's "
            "mean (worst phase), as " + " / ".join(timings) + "; `switches` summed over the phases.\n\n"
            + "\n".join(lines) + "\n")
