"""Threads whose failures are reported, never lost.

Each worker runs ``loop()`` inside a guard: an exception is logged with its traceback,
kept on the thread, and sets the shared ``Health.fault`` event, which the main thread
checks every tick (``Health.raise_if_failed``) so it can stop the motors and exit.
"""

from __future__ import annotations

import logging
import threading
import time

log = logging.getLogger(__name__)


class ThreadFailed(RuntimeError):
    """A worker thread died; carries its name and the original exception as __cause__."""


class Health:
    """Fault flag and heartbeats shared by every worker and read by the main thread."""

    def __init__(self) -> None:
        self.fault = threading.Event()
        self.failed: list[SupervisedThread] = []
        self._lock = threading.Lock()

    def report(self, thread: SupervisedThread) -> None:
        with self._lock:
            self.failed.append(thread)
        self.fault.set()

    def raise_if_failed(self) -> None:
        if self.fault.is_set():
            with self._lock:
                first = self.failed[0] if self.failed else None
            if first is not None:
                raise ThreadFailed(f"{first.name} thread died: {first.error!r}") from first.error
            raise ThreadFailed("a worker reported a fault")


class SupervisedThread(threading.Thread):
    """A worker with a stop event, a heartbeat and a guarded ``loop``."""

    def __init__(self, name: str, health: Health) -> None:
        # Not a daemon: at exit the interpreter waits for it, so its ``finally`` (the car
        # thread's: motors stopped) always runs. Owners stop and join their threads; a thread
        # hung in a C call is left to systemd's stop timeout (and ExecStopPost's HAT reset).
        super().__init__(name=name, daemon=False)
        self.health = health
        self.stopping = threading.Event()
        self.error: BaseException | None = None
        self.heartbeat_ns = time.monotonic_ns()

    def beat(self) -> None:
        self.heartbeat_ns = time.monotonic_ns()

    def loop(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def run(self) -> None:
        try:
            self.loop()
        except BaseException as exc:
            self.error = exc
            log.exception("%s thread died", self.name)
            self.health.report(self)

    def stop(self) -> None:
        self.stopping.set()
