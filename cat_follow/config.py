"""One validated configuration model, loaded from a TOML file.

Every section is a frozen dataclass; every field documents itself (``doc``) and
carries its bounds. Loading rejects unknown keys and bad values with an error that
names the dotted key (``detector.every_k_frames: must be >= 1, got 0``).
``cat-follow config`` prints the defaults as a commented TOML file.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cat_follow.errors import ConfigError


def _f(default: Any, doc: str, *, lo: float | None = None, hi: float | None = None,
       choices: tuple[str, ...] | None = None) -> Any:
    """A documented config field with optional inclusive bounds or choices."""
    return field(default=default, metadata={"doc": doc, "lo": lo, "hi": hi, "choices": choices})


@dataclass(frozen=True)
class CameraConfig:
    width: int = _f(640, "Width of the pool's frame slots in pixels; every source is letterboxed to it.",
                    lo=32, hi=4096)
    height: int = _f(480, "Height of the pool's frame slots in pixels.", lo=32, hi=4096)
    slots: int = _f(5, "Frame slots: readers that pin a frame at once (tracker, detector, main) + 2.",
                    lo=3, hi=16)
    camera_id: int = _f(0, "Camera number written into every frame's metadata.", lo=0, hi=255)
    fps: float = _f(30.0, "Frame rate asked of the Pi camera.", lo=1.0, hi=120.0)
    stall_timeout_s: float = _f(1.0, "A camera with no frame for this long is reported as stalled.",
                                lo=0.05, hi=60.0)


@dataclass(frozen=True)
class TrackerConfig:
    max_target_px: int = _f(80, "KCF runs on a copy shrunk so the target's longer side is at most "
                            "this many pixels (KCF's cost grows with the box; 0 = full size).", lo=0, hi=4096)


@dataclass(frozen=True)
class DetectorConfig:
    model: str = _f("", "Path of the .tflite model; empty = search (env CAT_FOLLOW_MODEL, project, vilib).")
    labels: str = _f("", "Path of the label map; empty = next to the model.")
    label: str = _f("cat", "Class name to follow, looked up in the label map.")
    num_threads: int = _f(2, "Threads given to the TFLite interpreter.", lo=1, hi=8)
    every_k_frames: int = _f(5, "Run the detector every K frames while a target is tracked.", lo=1, hi=1000)
    score_threshold: float = _f(0.5, "Minimum detector score for a cat.", lo=0.0, hi=1.0)
    reinit_iou: float = _f(0.3, "Re-initialise KCF from the detector when their IoU falls below this.",
                           lo=0.0, hi=1.0)


@dataclass(frozen=True)
class TargetConfig:
    confirm_hits: int = _f(2, "Detector hits needed before a target counts as confirmed.", lo=1, hi=100)
    lost_after_s: float = _f(2.0, "A target with no detector hit for this long is lost.", lo=0.1, hi=600.0)


@dataclass(frozen=True)
class LoggingConfig:
    level: str = _f("INFO", "Log level.", choices=("DEBUG", "INFO", "WARNING", "ERROR"))


@dataclass(frozen=True)
class Config:
    camera: CameraConfig = field(default_factory=CameraConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    target: TargetConfig = field(default_factory=TargetConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)


def _check_value(key: str, f: dataclasses.Field[Any], value: Any) -> Any:
    """Return ``value`` coerced to the field's type, or raise ConfigError naming ``key``."""
    kind: type[Any] = type(f.default)
    meta = f.metadata
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: must be true or false, got {value!r}")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: must be an integer, got {value!r}")
    elif kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: must be a number, got {value!r}")
        value = float(value)
        if not math.isfinite(value):
            raise ConfigError(f"{key}: must be finite, got {value!r}")
    elif kind is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: must be a string, got {value!r}")
        if meta["choices"] and value not in meta["choices"]:
            raise ConfigError(f"{key}: must be one of {', '.join(meta['choices'])}, got {value!r}")
    if meta["lo"] is not None and value < meta["lo"]:
        raise ConfigError(f"{key}: must be >= {meta['lo']}, got {value!r}")
    if meta["hi"] is not None and value > meta["hi"]:
        raise ConfigError(f"{key}: must be <= {meta['hi']}, got {value!r}")
    return value


def _build_section(name: str, cls: type[Any], table: Any) -> Any:
    if not isinstance(table, dict):
        raise ConfigError(f"{name}: must be a table, got {table!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in table.items():
        if key not in fields:
            raise ConfigError(f"{name}.{key}: unknown key (known: {', '.join(sorted(fields))})")
        kwargs[key] = _check_value(f"{name}.{key}", fields[key], value)
    return cls(**kwargs)


def config_from_dict(data: dict[str, Any]) -> Config:
    """Validate a parsed TOML document into a Config (pure; raises ConfigError)."""
    sections = {f.name: f for f in dataclasses.fields(Config)}
    kwargs: dict[str, Any] = {}
    for name, table in data.items():
        if name not in sections:
            raise ConfigError(f"{name}: unknown section (known: {', '.join(sorted(sections))})")
        kwargs[name] = _build_section(name, type(getattr(Config(), name)), table)
    cfg = Config(**kwargs)
    if cfg.camera.width % 2 or cfg.camera.height % 2:
        raise ConfigError("camera.width/camera.height: must be even")
    return cfg


def load_config(path: str | Path | None) -> Config:
    """Load and validate ``path``; None gives the defaults. Errors name the file and the key."""
    if path is None:
        return Config()
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {p}: {exc.strerror or exc}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from exc
    try:
        return config_from_dict(data)
    except ConfigError as exc:
        raise ConfigError(f"{p}: {exc}") from exc


def defaults_as_toml() -> str:
    """The default configuration as a commented TOML document."""
    lines = ["# cat_follow configuration: every key is optional; shown with its default.", ""]
    for section in dataclasses.fields(Config):
        lines.append(f"[{section.name}]")
        obj = getattr(Config(), section.name)
        for f in dataclasses.fields(obj):
            meta = f.metadata
            bounds = ""
            if meta["lo"] is not None or meta["hi"] is not None:
                bounds = f" [{meta['lo']} .. {meta['hi']}]"
            if meta["choices"]:
                bounds = f" [{' | '.join(meta['choices'])}]"
            lines.append(f"# {meta['doc']}{bounds}")
            value = getattr(obj, f.name)
            rendered = f'"{value}"' if isinstance(value, str) else str(value).lower() \
                if isinstance(value, bool) else repr(value)
            lines.append(f"{f.name} = {rendered}")
        lines.append("")
    return "\n".join(lines)
