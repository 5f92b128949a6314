"""The steps of ``cat-follow calibrate``: print a chessboard, check the calibration against
picar-x's file, fit the camera, and the procedures that drive the car.

Each talks to the user through ``say`` (and ``ask``, on the car) and writes only the file(s)
its step is about.
"""

from __future__ import annotations

from pathlib import Path

from cat_follow.calib import procedures as proc
from cat_follow.calib.maths import PICARX_KEYS, chessboard_image, read_picarx_conf, speed_table
from cat_follow.calib.procedures import Ask, Say
from cat_follow.calib.store import Calibration, calibration_as_toml, load_calibration
from cat_follow.car.interface import Car
from cat_follow.errors import CatFollowError


def write_chessboard(out: Path, cols: int, rows: int, square_px: int, say: Say) -> None:
    """A printable board with ``cols`` x ``rows`` inner corners, to ``out`` (PNG)."""
    import cv2

    cv2.imwrite(str(out), chessboard_image(cols, rows, square_px))
    say(f"{out}: print it flat, measure one square, pass it as --square-mm")


def check(cal_path: Path | None, picarx_conf: Path, say: Say) -> None:
    """Says the calibration and picar-x's offsets, with a warning where they disagree."""
    cal = load_calibration(cal_path)
    say(f"# calibration file: {cal_path or '(none: built-in defaults)'}")
    say(calibration_as_toml(cal))
    theirs = read_picarx_conf(picarx_conf)
    say(f"# {picarx_conf}: " + (", ".join(f"{k} = {v}" for k, v in theirs.items()) or "(none)"))
    for which, key in PICARX_KEYS.items():
        ours = getattr(cal, proc.CAL_FIELD[which])
        if key in theirs and abs(float(theirs[key]) - ours) > 1e-6:
            say(f"WARNING: {which} zero is {ours:g} here but {theirs[key]} in {picarx_conf}; "
                f"run `cat-follow calibrate {'steering' if which == 'steering' else 'camera-servos'}`")


def camera(cal_path: Path, images: Path | None, cols: int, rows: int, square_mm: float, say: Say) -> None:
    """The camera's field of view from photos of the printed chessboard, into ``cal_path``."""
    if not images:
        raise CatFollowError("camera: pass --images DIR with 10-20 photos of the printed chessboard "
                             "taken with the car's camera at 640x480")
    intr = proc.camera_intrinsics(proc.load_images(images), cols, rows, square_mm / 1000, say)
    proc.save_calibration(cal_path, camera_hfov_deg=round(intr.hfov_deg, 2),
                          camera_vfov_deg=round(intr.vfov_deg, 2))


def on_car(what: str, car: Car, cal_path: Path, picarx_conf: Path, speeds: str, ask: Ask, say: Say) -> None:
    """``speed``, ``steering`` or ``camera-servos`` on ``car``; the motors are stopped and the
    car closed on the way out, whatever happens."""
    try:
        if what == "speed":
            measured = proc.measure_speeds(car, [float(v) for v in speeds.split(",")], ask, say)
            proc.save_calibration(cal_path, speed_table=speed_table(measured))
        else:
            parts = ["steering"] if what == "steering" else ["pan", "tilt"]
            current = load_calibration(cal_path) if cal_path.is_file() else None
            for which in parts:
                start = getattr(current, proc.CAL_FIELD[which]) if current else 0.0
                value = proc.servo_zero(car, which, start, ask, say)
                proc.save_zero(cal_path, picarx_conf, which, value)
    finally:
        car.stop()
        car.close()


def calibration_car(sim: bool) -> Car:
    """The car for a procedure, built on this (the only) thread that will use it."""
    if sim:
        from cat_follow.car.sim import SimCar, SimWorld

        return SimCar(Calibration(), start=(0.0, 0.0, 0.0), world=SimWorld(room=(-1.0, -2.0, 2.0, 2.0)))
    from cat_follow.car.picarx_car import PicarxCar  # picarx only on the car: imported when asked for

    return PicarxCar()
