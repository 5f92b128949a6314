"""The ``cat-follow`` command line: replay, detect, bench, evaluate, config."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from cat_follow.config import Config, defaults_as_toml, load_config
from cat_follow.errors import CatFollowError
from cat_follow.threads.supervised import ThreadFailed

log = logging.getLogger("cat_follow")


def _setup_logging(level: str) -> None:
    logging.basicConfig(level=getattr(logging, level), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _config(args: argparse.Namespace) -> Config:
    cfg = load_config(args.config)
    if getattr(args, "model", None):
        cfg = replace(cfg, detector=replace(cfg.detector, model=str(args.model)))
    _setup_logging(cfg.logging.level if not args.verbose else "DEBUG")
    return cfg


def _models(cfg: Config):  # type: ignore[no-untyped-def]
    from cat_follow.perception.worker import resolve_models

    return resolve_models(cfg)


def cmd_replay(args: argparse.Namespace) -> int:
    from cat_follow.replay import ReplayOptions, run_replay

    cfg, web = _web(args, _config(args))
    opts = ReplayOptions(fast=args.fast, log_path=args.log, out_video=args.out_video,
                         summary_path=args.summary_json, progress=sys.stderr.isatty(),
                         max_frames=args.max_frames)
    if web is not None:
        from cat_follow.web.attach import for_pipeline

        opts.attach = lambda pipe: for_pipeline(pipe, web)
    from cat_follow.sources import default_video

    summary = run_replay(args.video or default_video(), cfg, _models(cfg), opts)
    print(json.dumps(summary, indent=2))
    return 0


def cmd_detect(args: argparse.Namespace) -> int:
    import cv2
    import numpy as np

    from cat_follow.perception.backend import ObjectDetector
    from cat_follow.perception.manifest import load_manifest
    from cat_follow.perception.port import DETECTION, KIND_CAT, KIND_NAMES, MAX_DETECTIONS

    cfg = _config(args)
    files = _models(cfg)
    det = ObjectDetector(load_manifest(str(files.manifest)), files.model, cfg.detector.num_threads,
                         cfg.detector.onnx_runtime)
    out = np.zeros(MAX_DETECTIONS, DETECTION)
    status = 0
    for image in args.images:
        frame = cv2.imread(str(image), cv2.IMREAD_COLOR) if image.is_file() else None
        if frame is None:
            error = "cannot read or decode the image" if image.is_file() else (
                "is a directory, not an image" if image.is_dir() else "no such file")
            print(json.dumps({"image": str(image), "error": error}))
            status = 1
            continue
        n = det.detect(frame, cfg.detector.score_threshold, out)
        rows = [r for r in out[:n] if args.all_classes or int(r["kind"]) == KIND_CAT]
        print(json.dumps({"image": str(image), "model": det.manifest.name, "detections": [
            {"label": KIND_NAMES[int(r["kind"])], "score": round(float(r["score"]), 4),
             "box": [round(float(r[k]), 1) for k in ("x", "y", "w", "h")]} for r in rows]}))
    return status


def cmd_bench(args: argparse.Namespace) -> int:
    from cat_follow.bench.run import run_bench

    cfg = _config(args)
    if args.soak is not None:
        from cat_follow.bench.soak import run_soak
        from cat_follow.sources import default_video

        summary = run_soak(args.video or default_video(), cfg, _models(cfg), args.soak, args.mode)
        if args.summary_json:
            args.summary_json.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        print(json.dumps(summary, indent=2))
        return 0
    # the design comparison runs SSD on both sides (the baseline is a bare TFLite SSD loop)
    ssd = replace(cfg, detector=replace(cfg.detector, manifest="ssd_mobilenet_v1_coco_quant"),
                  verifier=replace(cfg.verifier, enabled=False))
    summary = run_bench(args.video, cfg, _models(ssd), frames=args.frames, config_path=args.config,
                        summary_path=args.summary_json, rate=args.rate)
    print(json.dumps(summary, indent=2))
    return 0


def cmd_bench_web(args: argparse.Namespace) -> int:
    from cat_follow.sources import default_video
    from cat_follow.web.bench import run_web_bench

    cfg = _config(args)
    clients = tuple(int(v) for v in args.clients.split(","))
    summary = run_web_bench(args.video or default_video(), cfg, _models(cfg), seconds=args.seconds,
                            clients=clients, rate=args.rate, summary_path=args.summary_json)
    print(json.dumps(summary, indent=2))
    return 0


def _service(args: argparse.Namespace, cfg: Config):  # type: ignore[no-untyped-def]
    """The robot service (pipeline, car, command socket) that `run` and `record` start."""
    from cat_follow.calibration import load_calibration
    from cat_follow.car.interface import Car
    from cat_follow.pipeline import Pipeline
    from cat_follow.robot.command_socket import server_socket_path
    from cat_follow.robot.main_loop import Robot
    from cat_follow.sources import default_video, open_source

    cal = load_calibration(cfg.robot.calibration)
    factory: Callable[[], Car]
    if args.sim:
        from cat_follow.car.sim import SimCar

        source = open_source(args.source or default_video(), cfg, loop=True)
        factory = lambda: SimCar(cal)  # noqa: E731
    else:
        from cat_follow.car.picarx_car import PicarxCar

        source = open_source(args.source or "picamera", cfg)
        factory = PicarxCar
    pipeline = Pipeline(cfg, source, _models(cfg))
    return Robot(cfg, cal, pipeline, factory, socket_path=server_socket_path(cfg.robot.socket, args.socket))


def _run_until_signal(robot, on_tick=None, duration: float | None = None) -> int:  # type: ignore[no-untyped-def]
    import signal
    import time

    def on_signal(signum: int, _frame: object) -> None:
        robot.request_exit(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    t_end = None if duration is None else time.monotonic() + duration

    def tick(now: float) -> None:
        if on_tick is not None:
            on_tick(now)
        if t_end is not None and time.monotonic() >= t_end:
            robot.request_exit(f"--duration {duration:g} s reached")

    status = int(robot.run(on_tick=tick))
    log.info("exit: %s", robot.exit_reason or "done")
    return 130 if status == 0 and robot.exit_reason == "SIGINT" else status  # Ctrl-C: the shell's 128+2


def _web(args: argparse.Namespace, cfg: Config):  # type: ignore[no-untyped-def]
    """(config, web config or None) for ``--web [HOST:]PORT``: one more camera slot if on."""
    if getattr(args, "web", None) is None:
        return cfg, None
    from cat_follow.web.view import parse_web_spec, with_web_slot

    return with_web_slot(cfg), parse_web_spec(args.web, cfg.web)


def cmd_run(args: argparse.Namespace) -> int:
    cfg, web = _web(args, _config(args))
    robot = _service(args, cfg)
    if web is None:
        return _run_until_signal(robot)
    from cat_follow.web.attach import for_robot

    view = for_robot(robot, web, pool_canvas=True)
    view.start()
    try:
        return _run_until_signal(robot)
    finally:
        view.stop()


def cmd_record(args: argparse.Namespace) -> int:
    from cat_follow.record import Recorder, telemetry_hook

    cfg = _config(args)
    robot = _service(args, cfg)
    recorder = Recorder(args.out, robot.pipeline, robot.health, cfg.camera.fps)
    recorder.start()
    try:
        status = _run_until_signal(robot, telemetry_hook(robot, recorder), args.duration)
    finally:
        recorder.stop()
        recorder.join(5.0)
    print(f"recorded {recorder.frames_written} frames and {recorder.rows_written} telemetry rows to {args.out}"
          + (f" ({recorder.dropped_rows} rows dropped)" if recorder.dropped_rows else ""), file=sys.stderr)
    return status


def cmd_send(args: argparse.Namespace) -> int:
    from cat_follow.robot.client import NoService, send_line
    from cat_follow.robot.command_socket import client_socket_paths

    cfg = load_config(args.config)
    try:
        answer = send_line(client_socket_paths(cfg.robot.socket, args.socket), " ".join(args.words))
    except NoService as exc:
        print(f"cat-follow: {exc}", file=sys.stderr)
        return 2
    print(answer)
    return 1 if answer.startswith("ERR") else 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from cat_follow.sim.runner import SimOptions, run_scenario
    from cat_follow.sim.scenario import DEFAULT_SCENARIO, load_scenario, shipped_scenarios

    cfg, web = _web(args, _config(args))
    models = _models(cfg)
    progress = sys.stderr.isatty()
    attach: Callable[[Any], AbstractContextManager[Any]] | None = None
    if web is not None:
        from cat_follow.web.attach import for_robot

        attach = lambda robot: for_robot(robot, web)  # noqa: E731
    if args.suite:
        rows = []
        for name in shipped_scenarios():
            out = run_scenario(load_scenario(name), cfg, models, SimOptions(fast=args.fast, progress=progress))
            rows.append(out)
            print(f"{name:24s} {'PASS' if out['success'] else 'FAIL'}  acquire={out['time_to_acquire_s']}s "
                  f"centred={out['centered_fraction']} dist_err={out['mean_distance_error_m']}m "
                  f"collisions={out['collisions']} lost={out['lost_episodes']} odo_err={out['odometry_error_m']}m "
                  f"decoy={out['decoy_fraction']}"
                  + (f"  ({'; '.join(out['reasons'])})" if out["reasons"] else ""), flush=True)
        if args.summary_json:
            args.summary_json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
        failed = [r["scenario"] for r in rows if not r["success"]]
        print(f"{len(rows) - len(failed)} passed, {len(failed)} failed")
        return 1 if failed else 0
    scenario = load_scenario(args.scenario or DEFAULT_SCENARIO)
    out_video = args.out_video
    live = False
    if not args.fast:  # real time: show it in a window where one can open
        from cat_follow.display import display_route

        route = display_route()  # the one decision: a window, else the web view in the browser
        live = route.window
        if live:
            log.info("showing the camera view in a window")
        elif web is None and _desktop():  # a desktop OpenCV cannot draw on: its browser shows the web view
            from cat_follow.web.attach import for_robot
            from cat_follow.web.view import open_in_browser, parse_web_spec, with_web_slot

            cfg, web = with_web_slot(cfg), parse_web_spec(f"127.0.0.1:{cfg.web.port}", cfg.web)
            log.warning("no window: %s. Showing the web view in the browser instead", route.reason)
            web_cfg = web

            @contextmanager
            def attach_and_open(robot: Any) -> Iterator[Any]:
                with for_robot(robot, web_cfg) as view:
                    log.info("web view at %s", view.url)
                    if not open_in_browser(view.url):
                        log.warning("no browser could be opened: open %s yourself", view.url)
                    yield view

            attach = attach_and_open
        elif out_video is None and args.scenario is None:  # the default demo: keep something to watch
            out_video = Path(f"simulation_{scenario.name}.mp4")
            log.warning("no window: %s. Writing the camera view to %s instead (or watch it live with "
                        "--web PORT in a browser)", route.reason, out_video)
        else:
            log.info("no window: %s", route.reason)
    out = run_scenario(scenario, cfg, models, SimOptions(fast=args.fast, out_video=out_video,
                                                         summary_path=args.summary_json, plot_path=args.plot,
                                                         progress=progress, live_view=live, attach=attach))
    print(json.dumps(out, indent=2))
    if out_video:
        print(f"camera view: {out_video}", file=sys.stderr)
    return 0 if out["success"] else 1


def _desktop() -> bool:
    """A graphical session exists (whether or not OpenCV can draw on it)."""
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def cmd_evaluate(args: argparse.Namespace) -> int:
    from cat_follow.evaluation.suite import SuiteOptions, default_labels_dir, render_markdown, run_suite, score_log

    _setup_logging(load_config(args.config).logging.level if not args.verbose else "DEBUG")
    labels = args.labels or default_labels_dir()
    if args.suite:
        result = run_suite(SuiteOptions(out_dir=args.out, videos_dir=args.videos, labels_dir=labels, jobs=args.jobs,
                                        config_path=args.config, model_path=args.model,
                                        progress=sys.stderr.isatty(), only=tuple(args.only or ())))
        print(render_markdown(result))
        print(f"written: {args.out / 'evaluate.json'}, {args.out / 'evaluate.md'}", file=sys.stderr)
        return 0
    if args.log is None:
        raise CatFollowError("evaluate: pass a replay log (LOG --video NAME) or --suite")
    video = args.video or f"{args.log.name.split('.')[0]}.mp4"
    print(json.dumps(score_log(args.log, video, labels, args.mode).as_dict(), indent=2))
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from cat_follow.calib import procedures as proc
    from cat_follow.calib.maths import PICARX_KEYS, chessboard_image, read_picarx_conf, speed_table
    from cat_follow.calibration import calibration_as_toml, load_calibration

    cfg = load_config(args.config)
    _setup_logging(cfg.logging.level)
    cols, rows = (int(v) for v in args.board.lower().split("x"))
    if args.what == "chessboard":
        import cv2

        out = args.out or Path("chessboard.png")
        cv2.imwrite(str(out), chessboard_image(cols, rows, args.square_px))
        print(f"{out}: print it flat, measure one square, pass it as --square-mm")
        return 0
    cal_path = args.calibration or (Path(cfg.robot.calibration) if cfg.robot.calibration else None)
    picarx_conf = args.picarx_conf
    if args.what == "check":
        cal = load_calibration(cal_path)
        print(f"# calibration file: {cal_path or '(none: built-in defaults)'}")
        print(calibration_as_toml(cal))
        theirs = read_picarx_conf(picarx_conf)
        print(f"# {picarx_conf}: " + (", ".join(f"{k} = {v}" for k, v in theirs.items()) or "(none)"))
        for which, key in PICARX_KEYS.items():
            ours = getattr(cal, proc.CAL_FIELD[which])
            if key in theirs and abs(float(theirs[key]) - ours) > 1e-6:
                print(f"WARNING: {which} zero is {ours:g} here but {theirs[key]} in {picarx_conf}; "
                      f"run `cat-follow calibrate {'steering' if which == 'steering' else 'camera-servos'}`")
        return 0
    if cal_path is None:
        raise CatFollowError("where should the calibration go? pass --calibration FILE (or set "
                             "robot.calibration in the config)")
    if args.what == "camera":
        if not args.images:
            raise CatFollowError("camera: pass --images DIR with 10-20 photos of the printed chessboard "
                                 "taken with the car's camera at 640x480")
        intr = proc.camera_intrinsics(proc.load_images(args.images), cols, rows, args.square_mm / 1000, print)
        proc.save_calibration(cal_path, camera_hfov_deg=round(intr.hfov_deg, 2),
                              camera_vfov_deg=round(intr.vfov_deg, 2))
        print(f"saved to {cal_path}")
        return 0
    car = _calibration_car(args)
    try:
        if args.what == "speed":
            speeds = [float(v) for v in args.speeds.split(",")]
            measured = proc.measure_speeds(car, speeds, input, print)
            proc.save_calibration(cal_path, speed_table=speed_table(measured))
        else:
            parts = ["steering"] if args.what == "steering" else ["pan", "tilt"]
            current = load_calibration(cal_path) if cal_path.is_file() else None
            for which in parts:
                start = getattr(current, proc.CAL_FIELD[which]) if current else 0.0
                value = proc.servo_zero(car, which, start, input, print)
                proc.save_zero(cal_path, picarx_conf, which, value)
    finally:
        car.stop()
        car.close()
    print(f"saved to {cal_path}")
    return 0


def _calibration_car(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    """The car for a procedure, built on this (the only) thread that will use it."""
    from cat_follow.calibration import Calibration

    if args.sim:
        from cat_follow.car.sim import SimCar, SimWorld

        return SimCar(Calibration(), start=(0.0, 0.0, 0.0), world=SimWorld(room=(-1.0, -2.0, 2.0, 2.0)))
    from cat_follow.car.picarx_car import PicarxCar

    return PicarxCar()


def cmd_config(args: argparse.Namespace) -> int:
    if args.check:
        load_config(args.check)
        print(f"{args.check}: ok")
    else:
        print(defaults_as_toml())
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cat-follow", description="Find a cat and follow it (PiCar-X).")
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--config", type=Path, help="TOML config file (see `cat-follow config`)")
        sp.add_argument("--model", type=Path, help="detector .tflite (overrides config)")
        sp.add_argument("-v", "--verbose", action="store_true", help="debug logging")

    r = sub.add_parser("replay", help="play a recorded video through the pipeline")
    r.add_argument("video", type=Path, nargs="?",
                   help="video file or directory of images (default: the sample kittens_floor.mp4)")
    common(r)
    r.add_argument("--fast", action="store_true",
                   help="lock-step, as fast as possible: every frame tracked, results independent of speed")
    r.add_argument("--log", type=Path, help="write one JSON object per source frame here")
    r.add_argument("--out-video", type=Path, help="write the annotated video here (.mp4)")
    r.add_argument("--summary-json", type=Path, help="write the summary here")
    r.add_argument("--max-frames", type=int, help="stop after this many source frames")
    r.add_argument("--web", metavar="[HOST:]PORT", help="serve the live view (config [web])")
    r.set_defaults(func=cmd_replay)

    d = sub.add_parser("detect", help="run the detector on images, one JSON line each")
    d.add_argument("images", type=Path, nargs="+")
    common(d)
    d.add_argument("--all-classes", action="store_true", help="report dogs and persons too, not only cats")
    d.set_defaults(func=cmd_detect)

    b = sub.add_parser("bench", help="pipeline vs a naive queue-of-copies baseline, side by side")
    b.add_argument("video", type=Path, nargs="?", help="default: kittens_floor.mp4 from the assets")
    common(b)
    b.add_argument("--frames", type=int, default=300, help="frames per run (paced at the video's fps)")
    b.add_argument("--rate", type=float, help="camera rate in fps (default: the video's); a rate above what "
                   "the consumers sustain shows how each design copes with a backlog")
    b.add_argument("--summary-json", type=Path)
    b.add_argument("--soak", type=int, nargs="?", const=10_000, metavar="N",
                   help="instead: N frames (default 10000) unpaced, looping the video; RSS at start and end "
                   "and frame-sized allocations")
    b.add_argument("--mode", choices=["thread", "process"], help="--soak: detector mode (default: config)")
    b.set_defaults(func=cmd_bench)

    bw = sub.add_parser("bench-web", help="the web view's cost to the vision loop with 0/10/20 viewers, "
                        "side by side in one run")
    bw.add_argument("video", type=Path, nargs="?", help="default: kittens_floor.mp4 from the assets")
    common(bw)
    bw.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    bw.add_argument("--clients", default="0,10,20,0", help="viewers in each phase, in order")
    bw.add_argument("--rate", type=float, default=60.0, help="camera rate in fps (above the tracker's, so "
                    "the tracker's fps shows what the web view takes from it)")
    bw.add_argument("--summary-json", type=Path)
    bw.set_defaults(func=cmd_bench_web)

    rn = sub.add_parser("run", help="run the service: camera, tracker, detector, commands, car")
    common(rn)
    rn.add_argument("--socket", help="command socket path (default: robot.socket in the config)")
    rn.add_argument("--sim", action="store_true", help="simulated car; frames from --source (default: sample video)")
    rn.add_argument("--source", help="video file or image directory instead of the Pi camera")
    rn.add_argument("--web", metavar="[HOST:]PORT", help="serve the live view: camera, status, Stop, go-to "
                    "(127.0.0.1 unless HOST is given; other hosts need web.token)")
    rn.set_defaults(func=cmd_run)

    rc = sub.add_parser("record", help="run the service and record camera frames and telemetry for replay")
    common(rc)
    rc.add_argument("--out", type=Path, required=True, help="recording folder (replay reads it back)")
    rc.add_argument("--socket", help="command socket path")
    rc.add_argument("--sim", action="store_true", help="simulated car; frames from --source")
    rc.add_argument("--source", help="video file or image directory instead of the Pi camera")
    rc.add_argument("--duration", type=float, help="stop after this many seconds")
    rc.set_defaults(func=cmd_record)

    sd = sub.add_parser("send", help="send one command to the running service and print its answer")
    sd.add_argument("words", nargs="+", help="cat_location X Y | stop | status")
    sd.add_argument("--socket", help="command socket path")
    sd.add_argument("--config", type=Path)
    sd.set_defaults(func=cmd_send)

    sm = sub.add_parser("simulate", help="closed-loop simulation: the real pipeline chasing a rendered cat")
    common(sm)
    sm.add_argument("--scenario", help="a shipped scenario's name or a scenario .toml file")
    sm.add_argument("--suite", action="store_true", help="run every shipped scenario; exit 1 if any fails")
    sm.add_argument("--fast", action="store_true", help="lock-step on a simulated clock: as fast as possible, "
                    "same result on any machine")
    sm.add_argument("--out-video", type=Path, help="write the camera view with the tracker's box here")
    sm.add_argument("--summary-json", type=Path)
    sm.add_argument("--plot", type=Path, help="top-view PNG: true path, odometry, cat")
    sm.add_argument("--web", metavar="[HOST:]PORT", help="serve the live view (config [web])")
    sm.set_defaults(func=cmd_simulate)

    ev = sub.add_parser("evaluate", help="score replay logs against the reference boxes (../shared/labels)")
    ev.add_argument("log", type=Path, nargs="?", help="a `replay --fast --log` JSONL file to score")
    common(ev)
    ev.add_argument("--video", help="the video the log is of (default: the log's name + .mp4)")
    ev.add_argument("--mode", choices=["animal", "cat+decoys", "negative", "by-eye"],
                    help="scoring mode (default: from cat_follow/evaluation/videos.toml)")
    ev.add_argument("--labels", type=Path,
                    help="reference boxes folder (default: $CAT_FOLLOW_LABELS, ../shared/labels)")
    ev.add_argument("--suite", action="store_true", help="replay every video in the assets' video/ and video/dev/")
    ev.add_argument("--videos", type=Path, help="video folder for --suite (default: the assets' video/)")
    ev.add_argument("--only", nargs="+", metavar="NAME", help="--suite on these video file names only")
    ev.add_argument("--jobs", type=int, default=2, help="replays at once (--suite)")
    ev.add_argument("--out", type=Path, default=Path("evaluation"),
                    help="--suite writes evaluate.json, evaluate.md and logs/ here")
    ev.set_defaults(func=cmd_evaluate)

    cb = sub.add_parser("calibrate", help="calibration procedures (on the car), and a check")
    cb.add_argument("what", choices=["steering", "camera-servos", "speed", "camera", "check", "chessboard"])
    cb.add_argument("--config", type=Path)
    cb.add_argument("--calibration", type=Path, help="calibration file (default: robot.calibration)")
    cb.add_argument("--picarx-conf", type=Path, default=Path("/opt/picar-x/picar-x.conf"),
                    help="picar-x's own offsets file, kept in agreement")
    cb.add_argument("--sim", action="store_true", help="try the procedure on the simulated car")
    cb.add_argument("--speeds", default="20,40,60,80", help="motor speeds to measure (speed)")
    cb.add_argument("--images", type=Path, help="folder of chessboard photos (camera)")
    cb.add_argument("--board", default="9x6", help="inner corners, columns x rows (camera, chessboard)")
    cb.add_argument("--square-mm", type=float, default=25.0, help="printed square size (camera)")
    cb.add_argument("--square-px", type=int, default=80, help="square size of the printable board")
    cb.add_argument("--out", type=Path, help="output image (chessboard)")
    cb.set_defaults(func=cmd_calibrate)

    c = sub.add_parser("config", help="print the default config, or check a file")
    c.add_argument("--check", type=Path, help="validate this file and exit")
    c.set_defaults(func=cmd_config)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except CatFollowError as exc:
        print(f"cat-follow: error: {exc}", file=sys.stderr)
        return 2
    except ThreadFailed as exc:
        print(f"cat-follow: error: {exc} (traceback in the log above)", file=sys.stderr)
        return 3
    except KeyboardInterrupt:  # Ctrl-C is a normal stop: one line, no traceback; motors were stopped on the way out
        print("cat-follow: interrupted (Ctrl-C); stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
