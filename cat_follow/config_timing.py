"""The ``[timing]`` section: when a lock-step run delivers a detector result to the tracker.

``instant`` applies each result to the frame it was computed on (lock-step as it always was).
``pi4`` delivers it as many frames late as it would reach the tracker on a Raspberry Pi 4, so a
run on this machine shows what the car would do: the tracker goes on with KCF on the frames in
between and no new job is asked for while one is in flight. The delay is counted in source
frames (``frames_late``), so runs stay deterministic. Live runs (the car, paced replays,
real-time simulations) have their own, real timing and ignore this section.

Where the Pi 4 figures come from: ``docs/pi_budget.md`` (the stage table and its "Sources of
the Pi estimates"); each field says which row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cat_follow.config_schema import field_doc as _f

TIMINGS = ("instant", "pi4")


@dataclass(frozen=True)
class TimingConfig:
    mode: str = _f("instant", "Lock-step runs (replay --fast, evaluate, simulate --fast): 'instant' applies each "
                   "detector result to its own frame; 'pi4' delivers it as many frames late as on a Raspberry "
                   "Pi 4 (the pi4_* fields; --timing overrides). Live runs have real timing and ignore this.",
                   choices=TIMINGS)
    pi4_detector_ms: float = _f(120.0, "A detector job on a Pi 4, wall time: docs/pi_budget.md, row 'detector: "
                                "NanoDet-Plus 416 (onnxruntime), whole job, 2 threads' (~120 ms, 103-138): its time "
                                "here as a ratio to SSD MobileNet v1 times that model's published Pi 4 time, 60-80 ms "
                                "(assets models/MODELS.md); cross-checked against OpenCV Zoo's 214.9 ms through "
                                "OpenCV DNN.", lo=0.0, hi=5000.0)
    pi4_classifier_ms: float = _f(34.0, "The crop classifier/verifier, run in the same job when the job asks for a "
                                  "crop check (the result's 'verified'): docs/pi_budget.md, row 'verifier: MobileNet "
                                  "v2 crop check' (~34 ms, 10 ms here x the 3-4x neural ratio of the detector row). A "
                                  "classifier head on the same MobileNet features adds well under 1 ms.",
                                  lo=0.0, hi=5000.0)
    pi4_handoff_ms: float = _f(1.0, "Hand-off around a job: the frame's copy into the detector's buffer (0.92 MB at "
                               "~3 GB/s = 0.3 ms, docs/pi_budget.md row 'Pi camera copy') plus waking the detector "
                               "and publishing the result record (an assumption, well under 1 ms).",
                               lo=0.0, hi=1000.0)

    def latency_ms(self, classified: bool) -> float:
        """Time from a job's frame to its result on a Pi 4 (``classified``: the job ran the crop check too)."""
        return self.pi4_detector_ms + self.pi4_handoff_ms + (self.pi4_classifier_ms if classified else 0.0)

    def frames_late(self, classified: bool, fps: float) -> int:
        """Frames after its own that a result reaches the tracker at ``fps`` (0 with ``instant``): the
        tracker takes it with the first frame captured once it is done."""
        if self.mode == "instant":
            return 0
        return max(1, math.ceil(self.latency_ms(classified) * fps / 1000.0 - 1e-9))
