"""What tests/arm64/check.sh runs on both sides: in the arm64 root under emulation and in the
host's x86 venv, with the same code and the same real frames; ``compare`` holds the two
outputs to each other.

    python probe.py frame ASSETS PNG   the video frame of FRAMES, decoded here, saved lossless
    python probe.py run ASSETS PNG     every cat_follow module imported; every back-end a
                                       manifest marks ``pi = true`` on the real frames (the
                                       video's as the PNG holds it, so both sides see the same
                                       pixels); the video decoded here against the PNG; KCF on
                                       real video frames; the CPU's features (JSON)
    python probe.py compare X86 ARM    one ``PASS name`` / ``FAIL name: why`` line per result

Boxes must agree to ``BOX_IOU`` and scores to ``SCORE_TOL``: float kernels differ between x86
and ARM (MLAS, XNNPACK: other instruction orders) in the last bits, never by more. The video is
decoded on x86 once for the models: the wheel's FFmpeg converts colours with other SIMD code on
ARM (a few grey levels), which moves weak boxes; that difference is its own line (``VIDEO_TOL``).
"""

from __future__ import annotations

import ctypes
import importlib
import json
import pkgutil
import platform
import sys
import time
import traceback
from pathlib import Path
from typing import Any

BOX_IOU = 0.98        # same box: IoU at least this
SCORE_TOL = 0.02      # same score: within this
MIN_SCORE = 0.3       # boxes reported from here; a box within SCORE_TOL of it may be on one side only
FRAMES = ("images/cat_720p.jpg", "images/dog_test_0.bmp", "video/kittens_floor.mp4@160")
VIDEO_TOL = 3.0       # mean absolute difference, grey levels, of the two sides' decodes of one frame
# AT_HWCAP bits (arm64 Linux) a Pi 4's Cortex-A72 (ARMv8.0) lacks: a wheel built to use them
# dies with SIGILL on the car
HWCAP_ABSENT = {"atomics": 1 << 8, "fphp": 1 << 9, "asimdhp": 1 << 10, "asimddp": 1 << 20}
AT_HWCAP = 16


def _frame(assets: Path, spec: str) -> Any:
    import cv2

    path, _, index = spec.partition("@")
    if not index:
        img = cv2.imread(str(assets / path))
        if img is None:
            raise RuntimeError(f"cannot read {assets / path}")
        return img
    cap = cv2.VideoCapture(str(assets / path))
    cap.set(cv2.CAP_PROP_POS_FRAMES, int(index))
    ok, img = cap.read()
    cap.release()
    if not ok:
        raise RuntimeError(f"cannot read frame {index} of {assets / path}")
    return img


def imports() -> dict[str, Any]:
    """Every module of the cat_follow package: how many, and name -> error for those that fail."""
    import cat_follow

    failed: dict[str, str] = {}
    names = [m.name for m in pkgutil.walk_packages(cat_follow.__path__, "cat_follow.")]
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:  # any failure is what we report
            failed[name] = f"{type(exc).__name__}: {exc}"
    return {"modules": len(names), "failed": failed}


def _detector(name: str, assets: Path, frames: list[Any]) -> dict[str, Any]:
    import numpy as np

    from cat_follow.perception.backend import DETECTION, ObjectDetector
    from cat_follow.perception.manifest import load_manifest

    m = load_manifest(name)
    det = ObjectDetector(m, assets / "models" / m.file, num_threads=2)
    out = np.zeros(16, DETECTION)
    per_frame = []
    for img in frames:
        n = det.detect(img, MIN_SCORE, out)
        per_frame.append([[float(r["x"]), float(r["y"]), float(r["w"]), float(r["h"]), float(r["score"]),
                           int(r["kind"])] for r in out[:n]])
    return {"runtime": type(det.runtime).__name__, "boxes": per_frame}


