"""``cat-follow simulate``: the real pipeline and robot against a simulated world.

Nothing is special-cased beyond the frame source (a rendered camera) and the car (SimCar):
the pool, the camera/tracker/detector threads with the real KCF and TFLite model, the
state machine, motion control, the car thread and its watchdog all run as on the car.

Time: real time by default. ``fast`` is lock-step on a simulated clock: each frame is
rendered, tracked (and detected, when due) and acted on before the world advances by
1/fps, so a run gives the same result on any machine.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from cat_follow.calibration import load_calibration
from cat_follow.car.sim import SimCar, SimWorld
from cat_follow.config import Config
from cat_follow.errors import CatFollowError
from cat_follow.memory.pool import BBOX_TRACKER
from cat_follow.perception.model import ModelFiles, assets_dirs
from cat_follow.pipeline import Pipeline
from cat_follow.robot.main_loop import Robot
from cat_follow.sim.metrics import Metrics, Sample
from cat_follow.sim.plot import plot_paths
from cat_follow.sim.render import Renderer
from cat_follow.sim.rendered_camera import SimCameraSource
from cat_follow.sim.scenario import Scenario
from cat_follow.sim.sprites import SEG_SUBPATH, Segmenter, Sprite, load_sprite
from cat_follow.video_out import annotate, open_video_writer
from cat_follow.web.overlay import box_label, whole

log = logging.getLogger(__name__)

MAX_WRITES_PER_CALL = 3  # video frames written per overlay call at most (see _Overlay.show)


class SimClock:
    """Scenario seconds, advanced by the lock-step loop."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


