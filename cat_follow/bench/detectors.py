"""Detector candidates side by side on the sample videos (``python -m cat_follow.bench.detectors``).

For every k-th frame of each video, every candidate runs on the same frame in turn (so
their times share the machine's load), and the crop verifier runs on each candidate's
best cat box. Rows go to a JSONL file for scoring against ``../shared/labels``; the
summary prints each candidate's median ms and its ratio to SSD MobileNet v1, whose
published Raspberry Pi 4 time gives the Pi estimate (README, "Choosing the detector").
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from cat_follow.perception.backend import DETECTION, MAX_DETECTIONS, ObjectDetector
from cat_follow.perception.decode import KIND_CAT, KIND_NAMES
from cat_follow.perception.manifest import load_manifest
from cat_follow.perception.verifier import CropVerifier

CANDIDATES = ("ssd_mobilenet_v1_coco_quant", "nanodet_plus_m_1.5x_416_tflite", "nanodet_plus_m_1.5x_416",
              "yolox_nano_416", "yolo26n_320_int8")
MIN_SCORE = 0.2


def _videos(assets: Path) -> list[Path]:
    return sorted((assets / "video").glob("*.mp4")) + sorted((assets / "video" / "dev").glob("*.mp4"))


def _run_frame(frame: np.ndarray, dets: dict[str, ObjectDetector], ver: CropVerifier,
               out: np.ndarray, times: dict[str, list[float]]) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for name, det in dets.items():
        n = det.detect(frame, MIN_SCORE, out)
        times[name].append(det.last_ms)
        boxes = [[KIND_NAMES[int(r["kind"])], round(float(r["score"]), 3),
                  *(round(float(r[k]), 1) for k in "xywh")] for r in out[:n]]
        cats = [r for r in out[:n] if int(r["kind"]) == KIND_CAT]
        verdicts = []
        for r in cats[:3]:
            v = ver.verify(frame, (float(r["x"]), float(r["y"]), float(r["w"]), float(r["h"])))
            times["verifier"].append(v.ms)
            verdicts.append([round(v.cat, 3), round(v.dog, 3)])
        row[name] = {"dets": boxes, "cat_verdicts": verdicts}
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--assets", type=Path, default=Path("../shared/assets"))
    ap.add_argument("--every", type=int, default=4, help="use every k-th frame")
    ap.add_argument("--out", type=Path, default=Path("bench_detectors.jsonl"))
    ap.add_argument("--models", default=",".join(CANDIDATES))
    ap.add_argument("--max-frames", type=int, default=0, help="per video; 0 = all")
    args = ap.parse_args(argv)
    models_dir = args.assets / "models"
    dets = {}
    for name in args.models.split(","):
        m = load_manifest(name)
        dets[name] = ObjectDetector(m, models_dir / m.file, num_threads=2)
    vm = load_manifest("mobilenet_v2_imagenet_quant")
    ver = CropVerifier(vm, models_dir / vm.file, models_dir / vm.labels_file, num_threads=2)
    out = np.zeros(MAX_DETECTIONS, DETECTION)
    times: dict[str, list[float]] = {n: [] for n in [*dets, "verifier"]}
    with args.out.open("w", encoding="utf-8") as fh:
        for video in _videos(args.assets):
            cap = cv2.VideoCapture(str(video))
            i = used = 0
            while True:
                ok, frame = cap.read()
                if not ok or (args.max_frames and used >= args.max_frames):
                    break
                if i % args.every == 0:
                    row = {"video": video.name, "frame": i, **_run_frame(frame, dets, ver, out, times)}
                    fh.write(json.dumps(row) + "\n")
                    used += 1
                i += 1
            cap.release()
            print(f"{video.name}: {used} frames", file=sys.stderr)
    base = statistics.median(times[CANDIDATES[0]]) if times.get(CANDIDATES[0]) else None
    for name, t in times.items():
        if t:
            med = statistics.median(t)
            ratio = f"{med / base:.2f}x SSD" if base else ""
            print(f"{name:36s} runs {len(t):5d}  p50 {med:7.1f} ms  p90 {np.percentile(t, 90):7.1f} ms  {ratio}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
