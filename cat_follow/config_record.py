"""The ``[record]`` section: how ``cat-follow record`` cuts and syncs its files (``cat_follow.record``)."""

from __future__ import annotations

from dataclasses import dataclass

from cat_follow.config_schema import field_doc as _f


@dataclass(frozen=True)
class RecordConfig:
    segment_s: float = _f(5.0, "The video is written as MP4 files of this many seconds; each is complete (playable) "
                          "once closed, and the frame and telemetry rows are synced to disk with it. A crash, the "
                          "systemd watchdog's abort or a battery cut loses at most this much video (an MP4 gets "
                          "its index only when closed). Shorter: less lost, more files and syncs.",
                          lo=0.5, hi=600.0)
