"""Apply ``[process]`` to the running process: call once, from an entry point, before threads start.

Owns process-wide state only: the interpreter's switch interval, glibc's ``mallopt`` and the
calling process's nice value. Library code never calls this; ``Pipeline`` and the tests
work the same without it.
"""

from __future__ import annotations

import ctypes
import logging
import os
import platform
import sys

from cat_follow.config_process import ProcessConfig

log = logging.getLogger(__name__)

M_ARENA_MAX = -8  # glibc's malloc.h


def set_arena_max(arenas: int) -> bool:
    """Cap glibc's malloc arenas (0: leave glibc's default). True if set. glibc fixes its limit
    the first time a thread needs an arena beyond its first eight, so call this early."""
    if arenas <= 0:
        return False
    if platform.libc_ver()[0] != "glibc":
        log.info("process.malloc_arena_max: not glibc (%s); left as it is", platform.libc_ver()[0] or "unknown")
        return False
    libc = ctypes.CDLL("libc.so.6")
    if libc.mallopt(M_ARENA_MAX, arenas) != 1:
        log.warning("process.malloc_arena_max: mallopt(M_ARENA_MAX, %d) failed", arenas)
        return False
    return True


def lower_priority(nice: int) -> int:
    """Raise this process's nice value to ``nice`` (never lowers it: that needs privilege).
    Returns the nice value now in force. Threads created afterwards inherit it."""
    current = os.getpriority(os.PRIO_PROCESS, 0)
    if nice > current:
        os.setpriority(os.PRIO_PROCESS, 0, nice)
    return os.getpriority(os.PRIO_PROCESS, 0)


def apply(cfg: ProcessConfig) -> None:
    """The main process's share of ``[process]``: switch interval and arenas. The detector
    process applies its own (arenas and nice) when it starts."""
    sys.setswitchinterval(cfg.gil_switch_ms / 1000.0)
    set_arena_max(cfg.malloc_arena_max)
    log.debug("process: GIL switch interval %.2f ms, malloc arenas %s", cfg.gil_switch_ms,
              cfg.malloc_arena_max or "glibc default")
