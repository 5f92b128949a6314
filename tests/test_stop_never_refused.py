"""`stop` reaches the robot through a command socket that idle clients have filled."""

from __future__ import annotations

import socket
import tempfile
import time
from pathlib import Path

from test_safety import Harness, assert_stays_stopped, wait_for

from cat_follow.config import Config
from cat_follow.perception.model import ModelFiles
from cat_follow.perception.ssd import SsdDetector
from cat_follow.robot.state_machine import RobotState


def test_stop_reaches_the_robot_with_every_slot_held_by_an_idle_client(config: Config, models: ModelFiles,
                                                                        detector: SsdDetector) -> None:
    d = Path(tempfile.mkdtemp(prefix="cf", dir="/tmp"))  # AF_UNIX paths must be short
    h = Harness(config, models, detector, socket_path=d / "s.sock")
    idle: list[socket.socket] = []
    try:
        h.start()
        h.drive_off()
        server = h.robot.server
        assert server is not None and server.max_clients == 16
        for _ in range(16):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(str(server.path))
            idle.append(s)
        assert wait_for(lambda: len(server.clients) == 16, 2.0)
        t = time.monotonic()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as late:
            late.settimeout(3)
            late.connect(str(server.path))
            late.sendall(b"stop\n")
            assert late.recv(64) == b"OK\n"
        assert wait_for(lambda: h.car.motors_stopped, 0.5)
        assert h.robot.sm.state is RobotState.IDLE and h.robot.sm.stop_reason == "stop command"
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as other:  # anything else is still refused
            other.settimeout(3)
            other.connect(str(server.path))
            other.sendall(b"cat_location 1 0\n")
            assert other.recv(64) == b"ERR too many clients\n"
        assert h.robot.sm.state is RobotState.IDLE
        h.finish()
        assert_stays_stopped(h.car, t, 0.5)
    finally:
        for s in idle:
            s.close()
        if h.thread.is_alive():
            h.finish()
        for p in d.iterdir():
            p.unlink()
        d.rmdir()
