"""Per-stage cost for the Pi budget (``python -m cat_follow.bench.stages``; docs/pi_budget.md).

Each stage is the project's own code on real frames of a real video, run one stage at a
time on one thread, so a figure is the stage's cost, not a latency under contention:

* camera -> pool: ``PoolWriter.write`` (validate, copy or letterbox into a slot, publish);
  and the bare 640x480 copy the Pi camera path makes (``MappedArray`` -> slot);
* KCF: the tracker's own shrink (``kcf_image``) and ``TrackerKCF.update`` on the cat's box
  (the box from the configured detector on the first frame);
* detector: the configured back-end's whole job (letterbox, inference, decode) on the whole
  frame, with ``detector.num_threads`` threads and with one;
* verifier: one crop check (crop, resize, inference, the trained head, embedding, colour signature);
* main tick: ``Robot.tick`` in a real robot loop on the simulated car (the bench's run);
* web view: the encoder's overlay drawing and JPEG encode at ``web.jpeg_quality``.

Printed: p50/p99 ms, runs per second at 30 fps, and core % here (p50 x rate).
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from dataclasses import replace
from pathlib import Path
from typing import Any
from unittest import mock

import cv2
import numpy as np

from cat_follow.config import Config, load_config
from cat_follow.geometry import Box
from cat_follow.memory.pool import BBOX, allocate_pool
from cat_follow.memory.shared_state import SharedState
from cat_follow.perception.model import ModelFiles
from cat_follow.perception.port import EMBED_LEN, KIND_CAT, SIGNATURE_LEN, DetectJob, new_result_buffer
from cat_follow.perception.worker import ModelWorker, make_worker, resolve_models
from cat_follow.sources import default_video
from cat_follow.sources.source import PoolWriter
from cat_follow.threads.detector import ThreadDetectorPort
from cat_follow.threads.supervised import Health
from cat_follow.threads.tracker import TrackerThread
from cat_follow.web.overlay import draw_overlay

FPS = 30.0


def _row(samples: list[float], rate: float, cpu_ms: float | None = None) -> dict[str, float]:
    """p50/p99 wall ms; CPU ms per run (``cpu_ms``: measured over all threads; else the
    p50, the stage being single-threaded); core % = CPU ms x runs per second."""
    arr = np.asarray(samples, dtype=np.float64)
    p50 = float(np.percentile(arr, 50))
    cpu = p50 if cpu_ms is None else cpu_ms
    return {"p50_ms": round(p50, 3), "p99_ms": round(float(np.percentile(arr, 99)), 3),
            "cpu_ms": round(cpu, 3), "per_s": rate, "core_pct": round(cpu * rate / 10.0, 1)}


def _process_cpu_ms() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return (r.ru_utime + r.ru_stime) * 1e3


def _ms_since(t0: int) -> float:
    return (time.perf_counter_ns() - t0) / 1e6


def _slot_frames(shared: SharedState, video: Path, n: int) -> tuple[list[np.ndarray], list[float], bool]:
    """The first ``n`` frames written into the pool as the camera thread writes them (timed),
    a copy of each (bench only: the later stages run on them), and whether they were letterboxed."""
    writer = PoolWriter(shared)
    reader = shared.register_reader("bench")
    cap = cv2.VideoCapture(str(video))
    frames, write_ms, boxed = [], [], False
    try:
        for i in range(n):
            ok, frame = cap.read()
            if not ok:
                break
            t0 = time.perf_counter_ns()
            writer.write(frame, frame_index=i, t_media_ns=0)
            write_ms.append(_ms_since(t0))
            boxed = frame.shape[:2] != (writer.height, writer.width)
            ref = shared.acquire_latest(reader)
            assert ref is not None
            frames.append(ref.pixels.copy())  # copy: bench only, the frames the later stages use
            shared.release(reader)
    finally:
        cap.release()
    if len(frames) < 10:
        raise RuntimeError(f"{video}: fewer than 10 frames")
    return frames, write_ms, boxed


def _camera_copy(frames: list[np.ndarray]) -> list[float]:
    """The Pi camera path's one copy (MappedArray -> slot): a slot-sized np.copyto."""
    dst = np.empty_like(frames[0])
    out = []
    for frame in frames:
        t0 = time.perf_counter_ns()
        np.copyto(dst, frame)
        out.append(_ms_since(t0))
    return out


def _detector(config: Config, models: ModelFiles, frames: list[np.ndarray]) -> tuple[list[float], float, Box | None]:
    """Whole-frame jobs with the config's worker (verifier off): wall ms each, CPU ms per job
    (all the runtime's threads), the first cat's box."""
    worker = make_worker(replace(config, verifier=replace(config.verifier, enabled=False)), models)
    rec = new_result_buffer()[0]
    worker.run(DetectJob(None, 0.3), frames[0], rec)  # warm-up: the first run is the slow one
    out, box = [], None
    cpu0 = _process_cpu_ms()
    for frame in frames:
        worker.run(DetectJob(None, config.detector.score_threshold), frame, rec)
        out.append(float(rec["ms"]))
        cats = [d for d in rec["dets"][: int(rec["n"])] if int(d["kind"]) == KIND_CAT]
        if box is None and cats:
            box = (float(cats[0]["x"]), float(cats[0]["y"]), float(cats[0]["w"]), float(cats[0]["h"]))
    return out, (_process_cpu_ms() - cpu0) / len(frames), box


def _verifier(config: Config, models: ModelFiles, frames: list[np.ndarray], box: Box) -> list[float]:
    worker = make_worker(config, models)
    if not isinstance(worker, ModelWorker) or worker.verifier is None:
        raise RuntimeError("no verifier configured (verifier.enabled = false?)")
    signature, embedding = np.zeros(SIGNATURE_LEN, np.float32), np.zeros(EMBED_LEN, np.float32)
    worker.verifier.verify(frames[0], box, signature, embedding)  # warm-up
    return [worker.verifier.verify(f, box, signature, embedding).ms for f in frames]


