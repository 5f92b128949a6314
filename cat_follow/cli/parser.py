"""The argument parser: the sub-commands in three groups, in the order ``cat-follow --help`` lists them."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from cat_follow.cli.robot_commands import cmd_record, cmd_run, cmd_send
from cat_follow.cli.setup_commands import cmd_calibrate, cmd_config
from cat_follow.cli.simulate import cmd_simulate
from cat_follow.cli.train_commands import cmd_train_classifier
from cat_follow.cli.vision import cmd_bench, cmd_bench_web, cmd_detect, cmd_evaluate, cmd_replay


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cat-follow", description="Find a cat and follow it (PiCar-X).")
    sub = p.add_subparsers(dest="command", required=True)
    for add in (_vision_commands, _robot_commands, _evaluate_and_setup_commands):
        add(sub)
    return p


def _command(sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str,
             func: Callable[[argparse.Namespace], int], help: str, *, common: bool = False) -> argparse.ArgumentParser:
    """The sub-command ``name`` running ``func``; ``common``: with --config, --model and -v."""
    sp = sub.add_parser(name, help=help)
    sp.set_defaults(func=func)
    if common:
        _common(sp)
    return sp


def _count(text: str) -> int:
    """A whole number >= 0 (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {value}")
    return value


def _timing(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--timing", choices=["instant", "pi4"],
                    help="with --fast: 'instant' applies each detection to its own frame; 'pi4' delivers it as "
                    "many frames late as on a Raspberry Pi 4 (default: config timing.mode)")


def _common(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--config", type=Path, help="TOML config file (see `cat-follow config`)")
    sp.add_argument("--model", type=Path, help="detector .tflite (overrides config)")
    sp.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def _service(sp: argparse.ArgumentParser, socket_help: str, sim_help: str) -> None:
    """The options ``run`` and ``record`` share: where commands come in, which car, which frames."""
    sp.add_argument("--socket", help=socket_help)
    sp.add_argument("--sim", action="store_true", help=sim_help)
    sp.add_argument("--source", help="video file or image directory instead of the Pi camera")


def _vision_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """replay, detect, bench, bench-web: the vision pipeline on recorded video and images."""
    r = _command(sub, "replay", cmd_replay, common=True, help="play a recorded video through the pipeline")
    r.add_argument("video", type=Path, nargs="?",
                   help="video file or directory of images (default: the sample kittens_floor.mp4)")
    r.add_argument("--fast", action="store_true",
                   help="lock-step, as fast as possible: every frame tracked, results independent of speed")
    _timing(r)
    r.add_argument("--log", type=Path, help="write one JSON object per source frame here")
    r.add_argument("--out-video", type=Path, help="write the annotated video here (.mp4)")
    r.add_argument("--summary-json", type=Path, help="write the summary here")
    r.add_argument("--max-frames", type=int, help="stop after this many source frames")
    r.add_argument("--skip-frames", type=_count, default=0, metavar="K",
                   help="a video file starts K frames in, as if it began there (log frame 0 is its frame K): "
                        "another phase of the detector's schedule against the video (evaluate --phases)")
    r.add_argument("--web", metavar="[HOST:]PORT", help="serve the live view (config [web])")
    d = _command(sub, "detect", cmd_detect, common=True, help="run the detector on images, one JSON line each")
    d.add_argument("images", type=Path, nargs="+")
    d.add_argument("--all-classes", action="store_true", help="report dogs and persons too, not only cats")
    b = _command(sub, "bench", cmd_bench, common=True,
                 help="pipeline vs a naive queue-of-copies baseline, side by side")
    b.add_argument("video", type=Path, nargs="?", help="default: kittens_floor.mp4 from the assets")
    b.add_argument("--frames", type=int, default=300, help="frames per run (paced at the video's fps)")
    b.add_argument("--rate", type=float, help="camera rate in fps (default: the video's); a rate above what "
                   "the consumers sustain shows how each design copes with a backlog")
    b.add_argument("--summary-json", type=Path)
    b.add_argument("--soak", type=int, nargs="?", const=10_000, metavar="N",
                   help="instead: N frames (default 10000) unpaced, looping the video; RSS at start and end "
                   "and frame-sized allocations")
    b.add_argument("--mode", choices=["thread", "process"], help="--soak: detector mode (default: config)")
    bw = _command(sub, "bench-web", cmd_bench_web, common=True,
                  help="the web view's cost to the vision loop with 0/10/20 viewers, "
                       "side by side in one run")
    bw.add_argument("video", type=Path, nargs="?", help="default: kittens_floor.mp4 from the assets")
    bw.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    bw.add_argument("--clients", default="0,10,20,0", help="viewers in each phase, in order")
    bw.add_argument("--rate", type=float, default=60.0, help="camera rate in fps (above the tracker's, so "
                    "the tracker's fps shows what the web view takes from it)")
    bw.add_argument("--summary-json", type=Path)


def _robot_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """run, record, send (the service) and simulate (the service against a simulated world)."""
    rn = _command(sub, "run", cmd_run, common=True, help="run the service: camera, tracker, detector, commands, car")
    _service(rn, "command socket path (default: robot.socket in the config)",
             "simulated car; frames from --source (default: sample video)")
    rn.add_argument("--web", metavar="[HOST:]PORT", help="serve the live view: camera, status, Stop, go-to "
                    "(127.0.0.1 unless HOST is given; other hosts need web.token)")
    rc = _command(sub, "record", cmd_record, common=True,
                  help="run the service and record camera frames and telemetry for replay")
    rc.add_argument("--out", type=Path, required=True, help="recording folder (replay reads it back)")
    _service(rc, "command socket path", "simulated car; frames from --source")
    rc.add_argument("--duration", type=float, help="stop after this many seconds")
    sd = _command(sub, "send", cmd_send, help="send one command to the running service and print its answer")
    sd.add_argument("words", nargs="+", help="cat_location X Y | stop | status")
    sd.add_argument("--socket", help="command socket path")
    sd.add_argument("--config", type=Path)
    sm = _command(sub, "simulate", cmd_simulate, common=True,
                  help="closed-loop simulation: the real pipeline chasing a rendered cat")
    sm.add_argument("--scenario", help="a shipped scenario's name or a scenario .toml file")
    sm.add_argument("--suite", action="store_true", help="run every shipped scenario; exit 1 if any fails")
    sm.add_argument("--jobs", type=int, default=1, help="--suite --fast: scenarios at once, each in its own "
                    "process (lock-step: the same results as one at a time)")
    sm.add_argument("--fast", action="store_true", help="lock-step on a simulated clock: as fast as possible, "
                    "same result on any machine")
    _timing(sm)
    sm.add_argument("--out-video", type=Path, help="write the camera view with the tracker's box here")
    sm.add_argument("--summary-json", type=Path)
    sm.add_argument("--plot", type=Path, help="top-view PNG: true path, odometry, cat")
    sm.add_argument("--web", metavar="[HOST:]PORT", help="serve the live view (config [web])")


def _evaluate_and_setup_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """evaluate (scoring replays), calibrate and config."""
    ev = _command(sub, "evaluate", cmd_evaluate, common=True,
                  help="score replay logs against the reference boxes (../shared/labels)")
    ev.add_argument("log", type=Path, nargs="?", help="a `replay --fast --log` JSONL file to score")
    ev.add_argument("--video", help="the video the log is of (default: the log's name + .mp4)")
    ev.add_argument("--mode", choices=["animal", "cat+decoys", "negative", "by-eye"],
                    help="scoring mode (default: from cat_follow/evaluation/videos.toml)")
    ev.add_argument("--labels", type=Path,
                    help="reference boxes folder (default: $CAT_FOLLOW_LABELS, ../shared/labels)")
    ev.add_argument("--misses", action="store_true",
                    help="LOG: also list the runs of frames it loses its figures on (no box, off the cat, on a "
                         "decoy), first and last frame of each")
    ev.add_argument("--suite", action="store_true", help="replay every video in the assets' video/ and video/dev/")
    ev.add_argument("--pets", action="store_true",
                    help="replay the pets photos' held-out split as videos (cats, dogs, other), each photo held 1 s, "
                         "and count the photos that get a followed box")
    ev.add_argument("--data", type=Path, help="--pets: the pets photo set (default: ../shared/datasets/pets)")
    ev.add_argument("--limit", type=_count, default=0, metavar="N", help="--pets: the first N photos of each class")
    ev.add_argument("--gap", type=float, default=None, metavar="S",
                    help="--pets: seconds of black after each photo, so no target carries over (default 2.5)")
    ev.add_argument("--breeds", nargs="+", metavar="NAME",
                    help="--pets: only these breeds or categories (as in MANIFEST.tsv: Bombay, chihuahua, ...)")
    ev.add_argument("--videos", type=Path, help="video folder for --suite (default: the assets' video/)")
    ev.add_argument("--only", nargs="+", metavar="NAME", help="--suite on these video file names only")
    ev.add_argument("--jobs", type=int, default=2, help="replays at once (--suite, --pets)")
    ev.add_argument("--phases", type=_count, default=1, metavar="N",
                    help="--suite: also replay each video starting 1..N-1 frames in (replay --skip-frames) and "
                         "report each figure's mean and worst phase over the N phases of the detector's schedule; "
                         "--pets: each photo video so, scored per phase, with the dogs boxed in any phase listed")
    ev.add_argument("--timing", choices=["instant", "pi4"],
                    help="--suite, --pets: replay with this timing only (default: both, side by side; see [timing])")
    ev.add_argument("--out", type=Path, default=Path("evaluation"),
                    help="--suite writes evaluate.json, evaluate.md and logs/ here (--pets: pets.json, videos/, logs/)")
    cb = _command(sub, "calibrate", cmd_calibrate, help="calibration procedures (on the car), and a check")
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
    tc = _command(sub, "train-classifier", cmd_train_classifier,
                  help="train the cat/dog/other crop classifier's head on the pets photos")
    tc.add_argument("--data", type=Path, help="pets photo set (default: ../shared/datasets/pets)")
    tc.add_argument("--out", type=Path, help="head file (.npy; default: the shipped cat_follow/perception/"
                    "pet_head.npy); its provenance and figures go beside it as .json")
    tc.add_argument("--copies", type=int, default=3, help="augmented floor views per training photo")
    tc.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    c = _command(sub, "config", cmd_config, help="print the default config, or check a file")
    c.add_argument("--check", type=Path, help="validate this file and exit")
