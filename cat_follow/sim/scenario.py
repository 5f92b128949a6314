"""Scenario files: a room, where the robot starts, what the cat (if any) and the decoys (dogs,
people) do, what the user sends.

A scenario is TOML, validated like the config (unknown keys and bad values are errors that
name the key). Coordinates are world metres: the room spans (0, 0)..(room x, room y);
headings are degrees, 0 = +x, counter-clockwise. Command texts are exactly what a user
would send; their coordinates are in the odometry frame (origin and heading at the start).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from cat_follow.config_schema import build_section
from cat_follow.config_schema import field_doc as _f
from cat_follow.errors import ConfigError
from cat_follow.robot.commands import CommandError, parse_command

ANY_ARENA = (-1e6, 1e6, -1e6, 1e6)
DEFAULT_SCENARIO = "walking_cat"


@dataclass(frozen=True)
class RobotSetup:
    start: tuple[float, float, float] = _f((0.5, 2.0, 0.0), "x, y (m) and heading (deg) of the robot at t = 0.")


@dataclass(frozen=True)
class CatSetup:
    path: tuple[tuple[float, float], ...] = _f(((3.0, 2.0),), "Waypoints (m); the cat starts at the first.",
                                                row=2, min_rows=1)
    speed: float = _f(0.0, "Walking speed along the path (m/s); 0 = sits at the first point.", lo=0.0, hi=3.0)
    hidden: tuple[tuple[float, float], ...] = _f((), "[start, end] seconds during which the cat is out of sight.",
                                                 row=2)
    photo: str = _f("cat_720p.jpg", "Cat photo the sprite is cut from (in the assets' images/).")
    height_m: float = _f(0.25, "Height of the cat.", lo=0.05, hi=1.0)
    radius_m: float = _f(0.12, "Radius of the cat's body (for the range sensor and collisions).", lo=0.02, hi=0.5)


DECOY_DEFAULTS = {  # kind: (photo, height_m, radius_m) when the scenario leaves them out
    "dog": ("dog_test_0.bmp", 0.35, 0.15),
    "person": ("grace_hopper.bmp", 1.6, 0.2),
    "cat": ("cat_train_0.bmp", 0.25, 0.12),  # another cat: not a decoy, but the robot must not switch to it
}


@dataclass(frozen=True)
class DecoySetup:
    kind: str = _f("dog", "What it is: a dog, a person, or another cat (the segmentation class its sprite is cut "
                   "as); another cat is no decoy, but the followed box moving to it is an identity switch.",
                   choices=tuple(DECOY_DEFAULTS))
    photo: str = _f("", "Photo the sprite is cut from (in the assets' images/); empty = the kind's default.")
    path: tuple[tuple[float, float], ...] = _f(((2.0, 1.0),), "Waypoints (m); the decoy starts at the first.",
                                                row=2, min_rows=1)
    speed: float = _f(0.0, "Speed along the path (m/s); 0 = stays at the first point.", lo=0.0, hi=3.0)
    height_m: float = _f(0.0, "Height; 0 = the kind's default (dog 0.35, person 1.6).", lo=0.0, hi=2.5)
    radius_m: float = _f(0.0, "Body radius (range sensor, collisions); 0 = the kind's default (dog 0.15, "
                         "person 0.2).", lo=0.0, hi=1.0)
    hidden: tuple[tuple[float, float], ...] = _f((), "[start, end] seconds during which it is out of sight.", row=2)

    def resolved(self) -> DecoySetup:
        """This decoy with the kind's defaults filled in."""
        photo, height, radius = DECOY_DEFAULTS[self.kind]
        return dataclasses.replace(self, photo=self.photo or photo, height_m=self.height_m or height,
                                   radius_m=self.radius_m or radius)


