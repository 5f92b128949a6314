"""What Linux's /proc says about a process: its CPU time. Read-only; None where /proc is missing."""

from __future__ import annotations

import os
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


def thread_cpu_seconds(native_id: int | None) -> float | None:
    """User + system CPU seconds of one thread of this process (``Thread.native_id``); None if
    it is gone, unknown or there is no /proc."""
    if native_id is None:
        return None
    try:
        stat = Path(f"/proc/self/task/{native_id}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS
