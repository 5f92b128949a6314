"""``calibrate`` and ``config``: setting the car up (the steps live in ``cat_follow.calib``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from cat_follow.cli import options
from cat_follow.config import defaults_as_toml, load_config
from cat_follow.errors import CatFollowError


def cmd_calibrate(args: argparse.Namespace) -> int:
    from cat_follow.calib import steps

    cfg = load_config(args.config)
    options.setup_logging(cfg.logging.level)
    cols, rows = (int(v) for v in args.board.lower().split("x"))
    if args.what == "chessboard":
        steps.write_chessboard(args.out or Path("chessboard.png"), cols, rows, args.square_px, print)
        return 0
    cal_path = args.calibration or (Path(cfg.robot.calibration) if cfg.robot.calibration else None)
    if args.what == "check":
        steps.check(cal_path, args.picarx_conf, print)
        return 0
    if cal_path is None:
        raise CatFollowError("where should the calibration go? pass --calibration FILE (or set "
                             "robot.calibration in the config)")
    if args.what == "camera":
        steps.camera(cal_path, args.images, cols, rows, args.square_mm, print)
    else:
        steps.on_car(args.what, steps.calibration_car(args.sim), cal_path, args.picarx_conf, args.speeds,
                     input, print)
    print(f"saved to {cal_path}")
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    if args.check:
        load_config(args.check)
        print(f"{args.check}: ok")
    else:
        print(defaults_as_toml())
    return 0
