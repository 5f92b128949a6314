"""``run``, ``record`` and ``send``: start the robot service, record it, talk to it."""

from __future__ import annotations

import argparse
import sys

from cat_follow.cli import options
from cat_follow.config import load_config


def cmd_run(args: argparse.Namespace) -> int:
    from cat_follow.service import build_robot, run_until_signal

    cfg, web = options.web(args, options.config(args))
    robot = build_robot(cfg, sim=args.sim, source=args.source, socket=args.socket)
    if web is None:
        return run_until_signal(robot)
    from cat_follow.web.attach import for_robot

    view = for_robot(robot, web, pool_canvas=True)
    view.start()
    try:
        return run_until_signal(robot)
    finally:
        view.stop()


def cmd_record(args: argparse.Namespace) -> int:
    from cat_follow.record import Recorder, telemetry_hook
    from cat_follow.service import build_robot, run_until_signal

    cfg = options.config(args)
    robot = build_robot(cfg, sim=args.sim, source=args.source, socket=args.socket)
    recorder = Recorder(args.out, robot.pipeline.shared, robot.pipeline.main_reader, robot.health, cfg.camera.fps,
                        cfg.record)
    recorder.start()
    try:
        status = run_until_signal(robot, telemetry_hook(robot, recorder), args.duration)
    finally:
        recorder.stop()
        recorder.join(5.0)
    print(f"recorded {recorder.frames_written} frames ({recorder.frames_dropped} dropped) in "
          f"{recorder.video.closed} segments and {recorder.rows_written} telemetry rows to {args.out}"
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
