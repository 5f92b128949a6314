"""The ``[process]`` section: how this program's processes share the machine's cores and memory.

These are process-wide settings (the interpreter's GIL switch interval, glibc's malloc
arenas, the detector process's priority), applied once by each entry point through
``cat_follow.process_setup``; the figures behind the defaults are in the README ("bench").
"""

from __future__ import annotations

from dataclasses import dataclass

from cat_follow.config_schema import field_doc as _f


@dataclass(frozen=True)
class ProcessConfig:
    gil_switch_ms: float = _f(0.5, "Python's GIL switch interval (sys.setswitchinterval), ms: a thread woken by a "
                              "frame waits at most about this long for a thread running pure Python to let go "
                              "of the GIL (Python's default 5 ms is most of the tracker's handoff tail).",
                              lo=0.05, hi=100.0)
    detector_nice: int = _f(10, "Process mode: how many nice levels below the service the detector process "
                            "runs (0 = the same; at most nice 19); inference, the one CPU-heavy job that can wait, "
                            "then gives the cores to the camera, tracker and control threads as soon as they wake.",
                            lo=0, hi=19)
    malloc_arena_max: int = _f(2, "glibc's malloc arenas per process (mallopt M_ARENA_MAX, set before the "
                               "threads start; 0 = glibc's default, 8 per core): fewer arenas keep memory freed by "
                               "one thread's native code reusable by the others, so RSS stays flat.", lo=0, hi=64)
    malloc_trim_s: float = _f(2.0, "Every this many seconds the main loop gives the free memory glibc keeps in "
                              "its heaps back to the OS (malloc_trim: 0.3-0.5 ms typical, up to ~8 ms seen on a "
                              "loaded 2-core x86; README \"Memory over a soak\"), so the service's resident size "
                              "follows its live memory; 0 = never.",
                              lo=0.0, hi=3600.0)
