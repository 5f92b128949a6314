"""``replay``, ``detect``, ``bench``, ``bench-web`` and ``evaluate``: the vision pipeline on
recorded video and images, no car."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from cat_follow.cli import options
from cat_follow.config import load_config
from cat_follow.errors import CatFollowError


def cmd_replay(args: argparse.Namespace) -> int:
    from cat_follow.replay import ReplayOptions, run_replay

    cfg, web = options.web(args, options.config(args))
    opts = ReplayOptions(fast=args.fast, log_path=args.log, out_video=args.out_video,
                         summary_path=args.summary_json, progress=sys.stderr.isatty(),
                         max_frames=args.max_frames, skip_frames=args.skip_frames)
    if web is not None:
        from cat_follow.web.attach import for_pipeline

        opts.attach = lambda pipe: for_pipeline(pipe, web)
    from cat_follow.sources import default_video

    summary = run_replay(args.video or default_video(), cfg, options.models(cfg), opts)
    print(json.dumps(summary, indent=2))
    return 0


def cmd_detect(args: argparse.Namespace) -> int:
    import cv2
    import numpy as np

    from cat_follow.perception.backend import ObjectDetector
    from cat_follow.perception.manifest import load_manifest
    from cat_follow.perception.port import DETECTION, KIND_CAT, KIND_NAMES, MAX_DETECTIONS

    cfg = options.config(args)
    files = options.models(cfg)
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
    from cat_follow.bench.run import render_table, run_bench

    cfg = options.config(args)
    if args.soak is not None:
        from cat_follow.bench.soak import run_soak
        from cat_follow.sources import default_video

        summary = run_soak(args.video or default_video(), cfg, options.models(cfg), args.soak, args.mode)
        if args.summary_json:
            args.summary_json.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        print(json.dumps(summary, indent=2))
        return 0
    # the design comparison runs SSD on both sides (the baseline is a bare TFLite SSD loop)
    ssd = replace(cfg, detector=replace(cfg.detector, manifest="ssd_mobilenet_v1_coco_quant"),
                  verifier=replace(cfg.verifier, enabled=False))
    summary = run_bench(args.video, cfg, options.models(ssd), frames=args.frames, config_path=args.config,
                        summary_path=args.summary_json, rate=args.rate)
    print(json.dumps(summary, indent=2))
    print(render_table(summary))
    return 0


def cmd_bench_web(args: argparse.Namespace) -> int:
    from cat_follow.sources import default_video
    from cat_follow.web.bench import run_web_bench

    cfg = options.config(args)
    clients = tuple(int(v) for v in args.clients.split(","))
    summary = run_web_bench(args.video or default_video(), cfg, options.models(cfg), seconds=args.seconds,
                            clients=clients, rate=args.rate, summary_path=args.summary_json)
    print(json.dumps(summary, indent=2))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from cat_follow.config_timing import TIMINGS
    from cat_follow.evaluation.report import render_markdown
    from cat_follow.evaluation.suite import SuiteOptions, default_labels_dir, run_suite, score_log

    options.setup_logging(load_config(args.config).logging.level if not args.verbose else "DEBUG")
    if args.pets:
        if args.suite or args.log is not None:
            raise CatFollowError("evaluate: --pets replays the held-out photos; pass it without --suite or a log")
        return _pets(args, TIMINGS)
    labels = args.labels or default_labels_dir()
    if args.suite:
        result = run_suite(SuiteOptions(out_dir=args.out, videos_dir=args.videos, labels_dir=labels, jobs=args.jobs,
                                        config_path=args.config, model_path=args.model,
                                        progress=sys.stderr.isatty(), only=tuple(args.only or ()),
                                        timings=(args.timing,) if args.timing else TIMINGS,
                                        phases=args.phases))
        print(render_markdown(result))
        print(f"written: {args.out / 'evaluate.json'}, {args.out / 'evaluate.md'}", file=sys.stderr)
        return 0
    if args.log is None:
        raise CatFollowError("evaluate: pass a replay log (LOG --video NAME) or --suite")
    video = args.video or f"{args.log.name.split('.')[0]}.mp4"
    out = score_log(args.log, video, labels, args.mode).as_dict()
    if args.misses:
        from cat_follow.evaluation.scoring import load_log, load_reference, miss_runs

        ref = load_reference(labels / f"{Path(video).stem}.json")
        out["misses"] = [list(run) for run in miss_runs(load_log(args.log), ref, out["score_as"])]
    checked = labels / "checked" / f"{Path(video).stem}.json"
    if checked.is_file():
        from cat_follow.evaluation.identity import load_checked, score_identity
        from cat_follow.evaluation.scoring import load_log

        out["identity"] = score_identity(load_log(args.log), load_checked(checked)).as_dict()
    print(json.dumps(out, indent=2))
    return 0


def _pets(args: argparse.Namespace, timings: tuple[str, ...]) -> int:
    from cat_follow.evaluation.pets_photos import GAP_S, PetsOptions, render_pets, run_pets
    from cat_follow.training.data import DEFAULT_DATA

    result = run_pets(PetsOptions(data=args.data or DEFAULT_DATA, out_dir=args.out, jobs=args.jobs,
                                  timings=(args.timing,) if args.timing else timings, limit=args.limit,
                                  breeds=tuple(args.breeds or ()), gap_s=GAP_S if args.gap is None else args.gap,
                                  config_path=args.config, model_path=args.model, phases=args.phases))
    print(render_pets(result))
    print(f"written: {args.out / 'pets.json'}", file=sys.stderr)
    return 0