def along_path(path: tuple[tuple[float, float], ...], speed: float, t: float) -> tuple[float, float, float]:
    """(x, y, heading rad) at time ``t`` moving at ``speed`` along ``path``, then standing at its end."""
    travelled = speed * max(t, 0.0)
    heading = 0.0
    for (x0, y0), (x1, y1) in itertools.pairwise(path):
        seg = math.hypot(x1 - x0, y1 - y0)
        heading = math.atan2(y1 - y0, x1 - x0)
        if travelled <= seg:
            f = travelled / seg if seg else 0.0
            return x0 + (x1 - x0) * f, y0 + (y1 - y0) * f, heading
        travelled -= seg
    return path[-1][0], path[-1][1], heading


def _hidden(spans: tuple[tuple[float, float], ...], t: float) -> bool:
    return any(a <= t < b for a, b in spans)


@dataclass(frozen=True)
class SuccessCriteria:
    must_acquire: bool = _f(True, "The cat must be tracked at some point (with no cat: nothing may ever be).")
    max_time_to_acquire_s: float = _f(1e9, "Latest acceptable first TRACK (s).", lo=0.0)
    min_centered_fraction: float = _f(0.5, "Share of tracked time with the cat within +-10% of the centre.",
                                      lo=0.0, hi=1.0)
    max_mean_distance_error_m: float = _f(0.4, "Mean |distance - following distance| while tracking.", lo=0.0)
    max_collisions: int = _f(0, "Collisions allowed.", lo=0)
    max_reacquire_s: float = _f(1e9, "Longest acceptable LOST -> TRACK time (s).", lo=0.0)
    max_odometry_error_m: float = _f(1e9, "Largest acceptable final odometry error (m).", lo=0.0)
    max_decoy_fraction: float = _f(0.02, "Largest acceptable share of the time the target box lies on a decoy.",
                                   lo=0.0, hi=1.0)
    max_switches: int = _f(0, "Identity switches allowed: times the followed box moves from one cat to another.",
                           lo=0)
    max_reacquire_after_hide_s: float = _f(1e9, "Longest acceptable time from the cat's return (end of a hidden "
                                           "span it hid in while followed) to following it again (s).", lo=0.0)
    max_moved_after_stop_m: float = _f(0.02, "Distance the car may travel after stop commands, each counted "
                                       "until the next motion command, summed, beyond the spin-down of the speed "
                                       "it had at each stop (that speed x the motors' time constant plus one "
                                       "control period) (m): a stop stops.", lo=0.0)
    min_wall_clearance_m: float = _f(0.0, "Closest the car's body may come to a wall (m); 0 = only no collision. "
                                     "A car sent toward a wall must stop short of it.", lo=0.0)


@dataclass(frozen=True)
class TimedCommand:
    at: float = _f(0.0, "Seconds from the start.", lo=0.0)
    text: str = _f("", "The command line, exactly as a user sends it.")


@dataclass(frozen=True)
class Scenario:
    name: str
    duration_s: float
    room: tuple[float, float]
    fps: float
    robot: RobotSetup
    cat: CatSetup | None  # None: a scenario with no cat
    commands: tuple[TimedCommand, ...]
    success: SuccessCriteria
    walls: tuple[tuple[float, float, float, float], ...] = field(default=())
    decoys: tuple[DecoySetup, ...] = field(default=())  # defaults resolved

    def cat_position(self, t: float) -> tuple[float, float, float]:
        """(x, y, heading rad) of the cat at time ``t``: along the path, then sitting."""
        if self.cat is None:
            raise ValueError(f"scenario {self.name} has no cat")
        return along_path(self.cat.path, self.cat.speed, t)

    def cat_hidden(self, t: float) -> bool:
        return self.cat is None or _hidden(self.cat.hidden, t)

    def cat_in_sight(self, t: float) -> tuple[float, float, float] | None:
        """The cat's pose at ``t``, or None when there is no cat or it is hidden."""
        return None if self.cat_hidden(t) else self.cat_position(t)

    def decoys_in_sight(self, t: float) -> list[tuple[DecoySetup, tuple[float, float, float]]]:
        """Every decoy not hidden at ``t``, with its pose."""
        return [(d, along_path(d.path, d.speed, t)) for d in self.decoys if not _hidden(d.hidden, t)]


_TOP = {"name", "duration_s", "room", "fps", "robot", "cat", "decoys", "commands", "success", "walls"}


