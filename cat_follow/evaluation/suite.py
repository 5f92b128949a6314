"""``cat-follow evaluate --suite``: replay every sample and dev video and score each, in each timing.

Each video is replayed by a ``cat-follow replay --fast --timing T`` subprocess per timing
(lock-step, so the log does not depend on the machine's speed; ``instant`` applies each
detection to its own frame, ``pi4`` delivers it as late as on a Pi 4): separate processes use
separate cores without sharing a GIL, and a crash in one replay is reported with its stderr
instead of taking the suite down. ``jobs`` replays run at once, longest first. A video with
labels checked by eye (``<labels>/checked/``) also gets identity figures. With ``phases`` > 1
each replay is repeated begun 1..phases-1 frames later and each figure is also reported as its
mean and worst over the phases (``phases.py``). The suite owns
``out_dir``: the logs and replay summaries (``logs/<timing>/``), ``evaluate.json`` (one row per
video and timing) and ``evaluate.md`` (the timings side by side).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cat_follow.config_timing import TIMINGS
from cat_follow.evaluation.identity import Checked, load_checked, score_identity
from cat_follow.evaluation.phases import phase_stem, shifted_checked, shifted_reference, summarise
from cat_follow.evaluation.report import render_markdown
from cat_follow.evaluation.scoring import (
    EvaluationError,
    Reference,
    VideoScore,
    load_log,
    load_reference,
    load_video_table,
    score_video,
    video_info,
)
from cat_follow.perception.model import REPO_ROOT, assets_dirs

ENV_LABELS = "CAT_FOLLOW_LABELS"


@dataclass
class SuiteOptions:
    out_dir: Path
    videos_dir: Path | None = None
    labels_dir: Path | None = None
    jobs: int = 2
    config_path: Path | None = None
    model_path: Path | None = None
    progress: bool = False
    only: tuple[str, ...] = ()  # video file names; empty = all
    timings: tuple[str, ...] = TIMINGS  # each video is replayed in each of these
    phases: int = 1  # ...and begun 0..phases-1 frames later (``phases.py``)


def default_videos_dir() -> Path:
    for d in assets_dirs():
        if (d / "video").is_dir():
            return d / "video"
    raise EvaluationError("no video folder: run ./setup.sh --dev (--assets ../shared/assets) or pass --videos")


def default_labels_dir() -> Path:
    """$CAT_FOLLOW_LABELS, else ``labels/`` beside an assets folder, else ../shared/labels."""
    candidates = [Path(os.environ[ENV_LABELS])] if os.environ.get(ENV_LABELS) else []
    candidates += [d.parent / "labels" for d in assets_dirs()] + [REPO_ROOT.parent / "shared" / "labels"]
    for c in candidates:
        if c.is_dir():
            return c
    raise EvaluationError(f"no reference labels in {', '.join(map(str, candidates))}: pass --labels DIR")


def suite_videos(videos_dir: Path) -> list[Path]:
    """Every .mp4 in ``videos_dir`` and ``videos_dir/dev``."""
    found = sorted(videos_dir.glob("*.mp4")) + sorted((videos_dir / "dev").glob("*.mp4"))
    if not found:
        raise EvaluationError(f"no .mp4 videos in {videos_dir} or {videos_dir / 'dev'}")
    return found


def score_log(log: Path, video: str, labels_dir: Path, mode: str | None = None) -> VideoScore:
    """Score one replay log of ``video`` (its mode from videos.toml unless given)."""
    if mode is None:
        mode = video_info(video, load_video_table()).score_as
    ref = labels_dir / f"{Path(video).stem}.json"
    if not ref.is_file():
        raise EvaluationError(f"no reference boxes for {Path(video).name}: {ref} does not exist")
    return score_video(load_log(log), load_reference(ref), mode)


def replay_once(video: Path, logs: Path, opts: SuiteOptions, timing: str, phase: int = 0) -> dict[str, Any]:
    """One ``replay --fast --timing [--skip-frames phase]`` subprocess; returns its summary. Owns
    ``logs/<stem>.*`` (phase 0) or ``logs/<stem>.p<phase>.*``."""
    stem = phase_stem(video.stem, phase)
    cmd = [sys.executable, "-m", "cat_follow", "replay", str(video), "--fast", "--timing", timing,
           "--log", str(logs / f"{stem}.jsonl"), "--summary-json", str(logs / f"{stem}.summary.json"),
           "--skip-frames", str(phase)]
    if opts.config_path:
        cmd += ["--config", str(opts.config_path)]
    if opts.model_path:
        cmd += ["--model", str(opts.model_path)]
    with (logs / f"{stem}.stderr").open("w", encoding="utf-8") as err:
        p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=err, check=False)
    if p.returncode != 0:
        tail = (logs / f"{stem}.stderr").read_text(encoding="utf-8")[-1500:]
        raise EvaluationError(f"replay of {video.name} failed with status {p.returncode}:\n{tail}")
    summary: dict[str, Any] = json.loads((logs / f"{stem}.summary.json").read_text(encoding="utf-8"))
    return summary


def _phase_figures(logs: Path, video: Path, k: int, ref: Reference, mode: str,
                   checked: Checked | None) -> dict[str, Any]:
    """Score phase ``k``'s log against the reference (and checked labels) shifted by ``k``."""
    boxes = load_log(logs / f"{phase_stem(video.stem, k)}.jsonl")
    row: dict[str, Any] = score_video(boxes, shifted_reference(ref, k), mode).as_dict()
    if checked is not None:
        row["identity"] = score_identity(boxes, shifted_checked(checked, k)).as_dict()
    return row


