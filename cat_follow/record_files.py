"""A ``record`` folder, written so that a crash loses little, and read back as far as it is whole.

DIR/recording.json   what is where (written first, atomically)
DIR/video/NNNNNN.mp4 the camera frames, in segments of ``record.segment_s`` seconds; an MP4 gets
                     its index only when closed, so only the segment being written when the
                     process dies (SIGKILL, the watchdog's SIGABRT, a battery cut) is lost
DIR/segments.jsonl   one row per closed segment: file, first frame number, frame count
DIR/frames.jsonl     one row per recorded frame: number ``k``, segment, pool seq, source index,
                     ``t`` = its true capture time (s since the recording started), ``dropped`` =
                     camera frames the recorder could not keep up with so far
DIR/telemetry.jsonl  one row per control tick (``t`` on the same clock)
DIR/summary.json     the counts, written at a clean stop only (its absence: the run was cut)

Every JSONL row is flushed as it is written (a killed process loses none); at each segment's
close the segment, the folder and the JSONL files are synced to disk (a power cut loses at
most the last segment). Reading stops at a row cut in half.
"""

from __future__ import annotations

import bisect
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from cat_follow.errors import SourceError
from cat_follow.video_out import open_video_writer

log = logging.getLogger(__name__)

MANIFEST = "recording.json"
FRAMES = "frames.jsonl"
TELEMETRY = "telemetry.jsonl"
SEGMENTS = "segments.jsonl"
SUMMARY = "summary.json"
VIDEO_DIR = "video"
VERSION = 2


def is_recording(path: Path) -> bool:
    return path.is_dir() and (path / MANIFEST).is_file()


def write_manifest(folder: Path, size: tuple[int, int], fps: float, segment_s: float) -> None:
    """``recording.json``: what is where, written before anything else."""
    write_json_atomic(folder / MANIFEST, {
        "version": VERSION, "video": VIDEO_DIR, "segments": SEGMENTS, "frames": FRAMES, "telemetry": TELEMETRY,
        "summary": SUMMARY, "frame_size": list(size), "fps": fps, "segment_s": segment_s,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "clock": "t: seconds since the recording started, CLOCK_MONOTONIC (frames: capture time)"})


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write ``path`` whole or not at all (temporary file, fsync, rename)."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(json.dumps(data, indent=2) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)
    sync_dir(path.parent)


def sync_dir(folder: Path) -> None:
    """Make the folder's new entries durable (a renamed or created file survives a power cut)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class JsonlLog:
    """An append-only JSONL file: each row written whole and flushed to the OS at once."""

    def __init__(self, path: Path) -> None:
        self.fh: IO[str] = path.open("w", encoding="utf-8")
        self.rows = 0

    def write(self, row: dict[str, Any]) -> None:
        self.fh.write(json.dumps(row, separators=(",", ":")) + "\n")
        self.fh.flush()  # in the kernel now: a SIGKILL loses no row
        self.rows += 1

    def sync(self) -> None:
        """Durable on disk (a power cut loses no row written so far)."""
        os.fsync(self.fh.fileno())

    def close(self) -> None:
        if not self.fh.closed:
            self.sync()
            self.fh.close()


class SegmentedVideo:
    """The video as a run of short MP4 files. Owns the open writer and ``segments.jsonl``;
    ``synced`` (the frame and telemetry logs) are synced at each segment's close."""

    def __init__(self, folder: Path, size: tuple[int, int], fps: float, segment_s: float,
                 synced: tuple[JsonlLog, ...]) -> None:
        self.folder, self.size, self.fps, self.segment_s, self.synced = folder, size, fps, segment_s, synced
        (folder / VIDEO_DIR).mkdir(exist_ok=True)
        self.index = JsonlLog(folder / SEGMENTS)  # a segment is listed once closed and synced
        self.writer: Any = None
        self.number = -1  # the open segment's number (-1: none yet)
        self.first_k = 0  # recorded frame number of the open segment's first frame
        self.frames = 0  # frames in the open segment
        self.opened_s = 0.0  # capture time of the open segment's first frame
        self.closed = 0

    def path(self, number: int) -> Path:
        return self.folder / VIDEO_DIR / f"{number:06d}.mp4"

    def due(self, t_s: float) -> bool:
        """True if a frame captured at ``t_s`` belongs in a new segment."""
        return self.writer is not None and t_s - self.opened_s >= self.segment_s

    def write(self, pixels: Any, k: int, t_s: float) -> int:
        """Append one frame (frame number ``k``, captured at ``t_s``); returns its segment."""
        if self.writer is None:
            self.number += 1
            self.writer = open_video_writer(self.path(self.number), self.size, self.fps)  # once per segment
            self.first_k, self.frames, self.opened_s = k, 0, t_s
        # the encoder reads the caller's pinned pool slot directly: no copy here (OpenCV converts
        # it into the writer's own picture buffer, allocated once per segment)
        self.writer.write(pixels)
        self.frames += 1
        return self.number

    def close(self, final: bool = False) -> None:
        """Finish the open segment (its index is written now), sync it and list it; ``final``:
        the index file is closed too."""
        if self.writer is None:
            if final:
                self.index.close()
            return
        self.writer.release()
        self.writer = None
        path = self.path(self.number)
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        sync_dir(path.parent)
        for fh in self.synced:
            fh.sync()
        self.index.write({"n": self.number, "file": str(path.relative_to(self.folder)), "first_k": self.first_k,
                          "frames": self.frames})
        self.index.sync()
        self.closed += 1
        if final:
            self.index.close()


