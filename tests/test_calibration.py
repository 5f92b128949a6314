"""Calibration maths on synthetic data with known answers, and the procedures run against
the simulated car."""

from __future__ import annotations

import math
import random
from pathlib import Path

import cv2
import numpy as np
import pytest

from cat_follow.calib.maths import (
    board_points,
    calibrate_camera,
    chessboard_image,
    find_corners,
    fit_speed_mps,
    read_picarx_conf,
    speed_table,
    write_picarx_conf,
)


def test_speed_fit_recovers_a_known_speed_despite_spin_up_noise_and_dropouts() -> None:
    rng = random.Random(4)
    v, d0 = 0.27, 180.0
    samples = []
    for i in range(60):
        t = i * 0.05
        travelled = v * 100 * max(0.0, t - 0.15 + 0.15 * math.exp(-t / 0.15))  # first-order spin-up
        d = d0 - travelled + rng.gauss(0, 0.6)
        samples.append((t, -1.0 if rng.random() < 0.1 else d))  # 10% no-echo readings
    samples[30] = (samples[30][0], 400.0)  # one wild echo
    assert fit_speed_mps(samples) == pytest.approx(v, rel=0.03)
    with pytest.raises(ValueError, match="valid"):
        fit_speed_mps([(0.0, -1.0), (0.1, -2.0)])


def test_speed_table_is_monotonic_and_starts_at_zero() -> None:
    assert speed_table({60: 0.41, 20: 0.12, 40: 0.11}) == ((0.0, 0.0), (20.0, 0.12), (40.0, 0.12), (60.0, 0.41))
    with pytest.raises(ValueError):
        speed_table({})


def _view(board: np.ndarray, k: np.ndarray, rvec: np.ndarray, tvec: np.ndarray, square_px: int,
          square_m: float, size: tuple[int, int]) -> np.ndarray:
    """The printed board seen by a pinhole camera K at pose (rvec, tvec): a homography."""
    r, _ = cv2.Rodrigues(rvec)
    # board pixel (u, v) -> board metres -> image: H = K [r1 r2 t] * S, S maps pixels to metres
    s = np.array([[square_m / square_px, 0, -40 * square_m / square_px - square_m],
                  [0, square_m / square_px, -40 * square_m / square_px - square_m], [0, 0, 1]])
    h = k @ np.column_stack([r[:, 0], r[:, 1], tvec.ravel()]) @ s
    return cv2.warpPerspective(board, h, size, borderValue=128)


def test_camera_intrinsics_from_rendered_chessboards() -> None:
    size = (640, 480)
    fx, fy, cx, cy = 530.0, 528.0, 322.0, 238.0
    k = np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1]])
    cols, rows, square_m, square_px = 9, 6, 0.025, 60
    board = chessboard_image(cols, rows, square_px)
    views, seen = [], 0
    rng = np.random.default_rng(2)
    for _ in range(10):
        rvec = rng.uniform(-0.35, 0.35, 3)
        tvec = np.array([rng.uniform(-0.08, 0.0), rng.uniform(-0.06, 0.0), rng.uniform(0.35, 0.5)])
        img = _view(board, k, rvec, tvec, square_px, square_m, size)
        corners = find_corners(img, cols, rows)
        if corners is not None:
            views.append(corners)
            seen += 1
            expect, _ = cv2.projectPoints(board_points(cols, rows, square_m), rvec, tvec, k, None)
            assert np.abs(corners.reshape(-1, 2) - expect.reshape(-1, 2)).max() < 1.5
    assert seen >= 6
    intr = calibrate_camera(views, cols, rows, square_m, size)
    assert intr.fx == pytest.approx(fx, rel=0.02) and intr.fy == pytest.approx(fy, rel=0.02)
    assert intr.cx == pytest.approx(cx, abs=8) and intr.cy == pytest.approx(cy, abs=8)
    assert intr.hfov_deg == pytest.approx(math.degrees(2 * math.atan(320 / fx)), abs=0.7)
    assert intr.rms_px < 1.0
    with pytest.raises(ValueError, match="at least 3"):
        calibrate_camera(views[:2], cols, rows, square_m, size)


def test_picarx_conf_is_updated_in_place(tmp_path: Path) -> None:
    conf = tmp_path / "picar-x.conf"
    conf.write_text("# robot-hat config\n\npicarx_dir_motor = [1, 1]\npicarx_dir_servo = 3\n")
    write_picarx_conf(conf, {"picarx_dir_servo": "-1.5", "picarx_cam_pan_servo": "2"})
    assert read_picarx_conf(conf) == {"picarx_dir_motor": "[1, 1]", "picarx_dir_servo": "-1.5",
                                      "picarx_cam_pan_servo": "2"}
    assert conf.read_text().startswith("# robot-hat config\n")
    assert read_picarx_conf(tmp_path / "none.conf") == {}


# ---- the procedures, against the simulated car on a simulated clock ---------------------
class SimClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.t += s


