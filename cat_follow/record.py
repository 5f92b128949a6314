"""``cat-follow record --out DIR``: the service, plus a recording that ``replay DIR`` reads back
(the folder's files and how they survive a crash: ``record_files``).

The recorder thread owns the files. It reads frames through the pool's viewer pin (the main
reader, which ``run`` leaves unused) and writes telemetry that the main loop hands it through
a bounded queue, so the control loop never waits on the disk; whatever it had no time for is
counted as dropped (telemetry rows, and camera frames it skipped), never queued without bound.
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cat_follow import record_files as files
from cat_follow.config_record import RecordConfig
from cat_follow.memory.pool import SOURCE_NAMES
from cat_follow.memory.shared_state import SharedState
from cat_follow.robot.main_loop import Robot
from cat_follow.threads.supervised import Health, SupervisedThread

log = logging.getLogger(__name__)

TELEMETRY_QUEUE = 256


class Recorder(SupervisedThread):
    """Owns the recording's files; reads frames as ``reader`` (a pin entry no one else uses)."""

    def __init__(self, out: Path, shared: SharedState, reader: int, health: Health, fps: float,
                 config: RecordConfig | None = None) -> None:
        super().__init__("recorder", health)
        out.mkdir(parents=True, exist_ok=True)
        self.out = out
        self.shared = shared
        self.reader = reader
        pool = shared.pool
        self.size = (int(pool.frame_meta["width"][0]), int(pool.frame_meta["height"][0]))
        self.config = config or RecordConfig()
        self.telemetry: queue.Queue[dict[str, Any]] = queue.Queue(maxsize=TELEMETRY_QUEUE)
        self.frames_written = 0
        self.frames_dropped = 0  # frames the camera published that the recorder skipped
        self.dropped_rows = 0
        self.t0_ns = time.monotonic_ns()
        self._seen = shared.published_seq  # the last pool seq recorded or skipped (frames before: not drops)
        files.write_manifest(out, self.size, fps, self.config.segment_s)
        self.frames_log = files.JsonlLog(out / files.FRAMES)
        self.telemetry_log = files.JsonlLog(out / files.TELEMETRY)
        self.video = files.SegmentedVideo(out, self.size, fps, self.config.segment_s,
                                          (self.frames_log, self.telemetry_log))

    @property
    def rows_written(self) -> int:
        return self.telemetry_log.rows

    def submit(self, row: dict[str, Any]) -> None:
        """Called by the main loop: never blocks; a full queue drops the row (counted)."""
        try:
            self.telemetry.put_nowait(row)
        except queue.Full:
            self.dropped_rows += 1

    def _drain(self) -> None:
        while True:
            try:
                row = self.telemetry.get_nowait()
            except queue.Empty:
                return
            self.telemetry_log.write(row)

    def step(self, timeout: float) -> bool:
        """Record the newest frame not yet recorded, if one comes within ``timeout``."""
        shared = self.shared
        shared.wait_frame(self.reader, timeout)
        if self.video.due((time.monotonic_ns() - self.t0_ns) / 1e9):
            self.video.close()  # whole, synced and listed; before pinning (a sync may take a while)
        with shared.latest_frame(self.reader, newer_than=self._seen) as ref:
            if ref is None:
                return False
            self.frames_dropped += ref.seq - self._seen - 1
            self._seen = ref.seq
            t_ns, index = int(ref.meta["t_capture_ns"]), int(ref.meta["frame_index"])
            t_s = round((t_ns - self.t0_ns) / 1e9, 4)
            seg = self.video.write(ref.pixels, self.frames_written, t_s)  # reads the pinned slot, no copy
        self.frames_log.write({"k": self.frames_written, "seg": seg, "seq": self._seen, "frame_index": index,
                               "t": t_s, "dropped": self.frames_dropped})
        self.frames_written += 1
        return True

    def loop(self) -> None:
        try:
            while not self.stopping.is_set():
                self.beat()
                self._drain()
                self.step(0.1)
            self._drain()
        finally:
            self.video.close(final=True)
            self.frames_log.close()
            self.telemetry_log.close()
        files.write_json_atomic(self.out / files.SUMMARY, self.summary())

    def summary(self) -> dict[str, Any]:
        counters = self.shared.pool.counters[0]
        return {"frames": self.frames_written, "frames_dropped": self.frames_dropped,
                "camera_no_slot": int(counters["frames_no_slot"]), "segments": self.video.closed,
                "telemetry_rows": self.rows_written, "telemetry_rows_dropped": self.dropped_rows,
                "duration_s": round((time.monotonic_ns() - self.t0_ns) / 1e9, 3)}


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
