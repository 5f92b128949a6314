"""``cat-follow send``: one command line to the service, its answer printed."""

from __future__ import annotations

import socket
from pathlib import Path

from cat_follow.errors import CatFollowError

TIMEOUT_S = 5.0


class NoService(CatFollowError):
    """Nothing is listening on any socket path."""


def send_line(paths: list[Path], line: str, timeout: float = TIMEOUT_S) -> str:
    """Send ``line`` to the first path with a listener; return the one-line answer."""
    errors = []
    for path in paths:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            errors.append(f"{path}: {exc.strerror}")
            sock.close()
            continue
        except PermissionError as exc:
            sock.close()
            raise CatFollowError(f"{path}: {exc.strerror} (is your user in the service's group?)") from exc
        try:
            sock.sendall(line.encode("ascii", "replace") + b"\n")
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                buf += chunk
        except TimeoutError as exc:
            raise CatFollowError(f"{path}: no answer within {timeout:.0f} s") from exc
        finally:
            sock.close()
        if not buf:
            raise CatFollowError(f"{path}: the service closed the connection without answering")
        return buf.decode("ascii", "replace").rstrip("\n")
    raise NoService("no cat-follow service is listening (" + "; ".join(errors) +
                    "). Start it: `systemctl start cat-follow` on the car, `cat-follow run --sim` on a laptop")
