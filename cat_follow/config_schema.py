"""The machinery behind every validated TOML file (config, calibration, scenarios).

A section is a frozen dataclass whose fields are made with ``field_doc``: each documents
itself and carries its bounds. ``build_section`` validates one TOML table into it, rejecting
unknown keys and bad values with an error naming the dotted key; ``document_as_toml`` renders
instances as commented TOML.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import field
from pathlib import Path
from typing import Any

from cat_follow.errors import ConfigError


def field_doc(default: Any, doc: str, *, lo: float | None = None, hi: float | None = None,
       choices: tuple[str, ...] | None = None, row: int | None = None, min_rows: int = 0) -> Any:
    """A documented config field with optional inclusive bounds or choices; ``row`` makes it
    a table: a list of at least ``min_rows`` rows of ``row`` numbers."""
    return field(default=default, metadata={"doc": doc, "lo": lo, "hi": hi, "choices": choices,
                                            "row": row, "min_rows": min_rows})


def number(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{key}: must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ConfigError(f"{key}: must be finite, got {value!r}")
    return value


def _check_tuple(key: str, default: tuple[Any, ...], value: Any, meta: Any) -> tuple[Any, ...]:
    """A fixed-length list of numbers, or (a field with ``row``) a table of rows."""
    if not isinstance(value, list):
        raise ConfigError(f"{key}: must be a list, got {value!r}")
    if meta["row"]:
        if len(value) < meta["min_rows"]:
            raise ConfigError(f"{key}: needs at least {meta['min_rows']} rows, got {len(value)}")
        rows = []
        for i, row in enumerate(value):
            if not isinstance(row, list) or len(row) != meta["row"]:
                raise ConfigError(f"{key}[{i}]: must be a list of {meta['row']} numbers, got {row!r}")
            rows.append(tuple(number(f"{key}[{i}]", v) for v in row))
        return tuple(rows)
    if len(value) != len(default):
        raise ConfigError(f"{key}: must be a list of {len(default)} numbers, got {value!r}")
    return tuple(number(f"{key}[{i}]", v) for i, v in enumerate(value))


def check_value(key: str, f: dataclasses.Field[Any], value: Any) -> Any:
    """Return ``value`` coerced to the field's type, or raise ConfigError naming ``key``."""
    default = f.default
    meta = f.metadata
    if isinstance(default, tuple) or default is dataclasses.MISSING:  # a table's rows have no default length
        return _check_tuple(key, default if isinstance(default, tuple) else (), value, meta)
    kind = type(default)
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: must be true or false, got {value!r}")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: must be an integer, got {value!r}")
    elif kind is float:
        value = number(key, value)
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


def build_section(name: str, cls: type[Any], table: Any) -> Any:
    """Validate one TOML table into ``cls``; a ``check()`` method on it may raise ValueError."""
    if not isinstance(table, dict):
        raise ConfigError(f"{name}: must be a table, got {table!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in table.items():
        if key not in fields:
            raise ConfigError(f"{name}.{key}: unknown key (known: {', '.join(sorted(fields))})")
        kwargs[key] = check_value(f"{name}.{key}", fields[key], value)
    obj = cls(**kwargs)
    check = getattr(obj, "check", None)
    if check is not None:
        try:
            check()
        except ValueError as exc:
            raise ConfigError(f"{name}.{exc}") from exc
    return obj


def read_toml(path: Path, what: str) -> dict[str, Any]:
    """The parsed TOML document in ``path``; ConfigError naming ``what`` (e.g. "config file")."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror or exc}") from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)


def document_as_toml(sections: list[tuple[str | None, Any]], title: str) -> str:
    """Render dataclass instances as commented TOML (a None name = top-level keys)."""
    lines = [f"# {title}", ""]
    for name, obj in sections:
        if name:
            lines.append(f"[{name}]")
        for f in dataclasses.fields(obj):
            meta = f.metadata
            bounds = ""
            if meta["lo"] is not None or meta["hi"] is not None:
                bounds = f" [{meta['lo']} .. {meta['hi']}]"
            if meta["choices"]:
                bounds = f" [{' | '.join(meta['choices'])}]"
            lines.append(f"# {meta['doc']}{bounds}")
            lines.append(f"{f.name} = {_toml_value(getattr(obj, f.name))}")
        lines.append("")
    return "\n".join(lines)
