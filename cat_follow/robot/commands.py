"""The command language and its bounded queue in the pool's preallocated slots.

Lines: ``cat_location X Y`` (metres, odometry frame: origin where the service started,
x forward, y left), ``follow_at FX FY`` (follow the cat at this point of the camera image:
fractions 0..1 of its width and height, as clicked in the web view), ``stop``, ``status``.
Parsing is strict; a bad line raises CommandError with the reason the client is sent after ``ERR``.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from cat_follow.memory.pool import COMMAND_CAPACITY, Pool

VERB_LOCATION, VERB_STOP, VERB_STATUS, VERB_FOLLOW = 1, 2, 3, 4
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
MAX_ECHO = 24


class CommandError(ValueError):
    """A line that is not a valid command; ``str()`` is the reason sent to the client."""


@dataclass(frozen=True)
class Command:
    verb: int
    x: float = 0.0
    y: float = 0.0


def _echo(text: str) -> str:
    clean = "".join(c if c.isprintable() else "?" for c in text[:MAX_ECHO])
    return clean + ("..." if len(text) > MAX_ECHO else "")


def _coordinate(name: str, token: str) -> float:
    if not _NUMBER.fullmatch(token):
        raise CommandError(f"{name} is not a number: {_echo(token)!r}")
    value = float(token)
    if not math.isfinite(value):
        raise CommandError(f"{name} is not finite: {_echo(token)!r}")
    return value


def parse_command(line: str, arena: tuple[float, float, float, float]) -> Command:
    """Parse one line (without its newline); raise CommandError on anything off."""
    if not line.isascii():
        raise CommandError("commands are ASCII")
    words = line.split()
    if not words:
        raise CommandError("empty command")
    verb, args = words[0], words[1:]
    if verb in ("stop", "status"):
        if args:
            raise CommandError(f"{verb} takes no arguments")
        return Command(VERB_STOP if verb == "stop" else VERB_STATUS)
    if verb == "cat_location":
        if len(args) != 2:
            raise CommandError(f"cat_location needs X Y (metres), got {len(args)} argument(s)")
        x, y = _coordinate("X", args[0]), _coordinate("Y", args[1])
        x0, x1, y0, y1 = arena
        if not (x0 <= x <= x1 and y0 <= y <= y1):
            raise CommandError(f"location ({x:g}, {y:g}) is outside the arena x {x0:g}..{x1:g}, y {y0:g}..{y1:g}")
        return Command(VERB_LOCATION, x, y)
    if verb == "follow_at":
        if len(args) != 2:
            raise CommandError(f"follow_at needs FX FY (fractions of the image), got {len(args)} argument(s)")
        fx, fy = _coordinate("FX", args[0]), _coordinate("FY", args[1])
        if not (0.0 <= fx <= 1.0 and 0.0 <= fy <= 1.0):
            raise CommandError(f"point ({fx:g}, {fy:g}) is outside the image (0..1, 0..1)")
        return Command(VERB_FOLLOW, fx, fy)
    raise CommandError(f"unknown command {_echo(verb)!r} (cat_location X Y, follow_at FX FY, stop, status)")


class CommandQueue:
    """Bounded FIFO of ``cat_location`` commands in ``pool.commands``, plus a stop flag that
    never waits behind them. A stop drops the commands that were queued before it.

    Producers: the command server thread. Consumer: the main thread. One small lock guards
    the counters (no frame data is involved).
    """

    def __init__(self, pool: Pool) -> None:
        self._slots = pool.commands
        self._ctl = pool.command_ctl  # [taken, put, stop pending, put-count at the stop]
        self._lock = threading.Lock()

    def put_location(self, x: float, y: float, verb: int = VERB_LOCATION) -> bool:
        """Queue a location (or a ``follow_at`` point); False when the queue is full (the caller
        answers ERR busy)."""
        with self._lock:
            taken, put = int(self._ctl[0]), int(self._ctl[1])
            if put - taken >= COMMAND_CAPACITY:
                return False
            slot = self._slots[put % COMMAND_CAPACITY]
            slot["verb"], slot["x"], slot["y"], slot["t_ns"] = verb, x, y, time.monotonic_ns()
            self._ctl[1] = put + 1
            return True

    def request_stop(self) -> None:
        """Never refused, never queued: the main thread sees it before any queued command."""
        with self._lock:
            self._ctl[2] = 1
            self._ctl[3] = self._ctl[1]

    def take_stop(self) -> bool:
        """True once per stop request; drops the locations queued before that stop."""
        with self._lock:
            if not self._ctl[2]:
                return False
            self._ctl[2] = 0
            self._ctl[0] = max(int(self._ctl[0]), int(self._ctl[3]))
            return True

    def get(self) -> Command | None:
        with self._lock:
            taken, put = int(self._ctl[0]), int(self._ctl[1])
            if taken >= put:
                return None
            slot = self._slots[taken % COMMAND_CAPACITY]
            self._ctl[0] = taken + 1
            return Command(int(slot["verb"]), float(slot["x"]), float(slot["y"]))

    def __len__(self) -> int:
        with self._lock:
            return int(self._ctl[1] - self._ctl[0])


def answer_command(line: str, queue: CommandQueue, arena: tuple[float, float, float, float],
                   status: Callable[[], str]) -> str:
    """The protocol's answer to one line: ``OK``, ``ERR <reason>`` or the status JSON."""
    try:
        cmd = parse_command(line, arena)
    except CommandError as exc:
        return f"ERR {exc}"
    if cmd.verb == VERB_STOP:
        queue.request_stop()
        return "OK"
    if cmd.verb in (VERB_LOCATION, VERB_FOLLOW):
        return "OK" if queue.put_location(cmd.x, cmd.y, cmd.verb) else "ERR busy"
    return status()
