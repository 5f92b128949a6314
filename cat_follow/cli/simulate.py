"""``simulate``: one scenario (real time with a view, or ``--fast``) or the whole suite."""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cat_follow.cli import options
from cat_follow.config import Config
from cat_follow.config_web import WebConfig
from cat_follow.errors import CatFollowError, ConfigError

if TYPE_CHECKING:
    from cat_follow.perception.model import ModelFiles
    from cat_follow.sim.scenario import Scenario

log = logging.getLogger("cat_follow")

Attach = Callable[[Any], AbstractContextManager[Any]]


@dataclass
class View:
    """Where a real-time run shows itself: a window (``live``), the web view (``attach``), a
    video file (``out_video``); ``cfg`` has the web view's camera slot when it is on."""
    cfg: Config
    attach: Attach | None
    out_video: Path | None
    live: bool = False


def cmd_simulate(args: argparse.Namespace) -> int:
    from cat_follow.sim.scenario import DEFAULT_SCENARIO, load_scenario

    cfg, web = options.web(args, options.config(args))
    models = options.models(cfg)
    attach: Attach | None = None
    if web is not None:
        attach = _web_attach(web)
    if args.suite:
        return _suite(args, cfg, models)
    scenario = load_scenario(args.scenario or DEFAULT_SCENARIO)
    view = View(cfg, attach, args.out_video)
    if not args.fast:  # real time: show it in a window where one can open
        view = _real_time_view(args, view, web, scenario)
    return _one(args, view, models, scenario)


def _web_attach(web: WebConfig) -> Attach:
    from cat_follow.web.attach import for_robot

    return lambda robot: for_robot(robot, web)


def _suite(args: argparse.Namespace, cfg: Config, models: ModelFiles) -> int:
    """Every shipped scenario, one line each; exit status 1 if any failed."""
    from cat_follow.sim.scenario import load_scenario, shipped_scenarios
    from cat_follow.sim.simulation import SimOptions, run_scenario

    names = shipped_scenarios()
    if args.jobs < 1:
        raise ConfigError(f"--jobs: must be >= 1, got {args.jobs}")
    if args.jobs > 1 and not args.fast:
        raise ConfigError("--jobs: only with --fast (real-time runs would slow each other down)")
    if args.jobs > 1:
        results = _in_processes(args, names)
    else:
        results = (run_scenario(load_scenario(name), cfg, models,
                                SimOptions(fast=args.fast, progress=sys.stderr.isatty())) for name in names)
    rows = []
    for name, out in zip(names, results, strict=True):
        rows.append(out)
        print(f"{name:24s} {'PASS' if out['success'] else 'FAIL'}  acquire={out['time_to_acquire_s']}s "
              f"centred={out['centered_fraction']} dist_err={out['mean_distance_error_m']}m "
              f"collisions={out['collisions']} lost={out['lost_episodes']} odo_err={out['odometry_error_m']}m "
              f"decoy={out['decoy_fraction']} wall_clear={out['min_wall_clearance_m']}m "
              f"after_stop={out['after_stop']['drives']}/{out['after_stop']['moved_m']}m switches={out['switches']} "
              f"reacquire={out['reacquire_s_max']}s back_after_hide={out['reacquire_after_hide_s_max']}s"
              + (f"  ({'; '.join(out['reasons'])})" if out["reasons"] else ""), flush=True)
    if args.summary_json:
        args.summary_json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    failed = [r["scenario"] for r in rows if not r["success"]]
    print(f"{len(rows) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


def _in_processes(args: argparse.Namespace, names: list[str]) -> Iterator[dict[str, Any]]:
    """Each scenario as a ``simulate --scenario NAME --fast`` subprocess, ``args.jobs`` at once;
    their summaries in ``names``' order. A scenario whose process fails raises with its stderr."""
    from concurrent.futures import ThreadPoolExecutor

    def one(name: str) -> dict[str, Any]:
        with tempfile.TemporaryDirectory(prefix="cat-follow-sim-") as tmp:
            summary = Path(tmp) / "summary.json"
            cmd = [sys.executable, "-m", "cat_follow", "simulate", "--scenario", name, "--fast",
                   "--summary-json", str(summary)]
            if args.config:
                cmd += ["--config", str(args.config)]
            if args.model:
                cmd += ["--model", str(args.model)]
            if args.timing:
                cmd += ["--timing", args.timing]
            p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
            if not summary.is_file():
                raise CatFollowError(f"scenario {name}: simulate exited with status {p.returncode}:\n"
                                   f"{p.stderr[-1500:]}")
            result: dict[str, Any] = json.loads(summary.read_text(encoding="utf-8"))
            return result

    with ThreadPoolExecutor(args.jobs) as pool:
        yield from pool.map(one, names)


def _real_time_view(args: argparse.Namespace, view: View, web: WebConfig | None, scenario: Scenario) -> View:
    """The one decision: a window, else the web view in the desktop's browser, else (the
    default demo) a video file to watch afterwards."""
    from cat_follow.display import display_route

    route = display_route()
    if route.window:
        log.info("showing the camera view in a window")
        return View(view.cfg, view.attach, view.out_video, live=True)
    if web is None and _desktop():  # a desktop OpenCV cannot draw on: its browser shows the web view
        from cat_follow.web.view import parse_web_spec, with_web_slot

        cfg = view.cfg
        cfg, web = with_web_slot(cfg), parse_web_spec(f"127.0.0.1:{cfg.web.port}", cfg.web)
        log.warning("no window: %s. Showing the web view in the browser instead", route.reason)
        return View(cfg, _attach_and_open(web), view.out_video)
    if view.out_video is None and args.scenario is None:  # the default demo: keep something to watch
        out_video = Path(f"simulation_{scenario.name}.mp4")
        log.warning("no window: %s. Writing the camera view to %s instead (or watch it live with "
                    "--web PORT in a browser)", route.reason, out_video)
        return View(view.cfg, view.attach, out_video)
    log.info("no window: %s", route.reason)
    return view


def _attach_and_open(web: WebConfig) -> Attach:
    """The web view around the run, opened in the desktop's browser."""
    from cat_follow.web.attach import for_robot
    from cat_follow.web.view import open_in_browser

    @contextmanager
    def attach(robot: Any) -> Iterator[Any]:
        with for_robot(robot, web) as web_view:
            log.info("web view at %s", web_view.url)
            if not open_in_browser(web_view.url):
                log.warning("no browser could be opened: open %s yourself", web_view.url)
            yield web_view

    return attach


def _one(args: argparse.Namespace, view: View, models: ModelFiles, scenario: Scenario) -> int:
    from cat_follow.sim.simulation import SimOptions, run_scenario

    out = run_scenario(scenario, view.cfg, models, SimOptions(
        fast=args.fast, out_video=view.out_video, summary_path=args.summary_json, plot_path=args.plot,
        progress=sys.stderr.isatty(), live_view=view.live, attach=view.attach))
    print(json.dumps(out, indent=2))
    if view.out_video:
        print(f"camera view: {view.out_video}", file=sys.stderr)
    return 0 if out["success"] else 1


def _desktop() -> bool:
    """A graphical session exists (whether or not OpenCV can draw on it)."""
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
