"""``cat-follow replay``: a recorded video through the same pipeline the car runs.

The main thread owns the outputs: the JSONL log (one row per source frame), the annotated
video (drawn on the pool's ``frame_annotate`` canvas, never on a shared slot) and the
summary. In paced mode the tracker may skip frames it had no time for; those rows say
``"dropped": true``. In ``--fast`` (lock-step) mode no frame is skipped.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from cat_follow.config import Config
from cat_follow.geometry import iou
from cat_follow.memory.pool import SOURCE_DETECTOR, SOURCE_NAMES
from cat_follow.perception.model import ModelFiles
from cat_follow.perception.target import DropReason, TargetState
from cat_follow.pipeline import Pipeline
from cat_follow.record import RecordedTelemetry, is_recording
from cat_follow.sources import open_source
from cat_follow.stats import LatencyRecorder
from cat_follow.video_out import annotate, open_video_writer

log = logging.getLogger(__name__)

COLOR_DETECTOR = (0, 165, 255)  # BGR orange
COLOR_TRACKER = (0, 220, 0)


@dataclass
class ReplayOptions:
    fast: bool = False
    log_path: Path | None = None
    out_video: Path | None = None
    summary_path: Path | None = None
    progress: bool = False
    max_frames: int | None = None
    attach: Callable[[Pipeline], AbstractContextManager[Any]] | None = None  # e.g. the web view


def _row_json(row: Any) -> dict[str, Any]:
    """One log row. ``bbox`` is the confirmed target the car follows (source pixels);
    an unconfirmed candidate (state ``acquiring``: not yet verified) goes to ``candidate``
    instead. ``drop_reason`` says why the last target was dropped (``timeout``, ``decoy``,
    ``unverified``) until a new one is confirmed."""
    valid = bool(row["valid"])
    state = TargetState(int(row["target_state"]))
    box = [round(float(row[k]), 2) for k in ("src_x", "src_y", "src_w", "src_h")] if valid else None
    confirmed = state == TargetState.TRACKING
    return {
        "frame": int(row["frame_index"]),
        "t": round(int(row["t_media_ns"]) / 1e9, 4),
        "bbox": box if confirmed else None,
        "candidate": None if confirmed else box,
        "score": round(float(row["score"]), 4) if valid else None,
        "source": SOURCE_NAMES[int(row["source"])] if valid else None,
        "state": state.label,
        "drop_reason": DropReason(int(row["drop_reason"])).label,
        "seq": int(row["seq"]),
    }


class _Annotator:
    """Draws a result on the pool's canvas and writes it to a video file."""

    def __init__(self, path: Path, canvas: np.ndarray, fps: float) -> None:
        self.canvas = canvas
        self.writer = open_video_writer(path, (canvas.shape[1], canvas.shape[0]), fps)
        self.frames = 0

    def write(self, pixels: np.ndarray, row: Any) -> None:
        state = TargetState(int(row["target_state"])).label
        box, color, text = None, COLOR_TRACKER, state
        if row["valid"]:
            src = int(row["source"])
            color = COLOR_DETECTOR if src == SOURCE_DETECTOR else COLOR_TRACKER
            box = (float(row["x"]), float(row["y"]), float(row["w"]), float(row["h"]))
            text = f"{state} {SOURCE_NAMES[src]} {float(row['score']):.2f}"
        annotate(self.canvas, pixels, box, color, f"#{int(row['frame_index'])} {text}")
        self.writer.write(self.canvas)
        self.frames += 1

    def close(self) -> None:
        self.writer.release()


def _progress(total: int | None, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, unit="frame", disable=not enabled, file=sys.stderr, leave=False)


