"""A thread's CPU clock (the detector hang watch's measure) read from another thread."""

from __future__ import annotations

import threading
import time

from cat_follow.procfs import TICKS, clock_seconds, thread_cpu_clock


def test_a_threads_cpu_clock_grows_while_it_computes_stands_still_while_blocked_and_ends_with_it() -> None:
    clocks: list[int | None] = []
    computed, release = threading.Event(), threading.Event()

    def work() -> None:
        clocks.append(thread_cpu_clock())
        end = time.monotonic() + 10  # compute 0.05 s of its own CPU time (wall time varies with the load)
        while (clock_seconds(clocks[0]) or 0.0) < 0.05 and time.monotonic() < end:
            pass
        computed.set()
        release.wait(10)  # blocked: no CPU

    t = threading.Thread(target=work)
    t.start()
    assert computed.wait(10)
    first = clock_seconds(clocks[0])
    assert first is not None and first >= 0.04  # its own time, not this thread's
    time.sleep(0.05)
    still = clock_seconds(clocks[0])
    assert still is not None and still - first <= 1 / TICKS + 1e-9  # at most the tick its wait crossed
    release.set()
    t.join(10)
    end = time.monotonic() + 5  # the OS thread outlives join() by a moment
    while clock_seconds(clocks[0]) is not None and time.monotonic() < end:
        time.sleep(0.01)
    assert clock_seconds(clocks[0]) is None  # its thread has ended: unknown, not a stale figure
    assert clock_seconds(None) is None
