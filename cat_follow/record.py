"""``cat-follow record --out DIR``: the service, plus a recording that ``replay DIR`` reads back.

DIR/camera.mp4     the camera frames as the pipeline saw them (pool size, BGR)
DIR/frames.jsonl   one row per video frame: its sequence number, source index and time
DIR/telemetry.jsonl one row per control tick: state, pose, target, box, motors, range, and
                   the commands received since the previous tick with their answers
DIR/recording.json what is where

The recorder thread owns the files. It reads frames through the pool's viewer pin (the main
reader, which ``run`` leaves unused) and writes telemetry that the main loop hands it through
a bounded queue, so the control loop never waits on the disk; whatever it had no time for is
counted as dropped, never queued without bound.
"""

from __future__ import annotations

import json
import logging
import queue
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from cat_follow.memory.pool import SOURCE_NAMES
from cat_follow.pipeline import Pipeline
from cat_follow.robot.main_loop import Robot
from cat_follow.threads.supervised import Health, SupervisedThread
from cat_follow.video_out import open_video_writer

log = logging.getLogger(__name__)

MANIFEST = "recording.json"
TELEMETRY_QUEUE = 256


def is_recording(path: Path) -> bool:
    return path.is_dir() and (path / MANIFEST).is_file()


class Recorder(SupervisedThread):
    def __init__(self, out: Path, pipeline: Pipeline, health: Health, fps: float) -> None:
        super().__init__("recorder", health)
        out.mkdir(parents=True, exist_ok=True)
        self.out = out
        self.pipeline = pipeline
        self.reader = pipeline.main_reader
        pool = pipeline.pool
        self.size = (int(pool.frame_meta["width"][0]), int(pool.frame_meta["height"][0]))
        self.fps = fps
        self.telemetry: queue.Queue[dict[str, Any]] = queue.Queue(maxsize=TELEMETRY_QUEUE)
        self.frames_written = 0
        self.rows_written = 0
        self.dropped_rows = 0
        self.t0_ns = time.monotonic_ns()
        self.writer = open_video_writer(out / "camera.mp4", self.size, fps)
        (out / MANIFEST).write_text(json.dumps({
            "version": 1, "video": "camera.mp4", "frames": "frames.jsonl", "telemetry": "telemetry.jsonl",
            "frame_size": list(self.size), "fps": fps, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }, indent=2) + "\n", encoding="utf-8")

    def submit(self, row: dict[str, Any]) -> None:
        """Called by the main loop: never blocks; a full queue drops the row (counted)."""
        try:
            self.telemetry.put_nowait(row)
        except queue.Full:
            self.dropped_rows += 1

    def _drain(self, fh: IO[str]) -> None:
        while True:
            try:
                row = self.telemetry.get_nowait()
            except queue.Empty:
                return
            fh.write(json.dumps(row) + "\n")
            self.rows_written += 1

    def loop(self) -> None:
        shared = self.pipeline.shared
        seen = 0
        with (self.out / "frames.jsonl").open("w", encoding="utf-8") as frames, \
                (self.out / "telemetry.jsonl").open("w", encoding="utf-8") as telemetry:
            try:
                while not self.stopping.is_set():
                    self.beat()
                    self._drain(telemetry)
                    shared.wait_frame(self.reader, 0.1)
                    with shared.latest_frame(self.reader, newer_than=seen) as ref:
                        if ref is None:
                            continue
                        seen = ref.seq
                        self.writer.write(ref.pixels)  # the encoder reads the pinned slot: no copy here
                        frames.write(json.dumps({
                            "k": self.frames_written, "seq": ref.seq, "frame_index": int(ref.meta["frame_index"]),
                            "t": round((int(ref.meta["t_capture_ns"]) - self.t0_ns) / 1e9, 4)}) + "\n")
                    self.frames_written += 1
                self._drain(telemetry)
            finally:
                self.writer.release()


def telemetry_hook(robot: Robot, recorder: Recorder) -> Callable[[float], None]:
    """The per-tick function ``Robot.run`` calls: one small dict per tick to the recorder."""
    def on_tick(now: float) -> None:
        r = robot.last_box_record()
        cmd = robot.last_cmd
        x, y, th = robot.odom.as_tuple()
        recorder.submit({
            "t": round((time.monotonic_ns() - recorder.t0_ns) / 1e9, 4),
            "state": robot.sm.state.label,
            "pose": [round(x, 4), round(y, 4), round(th, 4)],
            "target": list(robot.sm.target) if robot.sm.target else None,
            "bbox": None if not r["valid"] else {
                "box": [round(float(r[k]), 1) for k in ("x", "y", "w", "h")], "seq": int(r["seq"]),
                "score": round(float(r["score"]), 3), "source": SOURCE_NAMES[int(r["source"])]},
            "motors": {"speed": round(cmd.speed, 1), "steer": round(cmd.steer, 1), "pan": round(cmd.pan, 1),
                       "tilt": round(cmd.tilt, 1)},
            "range_cm": robot.last_range_cm,
            "stop_reason": robot.sm.stop_reason,
            "commands": robot.take_command_events(),
        })
    return on_tick


class RecordedTelemetry:
    """A recording's telemetry, looked up by video frame: the last tick at or before it."""

    def __init__(self, folder: Path) -> None:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        self.video = folder / manifest["video"]
        self.frame_t = [json.loads(line)["t"] for line in (folder / manifest["frames"]).open(encoding="utf-8")]
        self.rows = [json.loads(line) for line in (folder / manifest["telemetry"]).open(encoding="utf-8")]
        self.row_t = [r["t"] for r in self.rows]

    def at_frame(self, k: int) -> dict[str, Any] | None:
        import bisect

        if k >= len(self.frame_t):
            return None
        i = bisect.bisect_right(self.row_t, self.frame_t[k]) - 1
        return self.rows[i] if i >= 0 else None
