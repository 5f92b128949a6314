"""Control runs on the frame: the main loop ticks when the tracker commits a result, not only
on its timer, and every new frame's order reaches the car with its glass-to-motor figure."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import numpy as np

from cat_follow.calib.store import Calibration
from cat_follow.car.sim import SimCar, SimParams, SimWorld
from cat_follow.config import Config
from cat_follow.perception.model import ModelFiles
from cat_follow.perception.ssd import SsdDetector
from cat_follow.perception.worker import SsdWorker
from cat_follow.pipeline import Pipeline
from cat_follow.robot.main_loop import Robot
from cat_follow.sources import ArraySource

GREY = np.full((480, 640, 3), 110, np.uint8)


def test_the_main_loop_ticks_on_each_tracker_result(config: Config, models: ModelFiles,
                                                    detector: SsdDetector) -> None:
    # a 1 Hz timer: without the wake the loop would tick about twice in the run below
    cfg = replace(config, robot=replace(config.robot, control_hz=1.0, watchdog_s=2.5))
    source = ArraySource([GREY] * 45, fps=30.0)
    pipe = Pipeline(cfg, source, models, worker=SsdWorker(detector))
    robot = Robot(cfg, Calibration(), pipe, lambda: SimCar(Calibration(), world=SimWorld(),
                                                           params=SimParams(dropout=0.0)))
    tick_times: list[float] = []

    def on_tick(_now: float) -> None:
        tick_times.append(time.monotonic())
        if pipe.finished():
            robot.request_exit("frames done")

    result: list[int] = []
    t = threading.Thread(target=lambda: result.append(robot.run(on_tick=on_tick)))
    t.start()
    t.join(60.0)
    assert result == [0], robot.exit_reason
    frames = int(pipe.shared.counters["tracker_frames"])
    wall = tick_times[-1] - tick_times[0]  # the running loop, start-up left out
    assert frames >= 10
    # one tick per result (results committed during a tick are taken by one tick): far more
    # ticks than the 1 Hz timer alone gives, and never fewer than half the results
    assert robot.ticks >= frames / 2 and robot.ticks > 2 * (wall + 1), (robot.ticks, frames, wall)
    assert robot.wake_ms.count >= frames / 2
    # each frame's order was applied and timed from its capture (one sample per new frame)
    assert robot.actor.motor_latency_ms().size >= frames / 2
