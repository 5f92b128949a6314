"""The robot service that ``cat-follow run`` and ``record`` start: its wiring and its life.

``build_robot`` puts together the frame source, the perception pipeline, the car (simulated or
the PiCar-X, built later on the car thread) and the command socket. ``run_robot`` runs it
until asked to exit or for a set time; ``run_until_signal`` does so with SIGTERM and SIGINT
asking it to exit (the service's normal stop). Every way out stops the motors (``Robot.run``).
"""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Callable
from types import FrameType

from cat_follow.calib.store import load_calibration
from cat_follow.car.interface import Car
from cat_follow.config import Config
from cat_follow.perception.model import ModelFiles
from cat_follow.perception.worker import resolve_models
from cat_follow.pipeline import Pipeline
from cat_follow.robot.command_socket import server_socket_path
from cat_follow.robot.main_loop import Robot
from cat_follow.sources import default_video, open_source

log = logging.getLogger("cat_follow")

SIGINT_STATUS = 130  # Ctrl-C: the shell's 128 + 2
CAR_STUCK_STATUS = 3  # as for any failed thread (Robot.run)


def build_robot(cfg: Config, *, sim: bool, source: str | None = None, socket: str | None = None,
                models: ModelFiles | None = None) -> Robot:
    """The service, not started: ``sim`` = the simulated car and a looping video (``source`` or
    the sample), else the PiCar-X and the Pi camera (or ``source``). ``models``: the config's
    unless given."""
    cal = load_calibration(cfg.robot.calibration)
    factory: Callable[[], Car]
    if sim:
        from cat_follow.car.sim import SimCar

        frames = open_source(source or default_video(), cfg, loop=True)
        factory = lambda: SimCar(cal)  # noqa: E731
    else:
        from cat_follow.car.picarx_car import PicarxCar  # picarx only on the car: imported when asked for

        frames = open_source(source or "picamera", cfg)
        factory = PicarxCar
    pipeline = Pipeline(cfg, frames, models if models is not None else resolve_models(cfg))
    return Robot(cfg, cal, pipeline, factory, socket_path=server_socket_path(cfg.robot.socket, socket))


def exit_on_signals(robot: Robot) -> None:
    """SIGTERM and SIGINT ask ``robot`` to exit after its current tick (main thread only)."""
    def on_signal(signum: int, _frame: FrameType | None) -> None:
        robot.request_exit(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)


def run_robot(robot: Robot, on_tick: Callable[[float], None] | None = None,
              duration: float | None = None) -> int:
    """Run ``robot`` until it is asked to exit or ``duration`` seconds have passed; the
    process exit status (130 after SIGINT, as a shell reports Ctrl-C)."""
    t_end = None if duration is None else time.monotonic() + duration

    def tick(now: float) -> None:
        if on_tick is not None:
            on_tick(now)
        if t_end is not None and time.monotonic() >= t_end:
            robot.request_exit(f"--duration {duration:g} s reached")

    try:
        status = int(robot.run(on_tick=tick))
    except BaseException:
        if robot.actor.is_alive():  # run() raised with the car thread stuck (e.g. Picarx() hung in start)
            exit_past_a_stuck_car(CAR_STUCK_STATUS)
        raise
    log.info("exit: %s", robot.exit_reason or "done")
    status = SIGINT_STATUS if status == 0 and robot.exit_reason == "SIGINT" else status
    if robot.actor.is_alive():
        exit_past_a_stuck_car(status or CAR_STUCK_STATUS)
    return status


def exit_past_a_stuck_car(status: int) -> None:
    """End the process now with ``status``: the car thread is stuck in a car call (``run``
    already waited for it, bounded) and, not being a daemon, would hold the interpreter's exit
    for ever. Exiting lets systemd restart the service, and ExecStopPost reset the HAT."""
    log.critical("car thread stuck in a car call: exiting with status %d without it", status)
    logging.shutdown()  # flush the log handlers: os._exit skips them
    os._exit(status)


def run_until_signal(robot: Robot, on_tick: Callable[[float], None] | None = None,
                     duration: float | None = None) -> int:
    """``run_robot`` with SIGTERM and SIGINT as the way to stop it."""
    exit_on_signals(robot)
    return run_robot(robot, on_tick, duration)
