"""What Linux's /proc says about a process: its CPU time. Read-only; None where /proc is missing.
A thread's CPU time comes from its CPU-time clock instead (no file read: a /proc read costs
about 10 KB of buffers, per detector run in the hang watch)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int | None = None) -> float | None:
    """User + system CPU seconds of ``pid`` (default: this process), all its threads; None if
    it is gone or there is no /proc. Resolution: one clock tick (10 ms)."""
    try:
        stat = Path(f"/proc/{pid or os.getpid()}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14 and 15)


def thread_cpu_clock() -> int | None:
    """The calling thread's CPU-time clock id, which ``clock_seconds`` reads from any thread of
    this process; None where there is none (not POSIX)."""
    try:
        return time.pthread_getcpuclockid(threading.get_ident())
    except (AttributeError, OSError):
        return None


def clock_seconds(clock_id: int | None) -> float | None:
    """CPU seconds of the thread of a ``thread_cpu_clock`` id, in whole clock ticks as /proc
    counts them (the hang rule's resolution in both modes); None if unknown or its thread ended."""
    if clock_id is None:
        return None
    try:
        return int(time.clock_gettime(clock_id) * TICKS) / TICKS
    except OSError:
        return None
