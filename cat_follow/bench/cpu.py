"""CPU use over a run: per core from /proc/stat deltas, per process from /proc/<pid>/stat.

Per-core figures are the whole machine's (other programs included); the per-process
figures are what the bench's own processes used, in percent of one core.
"""

from __future__ import annotations

import os
from pathlib import Path

from cat_follow.procfs import cpu_seconds


def core_times() -> list[tuple[int, int]]:
    """(busy, total) jiffies of every core; empty where /proc/stat is missing."""
    try:
        lines = Path("/proc/stat").read_text().splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        if line.startswith("cpu") and line[3:4].isdigit():
            v = [int(x) for x in line.split()[1:]]
            idle = v[3] + (v[4] if len(v) > 4 else 0)  # idle + iowait
            out.append((sum(v) - idle, sum(v)))
    return out


def core_pct(before: list[tuple[int, int]], after: list[tuple[int, int]]) -> list[float]:
    """Busy percent of each core between two ``core_times`` samples."""
    return [round(100.0 * (b1 - b0) / max(1, t1 - t0), 1)
            for (b0, t0), (b1, t1) in zip(before, after, strict=False)]


def process_cpu_s(pid: int | None = None) -> float:
    """User + system CPU seconds of ``pid`` (default: this process), 0.0 if it is gone."""
    return cpu_seconds(pid) or 0.0


def rss_mb(pid: int | None = None) -> float:
    """Resident set size of ``pid`` (default: this process) in MB, 0.0 if it is gone."""
    try:
        for line in Path(f"/proc/{pid or os.getpid()}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return 0.0
