"""The service's wiring (``cat_follow.service``) built and run in-process, as ``cat-follow run
--sim`` builds it: the simulated car, a looping video, the real pipeline and command socket."""

from __future__ import annotations

import tempfile
from pathlib import Path

from cat_follow.car.sim import SimCar
from cat_follow.config import Config
from cat_follow.perception.model import ModelFiles
from cat_follow.service import build_robot, run_robot


def test_the_service_ticks_drives_and_stops_the_motors(config: Config, models: ModelFiles, kittens: Path) -> None:
    with tempfile.TemporaryDirectory() as d:
        sock = Path(d) / "s.sock"
        robot = build_robot(config, sim=True, source=str(kittens), socket=str(sock), models=models)
        speeds: list[float] = []

        def on_tick(now: float) -> None:
            if not speeds:  # the first tick: the service is up, its socket too
                assert sock.exists()
                assert robot.submit("cat_location 1.0 0.0").startswith("OK")
            car = robot.actor.car
            assert isinstance(car, SimCar)
            speeds.append(car.applied.speed)
            if len(speeds) >= 400 or (len(speeds) > 5 and car.applied.speed > 0):
                robot.request_exit("test over")

        status = run_robot(robot, on_tick)
    assert status == 0 and robot.exit_reason == "test over"
    assert any(s > 0 for s in speeds)  # it drove toward the commanded location ...
    car = robot.actor.car
    assert isinstance(car, SimCar) and car.motors_stopped  # ... and every thread's end left the motors stopped
    assert not robot.actor.is_alive() and not robot.sonar.is_alive()
    assert not sock.exists()
