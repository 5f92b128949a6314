"""Apply ``[process]`` to the running process: ``apply`` once, from an entry point, before
threads start; ``HeapTrimmer.maybe`` from a main loop.

Owns process-wide state only: the interpreter's switch interval, glibc's ``mallopt`` and
``malloc_trim``, the calling process's nice value. Library code never calls this; ``Pipeline``
and the tests work the same without it.
"""

from __future__ import annotations

import ctypes
import logging
import os
import platform
import sys
import time
from typing import Any

from cat_follow.config_process import ProcessConfig
from cat_follow.stats import LatencyRecorder

log = logging.getLogger(__name__)

M_ARENA_MAX = -8  # glibc's malloc.h


def glibc() -> Any:
    """This process's glibc (ctypes), or None on another C library."""
    if platform.libc_ver()[0] != "glibc":
        return None
    return ctypes.CDLL("libc.so.6")


def set_arena_max(arenas: int) -> bool:
    """Cap glibc's malloc arenas (0: leave glibc's default). True if set. glibc fixes its limit
    the first time a thread needs an arena beyond its first eight, so call this early."""
    if arenas <= 0:
        return False
    libc = glibc()
    if libc is None:
        log.info("process.malloc_arena_max: not glibc (%s); left as it is", platform.libc_ver()[0] or "unknown")
        return False
    if libc.mallopt(M_ARENA_MAX, arenas) != 1:
        log.warning("process.malloc_arena_max: mallopt(M_ARENA_MAX, %d) failed", arenas)
        return False
    return True


def lower_priority(levels: int) -> int:
    """Run this process (Linux: this thread, and the threads it creates afterwards) ``levels``
    nice values lower than now, at most 19; returns the nice value now in force. Relative, so
    the gap to the service stays the same whatever nice value the service runs at."""
    if levels > 0:
        os.nice(levels)
    return os.getpriority(os.PRIO_PROCESS, 0)


def apply(cfg: ProcessConfig) -> None:
    """The main process's share of ``[process]``: switch interval and arenas. The detector
    process applies its own (arenas and nice) when it starts."""
    sys.setswitchinterval(cfg.gil_switch_ms / 1000.0)
    set_arena_max(cfg.malloc_arena_max)
    log.debug("process: GIL switch interval %.2f ms, malloc arenas %s", cfg.gil_switch_ms,
              cfg.malloc_arena_max or "glibc default")


class HeapTrimmer:
    """Every ``every_s`` seconds, gives the free memory glibc keeps in its heaps back to the
    OS (``malloc_trim(0)``, all arenas), so the resident size follows live memory. A main
    loop calls ``maybe(now)`` between ticks; ``ms`` records each trim's duration."""

    def __init__(self, every_s: float) -> None:
        self.libc = glibc()
        self.every_s = every_s
        self.ms = LatencyRecorder(1024)
        self._next: float | None = None

    def maybe(self, now: float) -> bool:
        """Trim if one is due at ``now`` (the first call only starts the clock); True if it did.
        Never with ``every_s`` <= 0 or without glibc."""
        if self.every_s <= 0 or self.libc is None:
            return False
        if self._next is None:
            self._next = now + self.every_s
            return False
        if now < self._next:
            return False
        self._next = now + self.every_s
        self.trim()
        return True

    def trim(self) -> bool:
        """One ``malloc_trim(0)`` now; True if memory was given back. False without glibc."""
        if self.libc is None:
            return False
        t0 = time.perf_counter_ns()
        released = bool(self.libc.malloc_trim(0))
        self.ms.add((time.perf_counter_ns() - t0) / 1e6)
        return released
