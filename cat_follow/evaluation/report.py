"""``evaluate.md``: the suite's figures as markdown, the timings side by side (pure)."""

from __future__ import annotations

from typing import Any

from cat_follow.evaluation.phases import FIGURES, phases_table


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _by_video(result: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """video -> timing -> row, in the rows' order (rows without a timing are ``instant``'s)."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for r in result["videos"]:
        out.setdefault(r["video"], {})[r.get("timing", "instant")] = r
    return out


def timings_table(result: dict[str, Any]) -> str:
    """One row per video; each figure as ``instant / pi4`` (in the run's timing order)."""
    timings = result.get("timings") or ["instant"]
    head = ["video", "score_as", "frames", "frames_with_box", *FIGURES]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for video, rows in _by_video(result).items():
        first = next(iter(rows.values()))
        cells = [video, first["score_as"], str(first["frames"]),
                 " / ".join(_cell(rows[t]["frames_with_box"]) if t in rows else "?" for t in timings)]
        cells += [" / ".join(_cell(rows[t][f]) if t in rows else "?" for t in timings) for f in FIGURES]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def identity_table(result: dict[str, Any]) -> str:
    """The identity figures of the videos with labels checked by eye ('' when there is none)."""
    rows = [r for r in result["videos"] if r.get("identity")]
    if not rows:
        return ""
    lines = ["| video | timing | sampled | present | on_cat | followed | switches |", "|" + "---|" * 7]
    for r in rows:
        i = r["identity"]
        followed = ", ".join(f"{k}: {v}" for k, v in i["followed"].items())
        lines.append(f"| {r['video']} | {r.get('timing', 'instant')} | {i['sampled']} | {_cell(i['present'])} | "
                     f"{_cell(i['on_cat'])} | {followed} | {i['switches']} |")
    return "\n".join(lines) + "\n"


def render_markdown(result: dict[str, Any]) -> str:
    timings = result.get("timings") or ["instant"]
    by_eye = any(r["score_as"] == "by-eye" for r in result["videos"])
    note = ("\n`by-eye` videos: the reference finds nothing useful there; judge them by eye "
            "(replay --out-video).\n" if by_eye else "")
    ident = identity_table(result)
    if ident:
        ident = ("\nIdentity, on the frames checked by eye (labels/checked/): `switches` = the followed box moved "
                 "from one cat to the other while the first was still in view.\n\n" + ident)
    return (f"model: {result.get('model')}; {len({r['video'] for r in result['videos']})} videos replayed with "
            f"--fast in {result.get('wall_s')} s ({result.get('jobs')} at once); figures as "
            f"{' / '.join(timings)} (--timing)\n\n" + timings_table(result) + note + ident + phases_table(result))
