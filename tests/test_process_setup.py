"""``[process]``: the interpreter and glibc settings the entry points apply, and the heap trimmer."""

from __future__ import annotations

import json
import platform
import subprocess
import sys

import pytest

from cat_follow.process_setup import HeapTrimmer

GLIBC = platform.libc_ver()[0] == "glibc"


def _run(code: str) -> list:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_process_settings_apply_to_a_fresh_interpreter() -> None:
    """``[process]`` applied in a real interpreter: the switch interval is set, glibc takes the
    arena cap, and lower_priority lowers by so many levels from where the process is, never up."""
    code = ("import json, os, sys\n"
            "from cat_follow.config import config_from_dict\n"
            "from cat_follow.process_setup import apply, lower_priority, set_arena_max\n"
            "cfg = config_from_dict({'process': {'gil_switch_ms': 0.25, 'malloc_arena_max': 2}})\n"
            "apply(cfg.process)\n"
            "base = os.getpriority(os.PRIO_PROCESS, 0)\n"
            "print(json.dumps([sys.getswitchinterval(), set_arena_max(2), set_arena_max(0), base,"
            " lower_priority(3), lower_priority(0), lower_priority(2)]))\n")
    interval, capped, default_left, base, down3, same, down5 = _run(code)
    assert interval == pytest.approx(0.00025)
    assert capped is GLIBC and default_left is False
    assert (down3, same, down5) == (min(19, base + 3), min(19, base + 3), min(19, base + 5))


def test_heap_trimmer_runs_when_due_and_never_when_off() -> None:
    h = HeapTrimmer(5.0)
    assert not h.maybe(100.0)  # the first call starts the clock
    assert not h.maybe(104.9)
    assert h.maybe(105.0) is GLIBC
    assert not h.maybe(109.9)
    assert h.maybe(110.0) is GLIBC and h.ms.count == (2 if GLIBC else 0)
    off = HeapTrimmer(0.0)
    assert not off.maybe(0.0) and not off.maybe(1e9) and off.ms.count == 0


@pytest.mark.skipif(not GLIBC, reason="malloc_trim is glibc's")
def test_a_due_trim_gives_freed_heap_memory_back() -> None:
    """~120 MB of small blocks freed under a live one stay resident (glibc trims only the top of
    its heap); the trimmer's due trim gives them back to the OS."""
    code = ("import json, numpy as np\n"
            "from cat_follow.bench.soak import memory_mb\n"
            "from cat_follow.process_setup import HeapTrimmer\n"
            "blocks = [np.ones(60_000, np.uint8) for _ in range(2000)]\n"
            "keep = blocks[-1]\n"
            "del blocks\n"
            "before = memory_mb()['anon']\n"
            "h = HeapTrimmer(5.0)\n"
            "h.maybe(0.0)\n"
            "did = h.maybe(5.0)\n"
            "print(json.dumps([before, memory_mb()['anon'], did]))\n")
    before, after, did = _run(code)
    assert did and before - after > 80, (before, after)
