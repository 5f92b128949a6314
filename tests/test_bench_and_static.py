"""The bench runs the three designs and reports every figure; the code stays mypy and ruff clean."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cat_follow.bench.run import KEYS

REPO = Path(__file__).resolve().parents[1]


def test_bench_reports_pipeline_and_baseline_side_by_side(tmp_path: Path, kittens: Path,
                                                          cli_env: dict[str, str]) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, "-m", "cat_follow", "bench", str(kittens), "--frames", "50",
                           "--rate", "60", "--summary-json", str(out)],
                          capture_output=True, text=True, env=cli_env, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    s = json.loads(out.read_text())
    for k in KEYS:
        assert s[k] is not None and s[f"process_{k}"] is not None and s[f"baseline_{k}"] is not None, k
    assert s["process_detector_runs"] > 0 and s["process_cpu_detector_process_pct"] > 0
    assert len(s["cpu_core_pct"]) == s["cores"]
    assert 0 < s["glass_to_motor_ms_p50"] <= s["glass_to_motor_ms_p99"]
    # the baseline copies each frame once per consumer: two frames at least
    assert s["baseline_alloc_bytes_per_frame"] >= 2 * 640 * 360 * 3
    assert s["alloc_bytes_per_frame"] < 640 * 480 * 3
    assert s["baseline_detector_runs"] == 50 > s["detector_runs"]


@pytest.mark.parametrize("tool, args", [
    ("mypy", ["cat_follow"]),
    ("ruff", ["check", "cat_follow", "tests"]),
])
def test_static_checks(tool: str, args: list[str]) -> None:
    exe = Path(sys.executable).parent / tool
    cmd = [str(exe)] if exe.exists() else [shutil.which(tool) or tool]
    proc = subprocess.run(cmd + args, cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def test_soak_reports_rss_and_frame_sized_allocations(tmp_path: Path, kittens: Path,
                                                      cli_env: dict[str, str]) -> None:
    out = tmp_path / "soak.json"
    proc = subprocess.run([sys.executable, "-m", "cat_follow", "bench", str(kittens), "--soak", "300",
                           "--mode", "process", "--summary-json", str(out)],
                          capture_output=True, text=True, env=cli_env, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    s = json.loads(out.read_text())
    assert s["mode"] == "process" and s["rss_start_mb"] > 0 and s["rss_end_mb"] > 0
    assert s["windows"] > 0 and s["windows_with_frame_sized_alloc"] == 0, s
    end = s["samples"]["end"]
    # the detector process is measured (at a sample it may be restarting: a hang on a loaded machine)
    assert any(smp["detector"] is not None for smp in s["samples"].values())
    for who in ("main", "detector"):  # RSS split into heaps and file-backed pages, both processes
        if end[who] is None:
            continue
        assert end[who]["anon"] > 0 and end[who]["file"] > 0
        assert abs(end[who]["anon"] + end[who]["file"] - end[who]["rss"]) < 0.2
    assert {"main", "python_heap"} <= set(s["growth_first_half"]) & set(s["growth_second_half"])
    assert s["rss_after_trim_mb"] > 0


def test_handoff_split_attributes_each_frame() -> None:
    """The handoff profiler's bookkeeping on hand-made stamps (ns): a frame published while
    the tracker waited is split into wake and pin; one published while it was busy is queued;
    a frame whose handoff overlaps a detector job counts as during the job."""
    from cat_follow.bench.handoff import _split

    ms = 1_000_000
    st = {"wait": [(0, 2 * ms, ms // 2), (10 * ms, 14 * ms, 0)],  # (start, end, run-queue ns)
          "process": [(1 * ms, 3 * ms), (20 * ms, 25 * ms)],     # (publish, process start)
          "job": [(21 * ms, 60 * ms)]}
    out = _split(st)
    assert out["total"]["n"] == 2 and out["total"]["p50"] == 3.5
    assert out["wake"] == {"n": 1, "p50": 1.0, "p99": 1.0, "max": 1.0}
    assert out["wake_run_queue"]["p50"] == 0.5 and out["wake_other"]["p50"] == 0.5
    assert out["pin"]["p50"] == 1.0
    assert out["queued"]["n"] == 1 and out["queued"]["p50"] == 5.0
    assert out["total_during_job"]["n"] == 1 and out["total_no_job"]["n"] == 1


@pytest.mark.slow
def test_stage_bench_times_every_stage_of_the_pi_budget(kittens: Path, cli_env: dict[str, str]) -> None:
    """``python -m cat_follow.bench.stages`` (docs/pi_budget.md) in a real subprocess: every
    stage the budget lists is timed on the video's frames, with consistent figures."""
    out = subprocess.run([sys.executable, "-m", "cat_follow.bench.stages", "--video", str(kittens),
                          "--frames", "20"], capture_output=True, text=True, env=cli_env, check=True, timeout=300)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    stages = result["stages"]
    for want in ("camera_to_pool_", "camera_copy_640x480", "kcf_shrink", "kcf_update", "detector_1_thread",
                 "verifier", "main_tick", "web_encode"):
        assert any(n.startswith(want) for n in stages), (want, sorted(stages))
    assert result["frames"] == 20 and 0 < result["kcf_scale"] <= 1.0
    for name, r in stages.items():
        assert 0 < r["p50_ms"] <= r["p99_ms"], (name, r)
    assert "| kcf_update |" in out.stdout  # the markdown table the budget quotes
