"""``train-classifier``: train the crop classifier's head on the pets photos (``cat_follow.training``)."""

from __future__ import annotations

import argparse
import json

from cat_follow.cli import options
from cat_follow.perception.classifier import DEFAULT_HEAD


def cmd_train_classifier(args: argparse.Namespace) -> int:
    from cat_follow.training.data import DEFAULT_DATA
    from cat_follow.training.train import Budget, train_and_save

    options.setup_logging("DEBUG" if args.verbose else "INFO")
    out = args.out or DEFAULT_HEAD
    report = train_and_save(args.data or DEFAULT_DATA, out, Budget(copies=args.copies))
    keys = ("views", "total_s", "temperature", "pca_variance_kept")
    print(json.dumps({k: report[k] for k in keys}))
    for name in ("test_clean", "test_floor"):
        f = report[name]
        print(f"{name}: n {f['n']}  accuracy {f['accuracy']:.4f}  cat-vs-dog {f['cat_vs_dog']:.4f} "
              f"(ImageNet rule {f['imagenet_rule_cat_vs_dog']:.4f})  ECE {f['ece']:.4f}")
        for row in f["reliability"]:
            print(f"  {row['lo']:.1f}-{row['hi']:.1f}: n {row['n']:4d}  confidence {row['confidence']:.3f}  "
                  f"accuracy {row['accuracy']:.3f}")
    print(f"wrote {out} and {out.with_suffix('.json')}")
    return 0
