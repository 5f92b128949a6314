"""When a detector worker that has not answered counts as hung: the one rule both modes use.

No answer for ``timeout`` during which the worker used no CPU (blocked, deadlocked) is a hang;
so is no answer within ``cap`` at all (spinning). A worker still computing is slow, not hung:
on a busy machine (or under the process's nice value) it can be starved for longer than
``timeout``. Where the CPU time is unknown (no /proc) no answer within ``timeout`` is a hang.
"""

from __future__ import annotations

from collections.abc import Callable

BUSY_CAP = 10.0  # a worker still using CPU gets this many times the timeout before it counts as hung


class HangClock:
    """Started when a job is handed over; ``hung(now)`` asked while no answer has come.
    ``cpu``: the worker's CPU seconds so far (its process's or its thread's), or None."""

    def __init__(self, now: float, timeout: float, cap: float, cpu: Callable[[], float | None]) -> None:
        self.timeout = timeout
        self.cpu = cpu
        self.deadline = now + max(cap, timeout)
        self.window_end = now + timeout
        self._cpu = cpu()

    @property
    def next_check(self) -> float:
        """The next time at which ``hung`` can change its answer."""
        return min(self.window_end, self.deadline)

    def hung(self, now: float) -> bool:
        if now >= self.deadline:
            return True
        if now >= self.window_end:  # a whole timeout without an answer: did it compute meanwhile?
            cpu = self.cpu()
            if self._cpu is None or cpu is None or cpu <= self._cpu:
                return True
            self._cpu, self.window_end = cpu, now + self.timeout
        return False
