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
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from cat_follow.config import Config
from cat_follow.geometry import iou, map_to_source
from cat_follow.memory.pool import SOURCE_DETECTOR, SOURCE_NAMES, track_rows
from cat_follow.perception.model import ModelFiles
from cat_follow.perception.target import DropReason, TargetState
from cat_follow.pipeline import Pipeline
from cat_follow.record_files import Recording, is_recording
from cat_follow.run_options import RunOptions
from cat_follow.sources import FrameSource, open_source
from cat_follow.sources.recorded import RecordingSource
from cat_follow.stats import LatencyRecorder
from cat_follow.video_out import annotate, open_video_writer
from cat_follow.web.overlay import draw_tracks

log = logging.getLogger(__name__)

COLOR_DETECTOR = (0, 165, 255)  # BGR orange
COLOR_TRACKER = (0, 220, 0)


@dataclass
class ReplayOptions(RunOptions[Pipeline]):
    log_path: Path | None = None
    max_frames: int | None = None
    skip_frames: int = 0  # a video file starts this many frames in (another phase: evaluate --phases)


def _row_json(row: Any) -> dict[str, Any]:
    """One log row. ``bbox`` is the confirmed target the car follows (source pixels);
    an unconfirmed candidate (state ``acquiring``: not yet verified) goes to ``candidate``
    instead. ``drop_reason`` says why the last target was dropped (``timeout``, ``decoy``,
    ``unverified``, ``other_cat``) until a new one is confirmed; ``track`` is the followed track's id and
    ``tracks`` every animal and person tracked (id, P(cat), P(dog), box in source pixels)."""
    valid = bool(row["valid"])
    state = TargetState(int(row["target_state"]))
    box = [round(float(row[k]), 2) for k in ("src_x", "src_y", "src_w", "src_h")] if valid else None
    confirmed = state == TargetState.TRACKING
    lb = row["letterbox"]
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
        "track": int(row["track_id"]) or None,
        "tracks": track_rows(row, lambda b: map_to_source(b, float(lb[0]), float(lb[1]), float(lb[2]),
                                                          int(lb[3]), int(lb[4]))),
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
            text = f"{state} {SOURCE_NAMES[src]} {float(row['score']):.2f}" + (
                f" #{int(row['track_id'])}" if row["track_id"] else "")
        annotate(self.canvas, pixels, box, color, f"#{int(row['frame_index'])} {text}")
        draw_tracks(self.canvas, row)
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
    summary = Replay(video, config, models, opts).run()
    if opts.summary_path:
        opts.summary_path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


