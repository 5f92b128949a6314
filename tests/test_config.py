from __future__ import annotations

from pathlib import Path

import pytest

from cat_follow.config import Config, config_from_dict, defaults_as_toml, load_config
from cat_follow.errors import ConfigError


def test_defaults_print_and_load_back_to_the_same_config(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text(defaults_as_toml())
    assert load_config(f) == Config()


def test_values_are_read() -> None:
    cfg = config_from_dict({"detector": {"every_k_frames": 7, "score_threshold": 1}, "camera": {"width": 320}})
    assert cfg.detector.every_k_frames == 7
    assert cfg.detector.score_threshold == 1.0 and isinstance(cfg.detector.score_threshold, float)
    assert cfg.camera.width == 320 and cfg.camera.height == 480


@pytest.mark.parametrize("data, key", [
    ({"detector": {"every_k": 3}}, "detector.every_k: unknown key"),
    ({"detektor": {}}, "detektor: unknown section"),
    ({"detector": {"every_k_frames": 0}}, "detector.every_k_frames: must be >= 1"),
    ({"detector": {"every_k_frames": 2.5}}, "detector.every_k_frames: must be an integer"),
    ({"detector": {"every_k_frames": True}}, "detector.every_k_frames: must be an integer"),
    ({"detector": {"score_threshold": "high"}}, "detector.score_threshold: must be a number"),
    ({"detector": {"score_threshold": float("nan")}}, "detector.score_threshold: must be finite"),
    ({"camera": {"slots": 2}}, "camera.slots: must be >= 3"),
    ({"logging": {"level": "LOUD"}}, "logging.level: must be one of"),
    ({"camera": 5}, "camera: must be a table"),
    ({"camera": {"width": 641}}, "must be even"),
    ({"detector": {"mode": "fork"}}, "detector.mode: must be one of auto, thread, process"),
    ({"detector": {"hang_timeout_s": 0.0}}, "detector.hang_timeout_s: must be >= 0.1"),
    ({"process": {"detector_nice": 20}}, "process.detector_nice: must be <= 19"),
    ({"process": {"gil_switch_ms": 0}}, "process.gil_switch_ms: must be >= 0.05"),
    ({"tracks": {"size_step": 1.0}}, "tracks.size_step: must be >= 1.05"),
    ({"tracks": {"p_min": 0.5}}, "tracks.p_min: must be <= 0.3"),
    ({"verifier": {"cat_threshold": 0.3}}, "verifier.cat_threshold: retired, remove it: a crop verifies as a cat "
                                           "when cat is the classifier's likeliest class"),
    ({"detector": {"reinit_iou": 0.6}}, "detector.reinit_iou: retired"),
    ({"verifier": {"same_look_s": 10}}, "verifier.same_look_s: retired, remove it: the look vouches"),
    ({"target": {"confirm_hits": 2}}, "target.confirm_hits: retired, remove it: target.decide_after"),
    ({"verifier": {"drop_after": 3}}, "verifier.drop_after: retired, remove it: target.decide_after"),
    ({"verifier": {"jump": 0.5}}, "verifier.jump: retired, remove it: a box whose centre left"),
    ({"verifier": {"decoy_iou": 0.5}}, "verifier.decoy_iou: retired, remove it: tracks.on_box"),
    ({"tracks": {"part_of": 0.5}}, "tracks.part_of: retired, remove it: tracks.on_box"),
    ({"target": {"max_misses": 12}}, "target.max_misses: retired, remove it: a target the detector missed"),
    ({"verifier": {"not_cat_below": 0.1}}, "verifier.not_cat_below: retired, remove it: tracks.p_min"),
])
def test_bad_values_name_the_key(data: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        config_from_dict(data)


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[tracker]\nmax_target = 5\n")
    with pytest.raises(ConfigError, match=r"bad\.toml: tracker\.max_target: unknown key"):
        load_config(bad)
    broken = tmp_path / "broken.toml"
    broken.write_text("[tracker\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(broken)
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "missing.toml")


def test_detector_mode_auto_is_decided_by_the_core_count(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    assert config_from_dict({"detector": {"mode": "thread"}}).detector.resolved_mode() == "thread"
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    assert config_from_dict({}).detector.resolved_mode() == "process"
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert config_from_dict({}).detector.resolved_mode() == "thread"


@pytest.mark.parametrize(("doc", "names"), [
    ("[camera]\nslots = 3\n", ["camera.slots", "readers"]),
    ("[robot]\ncontrol_hz = 2.0\nwatchdog_s = 0.3\n", ["robot.watchdog_s", "robot.control_hz"]),
    ("[robot]\ncontrol_hz = 10.0\nwatchdog_s = 0.2\n", ["robot.watchdog_s", "robot.control_hz"]),
])
def test_cross_field_rules_name_both_keys(tmp_path: Path, doc: str, names: list[str]) -> None:
    p = tmp_path / "c.toml"
    p.write_text(doc)
    with pytest.raises(ConfigError) as info:
        load_config(p)
    assert all(n in str(info.value) for n in names), str(info.value)
    p.write_text("[camera]\nslots = 5\n[robot]\ncontrol_hz = 10.0\nwatchdog_s = 0.25\n")
    load_config(p)  # the limits themselves are fine

