"""What every command shares: logging set-up, the config with ``--model`` applied, ``--web``."""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import replace
from typing import TYPE_CHECKING

from cat_follow import process_setup
from cat_follow.config import Config, load_config
from cat_follow.config_web import WebConfig
from cat_follow.errors import ConfigError

if TYPE_CHECKING:
    from cat_follow.perception.model import ModelFiles


def setup_logging(level: str) -> None:
    logging.basicConfig(level=getattr(logging, level), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def config(args: argparse.Namespace) -> Config:
    """The config file's settings with ``--model`` applied; sets up logging (``-v``: debug) and applies
    ``[process]`` to this process."""
    cfg = load_config(args.config)
    if getattr(args, "model", None):
        cfg = replace(cfg, detector=replace(cfg.detector, model=str(args.model)))
    cfg = with_timing(cfg, args)
    setup_logging(cfg.logging.level if not args.verbose else "DEBUG")
    process_setup.apply(cfg.process)  # before any thread starts: GIL switch interval, malloc arenas
    return cfg


def with_timing(cfg: Config, args: argparse.Namespace) -> Config:
    """``cfg`` with ``--timing`` applied (replay and simulate: lock-step runs only)."""
    timing = getattr(args, "timing", None)
    if timing is None or not hasattr(args, "fast"):
        return cfg
    if timing != "instant" and not args.fast:
        raise ConfigError(f"--timing {timing}: only with --fast (lock-step); a live run has real timing")
    return replace(cfg, timing=replace(cfg.timing, mode=timing))


def models(cfg: Config) -> ModelFiles:
    """The detector's and verifier's files (imported here: only the commands that run a model pay for it)."""
    from cat_follow.perception.worker import resolve_models

    return resolve_models(cfg)


def web(args: argparse.Namespace, cfg: Config) -> tuple[Config, WebConfig | None]:
    """(config, web config or None) for ``--web [HOST:]PORT``: one more camera slot if on."""
    if getattr(args, "web", None) is None:
        return cfg, None
    from cat_follow.web.view import parse_web_spec, with_web_slot

    return with_web_slot(cfg), parse_web_spec(args.web, cfg.web)