def _sim_car(clock: SimClock):  # type: ignore[no-untyped-def]
    from cat_follow.calib.store import Calibration
    from cat_follow.car.sim import SimCar, SimWorld

    return SimCar(Calibration(), start=(0.0, 0.0, 0.0), world=SimWorld(room=(-1.0, -2.0, 2.2, 2.0)),
                  clock=clock, sleep=clock.sleep, seed=1)


def test_speed_procedure_recovers_the_sim_cars_true_speeds() -> None:
    from cat_follow.calib.procedures import measure_speeds
    clock = SimClock()
    car = _sim_car(clock)
    said: list[str] = []
    measured = measure_speeds(car, [20, 40, 60], lambda q: "", said.append, clock=clock, sleep=clock.sleep)
    for cmd, v in measured.items():
        probe = _sim_car(SimClock())
        probe.drive(cmd, 0.0)
        truth = probe.ground_speed_mps()  # the sim car's own speed for that command (7% below calibration)
        assert v == pytest.approx(truth, rel=0.05), (cmd, v, truth)
    assert car.motors_stopped
    assert abs(car.pose_in_start_frame()[0]) < 0.15  # it backed up to about where it started
    table = speed_table(measured)
    assert table[0] == (0.0, 0.0) and [r[0] for r in table] == [0.0, 20.0, 40.0, 60.0]


def test_speed_procedure_refuses_without_a_wall() -> None:
    from cat_follow.calib.procedures import measure_speeds
    from cat_follow.calib.store import Calibration
    from cat_follow.car.sim import SimCar, SimWorld
    from cat_follow.errors import CatFollowError

    clock = SimClock()
    car = SimCar(Calibration(), world=SimWorld(room=(-10, -10, 10, 10)), clock=clock, sleep=clock.sleep)
    said: list[str] = []
    with pytest.raises(CatFollowError, match="no wall"):
        measure_speeds(car, [30], lambda q: "", said.append, clock=clock, sleep=clock.sleep)
    assert any("unknown" in s for s in said) and car.motors_stopped


def test_servo_zero_procedure_and_both_files(tmp_path: Path) -> None:
    from cat_follow.calib.procedures import Cancelled, save_zero, servo_zero
    from cat_follow.calib.store import load_calibration

    clock = SimClock()
    car = _sim_car(clock)
    answers = iter(["+", "+", "++", "oops", "-", "s"])
    said: list[str] = []
    value = servo_zero(car, "steering", 0.0, lambda q: next(answers), said.append)
    assert value == 2.5 and car.zeros["steering"] == 2.5
    assert any("not understood" in s for s in said)
    with pytest.raises(Cancelled):
        servo_zero(car, "pan", 1.0, lambda q: "q", said.append)
    cal, conf = tmp_path / "cal.toml", tmp_path / "picar-x.conf"
    save_zero(cal, conf, "steering", value)
    assert load_calibration(cal).steering_offset_deg == 2.5
    assert read_picarx_conf(conf)["picarx_dir_servo"] == "2.5"


def test_check_warns_when_the_files_disagree(tmp_path: Path, cli_env: dict[str, str]) -> None:
    import subprocess
    import sys

    from cat_follow.calib.procedures import save_calibration

    cal, conf = tmp_path / "cal.toml", tmp_path / "picar-x.conf"
    save_calibration(cal, pan_offset_deg=1.5)
    write_picarx_conf(conf, {"picarx_cam_pan_servo": "-3"})
    p = subprocess.run([sys.executable, "-m", "cat_follow", "calibrate", "check", "--calibration", str(cal),
                        "--picarx-conf", str(conf)], capture_output=True, text=True, env=cli_env, check=False)
    assert p.returncode == 0
    assert "pan_offset_deg = 1.5" in p.stdout and "WARNING: pan zero is 1.5" in p.stdout


def test_camera_procedure_writes_the_field_of_view(tmp_path: Path, cli_env: dict[str, str]) -> None:
    import subprocess
    import sys

    from cat_follow.calib.store import load_calibration

    size, fx = (640, 480), 520.0
    k = np.array([[fx, 0, 320.0], [0, fx, 240.0], [0, 0, 1]])
    board = chessboard_image(9, 6, 60)
    rng = np.random.default_rng(5)
    shots = tmp_path / "shots"
    shots.mkdir()
    for i in range(8):
        rvec = rng.uniform(-0.3, 0.3, 3)
        tvec = np.array([rng.uniform(-0.07, 0.0), rng.uniform(-0.05, 0.0), rng.uniform(0.35, 0.5)])
        cv2.imwrite(str(shots / f"{i}.png"), _view(board, k, rvec, tvec, 60, 0.025, size))
    cal = tmp_path / "cal.toml"
    p = subprocess.run([sys.executable, "-m", "cat_follow", "calibrate", "camera", "--images", str(shots),
                        "--calibration", str(cal), "--square-mm", "25"], capture_output=True, text=True,
                       env=cli_env, timeout=120, check=False)
    assert p.returncode == 0, p.stderr
    assert load_calibration(cal).camera_hfov_deg == pytest.approx(math.degrees(2 * math.atan(320 / fx)), abs=0.7)