@dataclass(frozen=True)
class Segment:
    path: Path
    first_k: int
    frames: int


def read_jsonl(path: Path) -> tuple[list[dict[str, Any]], int]:
    """The rows of ``path`` up to the first that is not whole JSON; (rows, rows cut off)."""
    rows: list[dict[str, Any]] = []
    if not path.is_file():
        return rows, 0
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    for i, line in enumerate(lines):
        try:
            row = json.loads(line)
        except ValueError:
            return rows, len(lines) - i
        if not isinstance(row, dict):
            return rows, len(lines) - i
        rows.append(row)
    return rows, 0


class Recording:
    """A recording folder read back: its complete segments, frame rows and telemetry rows."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        try:
            manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SourceError(f"recording {folder}: {MANIFEST} is unreadable ({exc})") from exc
        self.fps = float(manifest.get("fps") or 30.0)
        self.version = int(manifest.get("version", 1))
        self.frames, cut_frames = read_jsonl(folder / manifest.get("frames", FRAMES))
        self.rows, cut_rows = read_jsonl(folder / manifest.get("telemetry", TELEMETRY))
        self.cut_rows = cut_frames + cut_rows
        try:
            self.frame_t = [float(f["t"]) for f in self.frames]
            self.row_t = [float(r["t"]) for r in self.rows]
            self.segments = self._segments(manifest)
        except (KeyError, TypeError, ValueError) as exc:
            raise SourceError(f"recording {folder}: a row or {MANIFEST} lacks a field or has a bad value "
                              f"({type(exc).__name__}: {exc})") from exc
        summary = folder / SUMMARY
        self.summary: dict[str, Any] | None = json.loads(summary.read_text(encoding="utf-8")) \
            if summary.is_file() else None

    def _segments(self, manifest: dict[str, Any]) -> list[Segment]:
        if self.version < 2:  # one camera.mp4, whole only if the run ended cleanly
            return [Segment(self.folder / manifest["video"], 0, len(self.frames))]
        listed, _ = read_jsonl(self.folder / manifest.get("segments", SEGMENTS))
        segs = [Segment(self.folder / s["file"], int(s["first_k"]), int(s["frames"])) for s in listed
                if (self.folder / s["file"]).is_file()]
        known = {s.path.name for s in segs}
        for path in sorted((self.folder / VIDEO_DIR).glob("*.mp4")):
            if path.name not in known:
                log.warning("recording %s: %s was being written when the recording ended (no index): skipped",
                            self.folder, path.name)
        return segs

    @property
    def playable_frames(self) -> int:
        return sum(s.frames for s in self.segments)

    def frame_time_ns(self, k: int) -> int:
        """Capture time of recorded frame ``k`` since the recording started (0 if unknown)."""
        return round(self.frame_t[k] * 1e9) if 0 <= k < len(self.frame_t) else 0

    def at_frame(self, k: int) -> dict[str, Any] | None:
        """The telemetry row of frame ``k``: the last tick at or before its capture time."""
        if k >= len(self.frame_t):
            return None
        i = bisect.bisect_right(self.row_t, self.frame_t[k]) - 1
        return self.rows[i] if i >= 0 else None

    def facts(self) -> dict[str, Any]:
        """For the replay summary: what was played, what was lost, what was dropped."""
        last = self.frames[-1] if self.frames else {}
        complete = None if self.version < 2 else self.summary is not None  # version 1 had no summary
        return {"complete": complete, "segments": len(self.segments),
                "frames": len(self.frames), "frames_playable": self.playable_frames,
                "frames_lost": len(self.frames) - self.playable_frames,
                "frames_dropped": int(last.get("dropped", 0)), "telemetry_rows": len(self.rows),
                "rows_cut": self.cut_rows}
