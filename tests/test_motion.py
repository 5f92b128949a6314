"""Control-law signs and limits of center_cat_control, goto, search and the range guard."""

from __future__ import annotations

import pytest

from cat_follow.calib.store import Calibration
from cat_follow.car.interface import Order
from cat_follow.config import MotionConfig, RobotConfig
from cat_follow.robot.motion import UNKNOWN_RANGE_SPEED, Decision, MotionController
from cat_follow.robot.state_machine import Intent, Mode

W, H = 640, 480
CFG = MotionConfig()


def ctl() -> MotionController:
    return MotionController(CFG, RobotConfig(), Calibration(), W, H)


def box_at(cx: float, cy: float, h: float) -> tuple[float, float, float, float]:
    return (cx - h * 0.6, cy - h / 2, h * 1.2, h)


def height_for(c: MotionController, distance_m: float) -> float:
    return c.focal_px * CFG.cat_height_m / distance_m


def test_cat_right_of_centre_pans_and_steers_right() -> None:
    c = ctl()
    far = height_for(c, 1.5)
    cmd = c.command(Intent(Mode.TRACK), t=0, dt=0.05, pose=(0, 0, 0), box=box_at(500, 240, far), distance_cm=200)
    assert cmd.order.pan > 0 and cmd.order.steer > 0 and cmd.order.speed > 0
    c = ctl()
    cmd = c.command(Intent(Mode.TRACK), t=0, dt=0.05, pose=(0, 0, 0), box=box_at(100, 240, far), distance_cm=200)
    assert cmd.order.pan < 0 and cmd.order.steer < 0


def test_cat_above_centre_tilts_up_below_tilts_down() -> None:
    c = ctl()
    assert c.center_cat_control(box_at(320, 60, 100), 0.05).order.tilt > 0
    assert ctl().center_cat_control(box_at(320, 420, 100), 0.05).order.tilt < 0


def test_centred_cat_is_inside_the_deadband() -> None:
    c = ctl()
    cmd = c.center_cat_control(box_at(322, 243, 100), 0.05)
    assert cmd.order.pan == 0 and cmd.order.tilt == 0 and cmd.order.steer == 0


def test_pan_is_slew_limited() -> None:
    c = ctl()
    cmd = c.center_cat_control(box_at(630, 240, 100), 0.05)
    assert 0 < cmd.order.pan <= CFG.pan_rate_dps * 0.05 + 1e-9


@pytest.mark.parametrize("distance, expect", [
    (2.0, "forward"), (0.55, "stop"), (0.5, "stop"), (0.4, "stop"), (0.2, "reverse"),
])
def test_speed_from_the_box_height(distance: float, expect: str) -> None:
    c = ctl()
    box = box_at(320, 240, height_for(c, distance))
    assert c.cat_distance_m(box) == pytest.approx(distance, rel=1e-6)
    speed = c.center_cat_control(box, 0.05).order.speed
    if expect == "forward":
        assert 0 < speed <= CFG.max_speed
    elif expect == "stop":
        assert speed == 0
    else:
        assert speed == -CFG.reverse_speed


def test_large_cat_slows_then_stops_then_backs_off() -> None:
    c = ctl()
    speeds = [c.center_cat_control(box_at(320, 240, height_for(c, d)), 0.05).order.speed
              for d in (3.0, 1.0, 0.7, 0.5, 0.25)]
    assert speeds[0] >= speeds[1] > speeds[2] > 0 and speeds[3] == 0 and speeds[4] < 0


def test_goto_steers_toward_the_goal() -> None:
    c = ctl()
    left = c.goto((0, 0, 0), (1.0, 1.0), 0.05)
    assert left.order.steer < 0 and left.order.speed > 0  # goal to the left (y+): steer left (negative)
    right = ctl().goto((0, 0, 0), (1.0, -1.0), 0.05)
    assert right.order.steer > 0


def test_search_circles_in_the_given_direction() -> None:
    assert ctl().search(1, 0.0, 0.05).order.steer > 0
    assert ctl().search(-1, 0.0, 0.05).order.steer < 0


