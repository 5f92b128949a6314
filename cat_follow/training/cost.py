"""What the trained head adds to a crop check, side by side in one run:
``python -m cat_follow.training.cost [--runs N]``.

Interleaved on the same crops (the sample cat photos): (a) the backbone as the old verifier ran
it (plain interpreter), (b) the backbone with preserve-all-tensors (so the pooled layer can be
read), (c) reading the pooled layer plus the head's probabilities and embedding. Prints p50 and
p90 ms of each and the ratio (b + c) / a; on a loaded machine the ratio is what carries.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import cv2
import numpy as np

from cat_follow.perception.classifier import DEFAULT_HEAD, PooledFeatures, load_head
from cat_follow.perception.model import assets_dirs
from cat_follow.perception.runtime import TfliteRuntime
from cat_follow.training.train import backbone_files


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cat_follow.training.cost")
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    model, _, _ = backbone_files()
    plain = TfliteRuntime(model, args.threads)
    keep = TfliteRuntime(model, args.threads, preserve_all_tensors=True)
    pooled, head = PooledFeatures(keep.interp), load_head(DEFAULT_HEAD)
    images = sorted(p for d in assets_dirs() for p in (d / "images").glob("*") if p.suffix in (".bmp", ".jpg"))
    crops = [cv2.resize(cv2.imread(str(p)), (224, 224), interpolation=cv2.INTER_AREA) for p in images]
    if not crops:
        raise SystemExit("no sample images under the assets (./setup.sh --dev --assets ../shared/assets)")
    emb = np.zeros(head.proj.shape[1], np.float32)
    ms: dict[str, list[float]] = {"a_plain": [], "b_preserve": [], "c_head": []}
    for i in range(args.runs + 5):
        crop = crops[i % len(crops)]
        for name, rt in (("a_plain", plain), ("b_preserve", keep)):
            t0 = time.perf_counter()
            cv2.cvtColor(crop, cv2.COLOR_BGR2RGB, dst=rt.input_view())
            rt.invoke()
            ms[name].append((time.perf_counter() - t0) * 1e3)
        t0 = time.perf_counter()
        x = pooled.read()
        head.probs(x)
        emb[:] = head.embed(x)
        ms["c_head"].append((time.perf_counter() - t0) * 1e3)
    p50 = {k: float(np.percentile(v[5:], 50)) for k, v in ms.items()}
    p90 = {k: float(np.percentile(v[5:], 90)) for k, v in ms.items()}
    out: dict[str, object] = {k: {"p50": round(p50[k], 3), "p90": round(p90[k], 3)} for k in ms}
    out["ratio_new_to_old_p50"] = round((p50["b_preserve"] + p50["c_head"]) / p50["a_plain"], 3)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
