"""bench.g2m_stages' split: each stage from its own stamps; frames whose order never reached the car are left out."""

from __future__ import annotations

from cat_follow.bench.g2m_stages import STAGES, split

MS = 1_000_000


def test_split_takes_each_stage_from_its_stamps_and_leaves_out_unapplied_frames() -> None:
    marks = {}
    for i in range(5):
        cap = 1000 * MS + i * 33 * MS
        marks[cap] = {"publish": cap + 1 * MS, "process": cap + 3 * MS, "commit": cap + (9 + i) * MS,
                      "tick": cap + (10 + i) * MS, "send": cap + (11 + i) * MS, "apply": cap + (13 + i) * MS,
                      "kcf_ns": 5 * MS}
    marks[5000 * MS] = {"publish": 5001 * MS, "process": 5002 * MS, "commit": 5003 * MS}  # never applied
    out = split(marks, skip=1)
    assert out["frames"] == 4 and set(STAGES) <= set(out)
    assert out["capture_to_publish"] == {"p50": 1.0, "p99": 1.0}
    assert out["publish_to_process"]["p50"] == 2.0 and out["commit_to_tick"]["p99"] == 1.0
    assert out["process_to_commit"]["p50"] == 8.5  # frames 1-4: 7, 8, 9, 10 ms
    assert out["send_to_apply"]["p50"] == 2.0 and out["kcf"]["p50"] == 5.0
    assert out["total"]["p50"] == 15.5  # 14, 15, 16, 17
