"""``--web`` under the systemd unit: the sandbox lets the web view bind. Read from the unit
itself (RestrictAddressFamilies, no private network, no IP deny list), and, where
systemd-analyze is installed, the unit with the documented ``--web`` drop-in verifies."""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
UNIT = REPO / "systemd" / "cat-follow.service"
# the hosts --web is documented with: loopback (the default), every interface, IPv6 loopback
WEB_HOSTS = ("127.0.0.1", "localhost", "0.0.0.0", "::1", "::")


def settings(text: str) -> dict[str, list[str]]:
    """Every ``Key=value`` of the unit, in order (systemd keys may repeat)."""
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")) and "=" in line:
            key, value = line.split("=", 1)
            out.setdefault(key.strip(), []).append(value.strip())
    return out


def families_for(host: str) -> set[str]:
    """The address families a listening socket on ``host`` needs (as aiohttp resolves it)."""
    return {socket.AddressFamily(ai[0]).name for ai in
            socket.getaddrinfo(host, 8080, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)}


def test_the_units_sandbox_lets_the_web_view_and_the_command_socket_bind() -> None:
    unit = settings(UNIT.read_text(encoding="utf-8"))
    allowed = set(" ".join(unit["RestrictAddressFamilies"]).split())
    assert not any(a.startswith("~") for a in allowed)  # an allow list, not a deny list
    needed = {"AF_UNIX"}  # the command socket and sd_notify
    for host in WEB_HOSTS:
        needed |= families_for(host)
    assert {"AF_INET", "AF_INET6"} <= needed  # what the check below must cover
    assert needed <= allowed, f"--web needs {sorted(needed - allowed)} (RestrictAddressFamilies)"
    assert unit.get("PrivateNetwork", ["no"])[-1] in ("no", "false", "0")  # its own empty network
    assert "IPAddressDeny" not in unit and "SocketBindDeny" not in unit
    # the unit says how to turn the web view on
    assert "--web" in UNIT.read_text(encoding="utf-8")


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_the_unit_with_the_web_drop_in_verifies(tmp_path: Path) -> None:
    bin_dir = tmp_path / "repo" / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for exe in ("cat-follow", "robot_hat"):  # verify checks that the programs exist
        (bin_dir / exe).write_text("#!/bin/sh\n")
        (bin_dir / exe).chmod(0o755)
    text = UNIT.read_text(encoding="utf-8").replace("@REPO@", str(tmp_path / "repo"))
    text = text.replace("@USER@", "root").replace("@CONFIG@", "/etc/cat-follow/config.toml")
    (tmp_path / "cat-follow.service").write_text(text)
    drop_in = tmp_path / "cat-follow.service.d"
    drop_in.mkdir()
    # what `systemctl edit cat-follow` gets, as the unit's comment says
    (drop_in / "web.conf").write_text(
        f"[Service]\nExecStart=\nExecStart={bin_dir}/cat-follow run --config /etc/cat-follow/config.toml "
        "--web 8080\n")
    p = subprocess.run(["systemd-analyze", "verify", str(tmp_path / "cat-follow.service")], capture_output=True,
                       text=True, check=False, env={"SYSTEMD_UNIT_PATH": f"{tmp_path}:", "PATH": "/usr/bin:/bin"})
    assert p.returncode == 0 and "web.conf" not in p.stderr, p.stderr
