"""The command language: strict parsing (fuzzed), and the bounded queue with its stop."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cat_follow.config import Config
from cat_follow.memory.pool import COMMAND_CAPACITY, allocate_pool
from cat_follow.robot.commands import (
    VERB_FOLLOW,
    VERB_LOCATION,
    VERB_STATUS,
    VERB_STOP,
    Command,
    CommandError,
    CommandQueue,
    parse_command,
)

ARENA = (-5.0, 5.0, -4.0, 4.0)


@pytest.mark.parametrize("line, expected", [
    ("stop", Command(VERB_STOP)),
    ("  status \t", Command(VERB_STATUS)),
    ("cat_location 1.5 0.3", Command(VERB_LOCATION, 1.5, 0.3)),
    ("cat_location -2 +3.25", Command(VERB_LOCATION, -2.0, 3.25)),
    ("cat_location 1e0 .5", Command(VERB_LOCATION, 1.0, 0.5)),
    ("follow_at 0.25 1", Command(VERB_FOLLOW, 0.25, 1.0)),
])
def test_valid_lines(line: str, expected: Command) -> None:
    assert parse_command(line, ARENA) == expected


@pytest.mark.parametrize("line, reason", [
    ("", "empty command"),
    ("go 1 2", "unknown command 'go'"),
    ("STOP", "unknown command"),
    ("stop now", "stop takes no arguments"),
    ("status 1", "status takes no arguments"),
    ("cat_location 1", "needs X Y"),
    ("follow_at 0.5", "needs FX FY"),
    ("follow_at 0.5 -0.1", "outside the image"),
    ("follow_at nan 0.5", "FX is not a number"),
    ("cat_location 1 2 3", "needs X Y"),
    ("cat_location one 2", "X is not a number"),
    ("cat_location 1 nan", "Y is not a number"),
    ("cat_location inf 1", "X is not a number"),
    ("cat_location 1e999 1", "X is not finite"),
    ("cat_location 1_0 1", "X is not a number"),
    ("cat_location 0x10 1", "X is not a number"),
    ("cat_location 6 0", "outside the arena"),
    ("cat_location 0 -4.5", "outside the arena"),
    ("cat_location 1 2\x00", "Y is not a number"),
    ("cat_locatión 1 2", "ASCII"),
])
def test_bad_lines_are_refused_with_a_reason(line: str, reason: str) -> None:
    with pytest.raises(CommandError, match=reason):
        parse_command(line, ARENA)


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=80))
def test_fuzzed_lines_parse_or_raise_command_error(line: str) -> None:
    try:
        cmd = parse_command(line, ARENA)
    except CommandError as exc:
        assert str(exc)
        return
    assert cmd.verb in (VERB_LOCATION, VERB_STOP, VERB_STATUS)
    if cmd.verb == VERB_LOCATION:
        assert math.isfinite(cmd.x) and math.isfinite(cmd.y)
        assert ARENA[0] <= cmd.x <= ARENA[1] and ARENA[2] <= cmd.y <= ARENA[3]


@settings(max_examples=200, deadline=None)
@given(st.floats(allow_nan=True, allow_infinity=True), st.floats(allow_nan=True, allow_infinity=True))
def test_fuzzed_coordinates(x: float, y: float) -> None:
    line = f"cat_location {x!r} {y!r}"
    ok = all(math.isfinite(v) for v in (x, y)) and ARENA[0] <= x <= ARENA[1] and ARENA[2] <= y <= ARENA[3]
    if ok:
        assert parse_command(line, ARENA) == Command(VERB_LOCATION, x, y)
    else:
        with pytest.raises(CommandError):
            parse_command(line, ARENA)


def test_queue_is_bounded_and_fifo(config: Config) -> None:
    q = CommandQueue(allocate_pool(config))
    for i in range(COMMAND_CAPACITY):
        assert q.put_location(float(i), 0.0)
    assert not q.put_location(99.0, 0.0)  # full: the server answers ERR busy
    assert [q.get() for _ in range(3)] == [Command(VERB_LOCATION, float(i), 0.0) for i in range(3)]
    assert q.put_location(8.0, 1.0)
    assert len(q) == 6


def test_stop_is_never_refused_and_drops_only_older_commands(config: Config) -> None:
    q = CommandQueue(allocate_pool(config))
    for i in range(COMMAND_CAPACITY):
        q.put_location(float(i), 0.0)
    q.request_stop()  # a full queue does not delay or refuse it
    assert q.take_stop() is True
    assert q.take_stop() is False  # once per request
    assert q.get() is None  # everything queued before the stop is gone
    q.put_location(2.0, 2.0)
    q.request_stop()
    q.put_location(3.0, 3.0)  # sent after the stop: it stands
    assert q.take_stop()
    assert q.get() == Command(VERB_LOCATION, 3.0, 3.0)
    assert q.get() is None
