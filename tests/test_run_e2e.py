"""``cat-follow run --sim`` as a real process, driven through ``cat-follow send``."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest


def send(sock: Path, *words: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cat_follow", "send", "--socket", str(sock), *words],
                          capture_output=True, text=True, env=env, timeout=30, check=False)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_run_sim_end_to_end(cli_env: dict[str, str], kittens: Path, sig: signal.Signals) -> None:
    d = Path(tempfile.mkdtemp(prefix="cfe", dir="/tmp"))
    sock = d / "c.sock"
    proc = subprocess.Popen([sys.executable, "-m", "cat_follow", "run", "--sim", "--socket", str(sock),
                             "--source", str(kittens)], env=cli_env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not sock.exists():
            assert proc.poll() is None, proc.communicate()[1]
            time.sleep(0.1)
        time.sleep(1.0)
        status = send(sock, "status", env=cli_env)
        assert status.returncode == 0, status.stderr
        s = json.loads(status.stdout)
        assert s["state"] == "idle" and s["fps"]["camera"] > 10 and s["threads_failed"] == []

        bad = send(sock, "cat_location", "1.5", env=cli_env)
        assert bad.returncode == 1 and bad.stdout.startswith("ERR")
        assert json.loads(send(sock, "status", env=cli_env).stdout)["state"] == "idle"  # unchanged

        ok = send(sock, "cat_location", "1.5", "0.3", env=cli_env)
        assert ok.returncode == 0 and ok.stdout.strip() == "OK"
        time.sleep(0.5)
        s = json.loads(send(sock, "status", env=cli_env).stdout)
        assert s["target"] == [1.5, 0.3] or s["state"] == "track"  # a cat in view takes over
        assert s["state"] in ("navigate", "track", "search")
        assert s["motors"]["speed"] != 0 or s["reason"], s  # not moving: the status says why
        assert s["tracks"] and {"id", "cat", "dog", "box"} <= set(s["tracks"][0]), s  # the kittens, tracked
        assert s["followed_track"] in (None, s["tracks"][0]["id"])  # the followed one comes first

        assert send(sock, "stop", env=cli_env).stdout.strip() == "OK"
        time.sleep(0.3)
        s = json.loads(send(sock, "status", env=cli_env).stdout)
        assert s["state"] == "idle" and s["stop_reason"] == "stop command" and s["motors"]["speed"] == 0
        assert s["reason"] == "idle: stop command"

        proc.send_signal(sig)
        _, err = proc.communicate(timeout=20)
        assert proc.returncode == (130 if sig is signal.SIGINT else 0), err[-3000:]  # Ctrl-C: 128 + 2
        assert "car thread ending: motors stopped (speed 0)" in err
        assert f"exit: {sig.name}" in err
        assert not sock.exists()  # the socket file is removed on the way out
        gone = send(sock, "status", env=cli_env)
        assert gone.returncode == 2 and "no cat-follow service is listening" in gone.stderr
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        for p in d.iterdir():
            p.unlink()
        d.rmdir()


def test_run_refuses_a_bad_config_with_the_key(cli_env: dict[str, str], tmp_path: Path) -> None:
    conf = tmp_path / "c.toml"
    conf.write_text("[robot]\nwatchdog = 1\n")
    p = subprocess.run([sys.executable, "-m", "cat_follow", "run", "--sim", "--config", str(conf)],
                       capture_output=True, text=True, env=cli_env, timeout=60, check=False)
    assert p.returncode == 2 and "robot.watchdog: unknown key" in p.stderr
