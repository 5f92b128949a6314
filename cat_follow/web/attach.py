"""Build a WebView for what a command runs: the robot service (``run``, ``simulate``) or a bare
pipeline (``replay``, which has no car: status only, commands refused)."""

from __future__ import annotations

import json
from typing import Any

from cat_follow.config_web import WebConfig
from cat_follow.web.app import Endpoints
from cat_follow.web.view import WebView, robot_cat_estimate


def for_robot(robot: Any, web: WebConfig, *, pool_canvas: bool = False) -> WebView:
    """The robot's status (as ``send status``), its command path (``Robot.submit``: the socket's
    parser and queue) and its own geometry for the cat estimate. ``pool_canvas``: draw on the
    pool's ``frame_annotate`` (only where no other writer uses it, as in ``run``)."""
    endpoints = Endpoints(status=robot.status_json, submit=robot.submit,
                          max_line_bytes=robot.config.robot.max_line_bytes,
                          cat_estimate=robot_cat_estimate(robot.motion))
    return WebView(web, robot.pipeline.shared, robot.health, endpoints, label=robot.config.detector.label,
                   canvas=robot.pool.frame_annotate if pool_canvas else None)


def for_pipeline(pipeline: Any, web: WebConfig) -> WebView:
    """A replay: the pipeline's counters as status; commands are answered 409."""
    counters = pipeline.pool.counters[0]

    def status() -> str:
        return json.dumps({"state": "replay", "frames": int(counters["frames_published"]),
                           "tracker_frames": int(counters["tracker_frames"]),
                           "detector_runs": int(counters["detector_runs"])})

    return WebView(web, pipeline.shared, pipeline.health, Endpoints(status=status, submit=None),
                   label=pipeline.config.detector.label)