def _classifier(name: str, assets: Path, frames: list[Any]) -> dict[str, Any]:
    from cat_follow.perception.manifest import load_manifest
    from cat_follow.perception.verifier import CropVerifier

    m = load_manifest(name)
    v = CropVerifier(m, assets / "models" / m.file, assets / "models" / m.labels_file, num_threads=2)
    scores = []
    for img in frames:
        h, w = img.shape[:2]
        verdict = v.verify(img, (w * 0.25, h * 0.2, w * 0.5, h * 0.6))
        scores.append([verdict.cat, verdict.dog])
    return {"runtime": "TfliteRuntime", "scores": scores}


def _kcf(assets: Path) -> list[float]:
    """KCF started on a box of one video frame, updated on the next five: the box it ends on."""
    import cv2

    cap = cv2.VideoCapture(str(assets / "video/kittens_floor.mp4"))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 160)
    ok, img = cap.read()
    if not ok:
        raise RuntimeError("cannot read kittens_floor.mp4")
    kcf = cv2.TrackerKCF_create()
    kcf.init(img, (300, 120, 160, 140))
    box: list[float] = []
    for _ in range(5):
        ok, img = cap.read()
        ok2, b = kcf.update(img)
        if not (ok and ok2):
            raise RuntimeError("KCF lost the box")
        box = [float(v) for v in b]
    cap.release()
    return box


def _hwcap() -> dict[str, Any]:
    if platform.machine() != "aarch64":
        return {"machine": platform.machine()}
    getauxval = ctypes.CDLL(None).getauxval
    getauxval.restype = ctypes.c_ulong
    caps = int(getauxval(ctypes.c_ulong(AT_HWCAP)))
    return {"machine": "aarch64", "present": [k for k, bit in HWCAP_ABSENT.items() if caps & bit]}


def _guard(fn: Any, *args: Any) -> dict[str, Any]:
    try:
        return {"ok": True, "value": fn(*args)}
    except Exception as exc:  # one failed item must not hide the others
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}",
                "where": traceback.format_exc().strip().splitlines()[-3:]}


def _video_diff(assets: Path, png: Path) -> dict[str, float]:
    import cv2
    import numpy as np

    here = _frame(assets, FRAMES[-1]).astype(np.int16)
    there = cv2.imread(str(png)).astype(np.int16)
    diff = np.abs(here - there)
    return {"mean": float(diff.mean()), "max": float(diff.max())}


def run(assets: Path, png: Path) -> dict[str, Any]:
    from cat_follow.perception.manifest import load_manifest, shipped_manifests

    t0 = time.monotonic()
    found = imports()  # first: a module that fails to import must not be half-imported by the rest
    seconds = {"imports": time.monotonic() - t0}
    import cv2

    frames = [_frame(assets, f) for f in FRAMES[:-1]] + [cv2.imread(str(png))]
    t0 = time.monotonic()
    out: dict[str, Any] = {"cpu": _hwcap(), "imports": found, "kcf": _guard(_kcf, assets), "models": {},
                           "video": _guard(_video_diff, assets, png), "seconds": seconds}
    seconds["kcf"] = time.monotonic() - t0
    for name in shipped_manifests():
        m = load_manifest(name)
        if m.pi:
            t0 = time.monotonic()
            fn = _classifier if m.family == "classifier" else _detector
            out["models"][name] = _guard(fn, name, assets, frames)
            seconds[name] = time.monotonic() - t0
    return out


def _iou(a: list[float], b: list[float]) -> float:
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def _unmatched(ref: list[list[float]], other: list[list[float]]) -> list[list[float]]:
    """Boxes of ``ref`` clear of the score cut with no same-kind box in ``other`` close enough."""
    return [r for r in ref if r[4] >= MIN_SCORE + SCORE_TOL and not any(
        o[5] == r[5] and abs(o[4] - r[4]) <= SCORE_TOL and _iou(o, r) >= BOX_IOU for o in other)]