def run_replay(video: str | Path, config: Config, models: ModelFiles, opts: ReplayOptions) -> dict[str, Any]:
    """Play ``video`` (or a ``record`` folder) through the pipeline; returns the summary (also
    written if asked). A recording's telemetry is attached to each row as ``recorded``."""
    recorded: RecordedTelemetry | None = None
    if is_recording(Path(video)):
        recorded = RecordedTelemetry(Path(video))
        video = recorded.video
    agree = [0, 0]  # frames where replay and recording agree on the box; frames where either has one
    source = open_source(video, config)
    pipe = Pipeline(config, source, models, fast=opts.fast, max_frames=opts.max_frames)
    shared = pipe.shared
    rid = pipe.main_reader
    tracker_ms, handoff_ms = LatencyRecorder(), LatencyRecorder()
    log_fh: IO[str] | None = None
    annot: _Annotator | None = None
    frames_with_bbox = dropped = 0
    next_index = 0
    last_state = TargetState.NONE.label
    cursor = 0
    seen_seq = 0

    def emit(obj: dict[str, Any]) -> None:
        if recorded is not None:
            rec = recorded.at_frame(obj["frame"])
            obj["recorded"] = None if rec is None else {k: rec[k] for k in ("state", "pose", "bbox", "motors")}
            theirs = rec["bbox"]["box"] if rec and rec["bbox"] else None
            ours = obj["bbox"] or obj.get("candidate")  # the published box, as the recording logged it
            if theirs is not None or ours is not None:
                agree[1] += 1
                agree[0] += theirs is not None and ours is not None and iou(tuple(theirs), tuple(ours)) >= 0.5
        if log_fh is not None:
            log_fh.write(json.dumps(obj) + "\n")
        bar.update(1)

    def emit_gap(upto: int) -> None:
        nonlocal next_index, dropped
        fps = source.fps or 30.0
        while next_index < upto:
            emit({"frame": next_index, "t": round(next_index / fps, 4), "bbox": None, "candidate": None,
                  "score": None, "source": None, "state": last_state, "drop_reason": None, "dropped": True})
            next_index += 1
            dropped += 1

    def drain(pinned: Any) -> None:
        nonlocal cursor, next_index, frames_with_bbox, last_state
        for c, row in pipe.results(cursor):
            cursor = c + 1
            obj = _row_json(row)
            emit_gap(obj["frame"])
            emit(obj)
            next_index = obj["frame"] + 1
            last_state = obj["state"]
            frames_with_bbox += obj["bbox"] is not None
            tracker_ms.add(float(row["tracker_ms"]))
            handoff_ms.add(float(row["handoff_ms"]))
            if annot is not None and pinned is not None and int(row["seq"]) == pinned.seq:
                annot.write(pinned.pixels, row)

    t0 = time.monotonic()
    with opts.attach(pipe) if opts.attach else nullcontext(), _progress(None, opts.progress) as bar, pipe:
        bar.reset(total=source.frame_count)
        try:
            if opts.log_path:
                log_fh = opts.log_path.open("w", encoding="utf-8")
            if opts.out_video:
                annot = _Annotator(opts.out_video, pipe.pool.frame_annotate, source.fps or 30.0)
            while True:
                pipe.health.raise_if_failed()
                shared.wait_frame(rid, 0.05)
                with shared.latest_frame(rid, newer_than=seen_seq) as ref:
                    if ref is not None:
                        seen_seq = ref.seq
                        if pipe.fast:  # lock-step: every frame's row is drawn and logged
                            while not shared.wait_reader_done(pipe.tracker.reader, ref.seq, 0.2):
                                pipe.health.raise_if_failed()
                        elif annot is not None:  # give the tracker a moment; never blocks the camera
                            shared.wait_reader_done(pipe.tracker.reader, ref.seq, 0.1)
                    drain(ref)
                shared.mark_done(rid, seen_seq)
                if pipe.finished():
                    drain(None)
                    break
            pipe.health.raise_if_failed()
            emit_gap(pipe.camera.frames_read)
        finally:
            if log_fh is not None:
                log_fh.close()
            if annot is not None:
                annot.close()
    wall = time.monotonic() - t0
    c = pipe.shared.counters
    summary: dict[str, Any] = {
        "video": str(video),
        "mode": "fast" if opts.fast else "paced",
        "model": str(models.model),
        "frames": pipe.camera.frames_read,
        "frames_processed": int(c["tracker_frames"]),
        "frames_with_bbox": frames_with_bbox,
        "frames_rejected": int(c["frames_rejected"]),
        "frames_dropped": dropped,
        "detector_runs": int(c["detector_runs"]),
        "detector_hits": int(c["detector_hits"]),
        "tracker_failures": int(c["tracker_failures"]),
        "wall_s": round(wall, 3),
        "fps": round(int(c["tracker_frames"]) / wall, 2) if wall > 0 else None,
        "tracker_ms_p50": tracker_ms.percentile(50),
        "tracker_ms_p99": tracker_ms.percentile(99),
        "detector_ms_p50": pipe.detector.latency.percentile(50),
        "detector_ms_p99": pipe.detector.latency.percentile(99),
        "handoff_ms_p50": handoff_ms.percentile(50),
        "handoff_ms_p99": handoff_ms.percentile(99),
        "annotated_frames": annot.frames if annot else 0,
    }
    if recorded is not None:
        summary["recording"] = {"frames": len(recorded.frame_t), "telemetry_rows": len(recorded.rows),
                                "bbox_agreement": round(agree[0] / agree[1], 3) if agree[1] else None}
    if opts.summary_path:
        opts.summary_path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary
