"""Crash-safe recording: a ``record`` killed with SIGKILL replays up to its last closed segment,
and the recorder itself (in process, on a real pool) writes whole segments, flushed rows, true
capture times and a count of the frames it dropped, without allocating frames as it goes."""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import cv2
import numpy as np
import pytest

from cat_follow.bench.alloc import peak_alloc_bytes
from cat_follow.config import Config
from cat_follow.config_record import RecordConfig
from cat_follow.errors import SourceError
from cat_follow.memory.pool import allocate_pool
from cat_follow.memory.shared_state import SharedState
from cat_follow.record import Recorder
from cat_follow.record_files import Recording
from cat_follow.sources import PoolWriter, ReadStatus, open_source
from cat_follow.threads.supervised import Health

LIMIT = 64 * 1024  # a frame is 921,600 B: any frame-sized allocation shows far above this


def publish(shared: SharedState, i: int) -> None:
    """One camera frame into the pool, as the camera thread does: shade i, captured now."""
    with shared.writing() as slot:
        assert slot is not None
        shared.slot_pixels(slot)[:] = (i * 9) % 250
        shared.publish_slot(slot, t_capture_ns=time.monotonic_ns(), t_media_ns=0, frame_index=i)


def test_the_recorder_cuts_segments_counts_drops_and_allocates_no_frames(tmp_path: Path) -> None:
    shared = SharedState(allocate_pool(Config()))
    rec = Recorder(tmp_path / "rec", shared, shared.register_reader("main"), Health(), 30.0,
                   RecordConfig(segment_s=0.5))
    peaks = []
    tracemalloc.start()
    try:
        for i in range(45):
            publish(shared, 3 * i)
            if i % 10 == 5:  # the recorder falls behind: two frames it never sees
                publish(shared, 3 * i + 1)
                publish(shared, 3 * i + 2)
            peak = peak_alloc_bytes(lambda: rec.step(0.5))
            if i >= 5:
                peaks.append(peak)
            time.sleep(0.04)
    finally:
        tracemalloc.stop()
    rec.video.close(final=True)
    rec.frames_log.close()
    rec.telemetry_log.close()
    assert max(peaks) < LIMIT, peaks  # the encoder reads the pinned slot: no frame copied or made
    assert rec.frames_written == 45 and rec.frames_dropped == 8  # i = 5, 15, 25, 35: two each

    back = Recording(tmp_path / "rec")
    assert back.summary is None and len(back.segments) >= 3 and back.playable_frames == 45
    assert [f["dropped"] for f in back.frames][-1] == 8
    t = back.frame_t
    assert all(b > a for a, b in itertools.pairwise(t)) and 1.5 < t[-1] - t[0] < 10
    # a row cut by a power failure ends the list; the rest reads
    with (tmp_path / "rec" / "frames.jsonl").open("a", encoding="utf-8") as fh:
        fh.write('{"k": 45, "se')
    cut = Recording(tmp_path / "rec")
    assert len(cut.frames) == 45 and cut.cut_rows == 1

    # read back through the replay's source: every frame, in order, with its number and true time
    source = open_source(tmp_path / "rec", Config())
    got: list[tuple[int, int, int]] = []

    class Sink(PoolWriter):
        def write(self, frame: object, *, frame_index: int, t_media_ns: int,
                  t_capture_ns: int | None = None) -> ReadStatus:
            assert isinstance(frame, np.ndarray)
            got.append((frame_index, t_media_ns, int(frame[0, 0, 0])))
            return ReadStatus.FRAME

    with source:
        sink = Sink(shared)
        while source.read(sink) is ReadStatus.FRAME:
            pass
    assert [g[0] for g in got] == list(range(45))
    assert [g[1] for g in got] == [round(x * 1e9) for x in t]
    shades = [(back.frames[k]["frame_index"] * 9) % 250 for k in range(45)]
    assert all(abs(g[2] - s) <= 6 for g, s in zip(got, shades, strict=True))  # the right picture, lossy codec


def test_a_recording_with_nothing_whole_or_a_bad_row_is_a_clear_error(tmp_path: Path) -> None:
    shared = SharedState(allocate_pool(Config()))
    rec = Recorder(tmp_path / "rec", shared, shared.register_reader("main"), Health(), 30.0)
    rec.video.close(final=True)  # cut before its first segment was closed
    rec.frames_log.close()
    rec.telemetry_log.close()
    with pytest.raises(SourceError, match="no complete video segment"):
        open_source(tmp_path / "rec", Config()).open()
    (tmp_path / "rec" / "frames.jsonl").write_text('{"k": 0, "seg": 0}\n')  # no capture time
    with pytest.raises(SourceError, match="lacks a field"):
        Recording(tmp_path / "rec")


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["thread", "process"])
def test_a_recording_cut_by_sigkill_replays_up_to_its_last_segment(kittens: Path, cli_env: dict[str, str],
                                                                  tmp_path: Path, mode: str) -> None:
    rec = tmp_path / "rec"
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[record]\nsegment_s = 1.0\n[detector]\nmode = "{mode}"\n')
    sock_dir = Path(tempfile.mkdtemp(prefix="cfk", dir="/tmp"))
    proc = subprocess.Popen([sys.executable, "-m", "cat_follow", "record", "--sim", "--source", str(kittens),
                             "--out", str(rec), "--config", str(cfg), "--socket", str(sock_dir / "s.sock")],
                            env=cli_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        t_end = time.monotonic() + 120
        while time.monotonic() < t_end and proc.poll() is None:
            index = rec / "segments.jsonl"
            if index.is_file() and len(index.read_text().splitlines()) >= 3:
                break
            time.sleep(0.1)
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        time.sleep(0.5)  # in the middle of the next segment
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
        for p in sock_dir.iterdir():
            p.unlink()
        sock_dir.rmdir()

    assert not (rec / "summary.json").exists()  # it never got to say goodbye
    segments = [json.loads(x) for x in (rec / "segments.jsonl").read_text().splitlines()]
    frames = [json.loads(x) for x in (rec / "frames.jsonl").read_text().splitlines()]  # every row whole
    telemetry = [json.loads(x) for x in (rec / "telemetry.jsonl").read_text().splitlines()]
    playable = sum(s["frames"] for s in segments)
    assert len(segments) >= 3 and len(frames) > playable > 0 and len(telemetry) > 20
    cut = [p for p in (rec / "video").glob("*.mp4") if p.name not in {Path(s["file"]).name for s in segments}]
    assert len(cut) == 1 and not cv2.VideoCapture(str(cut[0])).read()[0]  # the segment being written: no index

    log = tmp_path / "replay.jsonl"
    r = subprocess.run([sys.executable, "-m", "cat_follow", "replay", str(rec), "--fast", "--log", str(log)],
                       capture_output=True, text=True, env=cli_env, timeout=180, check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads(r.stdout)
    assert summary["frames"] == playable and summary["frames_dropped"] == 0
    facts = summary["recording"]
    assert facts["complete"] is False and facts["frames_playable"] == playable
    assert facts["frames_lost"] == len(frames) - playable and facts["segments"] == len(segments)
    rows = [json.loads(x) for x in log.read_text().splitlines()]
    assert [row["frame"] for row in rows] == list(range(playable))  # every frame up to the last segment
    assert [row["t"] for row in rows] == [f["t"] for f in frames[:playable]]  # at their capture times
    assert sum(row["recorded"] is not None for row in rows) >= playable - 5  # paired with telemetry
