"""Load SunFounder's real robot_hat and picarx (installed by setup.sh --dev from ../shared/vendor)
against the emulated HAT in tests/hat_emulator, in this process.

The stand-in modules (smbus2, lgpio, pyaudio) go first on sys.path, the stand-in programs
(pinctrl, i2cdetect) first on PATH; robot_hat's import reads the Pi's /proc/device-tree,
which a laptop lacks, so during the import that one directory lists as empty (a HAT without
an EEPROM: robot_hat's v4 defaults). robot_hat's modules.py times the ultrasonic's echo with
``time.time()``: there ``time`` is the emulated HAT's echo clock, so a reading is exact under
load (hat.py). Loaded once per process: robot_hat keeps module state.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent / "hat_emulator"
VENDOR = Path(__file__).resolve().parents[2] / "shared" / "vendor"
_loaded: dict[str, ModuleType] = {}


@contextlib.contextmanager
def _no_device_tree() -> Iterator[None]:
    real = os.listdir

    def listdir(path: Any = ".") -> list[str]:
        if str(path).rstrip("/") == "/proc/device-tree" and not os.path.exists("/proc/device-tree"):
            return []
        return real(path)

    os.listdir = listdir  # type: ignore[assignment]
    try:
        yield
    finally:
        os.listdir = real


def load() -> ModuleType:
    """The emulated HAT's ``hat`` module, with robot_hat and picarx imported against it."""
    if "hat" in _loaded:
        return _loaded["hat"]
    if importlib.util.find_spec("picarx") is None or importlib.util.find_spec("robot_hat") is None:
        if VENDOR.is_dir():
            pytest.fail(f"{VENDOR} exists but picarx/robot_hat are not installed: run ./setup.sh --dev")
        pytest.skip("SunFounder's robot-hat and picar-x are not installed (no ../shared/vendor)")
    for name in ("smbus2", "lgpio", "pyaudio"):
        mod = sys.modules.get(name)
        if mod is not None and not str(getattr(mod, "__file__", "")).startswith(str(HERE)):
            pytest.fail(f"the real {name} is already imported; the emulated HAT cannot stand in for it")
    log = Path(tempfile.mkdtemp(prefix="hat")) / "gpio.log"
    log.touch()
    os.environ["CAT_FOLLOW_HAT_LOG"] = str(log)
    os.environ["PATH"] = f"{HERE / 'bin'}{os.pathsep}{os.environ['PATH']}"
    sys.path.insert(0, str(HERE))
    import hat  # the stand-ins import it by this name

    with _no_device_tree():
        import picarx  # noqa: F401
        import robot_hat.modules
    robot_hat.modules.time = hat.ECHO_CLOCK  # the ultrasonic's clock: the echo is timed on it (hat.py)
    _loaded["hat"] = hat
    return hat
