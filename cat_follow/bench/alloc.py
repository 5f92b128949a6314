"""Allocation measured with tracemalloc: the peak a call adds above what was live before it.

numpy registers its data buffers with tracemalloc, so a frame-sized array made by a call
(``frame.copy()``, a cv2 function without ``dst=``) shows up as at least its size.
Allocations inside C++ libraries (KCF, TFLite) are not seen: this measures Python/numpy.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable


def peak_alloc_bytes(fn: Callable[[], object]) -> int:
    """Run ``fn`` and return the most bytes it held above the starting level (tracemalloc
    must be running)."""
    if not tracemalloc.is_tracing():
        raise RuntimeError("start tracemalloc first")
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    fn()
    return max(0, tracemalloc.get_traced_memory()[1] - before)
