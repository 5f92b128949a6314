"""The README's list of the decision path's tuned constants is the config's: each one it names is a
config field with its reason in its doc, its value the field's default, and the count it gives is the
number of rows (issue 17: each tuned constant a named config field with its reason)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from cat_follow.config import RETIRED, Config

README = Path(__file__).resolve().parents[1] / "README.md"


def _left_table() -> tuple[int, list[tuple[str, str]]]:
    text = README.read_text(encoding="utf-8")
    head = re.search(r"^What is left \((\d+)\):$", text, re.M)
    assert head, "README: no 'What is left (N):' list under 'Tuned constants'"
    rows: list[tuple[str, str]] = []
    for line in text[head.end():].lstrip("\n").splitlines():
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows += [(name, value) for name, value in zip(re.findall(r"`([a-z_]+\.[a-z_]+)`", cells[0]),
                                                        re.findall(r"[\d.]+", cells[1]), strict=True)]
    return int(head.group(1)), rows


def test_every_listed_constant_is_a_documented_config_field() -> None:
    count, rows = _left_table()
    assert len(rows) == count, f"README says {count} tuned constants and lists {len(rows)}"
    cfg = Config()
    for name, value in rows:
        section, key = name.split(".")
        fields = {f.name: f for f in dataclasses.fields(getattr(cfg, section))}
        assert key in fields, f"{name}: listed as tuned but not a config field"
        assert name not in RETIRED, f"{name}: listed as tuned but retired"
        assert len(fields[key].metadata["doc"]) >= 60, f"{name}: its doc gives no reason"
        assert float(getattr(getattr(cfg, section), key)) == float(value), f"{name}: README says {value}"

