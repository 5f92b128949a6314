"""Where the tracker asks the detector to look: the image sizes it may ask for (the detector
prepares its buffers for them at start-up) and the scan plan while searching."""

from __future__ import annotations

ROI_STEP = 80
ROI_MIN = 240  # NanoDet (416 input) misses a small cat in a 160 px region (blown up 2.6x) and finds it in 240


def roi_sizes(width: int, height: int, tile: int) -> list[tuple[int, int]]:
    """Every image size the tracker may ask the detector to look at (the detector side
    prepares its buffers for these at start-up)."""
    sizes = [(width, height)] + [(s, s) for s in range(ROI_MIN, min(width, height), ROI_STEP)]
    if 0 < tile < min(width, height):
        sizes.append((tile, tile))
    return sorted(set(sizes))


def scan_plan(width: int, height: int, tile: int) -> list[tuple[int, int, int, int] | None]:
    """Where to look while searching: the whole frame every other time, square tiles across
    the horizon band in between (a near cat is found at once, a far one within a cycle)."""
    if not 0 < tile < min(width, height):
        return [None]
    y0 = (height - tile) // 2
    n = -(-width // tile)
    step = (width - tile) / max(1, n - 1)
    plan: list[tuple[int, int, int, int] | None] = []
    for i in range(n):
        plan += [None, (round(i * step), y0, round(i * step) + tile, y0 + tile)]
    return plan