def compare_models(x86: dict[str, Any], arm: dict[str, Any]) -> list[str]:
    lines = []
    for name, a in arm["models"].items():
        x = x86["models"].get(name)
        label = f"{name} ({a.get('value', {}).get('runtime', '?')}) same as x86"
        if not a["ok"]:
            lines.append(f"FAIL {label}: on arm64: {a['error']}")
        elif x is None or not x["ok"]:
            lines.append(f"FAIL {label}: on x86: {x and x['error']}")
        elif "scores" in a["value"]:
            worst = max(abs(p - q) for fa, fx in zip(a["value"]["scores"], x["value"]["scores"], strict=True)
                        for p, q in zip(fa, fx, strict=True))
            lines.append(f"PASS {label}: cat/dog within {worst:.4f}" if worst <= SCORE_TOL else
                         f"FAIL {label}: cat/dog differ by {worst:.4f} (> {SCORE_TOL})")
        else:
            bad, total = [], 0
            for i, (fa, fx) in enumerate(zip(a["value"]["boxes"], x["value"]["boxes"], strict=True)):
                total += len(fx)
                miss = _unmatched(fx, fa) + _unmatched(fa, fx)
                if miss:
                    bad.append(f"{FRAMES[i]}: {miss}")
            lines.append(f"FAIL {label}: {'; '.join(bad)}" if bad else
                         f"PASS {label}: {total} boxes on {len(FRAMES)} frames, IoU >= {BOX_IOU}, score +-{SCORE_TOL}")
    if not arm["models"]:
        lines.append("FAIL pi models: no manifest marks pi = true")
    return lines


def compare(x86: dict[str, Any], arm: dict[str, Any]) -> list[str]:
    cpu = arm["cpu"]
    if cpu.get("machine") != "aarch64":
        lines = [f"FAIL arm64 cpu: machine is {cpu.get('machine')}"]
    elif cpu["present"]:
        lines = [f"FAIL arm64 cpu: features a Cortex-A72 lacks are present: {cpu['present']}"]
    else:
        lines = [f"PASS arm64 cpu: aarch64 without {', '.join(HWCAP_ABSENT)} (ARMv8.0, as a Pi 4)"]
    imp = arm["imports"]
    lines.append(f"PASS every cat_follow module imports ({imp['modules']} modules)" if not imp["failed"] else
                 f"FAIL module imports: {imp['failed']}")
    v = arm["video"]
    if not v["ok"]:
        lines.append(f"FAIL video decode on arm64: {v['error']}")
    else:
        what = f"{FRAMES[-1]} differs from x86's decode by mean {v['value']['mean']:.2f}, max {v['value']['max']:.0f}"
        lines.append(f"PASS video decodes on arm64: {what}" if v["value"]["mean"] <= VIDEO_TOL else
                     f"FAIL video decode on arm64: {what} (> {VIDEO_TOL})")
    k_a, k_x = arm["kcf"], x86["kcf"]
    if not k_a["ok"]:
        lines.append(f"FAIL KCF: on arm64: {k_a['error']}")
    elif not k_x["ok"]:
        lines.append(f"FAIL KCF: on x86: {k_x['error']}")
    else:
        iou = _iou(k_a["value"], k_x["value"])
        lines.append(f"PASS KCF tracks 5 frames, box IoU {iou:.3f} with x86" if iou >= 0.9 else
                     f"FAIL KCF: box {k_a['value']} vs x86 {k_x['value']} (IoU {iou:.3f})")
    return lines + compare_models(x86, arm)


def main(argv: list[str]) -> int:
    if argv[:1] == ["frame"] and len(argv) == 3:
        import cv2

        if not cv2.imwrite(argv[2], _frame(Path(argv[1]), FRAMES[-1])):
            return 1
    elif argv[:1] == ["run"] and len(argv) == 3:
        print(json.dumps(run(Path(argv[1]), Path(argv[2]))))
    elif argv[:1] == ["compare"] and len(argv) == 3:
        x86, arm = (json.loads(Path(p).read_text()) for p in argv[1:])
        took = ", ".join(f"{k} {v:.0f} s" for k, v in arm.get("seconds", {}).items())
        sys.stderr.write(f"arm64 probe took: {took}\n")  # one write: stdout goes through tee meanwhile
        sys.stderr.flush()
        print("\n".join(compare(x86, arm)))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
