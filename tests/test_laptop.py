"""The laptop experience as a new user meets it: set-up messages, error messages, Ctrl-C,
the simulation's video speed and window, the status's reason for not moving, the plot."""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from cat_follow.calib.store import Calibration
from cat_follow.config import MotionConfig, RobotConfig
from cat_follow.display import display_route, opencv_gui_backend
from cat_follow.robot.motion import MotionController
from cat_follow.robot.state_machine import Intent, Mode, RobotState
from cat_follow.sim.metrics import Sample
from cat_follow.sim.plot import ODOM, TRUE, plot_paths
from cat_follow.sim.scenario import load_scenario
from cat_follow.sources.video import VideoFileSource

REPO = Path(__file__).resolve().parents[1]
SHORT = """name = "short"
duration_s = {duration}
room = [6.0, 4.0]
[robot]
start = [1.0, 2.0, 0.0]
[cat]
path = [[2.5, 2.0]]
"""


def cli(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cat_follow", *args], capture_output=True, text=True, env=env,
                          timeout=timeout, check=False)


# ---- setup.sh --------------------------------------------------------------------------
def test_setup_help_is_the_usage_only() -> None:
    p = subprocess.run(["bash", str(REPO / "setup.sh"), "--help"], capture_output=True, text=True, timeout=10,
                       check=False)
    assert p.returncode == 0 and "--assets DIR" in p.stdout
    assert "set -euo" not in p.stdout and not p.stdout.lstrip().startswith("#!")


def test_setup_rejects_a_missing_assets_folder_before_installing_anything() -> None:
    t0 = time.monotonic()
    p = subprocess.run(["bash", str(REPO / "setup.sh"), "--dev", "--assets", "/nope"], capture_output=True,
                       text=True, timeout=30, check=False)
    assert time.monotonic() - t0 < 2.0
    assert p.returncode == 1 and "--assets /nope is not a directory" in p.stderr
    assert "==>" not in p.stdout  # no step started


def test_setup_says_a_download_failed_and_how_to_work_offline(tmp_path: Path) -> None:
    """No network, no --assets: one clear failure naming --assets DIR, not a traceback. The
    script is copied to an empty folder (its repository), and the model's URL points at a
    loopback port nobody listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    shutil.copy(REPO / "setup.sh", tmp_path / "setup.sh")
    env = dict(os.environ, CAT_FOLLOW_SSD_URL=f"http://127.0.0.1:{port}/model.zip")
    p = subprocess.run(["bash", str(tmp_path / "setup.sh"), "--dev"], capture_output=True, text=True, env=env,
                       timeout=60, check=False)
    assert p.returncode == 1
    assert "could not download" in p.stderr and "--assets DIR" in p.stderr and "Traceback" not in p.stderr
    assert len(p.stderr.splitlines()) <= 4, p.stderr
    assert not (tmp_path / ".venv").exists()  # told before the long installs


# ---- error messages --------------------------------------------------------------------
def test_a_missing_model_is_named_as_missing(cli_env: dict[str, str], tmp_path: Path) -> None:
    p = cli("replay", "--model", str(tmp_path / "nope.tflite"), env=cli_env)
    assert p.returncode == 2
    assert f"{tmp_path / 'nope.tflite'}: no such file" in p.stderr and "setup.sh" not in p.stderr


def test_detect_names_a_missing_image(cli_env: dict[str, str], tmp_path: Path) -> None:
    p = cli("detect", str(tmp_path / "missing.jpg"), env=cli_env)
    assert p.returncode == 1
    assert json.loads(p.stdout.splitlines()[0])["error"] == "no such file"


# ---- logs ------------------------------------------------------------------------------
def test_a_looping_video_logs_its_length_not_none(kittens: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="cat_follow.sources.video"):
        src = VideoFileSource(kittens, loop=True)
        src.open()
        src.close()
    text = caplog.text
    assert "None" not in text and "957 frames, looping" in text


# ---- Ctrl-C ----------------------------------------------------------------------------
def _interrupt_when(proc: subprocess.Popen[str], marker: str, timeout: float = 60) -> str:
    """Wait for ``marker`` on the child's stderr, send SIGINT, return all of stderr."""
    lines: list[str] = []
    seen = threading.Event()

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if marker in line:
                seen.set()

    t = threading.Thread(target=pump)
    t.start()
    try:
        assert seen.wait(timeout), "".join(lines)[-3000:]
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:  # a hang: PYTHONFAULTHANDLER prints every thread's stack on SIGABRT
            proc.send_signal(signal.SIGABRT)
            proc.wait(10)
            t.join(10)
            pytest.fail("still running 30 s after Ctrl-C; its threads:\n" + "".join(lines)[-8000:])
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        t.join(10)
    return "".join(lines)


