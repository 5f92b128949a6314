"""The car's Python environment, checked on a laptop or in CI (slow: these build venvs).

- requirements.txt resolves to wheels for the Pi (cp311, aarch64, glibc 2.36, apt's numpy 1.24.2);
- a venv with the Pi's numpy 1.24.2, ai-edge-litert 2.3.0 and OpenCV 4.11 runs the detector and
  KCF on a real frame (the numpy ABI the car has);
- a venv built the way ``setup.sh --pi`` builds it (system site packages, SunFounder's libraries
  installed with pip) imports picarx, given what apt provides on the Pi (smbus2, lgpio, pyaudio;
  the emulated HAT's stand-ins here), and does NOT import it without them.
Steps that need the package index skip with a reason when it cannot be reached.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
VENDOR = REPO.parent / "shared" / "vendor"
EMULATOR = Path(__file__).resolve().parent / "hat_emulator"
PI_NUMPY = "numpy==1.24.2"  # Raspberry Pi OS Bookworm's python3-numpy
NO_INDEX = ("NewConnectionError", "Max retries exceeded", "Temporary failure in name resolution",
            "Network is unreachable", "Name or service not known", "ProxyError")

pytestmark = pytest.mark.slow


def pip(python: Path | str, *args: str, timeout: float = 400) -> subprocess.CompletedProcess[str]:
    """Run pip; skip the test when the package index cannot be reached, fail on anything else."""
    t = time.monotonic()
    proc = subprocess.run([str(python), "-m", "pip", "--disable-pip-version-check", *args],
                          capture_output=True, text=True, timeout=timeout)
    out = proc.stdout + proc.stderr
    if proc.returncode != 0 and any(s in out for s in NO_INDEX):
        pytest.skip(f"the package index cannot be reached: {out.strip().splitlines()[-1]}")
    assert proc.returncode == 0, out[-3000:]
    print(f"pip {args[0]}: {time.monotonic() - t:.1f} s")
    return proc


def test_requirements_resolve_for_the_pi(tmp_path: Path) -> None:
    tags = [f"manylinux_2_{m}_aarch64" for m in range(17, 37)] + ["manylinux2014_aarch64"]
    constraint = tmp_path / "constraint.txt"
    constraint.write_text(PI_NUMPY + "\n")
    dest = tmp_path / "wheels"
    pip(sys.executable, "download", "--quiet", "--only-binary=:all:",
        *[a for tag in tags for a in ("--platform", tag)], "--python-version", "3.11",
        "--implementation", "cp", "--abi", "cp311", "-r", str(REPO / "requirements.txt"),
        "-c", str(constraint), "-d", str(dest))
    names = {p.name for p in dest.iterdir()}
    assert any(n.startswith("numpy-1.24.2-cp311") and "aarch64" in n for n in names), names
    assert any(n.startswith("ai_edge_litert-2.3.0-") and "aarch64" in n for n in names), names
    assert any(n.startswith("opencv_contrib_python-4.11.") and "aarch64" in n for n in names), names
    assert all(n.endswith("-none-any.whl") or "aarch64" in n for n in names), names


@pytest.fixture(scope="module")
def pi_numpy_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("pinumpy") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    pip(py, "install", "--quiet", PI_NUMPY, "ai-edge-litert==2.3.0", "opencv-contrib-python-headless==4.11.0.86")
    return py


def test_detector_and_kcf_run_under_the_pis_numpy(pi_numpy_venv: Path, assets: Path) -> None:
    model = assets / "models" / "ssd_mobilenet_v1_coco_quant"
    script = f"""
import cv2, numpy
from pathlib import Path
from cat_follow.perception.ssd import SsdDetector
assert numpy.__version__ == "1.24.2", numpy.__version__
det = SsdDetector(Path({str(model / 'detect.tflite')!r}), Path({str(model / 'labelmap.txt')!r}), num_threads=2)
img = cv2.imread({str(assets / 'images' / 'cat.bmp')!r})
found, box, score = det.best(img)
assert found and score >= 0.5, (found, score)
kcf = cv2.TrackerKCF_create()
kcf.init(img, tuple(int(v) for v in box))
ok, tracked = kcf.update(img)
assert ok, "KCF lost the box on the same frame"
print("ok", numpy.__version__, cv2.__version__, round(score, 2), [int(v) for v in tracked])
"""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([str(pi_numpy_venv), "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("ok 1.24.2 4.11.0"), proc.stdout


BOOT = """
import os, sys
real = os.listdir
os.listdir = lambda p=".": [] if str(p).rstrip("/") == "/proc/device-tree" else real(p)  # a laptop has none
import picarx, robot_hat
os.listdir = real
print("picarx", picarx.__version__, "robot_hat", robot_hat.__version__)
"""


def test_a_venv_built_like_setup_sh_pi_imports_picarx(tmp_path: Path) -> None:
    if not VENDOR.is_dir():
        pytest.skip("no ../shared/vendor: SunFounder's sources are not here")
    setup = (REPO / "setup.sh").read_text()
    for pkg in ("python3-smbus2", "python3-lgpio", "python3-pyaudio"):
        assert pkg in setup, f"setup.sh --pi does not install {pkg}, which 'import robot_hat' needs"
    ref = re.search(r'ROBOT_HAT_REF="v([0-9.]+)"', setup)
    assert ref is not None
    vendored = (VENDOR / "robot-hat" / "robot_hat" / "version.py").read_text()
    assert ref.group(1) in vendored, "../shared/vendor is not the robot-hat setup.sh pins"
    # setup.sh --pi step 4 and 6: a venv with the system's packages, SunFounder's two with pip
    venv = tmp_path / "venv"
    subprocess.run(["python3", "-m", "venv", "--system-site-packages", str(venv)], check=True)
    py = venv / "bin" / "python"
    scratch = tmp_path / "picar-x"
    shutil.copytree(VENDOR / "picar-x", scratch)
    os.chmod(scratch, 0o755)
    (scratch / "DESCRIPTION.rst").touch()  # in picar-x's git tree; left out of the vendored copy
    pip(py, "install", "--quiet", str(VENDOR / "robot-hat"), str(scratch))
    bare = subprocess.run([str(py), "-c", BOOT], capture_output=True, text=True, timeout=60)
    if bare.returncode == 0:
        pytest.skip("this machine has smbus2, lgpio and pyaudio: the negative check cannot run")
    assert re.search(r"No module named '(smbus2|lgpio|pyaudio)'", bare.stderr), bare.stderr
    # what apt gives the Pi (python3-smbus2, python3-lgpio, python3-pyaudio), stood in for here
    env = dict(os.environ, PYTHONPATH=str(EMULATOR))
    ok = subprocess.run([str(py), "-c", BOOT], capture_output=True, text=True, timeout=60, env=env)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("picarx ") and "robot_hat 2.5.3" in ok.stdout
