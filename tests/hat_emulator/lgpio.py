"""Stand-in for lgpio (tests only): the Pi's GPIO lines as the emulated HAT sees them."""

from __future__ import annotations

from typing import Any

from hat import HAT

SET_PULL_NONE, SET_PULL_UP, SET_PULL_DOWN = 0x80, 0x20, 0x40
RISING_EDGE, FALLING_EDGE, BOTH_EDGES = 0, 1, 2


class error(Exception):
    pass


def gpiochip_open(chip: int) -> int:
    if chip != 0:
        raise error("can not open gpiochip")
    return 1


def gpio_claim_output(handle: int, gpio: int, level: int = 0, lFlags: int = 0) -> int:
    HAT.modes[gpio] = "out"
    gpio_write(handle, gpio, level)
    return 0


def gpio_claim_input(handle: int, gpio: int, lFlags: int = 0) -> int:
    HAT.modes[gpio] = "in"
    return 0


def gpio_free(handle: int, gpio: int) -> int:
    HAT.modes.pop(gpio, None)
    return 0


def gpio_write(handle: int, gpio: int, level: int) -> int:
    try:
        HAT.gpio_write(gpio, level)
    except RuntimeError as exc:
        raise error(str(exc)) from exc
    return 0


def gpio_read(handle: int, gpio: int) -> int:
    return HAT.gpio_read(gpio)


def callback(handle: int, gpio: int, edge: int = RISING_EDGE, func: Any = None) -> Any:
    raise error("callbacks are not emulated")
