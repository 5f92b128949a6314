"""The naive design the pipeline is measured against (what vilib-style code does).

The camera thread decodes a new array per frame and puts a ``frame.copy()`` into a
``queue.Queue`` per consumer; the detector runs on every frame (squash-resize, colour
conversion and ``set_tensor``, each allocating); the tracker runs KCF on every queued frame
and queues its box for the naive main loop, which takes each box as it comes (or ticks after
``robot.control_hz``'s period without one) and runs the same control step as the robot (state
machine, motion controller) into the same car thread (``CarActor`` on the simulated car).
So both sides report glass-to-motor: a frame's capture to the car thread applying the order
computed from it. Only the architecture differs from the pipeline: same video, model, KCF and
KCF scaling, control step and car path.
"""

from __future__ import annotations

import queue
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from cat_follow.bench.alloc import peak_alloc_bytes
from cat_follow.bench.cpu import core_pct, core_times, process_cpu_s
from cat_follow.calib.store import load_calibration
from cat_follow.car.sim import SimCar
from cat_follow.config import Config
from cat_follow.perception.model import ModelFiles, class_id, load_interpreter, parse_labels
from cat_follow.robot.car_thread import CarActor
from cat_follow.robot.motion import MotionController
from cat_follow.robot.state_machine import Sighting, StateMachine
from cat_follow.stats import LatencyRecorder, percentile
from cat_follow.threads.supervised import Health

Item = tuple[np.ndarray, int, int] | None  # frame copy, put time (ns), frame index
Box = tuple[float, float, float, float]
BoxItem = tuple[Box | None, int, int] | None  # tracked box, its frame's capture time (ns), put time (ns)


class NaiveDetector:
    """Allocates freely, as the naive loop does; feeds RGB (not vilib's BGR bug)."""

    def __init__(self, models: ModelFiles, config: Config) -> None:
        self.interp = load_interpreter(models.model, config.detector.num_threads)
        labels = parse_labels(models.labels.read_text().splitlines())
        self.cat = class_id(labels, config.detector.label, models.labels)
        self.threshold = config.detector.score_threshold
        inp = self.interp.get_input_details()[0]
        self.index, self.size = inp["index"], (int(inp["shape"][2]), int(inp["shape"][1]))
        self.outputs = [o["index"] for o in self.interp.get_output_details()]

    def best(self, frame: np.ndarray) -> tuple[float, float, float, float] | None:
        rgb = cv2.cvtColor(cv2.resize(frame, self.size), cv2.COLOR_BGR2RGB)
        self.interp.set_tensor(self.index, np.expand_dims(rgb, 0))
        self.interp.invoke()
        boxes, classes, scores, count = (self.interp.get_tensor(i) for i in self.outputs)
        h, w = frame.shape[:2]
        for i in range(int(count[0])):
            if int(classes[0][i]) == self.cat and scores[0][i] >= self.threshold:
                y0, x0, y1, x1 = boxes[0][i]
                return (float(x0 * w), float(y0 * h), float((x1 - x0) * w), float((y1 - y0) * h))
        return None


class NaiveTracker:
    def __init__(self, max_target_px: int) -> None:
        self.max_px = max_target_px
        self.kcf: Any = None
        self.scale = 1.0

    def _small(self, frame: np.ndarray) -> np.ndarray:
        return frame if self.scale >= 1 else cv2.resize(frame, None, fx=self.scale, fy=self.scale)

    def step(self, frame: np.ndarray, det: Box | None) -> Box | None:
        """The tracked box on ``frame`` (full-frame pixels), or None."""
        if self.kcf is None:
            if det is None or det[2] < 4 or det[3] < 4:
                return None
            longest = max(det[2], det[3])
            self.scale = 1.0 if self.max_px <= 0 or longest <= self.max_px else self.max_px / longest
            self.kcf = cv2.TrackerKCF_create()
            s = self.scale
            self.kcf.init(self._small(frame), tuple(max(2, int(v * s)) for v in det))
            return det
        ok, b = self.kcf.update(self._small(frame))
        if not ok:
            self.kcf = None
            return None
        s = self.scale
        return (b[0] / s, b[1] / s, b[2] / s, b[3] / s)


class NaiveControl:
    """The naive main loop's control step: the robot's own state machine and motion controller
    (``Robot.tick``'s core) into the robot's car thread on the simulated car."""

    def __init__(self, config: Config, frame_w: int, frame_h: int) -> None:
        cal = load_calibration(config.robot.calibration)
        self.sm = StateMachine(config.behaviour, config.motion.goal_tolerance_m)
        self.motion = MotionController(config.motion, config.robot, cal, frame_w, frame_h)
        self.actor = CarActor(lambda: SimCar(cal), Health(), watchdog_s=config.robot.watchdog_s)
        self.period = 1.0 / config.robot.control_hz
        self._last: float | None = None

    def loop(self, boxes: queue.Queue[BoxItem], wake: LatencyRecorder) -> None:
        """The naive main loop: each box as it comes (its wake timed), or a tick after a period
        without one; ends on None."""
        while True:
            try:
                got = boxes.get(timeout=self.period)
            except queue.Empty:
                self.step(None, 0)
                continue
            if got is None:
                return
            wake.add((time.monotonic_ns() - got[2]) / 1e6)
            self.step(got[0], got[1])

    def step(self, box: Box | None, capture_ns: int) -> None:
        now = time.monotonic()
        dt = 0.0 if self._last is None else min(now - self._last, 0.5)
        self._last = now
        intent = self.sm.step(now, (0.0, 0.0, 0.0), Sighting(box is not None))
        out = self.motion.command(intent, t=now, dt=dt, pose=(0.0, 0.0, 0.0), box=box, distance_cm=None)
        self.actor.send(out.order, capture_ns=capture_ns)


