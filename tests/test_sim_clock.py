"""A real-time simulation on a busy machine: the world slows down with the robot's perception
instead of running away from it, and the run says how much slower than real time it went."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from cat_follow.config import Config
from cat_follow.perception.model import ModelFiles
from cat_follow.sim.render import Renderer
from cat_follow.sim.scenario import load_scenario
from cat_follow.sim.simulation import SimOptions, run_scenario
from cat_follow.sim.world_clock import WorldClock


def test_the_world_waits_for_the_tracker_and_then_runs_on() -> None:
    clock = WorldClock(0.05)
    assert clock.real_time_factor() is None  # nothing tracked yet
    time.sleep(0.15)
    assert clock() == pytest.approx(0.05), "held at the lead until a frame is tracked"
    clock.caught_up(0.05)
    time.sleep(0.15)
    assert clock() == pytest.approx(0.10), "one frame tracked: the world may move one lead on"
    clock.caught_up(10.0)  # perception far ahead: real speed again, from where it was held
    t0, r0 = clock(), time.monotonic()
    time.sleep(0.1)
    dt = clock() - t0
    assert 0.09 <= dt <= time.monotonic() - r0 + 1e-6  # no jump: continuous, at real speed
    assert clock.real_time_factor() is not None and clock.real_time_factor() < 1  # type: ignore[operator]


SHORT = """
name = "short_static_slow"
duration_s = 8.0
room = [6.0, 4.0]
[robot]
start = [1.0, 2.0, 0.0]
[cat]
path = [[2.0, 2.0]]
[[commands]]
at = 0.5
text = "cat_location 1.0 0.0"
"""


@pytest.mark.slow
def test_a_slow_renderer_slows_the_world_and_the_run_still_passes(tmp_path: Path, models: ModelFiles,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    real = Renderer.render

    def slow(self: Renderer, *args: Any, **kwargs: Any) -> Any:
        time.sleep(0.12)  # a renderer on a machine with no core to spare: under 8 frames a second
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Renderer, "render", slow)
    f = tmp_path / "s.toml"
    f.write_text(SHORT)
    out = run_scenario(load_scenario(str(f)), Config(), models, SimOptions(fast=False))
    assert out["mode"] == "real time"
    assert out["real_time_factor"] is not None and out["real_time_factor"] < 0.95, out
    assert out["slower_than_real_time"] is True
    assert out["success"], out
