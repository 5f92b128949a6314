"""The arm64 check's own parts, on the host (the check itself runs from .ci/run): how it compares
the two sides, that its script lints clean, and the set-up steps it asks setup.sh for."""

from __future__ import annotations

import copy
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
import probe  # noqa: E402

BOX = [100.0, 80.0, 300.0, 200.0, 0.84, 1]


def _side(machine: str) -> dict[str, Any]:
    return {"cpu": {"machine": machine, "present": []}, "imports": {"modules": 3, "failed": {}},
            "kcf": {"ok": True, "value": [10.0, 10.0, 50.0, 40.0]},
            "video": {"ok": True, "value": {"mean": 0.4, "max": 9}},
            "models": {"det": {"ok": True, "value": {"runtime": "OrtRuntime", "boxes": [[list(BOX)], []]}},
                       "cls": {"ok": True, "value": {"runtime": "TfliteRuntime", "scores": [[0.9, 0.05]]}}}}


def _fails(x86: dict[str, Any], arm: dict[str, Any]) -> list[str]:
    return [line for line in probe.compare(x86, arm) if line.startswith("FAIL")]


def test_same_results_pass_every_line() -> None:
    lines = probe.compare(_side("x86_64"), _side("aarch64"))
    assert len(lines) == 6 and all(line.startswith("PASS") for line in lines), lines


def test_a_moved_box_a_lost_box_or_a_changed_score_fails() -> None:
    x86 = _side("x86_64")
    for change in ("move", "drop", "score", "class"):
        arm = _side("aarch64")
        box = arm["models"]["det"]["value"]["boxes"][0][0]
        if change == "move":
            box[0] += 8.0  # IoU 0.95: more than float noise
        elif change == "drop":
            arm["models"]["det"]["value"]["boxes"][0] = []
        elif change == "score":
            box[4] -= 0.05
        else:
            box[5] = 2
        assert [line.split(":")[0] for line in _fails(x86, arm)] == ["FAIL det (OrtRuntime) same as x86"], change


def test_a_box_at_the_score_cut_may_be_on_one_side_only() -> None:
    x86, arm = _side("x86_64"), _side("aarch64")
    x86["models"]["det"]["value"]["boxes"][1] = [[5.0, 5.0, 40.0, 40.0, probe.MIN_SCORE + 0.005, 3]]
    assert _fails(x86, arm) == []


def test_a_crash_a_wrong_cpu_or_no_marked_model_fails() -> None:
    x86 = _side("x86_64")
    arm = _side("aarch64")
    arm["models"]["det"] = {"ok": False, "error": "RuntimeError: boom"}
    assert "boom" in _fails(x86, arm)[0]
    arm = _side("aarch64")
    arm["cpu"]["present"] = ["asimddp"]
    assert _fails(x86, arm)[0].startswith("FAIL arm64 cpu")
    arm = _side("aarch64")
    arm["video"]["value"]["mean"] = 12.0
    assert _fails(x86, arm)[0].startswith("FAIL video decode")
    arm = _side("aarch64")
    arm["imports"]["failed"] = {"cat_follow.x": "ImportError: libGL.so.1"}
    assert "libGL" in _fails(x86, arm)[0]
    arm = copy.deepcopy(_side("aarch64"))
    arm["models"] = {}
    assert _fails(x86, arm) == ["FAIL pi models: no manifest marks pi = true"]


def test_the_default_detector_and_the_verifier_are_marked_for_the_car() -> None:
    from cat_follow.config import Config
    from cat_follow.perception.manifest import load_manifest

    cfg = Config()
    assert load_manifest(cfg.detector.manifest).pi
    assert load_manifest("mobilenet_v2_imagenet_quant").pi


def test_check_script_is_shellcheck_clean() -> None:
    venv_tool = Path(sys.executable).parent / "shellcheck"
    tool = str(venv_tool) if venv_tool.exists() else shutil.which("shellcheck")
    assert tool, "shellcheck missing: ./setup.sh --dev installs it"
    p = subprocess.run([tool, str(HERE / "check.sh")], capture_output=True, text=True, check=False)
    assert p.returncode == 0, p.stdout


def _dry(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(REPO / "setup.sh"), *args], capture_output=True, text=True,
                          timeout=120, check=False)


def test_emulated_root_dry_run_skips_the_hardware_steps_and_installs_from_vendor(tmp_path: Path) -> None:
    work = tmp_path / "repo"
    shutil.copytree(REPO, work, ignore=shutil.ignore_patterns(".venv", "assets", ".git", "*cache*"))
    vendor = tmp_path / "vendor"
    (vendor / "robot-hat").mkdir(parents=True)
    (vendor / "picar-x").mkdir()
    p = subprocess.run(["bash", str(work / "setup.sh"), "--pi", "--emulated-root", "--vendor", str(vendor),
                        "--dry-run"], capture_output=True, text=True, timeout=120, check=False)
    assert p.returncode == 0, p.stderr
    for absent in ("apt-get", "raspi-config", "useradd", "usermod", "chown", "systemctl", "git+https://"):
        assert absent not in p.stdout, absent
    assert "pip install --quiet -c" in p.stdout and str(vendor / "robot-hat") in p.stdout
    assert "venv --system-site-packages" in p.stdout
    assert not (work / ".venv").exists()


def test_the_car_installs_what_opencvs_wheel_loads() -> None:
    p = _dry("--pi", "--dry-run")
    assert p.returncode == 0, p.stderr
    apt = next(line for line in p.stdout.splitlines() if "apt-get install" in line).split()
    assert {"libgl1", "libglib2.0-0", "python3-picamera2", "python3-lgpio", "python3-numpy"} <= set(apt)


def test_emulated_root_goes_only_with_pi() -> None:
    p = _dry("--dev", "--emulated-root")
    assert p.returncode != 0 and "--emulated-root goes with --pi" in p.stderr