def _kcf(config: Config, shared: SharedState, models: ModelFiles, frames: list[np.ndarray],
         box: Box) -> tuple[list[float], list[float], list[float], float]:
    """The tracker's own shrink and KCF update, frame after frame, from ``box`` on frame 0, and
    INTER_AREA's shrink (the one before issue 19) of the same frames (empty at full size)."""
    health = Health()
    port = ThreadDetectorPort(shared, make_worker(config, models), health)  # never started: no jobs
    trk = TrackerThread(shared, config, health, port)
    if not trk.init_kcf(frames[0], box):
        raise RuntimeError(f"KCF would not start on {box}")
    shrink, update, area = [], [], []
    for frame in frames[1:]:
        t0 = time.perf_counter_ns()
        small = trk.kcf_image(frame)
        shrink.append(_ms_since(t0))
        if small is not frame:  # the shrink before issue 19, into the same buffer, for comparison
            t0 = time.perf_counter_ns()
            cv2.resize(frame, (small.shape[1], small.shape[0]), dst=small, interpolation=cv2.INTER_AREA)
            area.append(_ms_since(t0))
            small = trk.kcf_image(frame)
        t1 = time.perf_counter_ns()
        assert trk.kcf is not None
        trk.kcf.update(small)
        update.append(_ms_since(t1))
    return shrink, update, area, trk.scale


def _encode(config: Config, frames: list[np.ndarray], box: Box) -> list[float]:
    """The web encoder's work per frame: overlay drawn on its canvas, then the JPEG."""
    canvas = np.empty_like(frames[0])
    rec = np.zeros(1, dtype=BBOX)[0]
    rec["valid"], rec["x"], rec["y"], rec["w"], rec["h"], rec["score"] = 1, *box, 0.9
    params = [cv2.IMWRITE_JPEG_QUALITY, config.web.jpeg_quality]
    status = {"state": "FOLLOW", "detector": "ok"}
    trail = np.zeros((0, 2), np.float64)
    out = []
    for frame in frames:
        t0 = time.perf_counter_ns()
        draw_overlay(canvas, frame, rec, "cat", status, trail)
        cv2.imencode(".jpg", canvas, params)
        out.append(_ms_since(t0))
    return out


def _main_tick(video: Path, config: Config, models: ModelFiles) -> list[float]:
    """``Robot.tick`` timed in the bench's robot loop (SSD, simulated car, 150 frames)."""
    from cat_follow.bench.robot_run import robot_run
    from cat_follow.robot.main_loop import Robot

    ticks: list[float] = []
    real = Robot.tick

    def timed(self: Robot, now: float) -> Any:
        t0 = time.perf_counter_ns()
        out = real(self, now)
        ticks.append(_ms_since(t0))
        return out

    ssd = replace(config, detector=replace(config.detector, manifest="ssd_mobilenet_v1_coco_quant"),
                  verifier=replace(config.verifier, enabled=False))
    with mock.patch.object(Robot, "tick", timed):  # bench only: the class, for this run
        robot_run(video, ssd, resolve_models(ssd), 150, None, "thread")
    return ticks[10:]


def measure(video: Path, config: Config, frames: int) -> dict[str, Any]:
    """Every stage's figures (see the module docstring); rates are those of a 30 fps run with
    this config while a target is tracked."""
    models = resolve_models(config)
    shared = SharedState(allocate_pool(config))
    slots, write_ms, boxed = _slot_frames(shared, video, frames)
    det_ms, det_cpu, box = _detector(config, models, slots)
    if box is None:
        raise RuntimeError(f"{video}: the detector found no cat to track")
    one = replace(config, detector=replace(config.detector, num_threads=1))
    det1_ms, det1_cpu, _ = _detector(one, models, slots)
    shrink, update, area, scale = _kcf(config, shared, models, slots, box)
    det_rate = FPS / config.detector.every_k_frames
    verify_rate = 1.0 / config.verifier.every_s
    rows = {
        "camera_to_pool" + ("_letterbox" if boxed else "_copy"): _row(write_ms, FPS),
        "camera_copy_640x480": _row(_camera_copy(slots), FPS),
        "kcf_shrink": _row(shrink, FPS),
        "kcf_update": _row(update, FPS),
        **({"kcf_shrink_inter_area": _row(area, FPS)} if area else {}),
        f"detector_{config.detector.num_threads}_threads": _row(det_ms, det_rate, det_cpu),
        "detector_1_thread": _row(det1_ms, det_rate, det1_cpu),
        "verifier": _row(_verifier(config, models, slots, box), verify_rate),
        "main_tick": _row(_main_tick(video, config, models), config.robot.control_hz),
        "web_encode": _row(_encode(config, slots, box), config.web.rate_hz),
    }
    return {"video": str(video), "frames": len(slots), "detector": config.detector.manifest,
            "kcf_box_px": [round(v) for v in box], "kcf_scale": round(scale, 3), "stages": rows}


def render(result: dict[str, Any]) -> str:
    lines = ["| stage | p50 ms | p99 ms | CPU ms | runs/s at 30 fps (tracking) | core % here |",
             "|---|---|---|---|---|---|"]
    for name, r in result["stages"].items():
        lines.append(f"| {name} | {r['p50_ms']} | {r['p99_ms']} | {r['cpu_ms']} | {r['per_s']:g} | {r['core_pct']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", type=Path, help="default: the sample video")
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--config", type=Path)
    a = ap.parse_args(argv)
    result = measure(a.video or default_video(), load_config(a.config), a.frames)
    print(render(result))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