@pytest.mark.slow
@pytest.mark.parametrize("command", ["simulate", "replay"])
def test_ctrl_c_is_a_normal_stop(command: str, cli_env: dict[str, str], tmp_path: Path) -> None:
    scenario = tmp_path / "long.toml"
    scenario.write_text(SHORT.format(duration=60.0))
    video = tmp_path / "v.mp4"
    args = {"simulate": ["simulate", "--scenario", str(scenario), "--out-video", str(video)],
            "replay": ["replay", "--out-video", str(video)]}[command]
    env = {k: v for k, v in cli_env.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["PYTHONFAULTHANDLER"] = "1"
    # A user's Ctrl-C: the child starts with SIGINT's default action even where this test runs as
    # a background job of a shell without job control (which starts it ignored, and Python then
    # keeps it ignored: the run went on for 30 s after the signal in two such CI runs).
    proc = subprocess.Popen([sys.executable, "-m", "cat_follow", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    err = _interrupt_when(proc, "cat-follow running" if command == "simulate" else "video ")
    assert proc.returncode == 130, err[-3000:]
    assert "Traceback" not in err and "ERROR" not in err and "KeyboardInterrupt" not in err, err[-3000:]
    assert err.count("cat-follow: interrupted") == 1
    if command == "simulate":
        assert "car thread ending: motors stopped (speed 0)" in err
    cap = cv2.VideoCapture(str(video))  # the video was closed properly on the way out
    ok, _ = cap.read()
    cap.release()
    assert ok


# ---- the simulation's video and window -------------------------------------------------
def _video_seconds(path: Path) -> tuple[int, float]:
    cap = cv2.VideoCapture(str(path))
    fps = cap.get(cv2.CAP_PROP_FPS)
    n = 0
    while cap.grab():
        n += 1
    cap.release()
    return n, fps


@pytest.mark.slow
@pytest.mark.parametrize("fast", [False, True])
def test_the_simulation_video_plays_at_real_speed(fast: bool, cli_env: dict[str, str], tmp_path: Path) -> None:
    duration = 4.0
    scenario = tmp_path / "s.toml"
    scenario.write_text(SHORT.format(duration=duration))
    video = tmp_path / "v.mp4"
    env = {k: v for k, v in cli_env.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    p = cli("simulate", "--scenario", str(scenario), "--out-video", str(video), *(["--fast"] if fast else []),
            env=env)
    assert p.returncode in (0, 1), p.stderr[-3000:]
    n, fps = _video_seconds(video)
    assert fps == load_scenario(str(scenario)).fps
    assert abs(n / fps - duration) <= 1.01 / fps, (n, fps)


def test_the_display_route_says_the_real_reason() -> None:
    assert opencv_gui_backend() is not None, "the dev set-up installs OpenCV's GUI wheel (opencv-contrib-python)"
    none = display_route({})
    assert not none.window and "DISPLAY" in none.reason
    bad = display_route({"DISPLAY": ":987", "PATH": os.environ.get("PATH", "")})
    assert not bad.window and "cannot open a window on DISPLAY=:987" in bad.reason


def _xwd_pixels(path: Path) -> np.ndarray:
    """An XWD screen dump (Xvfb -fbdir) as an HxWx3 array (24-bit TrueColor)."""
    raw = path.read_bytes()
    head = np.frombuffer(raw[:100], ">u4")
    size, w, h, bpl, ncolors = int(head[0]), int(head[4]), int(head[5]), int(head[12]), int(head[19])
    px = np.frombuffer(raw, np.uint8, count=bpl * h, offset=size + 12 * ncolors).reshape(h, bpl)
    return px[:, : w * 4].reshape(h, w, 4)[:, :, :3]


@pytest.mark.slow
@pytest.mark.xfail(strict=False, reason="flaky inside the full suite: once (1 of 4 full runs) the Xvfb screen "
                   "showed only the window's frame (78 colours) for 90 s while the run drew; alone it passes "
                   "in ~10 s. Cause not found yet")
def test_simulate_opens_a_window_on_a_desktop(cli_env: dict[str, str], tmp_path: Path) -> None:
    """A real X server (Xvfb) whose screen is a file: the window must show the camera view."""
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed (./setup.sh --dev installs it as root; or apt-get install xvfb)")
    # -displayfd: Xvfb picks a free display itself and writes its number to stdout once it is up
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", "1", "-screen", "0", "800x600x24", "-fbdir", str(tmp_path),
                             "-nolisten", "tcp"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert xvfb.stdout is not None
        display = xvfb.stdout.readline().strip()
        assert display.isdigit(), f"Xvfb did not start (exit status {xvfb.poll()})"
        screen = tmp_path / "Xvfb_screen0"
        assert screen.exists()
        blank = _xwd_pixels(screen).copy()
        scenario = tmp_path / "s.toml"
        scenario.write_text(SHORT.format(duration=90.0))
        env = dict(cli_env, DISPLAY=f":{display}")
        proc = subprocess.Popen([sys.executable, "-m", "cat_follow", "simulate", "--scenario", str(scenario)],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        shots = []
        try:
            deadline = time.monotonic() + 90  # generous: a loaded CI machine starts slowly
            while time.monotonic() < deadline and proc.poll() is None:
                time.sleep(1.0)
                shots.append(_xwd_pixels(screen).copy())
                if len(np.unique(shots[-1].reshape(-1, 3), axis=0)) > 1000:
                    break
        finally:
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=30)
        assert "showing the camera view in a window" in err, err[-3000:]
        colours = [len(np.unique(s.reshape(-1, 3), axis=0)) for s in shots]
        assert len(np.unique(blank.reshape(-1, 3), axis=0)) < 10
        assert max(colours, default=0) > 1000, (colours, err[-3000:])  # a rendered room and cat, not a blank
    finally:
        xvfb.terminate()
        xvfb.wait(10)


def test_closing_the_simulator_window_ends_the_run_with_the_motors_stopped(tmp_path: Path) -> None:
    """q, Esc or the window's close button sets the view's ``closed`` (read from OpenCV after
    each frame); the simulation then ends at once, not at the scenario's end, motors stopped."""
    from unittest import mock

    from cat_follow.config import Config
    from cat_follow.perception.worker import resolve_models
    from cat_follow.sim.camera_view import CameraView
    from cat_follow.sim.simulation import SimOptions, Simulation

    scenario = tmp_path / "s.toml"
    scenario.write_text(SHORT.format(duration=20.0))
    cfg = Config()
    sim = Simulation(load_scenario(str(scenario)), cfg, resolve_models(cfg),
                     SimOptions(fast=True, out_video=tmp_path / "v.mp4"))
    assert sim.view is not None
    real_show, shown = CameraView.show, []

    def show_then_close(view: CameraView, *args: object) -> None:
        real_show(view, *args)  # type: ignore[arg-type]
        shown.append(1)
        view.closed = len(shown) >= 45  # the user closes the window at the 45th frame (1.5 s)

    with mock.patch.object(CameraView, "show", show_then_close):
        summary = sim.run()
    assert len(shown) == 45 and sim.robot.exit_reason == "window closed"
    assert summary["frames"] < 60 < 20.0 * 30
    assert sim.car.applied.speed == 0.0  # the car stopped on the way out


@pytest.mark.parametrize(("keys", "visible", "closed_at"), [
    ([-1, -1, ord("q")], [1, 1, 1], 3),     # q
    ([-1, 27], [1, 1], 2),                  # Esc
    ([-1, -1, -1], [1, 1, 0], 3),           # the close button: visible, then not
    ([-1, -1, -1, -1], [-1, -1, -1, -1], None),  # a backend without visibility (GTK): only keys close
    ([-1, -1], [0, 1], None),               # not yet mapped at first: not "closed"
])
def test_the_simulator_window_closes_on_q_esc_or_its_button(monkeypatch: pytest.MonkeyPatch, keys: list[int],
                                                            visible: list[int], closed_at: int | None) -> None:
    """What OpenCV's window reports after each frame (keys, WND_PROP_VISIBLE), as the Qt, GTK and
    Cocoa back-ends report it, and when the view says the user closed it."""
    from cat_follow.sim import camera_view

    k, v = iter(keys), iter(visible)
    monkeypatch.setattr(camera_view.cv2, "imshow", lambda *a: None)
    monkeypatch.setattr(camera_view.cv2, "waitKey", lambda *a: next(k) & 0xFFFFFFFF)
    monkeypatch.setattr(camera_view.cv2, "getWindowProperty", lambda *a: float(next(v)))
    view = camera_view.CameraView(None, np.zeros((48, 64, 3), np.uint8), 30.0, live=True)
    box = np.zeros(1, dtype=[("valid", "i8"), ("x", "f8"), ("y", "f8"), ("w", "f8"), ("h", "f8")])[0]
    states = []
    for i in range(len(keys)):
        view.show(np.zeros((48, 64, 3), np.uint8), box, "t", i / 30)
        states.append(view.closed)
    assert states.index(True) + 1 == closed_at if closed_at else not any(states)


# ---- the status says why the robot does not move ---------------------------------------
def _controller() -> tuple[MotionController, MotionConfig]:
    cfg = MotionConfig()
    return MotionController(cfg, RobotConfig(), Calibration(), 640, 480), cfg


def _box_at(c: MotionController, metres: float) -> tuple[float, float, float, float]:
    h = c.focal_px * c.cfg.cat_height_m / metres
    return (320 - h / 2, 240 - h / 2, h, h)


@pytest.mark.parametrize(("what", "expect"), [
    ("none", "no box"), ("at", "at the following distance"), ("closer", "closer than the following distance"),
    ("look", "not yet confirmed"), ("stop", "stopped")])
def test_a_zero_speed_comes_with_its_reason(what: str, expect: str) -> None:
    c, cfg = _controller()
    closer = (cfg.too_close_m + cfg.follow_distance_m - cfg.stop_band_m) / 2
    dist = {"at": cfg.follow_distance_m, "closer": closer}.get(what, 1.0)
    mode = {"look": Mode.LOOK, "stop": Mode.STOP}.get(what, Mode.TRACK)
    if what == "closer":
        assert cfg.follow_distance_m - dist > cfg.stop_band_m, "config leaves no room for this case"
    box = None if what == "none" else _box_at(c, dist)
    out = c.command(Intent(mode), t=0.0, dt=0.05, pose=(0.0, 0.0, 0.0), box=box, distance_cm=200.0)
    assert out.order.speed == 0 and expect in out.reason, out


def test_a_cat_far_ahead_is_followed_with_no_reason() -> None:
    c, cfg = _controller()
    out = c.command(Intent(Mode.TRACK), t=0.0, dt=0.05, pose=(0.0, 0.0, 0.0),
                    box=_box_at(c, cfg.follow_distance_m + 1.0), distance_cm=300.0)
    assert out.order.speed > 0 and out.reason == ""


# ---- the plot --------------------------------------------------------------------------
def test_the_plot_shows_the_true_path_under_an_identical_odometry(tmp_path: Path) -> None:
    sc = load_scenario("walking_cat")
    samples = []
    for k in range(200):
        x, y = 0.5 + k * 0.02, 2.0 + 0.5 * math.sin(k / 40)
        samples.append(Sample(k / 15, RobotState.TRACK, (x, y, 0.0), (x, y, 0.0), (x, y), (x + 0.6, y), None))
    out = tmp_path / "p.png"
    plot_paths(out, sc, samples)
    img = cv2.imread(str(out))
    room = img[: img.shape[0] - 80]  # above the legend

    def count(color: tuple[int, int, int]) -> int:
        return int((np.abs(room.astype(int) - np.array(color)).sum(axis=2) < 30).sum())

    assert count(TRUE) > 500 and count(ODOM) > 200  # both visible where they coincide