def _score(opts: SuiteOptions, videos: list[Path], refs: dict[str, Reference], checked: dict[str, Checked],
           summaries: dict[tuple[str, str], dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Each video's row per timing (phase 0's figures and its replay's summary) and, with phases,
    each figure over the phases."""
    table = load_video_table()
    rows: list[dict[str, Any]] = []
    phase_rows: list[dict[str, Any]] = []
    for v in videos:
        info = table[v.name]
        for t in opts.timings:
            phases = [_phase_figures(opts.out_dir / "logs" / t, v, k, refs[v.name], info.score_as, checked.get(v.name))
                      for k in range(max(1, opts.phases))]
            s = summaries[t, v.name]
            rows.append({**phases[0], "timing": t, "set": info.set, "what": info.what,
                         "replay_fps": s.get("fps"), "detector_ms_p50": s.get("detector_ms_p50"),
                         "mean_frames_late": (s.get("timing") or {}).get("mean_frames_late")})
            if len(phases) > 1:
                phase_rows.append({"video": v.name, "timing": t, **summarise(phases)})
    return rows, phase_rows


def run_suite(opts: SuiteOptions) -> dict[str, Any]:
    """Replay and score every video; writes ``evaluate.json`` and ``evaluate.md`` in ``out_dir``
    and returns what the JSON holds."""
    from tqdm import tqdm

    videos_dir = opts.videos_dir or default_videos_dir()
    labels_dir = opts.labels_dir or default_labels_dir()
    table = load_video_table()
    videos = [v for v in suite_videos(videos_dir) if not opts.only or v.name in opts.only]
    if opts.only and len(videos) != len(set(opts.only)):
        missing = set(opts.only) - {v.name for v in videos}
        raise EvaluationError(f"not in {videos_dir}: {', '.join(sorted(missing))}")
    refs = {}
    for v in videos:  # every video known and labelled before anything runs
        video_info(v.name, table)
        ref_path = labels_dir / f"{v.stem}.json"
        if not ref_path.is_file():
            raise EvaluationError(f"no reference boxes for {v.name}: {ref_path} does not exist")
        refs[v.name] = load_reference(ref_path)
    checked = {v.name: load_checked(p) for v in videos if (p := labels_dir / "checked" / f"{v.stem}.json").is_file()}
    bad = [t for t in opts.timings if t not in TIMINGS]
    if bad or not opts.timings:
        raise EvaluationError(f"timings {', '.join(bad) or '(none)'}: each must be one of {', '.join(TIMINGS)}")
    for timing in opts.timings:
        (opts.out_dir / "logs" / timing).mkdir(parents=True, exist_ok=True)
    # longest first: the pool ends together
    order = sorted(((t, v, k) for t in opts.timings for v in videos for k in range(max(1, opts.phases))),
                   key=lambda tvk: (-len(refs[tvk[1].name].frames), tvk[2]))
    summaries: dict[tuple[str, str], dict[str, Any]] = {}
    t0 = time.monotonic()
    with tqdm(total=sum(len(refs[v.name].frames) for _, v, _ in order), unit="frame",
              disable=not opts.progress, file=sys.stderr, desc="evaluate") as bar, \
            ThreadPoolExecutor(max(1, opts.jobs)) as pool:
        futures = {pool.submit(replay_once, v, opts.out_dir / "logs" / t, opts, t, k): (t, v, k) for t, v, k in order}
        try:
            for fut in as_completed(futures):
                t, v, k = futures[fut]
                summary = fut.result()
                if k == 0:
                    summaries[t, v.name] = summary
                bar.update(len(refs[v.name].frames))
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)  # a failed replay: start no more
            raise
    wall = time.monotonic() - t0
    rows, phase_rows = _score(opts, videos, refs, checked, summaries)
    result = {"timings": list(opts.timings), "videos": rows, "wall_s": round(wall, 1), "jobs": opts.jobs,
              "model": next(iter(summaries.values()), {}).get("model")}
    if phase_rows:
        result["phases"] = phase_rows
    write_outputs(opts.out_dir, result)
    return result


def write_outputs(out_dir: Path, result: dict[str, Any]) -> tuple[Path, Path]:
    """``evaluate.json`` (everything) and ``evaluate.md`` (the table) in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    js, md = out_dir / "evaluate.json", out_dir / "evaluate.md"
    js.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    md.write_text(render_markdown(result), encoding="utf-8")
    return js, md