class WallClock:
    """Scenario seconds in real time."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()

    def __call__(self) -> float:
        return time.monotonic() - self.t0


@dataclass
class SimOptions:
    fast: bool = False
    out_video: Path | None = None
    summary_path: Path | None = None
    plot_path: Path | None = None
    progress: bool = False
    live_view: bool = False
    attach: Callable[[Robot], AbstractContextManager[Any]] | None = None  # e.g. the web view, around the run


def sim_assets() -> Path:
    """The assets folder with the cat photos and the segmentation model."""
    for d in assets_dirs():
        if (d / SEG_SUBPATH).is_file() and (d / "images").is_dir():
            return d
    raise CatFollowError("the simulator needs the cat photos and the segmentation model: run "
                         "./setup.sh --dev (or set CAT_FOLLOW_ASSETS)")


_SPRITES: dict[tuple[str, str], Sprite] = {}


def cat_sprite(photo: str, kind: str = "cat") -> Sprite:
    """The ``kind`` (cat, dog, person) cut out of ``photo`` (cut once per process)."""
    if (photo, kind) not in _SPRITES:
        assets = sim_assets()
        path = assets / "images" / photo
        if not path.is_file():
            raise CatFollowError(f"{kind} photo {path}: no such file")
        _SPRITES[photo, kind] = load_sprite(path, Segmenter(assets / SEG_SUBPATH), kind)
    return _SPRITES[photo, kind]


class _Overlay:
    """Writes the camera view with the tracker's box and the robot's state, and a live window.

    The video plays at real speed: frame k of the file shows the newest camera frame at
    scenario time k/fps, whatever the rate ``show`` is called at (one call per control tick
    in real time, one per camera frame in lock-step)."""

    def __init__(self, path: Path | None, canvas: np.ndarray, fps: float, live: bool) -> None:
        self.canvas = canvas
        self.fps = fps
        self.writer = None
        if path is not None:
            self.writer = open_video_writer(path, (canvas.shape[1], canvas.shape[0]), fps)
        self.live = live
        self.frames_written = 0
        self.last_t: float | None = None

    def due(self, t: float) -> int:
        """How many video frames are due by scenario time ``t`` and not yet written."""
        if self.writer is None:
            return 0
        return int(t * self.fps + 1e-6) + 1 - self.frames_written

    def show(self, pixels: np.ndarray, box: Any, text: str, t: float) -> None:
        self.last_t = t
        due = self.due(t)
        if due <= 0 and not self.live:
            return
        rect = (float(box["x"]), float(box["y"]), float(box["w"]), float(box["h"])) if box["valid"] else None
        annotate(self.canvas, pixels, rect, (0, 220, 0), text, text_color=(20, 20, 20))
        if self.writer is not None:
            # the same picture again where the camera was slower than fps; a backlog (start-up)
            # is caught up a few frames per call so that no tick of the control loop waits long
            n = min(max(due, 0), MAX_WRITES_PER_CALL)
            for _ in range(n):
                self.writer.write(self.canvas)
            self.frames_written += n
        if self.live:
            cv2.imshow("cat-follow simulate", self.canvas)
            cv2.waitKey(1)

    def close(self) -> None:
        if self.writer is not None:
            if self.last_t is not None:  # a backlog left at the end: the last picture until then
                for _ in range(max(self.due(self.last_t), 0)):
                    self.writer.write(self.canvas)
            self.writer.release()
        if self.live:
            cv2.destroyAllWindows()


def run_scenario(sc: Scenario, config: Config, models: ModelFiles, opts: SimOptions) -> dict[str, Any]:
    """Run one scenario; returns its summary (also written to ``opts.summary_path``)."""
    cal = load_calibration(config.robot.calibration)
    clock: Callable[[], float] = SimClock() if opts.fast else WallClock()
    rx, ry = sc.room
    world = SimWorld(room=(0.0, 0.0, rx, ry), walls=sc.walls)
    car = SimCar(cal, start=sc.robot.start, world=world, clock=clock,
                 sleep=(lambda s: None) if opts.fast else time.sleep, seed=0)
    renderer = Renderer(config.camera.width, config.camera.height, cal.camera_hfov_deg, sc.room, sc.walls)
    source = SimCameraSource(sc, renderer, car, cal, cat_sprite(sc.cat.photo) if sc.cat else None, clock,
                             tuple(cat_sprite(d.photo, d.kind) for d in sc.decoys))
    pipeline = Pipeline(config, source, models, fast=opts.fast)
    robot = Robot(config, cal, pipeline, lambda: car, lockstep=opts.fast, clock=clock)
    metrics = Metrics(sc, config.motion.follow_distance_m, config.camera.width, cal.wheelbase_m)
    overlay = _Overlay(opts.out_video, pipeline.pool.frame_annotate, sc.fps, opts.live_view) \
        if opts.out_video or opts.live_view else None
    pending = list(sc.commands)
    box = pipeline.shared.new_bbox_buffer()
    sx, sy, sth = sc.robot.start[0], sc.robot.start[1], math.radians(sc.robot.start[2])
    shared, rid = pipeline.shared, pipeline.main_reader

    def world_at(t: float) -> None:  # what the range sensor sees (hidden bodies are elsewhere)
        cat = sc.cat_in_sight(t)
        world.obstacles[:] = [] if cat is None or sc.cat is None else [(cat[0], cat[1], sc.cat.radius_m)]
        world.obstacles += [(x, y, d.radius_m) for d, (x, y, _) in sc.decoys_in_sight(t)]

    def commands_due(t: float) -> None:
        while pending and pending[0].at <= t + 1e-9:
            c = pending.pop(0)
            metrics.answers.append((round(t, 3), c.text, robot.submit(c.text)))

    def sample(t: float) -> None:
        cam = source.last_cam
        if cam is None:
            return
        x, y, th = (float(v) for v in car.pose)
        ox, oy, oth = robot.odom.as_tuple()
        odom_w = (sx + ox * math.cos(sth) - oy * math.sin(sth), sy + ox * math.sin(sth) + oy * math.cos(sth),
                  sth + oth)
        pose = sc.cat_in_sight(t)
        cat = None if pose is None else pose[:2]
        col = cat_box = None
        if cat is not None and sc.cat is not None:
            p = renderer.project(cam, (cat[0], cat[1], sc.cat.height_m / 2))
            if p is not None and 0 <= p[0] < renderer.w:
                col = p[0]
            cat_box = _seen_box(renderer, cam, cat, source.sprite, sc.cat.height_m)
        decoys = [(dx, dy, d.radius_m) for d, (dx, dy, _) in sc.decoys_in_sight(t)]
        decoy_boxes = [b for d, (dx, dy, _) in sc.decoys_in_sight(t)
                       if (b := _seen_box(renderer, cam, (dx, dy), cat_sprite(d.photo, d.kind), d.height_m))]
        shared.read_bbox(BBOX_TRACKER, box)
        b = box[0]
        target = (float(b["x"]), float(b["y"]), float(b["w"]), float(b["h"])) if b["valid"] else None
        metrics.add(Sample(t, robot.sm.state, (x, y, th), odom_w, (cam.x, cam.y), cat, col,
                           target=target, cat_box=cat_box, decoys=decoys, decoy_boxes=decoy_boxes))

    def draw(pixels: np.ndarray, t: float) -> None:
        if overlay is not None:
            shared.read_bbox(BBOX_TRACKER, box)
            seen = f" | {box_label(box[0], config.detector.label)}" if box[0]["valid"] else ""
            motors = f"speed={whole(robot.last_cmd.speed)} pan={whole(robot.last_cmd.pan)}"
            overlay.show(pixels, box[0], f"{sc.name} t={t:5.1f}s {robot.sm.state.label} {motors}{seen}", t)

    from tqdm import tqdm

    steps = round(sc.duration_s * sc.fps)
    t_wall = time.monotonic()
    world_at(0.0)
    try:
        with opts.attach(robot) if opts.attach else nullcontext(), \
                tqdm(total=steps if opts.fast else round(sc.duration_s), unit="frame" if opts.fast else "s",
                     disable=not opts.progress, file=sys.stderr, leave=False, desc=sc.name) as bar:
            if opts.fast:
                assert isinstance(clock, SimClock)
                _run_lockstep(robot, pipeline, clock, car, steps, sc.fps, world_at, commands_due, sample, draw, bar)
            else:
                last_s = [0]
                video_end = sc.duration_s - 0.5 / sc.fps  # the last tick may overshoot: the video does not

                def on_tick(now: float) -> None:
                    commands_due(now)
                    world_at(now)
                    sample(now)
                    if overlay is not None:
                        with shared.latest_frame(rid) as ref:
                            if ref is not None:
                                draw(ref.pixels, min(now, video_end))
                    if int(now) > last_s[0]:
                        bar.update(int(now) - last_s[0])
                        last_s[0] = int(now)
                    if now >= sc.duration_s:
                        robot.request_exit("scenario over")

                status = robot.run(clock=clock, on_tick=on_tick)
                if status != 0:
                    raise CatFollowError(f"the robot stopped with status {status}: {robot.exit_reason}")
    finally:
        if overlay is not None:
            overlay.close()
    wall = time.monotonic() - t_wall
    out = metrics.summary()
    c = pipeline.pool.counters[0]
    out.update({"mode": "fast" if opts.fast else "real time", "frames": int(c["frames_published"]),
                "detector_runs": int(c["detector_runs"]), "wall_s": round(wall, 2),
                "stop_reason": robot.sm.stop_reason})
    if opts.plot_path:
        plot_paths(opts.plot_path, sc, metrics.samples)
    if opts.summary_path:
        import json

        opts.summary_path.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    return out


def _seen_box(renderer: Renderer, cam: Any, pos: tuple[float, float], sprite: Sprite | None,
              height: float) -> tuple[float, float, float, float] | None:
    """The projected box of a sprite standing at ``pos``, clipped to the image; None if out of view."""
    if sprite is None:
        return None
    b = renderer.cat_box(cam, pos, sprite, height)
    if b is None:
        return None
    x0, y0 = max(b[0], 0.0), max(b[1], 0.0)
    x1, y1 = min(b[0] + b[2], float(renderer.w)), min(b[1] + b[3], float(renderer.h))
    return (x0, y0, x1 - x0, y1 - y0) if x1 > x0 and y1 > y0 else None


def _run_lockstep(robot: Robot, pipeline: Pipeline, clock: SimClock, car: SimCar, steps: int, fps: float,
                  world_at: Callable[[float], None], commands_due: Callable[[float], None],
                  sample: Callable[[float], None], draw: Callable[[np.ndarray, float], None], bar: Any) -> None:
    """One frame per step: render -> track (-> detect) -> tick -> world advances by 1/fps."""
    shared, rid, health = pipeline.shared, pipeline.main_reader, pipeline.health
    tracker_rid = pipeline.tracker.reader
    robot.start()
    seen = 0
    try:
        for k in range(steps):
            t = k / fps
            ref = None
            while ref is None:
                health.raise_if_failed()
                shared.wait_frame(rid, 0.2)
                ref = shared.acquire_latest(rid, newer_than=seen)
            seen = ref.seq
            try:
                while not shared.wait_reader_done(tracker_rid, seen, 0.2):
                    health.raise_if_failed()
                commands_due(t)
                robot.tick(t)
                sample(t)
                draw(ref.pixels, t)
            finally:
                shared.release(rid)
            clock.t = (k + 1) / fps
            car.advance()
            world_at(clock.t)
            shared.mark_done(rid, seen)
            bar.update(1)
    except KeyboardInterrupt:
        robot.request_exit("interrupted (Ctrl-C)")
        raise
    finally:
        if not robot.exit_reason:
            robot.request_exit("scenario over")
        robot.shutdown()