def _feed(cap: cv2.VideoCapture, frames: int, fps: float, queues: list[queue.Queue[Item]],
          counts: dict[str, int]) -> None:
    """The naive camera thread: a new array per frame and a ``copy()`` of it per consumer."""
    t0 = time.monotonic()
    for i in range(frames):
        delay = t0 + i / fps - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        ok, frame = cap.read()
        if not ok:
            break
        t = time.monotonic_ns()
        for q in queues:
            q.put((frame.copy(), t, i))
        counts["max_queue"] = max(counts["max_queue"], *(q.qsize() for q in queues))
    for q in queues:
        q.put(None)


def _run_guarded(fns: list[Any]) -> float:
    """Run ``fns`` on threads of their own; the wall time, or the first exception raised."""
    errors: list[BaseException] = []

    def guarded(fn: Any) -> Any:
        def run() -> None:
            try:
                fn()
            except BaseException as exc:
                errors.append(exc)
        return run

    threads = [threading.Thread(target=guarded(f)) for f in fns]
    t0 = time.monotonic()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    if errors:
        raise errors[0]
    return time.monotonic() - t0


def run_threaded(video: Path, config: Config, models: ModelFiles, frames: int,
                 rate: float | None = None) -> dict[str, Any]:
    """The naive pipeline, paced at ``rate`` (default: the video's fps), for ``frames`` frames."""
    cap = cv2.VideoCapture(str(video))
    fps = rate or cap.get(cv2.CAP_PROP_FPS) or 30.0
    q_trk: queue.Queue[Item] = queue.Queue()
    q_det: queue.Queue[Item] = queue.Queue()
    q_ctl: queue.Queue[BoxItem] = queue.Queue()
    det = NaiveDetector(models, config)
    trk = NaiveTracker(config.tracker.max_target_px)
    ctl = NaiveControl(config, config.camera.width, config.camera.height)
    latest: list[Box | None] = [None]
    handoff, det_ms, wake = LatencyRecorder(), LatencyRecorder(), LatencyRecorder()
    counts = {"tracker": 0, "detector": 0, "max_queue": 0}

    def detector() -> None:
        while (item := q_det.get()) is not None:
            t = time.perf_counter()
            latest[0] = det.best(item[0])
            det_ms.add((time.perf_counter() - t) * 1e3)
            counts["detector"] += 1

    def tracker() -> None:
        try:
            while (item := q_trk.get()) is not None:
                handoff.add((time.monotonic_ns() - item[1]) / 1e6)
                box = trk.step(item[0], latest[0])
                q_ctl.put((box, item[1], time.monotonic_ns()))
                counts["tracker"] += 1
        finally:
            q_ctl.put(None)

    ctl.actor.start()
    if not ctl.actor.ready.wait(15.0):
        raise RuntimeError("the baseline's car thread did not come up")
    cores0, cpu0 = core_times(), process_cpu_s()
    try:
        wall = _run_guarded([lambda: _feed(cap, frames, fps, [q_trk, q_det], counts), detector, tracker,
                             lambda: ctl.loop(q_ctl, wake)])
    finally:
        cap.release()
        ctl.actor.stop()
        ctl.actor.join(3.0)
    g2m = ctl.actor.motor_latency_ms()
    return {"handoff_ms_p50": handoff.percentile(50), "handoff_ms_p99": handoff.percentile(99),
            "tracker_fps": round(counts["tracker"] / wall, 2), "detector_ms_p50": det_ms.percentile(50),
            "detector_runs": counts["detector"], "detector_runs_per_s": round(counts["detector"] / wall, 2),
            "glass_to_motor_ms_p50": percentile(g2m, 50), "glass_to_motor_ms_p99": percentile(g2m, 99),
            "control_wake_ms_p50": wake.percentile(50), "control_wake_ms_p99": wake.percentile(99),
            "cpu_core_pct": core_pct(cores0, core_times()),
            "cpu_main_pct": round(100 * (process_cpu_s() - cpu0) / wall, 1),
            "max_queue_depth": counts["max_queue"], "wall_s": round(wall, 2)}


def alloc_per_frame(video: Path, config: Config, models: ModelFiles, frames: int, warmup: int) -> float:
    """Mean bytes allocated per frame in steady state: each stage run in turn under
    tracemalloc, the queues replaced by lists (the copies are what is measured)."""
    cap = cv2.VideoCapture(str(video))
    det = NaiveDetector(models, config)
    trk = NaiveTracker(config.tracker.max_target_px)
    q_trk: list[np.ndarray] = []
    q_det: list[np.ndarray] = []
    latest: list[Any] = [None]
    totals = []

    def camera() -> None:
        _ok, frame = cap.read()
        q_trk.append(frame.copy())
        q_det.append(frame.copy())

    def detector() -> None:
        latest[0] = det.best(q_det.pop(0))

    def tracker() -> None:
        trk.step(q_trk.pop(0), latest[0])

    for i in range(frames):
        total = peak_alloc_bytes(camera) + peak_alloc_bytes(detector) + peak_alloc_bytes(tracker)
        if i >= warmup:
            totals.append(total)
    cap.release()
    return float(np.mean(totals))
