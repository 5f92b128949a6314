"""systemd's notify protocol (READY=1, WATCHDOG=1, STATUS=...), without a library.

A datagram to the socket named by $NOTIFY_SOCKET; outside systemd (no variable) every call
is a no-op. Owns one datagram socket.
"""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, address: str | None = None) -> None:
        addr = address if address is not None else os.environ.get("NOTIFY_SOCKET", "")
        if addr.startswith("@"):
            addr = "\0" + addr[1:]  # abstract namespace
        self.address = addr
        self.sock: socket.socket | None = None
        if addr:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)

    @property
    def enabled(self) -> bool:
        return self.sock is not None

    def send(self, message: str) -> bool:
        if self.sock is None:
            return False
        try:
            self.sock.sendto(message.encode(), self.address)
            return True
        except OSError as exc:
            log.warning("sd_notify %r failed: %s", message, exc)
            return False

    def ready(self, status: str = "") -> bool:
        return self.send("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def stopping(self) -> bool:
        return self.send("STOPPING=1")

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
