"""record -> replay round trip, with a video file standing in for the camera."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2

from cat_follow.evaluation.scoring import load_reference
from cat_follow.evaluation.suite import default_labels_dir


def test_record_then_replay(kittens: Path, cli_env: dict[str, str], tmp_path: Path) -> None:
    rec = tmp_path / "rec"
    sock = Path(tempfile.mkdtemp(prefix="cfr", dir="/tmp")) / "s.sock"
    p = subprocess.run([sys.executable, "-m", "cat_follow", "record", "--sim", "--source", str(kittens),
                        "--out", str(rec), "--duration", "5", "--socket", str(sock)],
                       capture_output=True, text=True, env=cli_env, timeout=120, check=False)
    assert p.returncode == 0, p.stderr[-3000:]
    sock.parent.rmdir()
    frames = [json.loads(x) for x in (rec / "frames.jsonl").read_text().splitlines()]
    telemetry = [json.loads(x) for x in (rec / "telemetry.jsonl").read_text().splitlines()]
    segments = [json.loads(x) for x in (rec / "segments.jsonl").read_text().splitlines()]
    done = json.loads((rec / "summary.json").read_text())  # written at a clean stop only
    assert len(segments) == done["segments"] >= 1 and sum(s["frames"] for s in segments) == len(frames)
    for s in segments:
        cap = cv2.VideoCapture(str(rec / s["file"]))
        assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == s["frames"] > 0
        assert (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))) == (640, 480)
    # every frame the camera published is recorded or counted as dropped (a loaded machine drops some)
    assert len(frames) > 60 and done["frames"] == len(frames)
    assert [f["k"] for f in frames] == list(range(len(frames)))
    assert all(f["dropped"] == f["seq"] - 1 - f["k"] for f in frames)  # pool seqs 1, 2, ...: recorded or dropped
    assert done["frames_dropped"] == frames[-1]["dropped"]
    assert all(a["t"] < b["t"] for a, b in itertools.pairwise(frames))  # true capture times
    # the main loop ticks on each tracked frame, or once per 20 Hz period without one; nobody commanded
    assert 60 < len(telemetry) <= frames[-1]["seq"] + 110 and all(t["state"] == "idle" for t in telemetry)
    # How often a box is expected follows the reference, not a fixed half: in the first 5 s of this
    # video the reference has a cat in ~2/3 of the frames and none from frame ~100 on. The recorded
    # frames are the source frames named by their frame_index (the recorder may drop some).
    labels = load_reference(default_labels_dir() / "kittens_floor.json").frames
    reference = [labels[f["frame_index"]] for f in frames if f["frame_index"] < len(labels)]
    cat_share = sum(any(label == "cat" for label, _ in f) for f in reference) / len(reference)
    assert cat_share > 0.3
    assert sum(t["bbox"] is not None for t in telemetry) >= 0.6 * cat_share * len(telemetry)
    assert {"pose", "motors", "range_cm", "commands"} <= set(telemetry[0])

    log = tmp_path / "replay.jsonl"
    r = subprocess.run([sys.executable, "-m", "cat_follow", "replay", str(rec), "--fast", "--log", str(log)],
                       capture_output=True, text=True, env=cli_env, timeout=120, check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads(r.stdout)
    assert summary["frames"] == len(frames)
    assert summary["recording"]["telemetry_rows"] == len(telemetry) and summary["recording"]["complete"]
    # Same pictures, same model: often the same box. The recording ran its detector at wall-clock
    # speed, the replay in lock-step, so on a loaded machine the recorded box lags (0.42 at load 19,
    # 0.29 at load 35); frame counts and order are checked above.
    assert summary["recording"]["bbox_agreement"] > 0.2
    rows = [json.loads(x) for x in log.read_text().splitlines()]
    assert len(rows) == len(frames)
    assert all("recorded" in row for row in rows) and rows[-1]["recorded"]["state"] == "idle"
    assert [r["t"] for r in rows] == [f["t"] for f in frames]  # each frame at its recorded capture time