def test_range_guard() -> None:
    c = ctl()
    fwd = Decision(Order(speed=40.0))
    assert c.limit_for_range(fwd, 15.0).order.speed == 0 and "obstacle" in c.limit_for_range(fwd, 15.0).reason
    assert c.limit_for_range(fwd, None).order.speed == UNKNOWN_RANGE_SPEED  # unknown is not clear
    assert c.limit_for_range(fwd, 150.0).order.speed == 40.0
    back = Decision(Order(speed=-15.0))
    assert c.limit_for_range(back, 5.0).order.speed == -15.0  # backing away from it is allowed


def test_stop_intent_stops_the_motors_but_keeps_the_servos() -> None:
    c = ctl()
    c.command(Intent(Mode.SEARCH, direction=1), t=0.5, dt=0.05, pose=(0, 0, 0), box=None, distance_cm=200)
    cmd = c.command(Intent(Mode.STOP), t=0.55, dt=0.05, pose=(0, 0, 0), box=None, distance_cm=200)
    assert cmd.order.speed == 0 and cmd.order.steer != 0


def backing_off(c: MotionController, intent: Intent) -> float:
    """Drive ``intent`` into an obstacle 10 cm ahead until the controller backs off; returns the time."""
    far = box_at(320, 240, height_for(c, 2.0))
    t = 0.0
    while c.last.speed >= 0:
        t += 0.05
        assert t < 3.0, "never backed off"
        c.command(intent, t=t, dt=0.05, pose=(0, 0, 0), box=far, distance_cm=10.0)
    return t


@pytest.mark.parametrize("mode", [Mode.GOTO, Mode.TRACK])
@pytest.mark.parametrize("then", [Mode.STOP, Mode.LOOK, Mode.SEARCH])
def test_the_backoff_ends_when_the_mode_may_not_back_off(mode: Mode, then: Mode) -> None:
    """The back-off belongs to GOTO and TRACK: a stop (STOP), a glimpse while searching (LOOK:
    the camera moves, the wheels do not) or a search ends it at once, and it does not resume."""
    c = ctl()
    t = backing_off(c, Intent(mode, goal=(3.0, 0.0), run=1))
    for k in range(30):
        out = c.command(Intent(then, run=1), t=t + 0.05 * (k + 1), dt=0.05, pose=(0, 0, 0), box=None, distance_cm=10.0)
        assert out.order.speed >= 0, f"{then}: reverse at tick {k}"
        if then is not Mode.SEARCH:
            assert out.order.speed == 0


def test_a_new_run_drops_the_backoff() -> None:
    """A stop and a new cat_location in the same tick (a new Intent.run): no back-off carries over."""
    c = ctl()
    t = backing_off(c, Intent(Mode.GOTO, goal=(3.0, 0.0), run=1))
    out = c.command(Intent(Mode.GOTO, goal=(3.0, 0.0), run=3), t=t + 0.05, dt=0.05, pose=(0, 0, 0), box=None,
                    distance_cm=10.0)
    assert out.order.speed == 0 and "obstacle" in out.reason
    same = ctl()
    t = backing_off(same, Intent(Mode.GOTO, goal=(3.0, 0.0), run=1))
    assert same.command(Intent(Mode.GOTO, goal=(3.0, 0.0), run=1), t=t + 0.05, dt=0.05, pose=(0, 0, 0), box=None,
                        distance_cm=10.0).order.speed < 0  # the same run: still backing off


def test_range_guard_looks_ahead_by_the_speed_asked() -> None:
    """A fast order is refused farther out than a slow one: the car stops AT the stop distance."""
    c = ctl()
    assert c.limit_for_range(Decision(Order(speed=40.0)), 25.0).order.speed == 0  # 0.25 m/s * 0.3 s = 7.5 cm
    assert c.limit_for_range(Decision(Order(speed=10.0)), 25.0).order.speed == 10.0  # 3 cm
