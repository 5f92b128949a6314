"""Where a laptop shows the camera view: the one decision between a window and no window.

``display_route()`` is the only place that decides. Where no window is possible it says the
real reason (a headless OpenCV build, no desktop, a desktop that refuses the window) so the
caller can say it and fall back: to the mp4, or to the web view (``--web``) opened in the
browser, once a caller wires that in here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata

PROBE_TIMEOUT_S = 20.0  # a loaded machine imports cv2 slowly
# Run in a child process: OpenCV's Qt back-end aborts the whole process (SIGABRT, no
# exception) when it cannot reach the display, so the question is asked where that is harmless.
_PROBE = "import cv2; cv2.namedWindow('cat-follow probe'); cv2.waitKey(1); cv2.destroyAllWindows()"


@dataclass(frozen=True)
class DisplayRoute:
    window: bool
    reason: str = ""  # why there is no window ("" when there is one)


def opencv_gui_backend() -> str | None:
    """The GUI back-end OpenCV was built with ('QT5', 'GTK3', ...), or None (headless)."""
    import cv2

    for line in cv2.getBuildInformation().splitlines():
        key, _, value = line.strip().partition(":")
        if key == "GUI":
            value = value.strip()
            return None if value.upper() in ("", "NONE") else value
    return None


def _opencv_distribution() -> str:
    """The installed OpenCV wheel's name, for messages."""
    for name in ("opencv-contrib-python-headless", "opencv-python-headless", "opencv-contrib-python",
                 "opencv-python"):
        try:
            metadata.version(name)
            return name
        except metadata.PackageNotFoundError:
            continue
    return "OpenCV"


def probe_window(env: Mapping[str, str]) -> str:
    """Try to open (and close) a window in a child process; '' if it worked, else why not."""
    try:
        p = subprocess.run([sys.executable, "-c", _PROBE], env=dict(env), capture_output=True, text=True,
                           timeout=PROBE_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        return f"opening a test window did not finish within {PROBE_TIMEOUT_S:.0f} s"
    if p.returncode == 0:
        return ""
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    return lines[0].strip() if lines else f"the test window failed (exit status {p.returncode})"


def display_route(env: Mapping[str, str] | None = None, probe: bool = True) -> DisplayRoute:
    """A window if this OpenCV build has a GUI, a desktop is named and it accepts a window;
    otherwise no window and the first of those that failed. Owns nothing; may start one
    short child process (``probe``)."""
    env = os.environ if env is None else env
    backend = opencv_gui_backend()
    if backend is None:
        return DisplayRoute(False, f"this OpenCV ({_opencv_distribution()}) is a build without a GUI, so it "
                                   "cannot open windows; ./setup.sh --dev installs opencv-contrib-python, which can")
    desktop = env.get("DISPLAY") or env.get("WAYLAND_DISPLAY")
    if not desktop:
        return DisplayRoute(False, "no desktop here: neither DISPLAY nor WAYLAND_DISPLAY is set")
    if probe:
        why = probe_window(env)
        if why:
            which = "DISPLAY" if env.get("DISPLAY") else "WAYLAND_DISPLAY"
            return DisplayRoute(False, f"OpenCV ({backend}) cannot open a window on {which}={desktop}: {why}")
    return DisplayRoute(True)
