"""``cat-follow bench-web``: what the web view costs the vision loop, side by side in one run.

One pipeline (real video, KCF, TFLite) and one WebView run through phases with 0, 10, 20
and again 0 MJPEG viewers (in a separate process, reading at full rate). Per phase: tracker
fps, handoff p99, the encoder's CPU (thread time / wall), encodes vs JPEGs served, and the
latency from frame capture to the JPEG written to a viewer's socket. Ratios are against the
mean of the two 0-viewer phases (so drift of a shared machine shows in the spread).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from cat_follow.config import Config
from cat_follow.perception.model import ModelFiles
from cat_follow.pipeline import Pipeline
from cat_follow.sources import open_source
from cat_follow.stats import LatencyRecorder
from cat_follow.web.app import Endpoints
from cat_follow.web.bench_client import TOKEN_ENV
from cat_follow.web.view import WebView, with_web_slot

WARMUP_S = 3.0
CONNECT_S = 30.0  # the viewers' process may take seconds to start on a loaded machine


def _phase(pipe: Pipeline, view: WebView, clients: int, seconds: float, cursor: int) -> tuple[dict[str, Any], int]:
    """Run one phase; returns its figures and the results cursor."""
    handoff = LatencyRecorder()
    view.hub.latency_ms = LatencyRecorder()
    view.encoder.encode_ms = LatencyRecorder(4096)
    c = pipe.pool.counters[0]
    proc = None
    if clients:
        proc = subprocess.Popen([sys.executable, "-m", "cat_follow.web.bench_client", str(view.server.port),
                                 str(clients), str(seconds + 1.0)], stdout=subprocess.PIPE, text=True,
                                 env={**os.environ, TOKEN_ENV: view.token})
        t_end = time.monotonic() + CONNECT_S  # connected and reading before the clock starts
        while view.hub.viewers < clients and time.monotonic() < t_end and proc.poll() is None:
            time.sleep(0.05)
    for _, _row in pipe.results(cursor):  # skip what came before the phase
        cursor += 1
    f0, e0, cpu0 = int(c["tracker_frames"]), view.encoder.encodes, view.encoder.cpu_s
    s0, d0 = view.hub.frames_sent, view.hub.distinct_sent
    t0 = time.monotonic()
    while (now := time.monotonic()) - t0 < seconds:
        pipe.health.raise_if_failed()
        time.sleep(0.05)
        for k, row in pipe.results(cursor):
            cursor = k + 1
            handoff.add(float(row["handoff_ms"]))
    wall = now - t0
    out: dict[str, Any] = {
        "clients": clients,
        "tracker_fps": round((int(c["tracker_frames"]) - f0) / wall, 2),
        "handoff_ms_p99": handoff.percentile(99),
        "encoder_cpu_pct": round(100 * (view.encoder.cpu_s - cpu0) / wall, 2),
        "encodes": view.encoder.encodes - e0,
        "jpegs_served": view.hub.frames_sent - s0,
        "distinct_jpegs_served": view.hub.distinct_sent - d0,
        "frame_to_encoded_ms_p99": view.encoder.encode_ms.percentile(99),
        "frame_to_jpeg_ms_p50": view.hub.latency_ms.percentile(50),
        "frame_to_jpeg_ms_p99": view.hub.latency_ms.percentile(99),
    }
    if proc is not None:
        got, _ = proc.communicate(timeout=seconds + 30)
        out["viewer_parts_received"] = json.loads(got)["parts"] if got.strip() else None
    return out, cursor


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def run_web_bench(video: str | Path, config: Config, models: ModelFiles, *, seconds: float = 10.0,
                  clients: tuple[int, ...] = (0, 10, 20, 0), rate: float | None = 60.0,
                  summary_path: Path | None = None) -> dict[str, Any]:
    """The phases above on ``video`` (looped; camera paced at ``rate`` fps, None = the video's)."""
    cfg = with_web_slot(replace(config, web=replace(config.web, port=0, max_clients=max(max(clients), 1))))
    source = open_source(video, cfg, loop=True)
    pipe = Pipeline(cfg, source, models, paced=True, pace_fps=rate)
    status = json.dumps({"state": "bench"})
    view = WebView(cfg.web, pipe.shared, pipe.health, Endpoints(status=lambda: status, submit=None),
                   label=cfg.detector.label)
    phases = []
    with pipe, view:
        time.sleep(WARMUP_S)
        cursor = 0
        for n in clients:
            row, cursor = _phase(pipe, view, n, seconds, cursor)
            phases.append(row)
    idle = [p for p in phases if p["clients"] == 0]
    base_fps = float(np.mean([p["tracker_fps"] for p in idle])) if idle else None
    base_p99 = float(np.mean([p["handoff_ms_p99"] or 0.0 for p in idle])) if idle else None
    for p in phases:
        p["tracker_fps_ratio"] = _ratio(p["tracker_fps"], base_fps)
        p["handoff_p99_ratio"] = _ratio(p["handoff_ms_p99"], base_p99)
        p["encodes_per_distinct_jpeg_served"] = _ratio(p["encodes"], p["distinct_jpegs_served"])
    summary = {"video": str(video), "camera_rate_fps": rate, "web_rate_hz": cfg.web.rate_hz,
               "jpeg_quality": cfg.web.jpeg_quality, "seconds_per_phase": seconds, "phases": phases}
    if summary_path:
        summary_path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary
