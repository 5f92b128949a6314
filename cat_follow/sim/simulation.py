"""``cat-follow simulate``: the real pipeline and robot against a simulated world.

Nothing is special-cased beyond the frame source (a rendered camera) and the car (SimCar):
the pool, the camera/tracker/detector threads with the real KCF and TFLite model, the
state machine, motion control, the car thread and its watchdog all run as on the car.

Time: real time by default, on a clock that slows down with the machine (``WorldClock``):
the world never runs more than ``WORLD_LEAD_FRAMES`` frame periods ahead of the newest frame
the tracker has finished, so a busy machine (the renderer alone takes ~40 ms of CPU a frame)
slows the world instead of blinding the robot; the summary says the real-time factor.
``fast`` is lock-step on a simulated clock: each frame is rendered, tracked (and detected,
when due) and acted on before the world advances by 1/fps, so a run gives the same result
on any machine.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from cat_follow.calib.store import load_calibration
from cat_follow.car.sim import SimCar, SimWorld
from cat_follow.config import Config
from cat_follow.errors import CatFollowError
from cat_follow.memory.pool import BBOX_TRACKER
from cat_follow.perception.model import ModelFiles, assets_dirs
from cat_follow.pipeline import Pipeline
from cat_follow.robot.main_loop import Robot
from cat_follow.run_options import RunOptions
from cat_follow.sim.camera_view import CameraView
from cat_follow.sim.metrics import Metrics, Sample
from cat_follow.sim.plot import plot_paths
from cat_follow.sim.render import Renderer, seen_box
from cat_follow.sim.rendered_camera import SimCameraSource
from cat_follow.sim.scenario import Scenario
from cat_follow.sim.sprites import SEG_SUBPATH, Segmenter, Sprite, load_sprite
from cat_follow.sim.world_clock import REAL_TIME_STALL_S, WORLD_LEAD_FRAMES, WorldClock
from cat_follow.web.overlay import box_label, whole

log = logging.getLogger(__name__)

class SimClock:
    """Scenario seconds, advanced by the lock-step loop."""

    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


@dataclass
class SimOptions(RunOptions[Robot]):
    plot_path: Path | None = None
    live_view: bool = False


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


def run_scenario(sc: Scenario, config: Config, models: ModelFiles, opts: SimOptions) -> dict[str, Any]:
    """Run one scenario; returns its summary (also written to ``opts.summary_path``)."""
    sim = Simulation(sc, config, models, opts)
    out = sim.run()
    if opts.plot_path:
        plot_paths(opts.plot_path, sc, sim.metrics.samples)
    if opts.summary_path:
        import json

        opts.summary_path.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    return out


class Simulation:
    """One scenario run: owns the simulated world, car and camera, the pipeline and robot
    driving them, the metrics and the camera view. Each step (commands due, the world's
    obstacles, a metrics sample, the view) is a method the lock-step or real-time loop calls."""

    def __init__(self, sc: Scenario, config: Config, models: ModelFiles, opts: SimOptions) -> None:
        if not opts.fast:  # the world waits for the camera (WorldClock): a slow frame is not a stall
            config = replace(config, camera=replace(config.camera, stall_timeout_s=REAL_TIME_STALL_S))
        self.sc, self.config, self.opts = sc, config, opts
        cal = load_calibration(config.robot.calibration)
        self.clock: Callable[[], float] = SimClock() if opts.fast else WorldClock(WORLD_LEAD_FRAMES / sc.fps)
        rx, ry = sc.room
        self.world = SimWorld(room=(0.0, 0.0, rx, ry), walls=sc.walls)
        self.car = SimCar(cal, start=sc.robot.start, world=self.world, clock=self.clock,
                          sleep=(lambda s: None) if opts.fast else time.sleep, seed=0)
        self.renderer = Renderer(config.camera.width, config.camera.height, cal.camera_hfov_deg, sc.room, sc.walls)
        self.source = SimCameraSource(sc, self.renderer, self.car, cal, cat_sprite(sc.cat.photo) if sc.cat else None,
                                      self.clock, tuple(cat_sprite(d.photo, d.kind) for d in sc.decoys))
        self.pipeline = Pipeline(config, self.source, models, fast=opts.fast)
        car = self.car
        self.robot = Robot(config, cal, self.pipeline, lambda: car, lockstep=opts.fast, clock=self.clock)
        self.metrics = Metrics(sc, config.motion.follow_distance_m, config.camera.width, cal.wheelbase_m,
                               spin_down_s=self.car.params.motor_tau_s + 1.0 / config.robot.control_hz)
        self.view = CameraView(opts.out_video, self.pipeline.pool.frame_annotate, sc.fps, opts.live_view) \
            if opts.out_video or opts.live_view else None
        self.pending = list(sc.commands)
        self.box = self.pipeline.shared.new_bbox_buffer()
        self.last_s = 0  # real time: whole seconds shown on the progress bar
        self.seen = 0  # lock-step: the newest frame taken

    def run(self) -> dict[str, Any]:
        """Run the scenario to its end; the motors are stopped and the threads ended on every way out."""
        sc, opts = self.sc, self.opts
        from tqdm import tqdm

        steps = round(sc.duration_s * sc.fps)
        t_wall = time.monotonic()
        self.world_at(0.0)
        try:
            with opts.attach(self.robot) if opts.attach else nullcontext(), \
                    tqdm(total=steps if opts.fast else round(sc.duration_s), unit="frame" if opts.fast else "s",
                         disable=not opts.progress, file=sys.stderr, leave=False, desc=sc.name) as bar:
                if opts.fast:
                    self._run_lockstep(steps, bar)
                else:
                    self._run_real_time(bar)
        finally:
            if self.view is not None:
                self.view.close()
        return self._summary(time.monotonic() - t_wall)

    def _summary(self, wall: float) -> dict[str, Any]:
        self.metrics.motion_sent(self.car.moving_drives, self.car.travelled_m)  # the run's end closes a stop
        out = self.metrics.summary()
        c = self.pipeline.pool.counters[0]
        out.update({"mode": "fast" if self.opts.fast else "real time", "frames": int(c["frames_published"]),
                    "detector_runs": int(c["detector_runs"]), "wall_s": round(wall, 2),
                    "stop_reason": self.robot.sm.stop_reason, "timing": self.pipeline.timing_summary()})
        if isinstance(self.clock, WorldClock):
            out.update(self.clock.report(self.sc.name))
        return out

    # ---- the steps ---------------------------------------------------------------------
    def world_at(self, t: float) -> None:
        """What the range sensor sees at ``t`` (hidden bodies are elsewhere)."""
        sc = self.sc
        cat = sc.cat_in_sight(t)
        self.world.obstacles[:] = [] if cat is None or sc.cat is None else [(cat[0], cat[1], sc.cat.radius_m)]
        self.world.obstacles += [(x, y, d.radius_m) for d, (x, y, _) in sc.decoys_in_sight(t)]

    def commands_due(self, t: float) -> None:
        """The scenario's commands due by ``t``, submitted as the socket would; answers kept."""
        while self.pending and self.pending[0].at <= t + 1e-9:
            c = self.pending.pop(0)
            self.metrics.answered(round(t, 3), c.text, self.robot.submit(c.text), self.car.moving_drives,
                                  self.car.travelled_m, self.car.v)

    def _odometry_in_world(self) -> tuple[float, float, float]:
        """The robot's odometry (which starts at 0, 0, 0) turned into the world's frame."""
        sx, sy, sth = self.sc.robot.start[0], self.sc.robot.start[1], math.radians(self.sc.robot.start[2])
        ox, oy, oth = self.robot.odom.as_tuple()
        return (sx + ox * math.cos(sth) - oy * math.sin(sth), sy + ox * math.sin(sth) + oy * math.cos(sth),
                sth + oth)

    def sample(self, t: float) -> None:
        """One metrics sample: ground truth (poses, what is in view) beside what the robot did."""
        sc, renderer, cam = self.sc, self.renderer, self.source.last_cam
        if cam is None:
            return
        x, y, th = (float(v) for v in self.car.pose)
        odom_w = self._odometry_in_world()
        pose = sc.cat_in_sight(t)
        cat = None if pose is None else pose[:2]
        col = cat_box = None
        if cat is not None and sc.cat is not None:
            p = renderer.project(cam, (cat[0], cat[1], sc.cat.height_m / 2))
            if p is not None and 0 <= p[0] < renderer.w:
                col = p[0]
            cat_box = seen_box(renderer, cam, cat, self.source.sprite, sc.cat.height_m)
        decoys = [(dx, dy, d.radius_m) for d, (dx, dy, _) in sc.decoys_in_sight(t)]
        seen = {d: seen_box(renderer, cam, (dx, dy), cat_sprite(d.photo, d.kind), d.height_m)
                for d, (dx, dy, _) in sc.decoys_in_sight(t)}
        decoy_boxes = [b for d, b in seen.items() if b and d.kind != "cat"]  # another cat is no decoy
        other_cats = [seen.get(d) for d in sc.decoys if d.kind == "cat"]
        self.pipeline.shared.read_bbox(BBOX_TRACKER, self.box)
        b = self.box[0]
        acted = b["valid"] and self.robot.hints.heard(b)  # the box the robot acts on
        target = (float(b["x"]), float(b["y"]), float(b["w"]), float(b["h"])) if acted else None
        self.metrics.add(Sample(t, self.robot.sm.state, (x, y, th), odom_w, (cam.x, cam.y), cat, col,
                                target=target, cat_box=cat_box, decoys=decoys, decoy_boxes=decoy_boxes,
                                other_cat_boxes=other_cats))

    def draw(self, pixels: np.ndarray, t: float) -> None:
        """The camera view at ``t``: the tracker's box, the state and the motors."""
        if self.view is None:
            return
        robot, box = self.robot, self.box
        self.pipeline.shared.read_bbox(BBOX_TRACKER, box)
        seen = f" | {box_label(box[0], self.config.detector.label)}" if box[0]["valid"] else ""
        motors = f"speed={whole(robot.last_cmd.speed)} pan={whole(robot.last_cmd.pan)}"
        self.view.show(pixels, box[0], f"{self.sc.name} t={t:5.1f}s {robot.sm.state.label} {motors}{seen}", t)

    # ---- the two loops -----------------------------------------------------------------
    def _run_real_time(self, bar: Any) -> None:
        """The robot's own loop at its control rate; the steps run from its per-tick hook."""
        status = self.robot.run(clock=self.clock, on_tick=lambda now: self._on_tick(now, bar))
        if status != 0:
            raise CatFollowError(f"the robot stopped with status {status}: {self.robot.exit_reason}")

    def _on_tick(self, now: float, bar: Any) -> None:
        sc = self.sc
        assert isinstance(self.clock, WorldClock)
        if self.pipeline.shared.read_bbox(BBOX_TRACKER, self.box):  # 0: no frame tracked yet
            self.clock.caught_up(int(self.box[0]["t_media_ns"]) / 1e9)
        self.commands_due(now)
        self.world_at(now)
        self.sample(now)
        if self.view is not None:
            with self.pipeline.shared.latest_frame(self.pipeline.main_reader) as ref:
                if ref is not None:  # the last tick may overshoot: the video does not
                    self.draw(ref.pixels, min(now, sc.duration_s - 0.5 / sc.fps))
        if int(now) > self.last_s:
            bar.update(int(now) - self.last_s)
            self.last_s = int(now)
        if now >= sc.duration_s:
            self.robot.request_exit("scenario over")
        elif self.view is not None and self.view.closed:
            self.robot.request_exit("window closed")

    def _run_lockstep(self, steps: int, bar: Any) -> None:
        """One frame per step: render -> track (-> detect) -> tick -> world advances by 1/fps."""
        robot, clock = self.robot, self.clock
        assert isinstance(clock, SimClock)
        robot.start()
        try:
            for k in range(steps):
                if self.view is not None and self.view.closed:
                    robot.request_exit("window closed")
                    break
                self._lockstep_frame(k / self.sc.fps)
                clock.t = (k + 1) / self.sc.fps
                self.car.advance()
                self.world_at(clock.t)
                self.pipeline.shared.mark_done(self.pipeline.main_reader, self.seen)
                bar.update(1)
        except KeyboardInterrupt:
            robot.request_exit("interrupted (Ctrl-C)")
            raise
        finally:
            if not robot.exit_reason:
                robot.request_exit("scenario over")
            robot.shutdown()

    def _lockstep_frame(self, t: float) -> None:
        """Take the next frame once the tracker is done with it, and act on it at ``t``."""
        shared, rid, health = self.pipeline.shared, self.pipeline.main_reader, self.pipeline.health
        ref = None
        while ref is None:
            health.raise_if_failed()
            shared.wait_frame(rid, 0.2)
            ref = shared.acquire_latest(rid, newer_than=self.seen)
        self.seen = ref.seq
        try:
            while not shared.wait_reader_done(self.pipeline.tracker.reader, self.seen, 0.2):
                health.raise_if_failed()
            self.commands_due(t)
            self.robot.tick(t)
            self.sample(t)
            self.draw(ref.pixels, t)
        finally:
            shared.release(rid)