class Replay:
    """One replay: owns its pipeline, the log file, the annotated video and the counts. The
    main thread drains the pipeline's results in order and writes one log row per source
    frame (a frame the tracker skipped gets a ``dropped`` row)."""

    def __init__(self, video: str | Path, config: Config, models: ModelFiles, opts: ReplayOptions) -> None:
        self.recorded: Recording | None = None
        self.source: FrameSource
        if is_recording(Path(video)) and not opts.skip_frames:  # its complete segments in order, at their true times
            self.recorded = Recording(Path(video))
            self.source = RecordingSource(self.recorded)
        else:
            self.source = open_source(video, config, skip=opts.skip_frames)
        self.video, self.models, self.opts = video, models, opts
        self.agree = [0, 0]  # frames where replay and recording agree on the box; frames where either has one
        self.pipe = Pipeline(config, self.source, models, fast=opts.fast, max_frames=opts.max_frames)
        self.tracker_ms, self.handoff_ms = LatencyRecorder(), LatencyRecorder()
        self.log_fh: IO[str] | None = None
        self.annot: _Annotator | None = None
        self.bar: Any = None
        self.frames_with_bbox = self.dropped = 0
        self.next_index = 0  # the next source frame to log
        self.last_state = TargetState.NONE.label
        self.cursor = 0  # the next result to drain
        self.seen_seq = 0

    def run(self) -> dict[str, Any]:
        """Play the whole source; returns the summary."""
        opts, pipe = self.opts, self.pipe
        t0 = time.monotonic()
        with opts.attach(pipe) if opts.attach else nullcontext(), _progress(None, opts.progress) as bar, pipe:
            self.bar = bar
            bar.reset(total=self.source.frame_count)
            try:
                self._open_outputs()
                while not self._step():
                    pass
                pipe.health.raise_if_failed()
                self._emit_gap(pipe.camera.frames_read)
            finally:
                self._close_outputs()
        return self._summary(time.monotonic() - t0)

    def _open_outputs(self) -> None:
        if self.opts.log_path:
            self.log_fh = self.opts.log_path.open("w", encoding="utf-8")
        if self.opts.out_video:
            self.annot = _Annotator(self.opts.out_video, self.pipe.pool.frame_annotate, self.source.fps or 30.0)

    def _close_outputs(self) -> None:
        if self.log_fh is not None:
            self.log_fh.close()
        if self.annot is not None:
            self.annot.close()

    def _step(self) -> bool:
        """Wait for the next frame, drain the results so far; True once the pipeline has finished."""
        pipe, shared, rid = self.pipe, self.pipe.shared, self.pipe.main_reader
        pipe.health.raise_if_failed()
        shared.wait_frame(rid, 0.05)
        with shared.latest_frame(rid, newer_than=self.seen_seq) as ref:
            if ref is not None:
                self.seen_seq = ref.seq
                if pipe.fast:  # lock-step: every frame's row is drawn and logged
                    while not shared.wait_reader_done(pipe.tracker.reader, ref.seq, 0.2):
                        pipe.health.raise_if_failed()
                elif self.annot is not None:  # give the tracker a moment; never blocks the camera
                    shared.wait_reader_done(pipe.tracker.reader, ref.seq, 0.1)
            self._drain(ref)
        shared.mark_done(rid, self.seen_seq)
        if pipe.finished():
            self._drain(None)
            return True
        return False

    def _drain(self, pinned: Any) -> None:
        """Log every result since the last drain; draw the one of the ``pinned`` frame."""
        for c, row in self.pipe.results(self.cursor):
            self.cursor = c + 1
            obj = _row_json(row)
            self._emit_gap(obj["frame"])
            self._emit(obj)
            self.next_index = obj["frame"] + 1
            self.last_state = obj["state"]
            self.frames_with_bbox += obj["bbox"] is not None
            self.tracker_ms.add(float(row["tracker_ms"]))
            self.handoff_ms.add(float(row["handoff_ms"]))
            if self.annot is not None and pinned is not None and int(row["seq"]) == pinned.seq:
                self.annot.write(pinned.pixels, row)

    def _emit_gap(self, upto: int) -> None:
        """A ``dropped`` row for each source frame before ``upto`` that has none."""
        fps = self.source.fps or 30.0
        while self.next_index < upto:
            t_ns = self.recorded.frame_time_ns(self.next_index) if self.recorded else self.next_index * 1e9 / fps
            self._emit({"frame": self.next_index, "t": round(t_ns / 1e9, 4), "bbox": None,
                        "candidate": None, "score": None, "source": None, "state": self.last_state,
                        "drop_reason": None, "dropped": True})
            self.next_index += 1
            self.dropped += 1

    def _emit(self, obj: dict[str, Any]) -> None:
        if self.recorded is not None:
            self._compare(obj, self.recorded)
        if self.log_fh is not None:
            self.log_fh.write(json.dumps(obj) + "\n")
        self.bar.update(1)

    def _compare(self, obj: dict[str, Any], recorded: Recording) -> None:
        """Attach the recording's row to ``obj`` and count whether both saw the same box."""
        rec = recorded.at_frame(obj["frame"])
        obj["recorded"] = None if rec is None else {k: rec[k] for k in ("state", "pose", "bbox", "motors")}
        theirs = rec["bbox"]["box"] if rec and rec["bbox"] else None
        ours = obj["bbox"] or obj.get("candidate")  # the published box, as the recording logged it
        if theirs is not None or ours is not None:
            self.agree[1] += 1
            self.agree[0] += theirs is not None and ours is not None and iou(tuple(theirs), tuple(ours)) >= 0.5

    def _summary(self, wall: float) -> dict[str, Any]:
        pipe, c = self.pipe, self.pipe.shared.counters
        summary: dict[str, Any] = {
            "video": str(self.video),
            "mode": "fast" if self.opts.fast else "paced",
            "timing": pipe.timing_summary(),
            "model": str(self.models.model),
            "frames": pipe.camera.frames_read,
            "frames_processed": int(c["tracker_frames"]),
            "frames_with_bbox": self.frames_with_bbox,
            "frames_rejected": int(c["frames_rejected"]),
            "frames_dropped": self.dropped,
            "detector_runs": int(c["detector_runs"]),
            "detector_hits": int(c["detector_hits"]),
            "tracker_failures": int(c["tracker_failures"]),
            "wall_s": round(wall, 3),
            "fps": round(int(c["tracker_frames"]) / wall, 2) if wall > 0 else None,
            "tracker_ms_p50": self.tracker_ms.percentile(50),
            "tracker_ms_p99": self.tracker_ms.percentile(99),
            "detector_ms_p50": pipe.detector.latency.percentile(50),
            "detector_ms_p99": pipe.detector.latency.percentile(99),
            "handoff_ms_p50": self.handoff_ms.percentile(50),
            "handoff_ms_p99": self.handoff_ms.percentile(99),
            "decide_ms_p50": pipe.tracker.decide_ms.percentile(50),  # the decision path, per detector result
            "decide_ms_p99": pipe.tracker.decide_ms.percentile(99),
            "annotated_frames": self.annot.frames if self.annot else 0,
        }
        if self.recorded is not None:
            a = self.agree
            summary["recording"] = {**self.recorded.facts(),
                                    "bbox_agreement": round(a[0] / a[1], 3) if a[1] else None}
        return summary