def _number(key: str, v: Any, lo: float = -math.inf) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < lo:
        raise ConfigError(f"{key}: must be a finite number >= {lo}, got {v!r}")
    return float(v)


def scenario_from_dict(data: dict[str, Any], origin: str) -> Scenario:
    """Validate a parsed scenario; errors name ``origin`` and the key."""
    try:
        for key in data:
            if key not in _TOP:
                raise ConfigError(f"{key}: unknown key (known: {', '.join(sorted(_TOP))})")
        name = data.get("name")
        if not isinstance(name, str) or not name:
            raise ConfigError("name: must be a non-empty string")
        duration = _number("duration_s", data.get("duration_s"), 1.0)
        room = data.get("room")
        if not isinstance(room, list) or len(room) != 2:
            raise ConfigError(f"room: must be [x size, y size] in metres, got {room!r}")
        rx, ry = (_number(f"room[{i}]", v, 0.5) for i, v in enumerate(room))
        fps = _number("fps", data.get("fps", 15.0), 1.0)
        robot = build_section("robot", RobotSetup, data.get("robot", {}))
        cat = build_section("cat", CatSetup, data["cat"]) if "cat" in data else None
        raw_decoys = data.get("decoys", [])
        if not isinstance(raw_decoys, list):
            raise ConfigError("decoys: must be an array of tables ([[decoys]])")
        decoys = tuple(build_section(f"decoys[{i}]", DecoySetup, d).resolved() for i, d in enumerate(raw_decoys))
        success = build_section("success", SuccessCriteria, data.get("success", {}))
        raw_cmds = data.get("commands", [])
        if not isinstance(raw_cmds, list):
            raise ConfigError("commands: must be an array of tables ([[commands]])")
        commands = []
        for i, c in enumerate(raw_cmds):
            cmd = build_section(f"commands[{i}]", TimedCommand, c)
            try:
                parse_command(cmd.text, ANY_ARENA)
            except CommandError as exc:
                raise ConfigError(f"commands[{i}].text: {exc}") from exc
            commands.append(cmd)
        walls: list[tuple[float, float, float, float]] = []
        for i, w in enumerate(data.get("walls", [])):
            if not isinstance(w, list) or len(w) != 4:
                raise ConfigError(f"walls[{i}]: must be [x0, y0, x1, y1], got {w!r}")
            x0, y0, x1, y1 = (_number(f"walls[{i}]", v) for v in w)
            walls.append((x0, y0, x1, y1))
        inside = [("robot.start", robot.start[:2])]
        inside += [(f"cat.path[{i}]", p) for i, p in enumerate(cat.path if cat else ())]
        inside += [(f"decoys[{k}].path[{i}]", p) for k, d in enumerate(decoys) for i, p in enumerate(d.path)]
        for key, (x, y) in inside:
            if not (0 < x < rx and 0 < y < ry):
                raise ConfigError(f"{key}: ({x:g}, {y:g}) is outside the room 0..{rx:g} x 0..{ry:g}")
        return Scenario(name, duration, (rx, ry), fps, robot, cat, tuple(sorted(commands, key=lambda c: c.at)),
                        success, tuple(walls), decoys)
    except ConfigError as exc:
        raise ConfigError(f"{origin}: {exc}") from exc


def shipped_scenarios() -> list[str]:
    """Names of the scenarios that come with the package."""
    root = resources.files("cat_follow.sim") / "scenarios"
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".toml"))


def load_scenario(name_or_path: str) -> Scenario:
    """A shipped scenario by name, or a TOML file by path."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"scenario {path}: {exc.strerror or exc}") from exc
        origin = str(path)
    else:
        res = resources.files("cat_follow.sim") / "scenarios" / f"{name_or_path}.toml"
        if not res.is_file():
            raise ConfigError(f"no scenario named {name_or_path!r} (shipped: {', '.join(shipped_scenarios())})")
        text = res.read_text(encoding="utf-8")
        origin = f"scenario {name_or_path}"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{origin}: not valid TOML: {exc}") from exc
    return scenario_from_dict(data, origin)
