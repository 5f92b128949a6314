"""What a scenario run measured, from the simulator's ground truth, and whether it passed.

Collisions and ``min_wall_clearance_m`` use the PiCar-X's footprint (``sim/footprint.py``).
``after_stop``: non-zero drive calls the car received, and the distance it travelled, from each
``stop`` command to the next motion command (or the end of the run), summed; the run fails on
any such drive, or on travel beyond the spin-down of the speed the car had at each stop
(``spin_down_s`` x that speed: the motors' time constant plus one control period) by more than
``max_moved_after_stop_m``.
``decoy_fraction``: share of the samples (of the run's time) in which the target box lies on a
decoy: a decoy's projected box covers at least half of it and more of it than the cat's box
does (a dog passing in front of the cat covers both alike and does not count; "alike" is within
``ALIKE`` of the box, so a box held on the hidden cat's place is not on the dog by a pixel).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from cat_follow.geometry import Box, share_inside
from cat_follow.robot.commands import VERB_LOCATION, VERB_STOP, parse_command
from cat_follow.robot.state_machine import RobotState
from cat_follow.sim.footprint import body_clearance, room_clearance, wall_clearance
from cat_follow.sim.scenario import ANY_ARENA, Scenario
from cat_follow.sim.switches import MAIN_CAT, back_after_hiding, followed_share, switches

CENTRED_SHARE = 0.10   # "centred": within +-10% of the image width from the centre
SETTLE_S = 3.0         # distance error counts once tracking has lasted this long
ON_SHARE = 0.5         # a box lies on what covers at least this share of it
ALIKE = 0.05           # two coverings of one box within this share of it are alike (a pixel's rounding)


@dataclass
class Sample:
    t: float
    state: RobotState
    robot: tuple[float, float, float]          # true x, y, heading (world)
    odom: tuple[float, float, float]           # odometry, in the world frame
    camera: tuple[float, float]                # camera position (world)
    cat: tuple[float, float] | None            # None while hidden
    cat_column: float | None                   # the cat's centre column in the image, if in view
    target: Box | None = None                  # the tracker's box (image pixels), if any
    cat_box: Box | None = None                 # the cat's projected box, clipped to the image
    decoys: list[tuple[float, float, float]] = field(default_factory=list)  # x, y, radius in sight
    decoy_boxes: list[Box] = field(default_factory=list)                     # their projected boxes
    other_cat_boxes: list[Box | None] = field(default_factory=list)          # other cats' ([[decoys]] kind cat)


def covered(box: Box, by: Box | None) -> float:
    """Share of ``box``'s area inside ``by`` (0 when either is missing or empty)."""
    return 0.0 if by is None else share_inside(box, by)


def on_decoy(s: Sample) -> bool:
    """The target box lies on a decoy: one covers at least half of it, and more than the cat's box
    does by more than ``ALIKE``."""
    if s.target is None or not s.decoy_boxes:
        return False
    best = max(covered(s.target, d) for d in s.decoy_boxes)
    return best >= ON_SHARE and best > covered(s.target, s.cat_box) + ALIKE


@dataclass
class Metrics:
    scenario: Scenario
    follow_distance_m: float
    frame_width: int
    wheelbase_m: float
    samples: list[Sample] = field(default_factory=list)
    answers: list[tuple[float, str, str]] = field(default_factory=list)
    spin_down_s: float = 0.0  # a car stopped at v m/s still travels v x this (motor time constant + a tick)
    after_stop_drives: int = 0
    after_stop_m: float = 0.0
    spin_down_m: float = 0.0  # what the stops' spin-downs allow, summed
    _stopped_at: tuple[int, float] | None = None  # the car's (moving drives, travelled m) at the open stop

    def add(self, s: Sample) -> None:
        self.samples.append(s)

    def answered(self, t: float, text: str, answer: str, drives: int, travelled_m: float,
                 speed_mps: float = 0.0) -> None:
        """A scenario command and the robot's answer, with the car's counters (moving drives,
        travelled m) and true speed at that moment: an obeyed stop opens an after-stop window, a
        motion command closes it."""
        self.answers.append((t, text, answer))
        if answer == "OK":
            verb = parse_command(text, ANY_ARENA).verb
            if verb == VERB_STOP:
                self.stop_sent(drives, travelled_m, speed_mps)
            elif verb == VERB_LOCATION:
                self.motion_sent(drives, travelled_m)

    def stop_sent(self, drives: int, travelled_m: float, speed_mps: float = 0.0) -> None:
        """A ``stop`` was obeyed: count what the car does from here (its counters now), and allow
        the spin-down of the speed it has."""
        if self._stopped_at is None:
            self._stopped_at = (drives, travelled_m)
            self.spin_down_m += abs(speed_mps) * self.spin_down_s

    def motion_sent(self, drives: int, travelled_m: float) -> None:
        """A motion command (or the end of the run): close the open stop window, if any."""
        if self._stopped_at is not None:
            self.after_stop_drives += drives - self._stopped_at[0]
            self.after_stop_m += travelled_m - self._stopped_at[1]
            self._stopped_at = None

    def _wall_clearance(self, s: Sample) -> float:
        walls = [wall_clearance(s.robot, w) for w in self.scenario.walls]
        return min([room_clearance(s.robot, self.scenario.room), *walls])

    def _colliding(self, s: Sample) -> bool:
        if self._wall_clearance(s) <= 0:
            return True
        bodies = list(s.decoys)
        if s.cat is not None and self.scenario.cat is not None:
            bodies.append((s.cat[0], s.cat[1], self.scenario.cat.radius_m))
        return any(body_clearance(s.robot, (bx, by), r) <= 0 for bx, by, r in bodies)

    def _decoys(self, out: dict[str, Any], acquired: float | None) -> list[str]:
        """Adds the decoy figures to ``out``; returns the reasons they fail (none with no decoy
        and a cat)."""
        n = len(self.samples)
        fraction = sum(on_decoy(s) for s in self.samples) / n if n else 0.0
        dists = [math.hypot(s.camera[0] - x, s.camera[1] - y) for s in self.samples for x, y, _ in s.decoys]
        out["decoy_fraction"] = round(fraction, 4)
        out["min_decoy_distance_m"] = round(min(dists), 3) if dists else None
        reasons = []
        if fraction > self.scenario.success.max_decoy_fraction:
            reasons.append(f"decoy_fraction {fraction:.3f} > {self.scenario.success.max_decoy_fraction:g} "
                           "(the target box lay on a decoy)")
        if self.scenario.cat is None and acquired is not None:
            reasons.append(f"there is no cat, yet something was tracked (TRACK at {acquired:.1f} s)")
        return reasons

    def _identity(self, out: dict[str, Any]) -> list[str]:
        """Adds ``switches`` (times the followed box moved from one cat to another) and
        ``reacquire_after_hide_s_max`` (cat back in sight -> followed again) to ``out``; returns
        the reasons they fail."""
        sc, ok = self.scenario, self.scenario.success
        moves = switches(self.samples)
        back = back_after_hiding(self.samples, sc.cat.hidden if sc.cat else (), sc.duration_s)
        out["switches"] = len(moves)
        out["switch_times_s"] = [t for t, _, _ in moves]
        out["followed_share"] = followed_share(self.samples)
        out["reacquire_after_hide_s_max"] = max(back) if back else None
        reasons = []
        share = out["followed_share"]
        if sc.cat is not None and ok.must_acquire and any(v > share.get(MAIN_CAT, 0.0) for v in share.values()):
            reasons.append(f"followed another cat more than the scenario's cat ({share})")
        if len(moves) > ok.max_switches:
            reasons.append(f"{len(moves)} identity switch(es) > {ok.max_switches} (at {out['switch_times_s']} s)")
        if back and max(back) > ok.max_reacquire_after_hide_s:
            reasons.append(f"followed again {max(back):.1f} s after the cat came back > "
                           f"{ok.max_reacquire_after_hide_s:g} s")
        return reasons

    def summary(self) -> dict[str, Any]:
        sc = self.scenario
        acquired = next((s.t for s in self.samples if s.state is RobotState.TRACK), None)
        tracked = [s for s in self.samples if s.state is RobotState.TRACK and s.cat_column is not None]
        centred = sum(abs(s.cat_column - self.frame_width / 2) <= CENTRED_SHARE * self.frame_width
                      for s in tracked if s.cat_column is not None)
        run = self._walk()
        errors, reacquire = run.errors, run.reacquire
        last = self.samples[-1] if self.samples else None
        odo_err = math.hypot(last.odom[0] - last.robot[0], last.odom[1] - last.robot[1]) if last else None
        out: dict[str, Any] = {
            "scenario": sc.name,
            "duration_s": sc.duration_s,
            "time_to_acquire_s": None if acquired is None else round(acquired, 2),
            "centered_fraction": round(centred / len(tracked), 3) if tracked else None,
            "mean_distance_error_m": round(sum(errors) / len(errors), 3) if errors else None,
            "min_distance_m": None if math.isinf(run.min_dist) else round(run.min_dist, 3),
            "collisions": run.collisions,
            "min_wall_clearance_m": None if math.isinf(run.min_clearance) else round(run.min_clearance, 3),
            "after_stop": {"drives": self.after_stop_drives, "moved_m": round(self.after_stop_m, 4),
                           "spin_down_m": round(self.spin_down_m, 4)},
            "lost_episodes": run.lost_episodes,
            "reacquire_s_max": round(max(reacquire), 2) if reacquire else None,
            "odometry_error_m": None if odo_err is None else round(odo_err, 3),
            "final_state": last.state.label if last else None,
            "command_answers": [{"t": t, "command": c, "answer": a} for t, c, a in self.answers],
        }
        reasons = self._decoys(out, acquired)
        reasons += self._identity(out)
        reasons += self._failures(out, acquired, bool(tracked), run, odo_err)
        out["success"] = not reasons
        out["reasons"] = reasons
        return out

    def _walk(self) -> _Run:
        """One pass over the samples: distances, collisions, losses and re-acquisitions."""
        run = _Run()
        track_since, lost_since, was_colliding = None, None, False
        prev = RobotState.IDLE
        for s in self.samples:
            if s.cat is not None:
                run.min_dist = min(run.min_dist, math.hypot(s.camera[0] - s.cat[0], s.camera[1] - s.cat[1]))
            if s.state is RobotState.TRACK:
                track_since = s.t if prev is not RobotState.TRACK else track_since
                if s.cat is not None and track_since is not None and s.t - track_since >= SETTLE_S:
                    run.errors.append(abs(math.hypot(s.camera[0] - s.cat[0], s.camera[1] - s.cat[1])
                                          - self.follow_distance_m))
            if s.state is RobotState.LOST and prev is RobotState.TRACK:
                run.lost_episodes += 1
                lost_since = s.t
            if s.state is RobotState.TRACK and lost_since is not None:
                run.reacquire.append(s.t - lost_since)
                lost_since = None
            run.min_clearance = min(run.min_clearance, self._wall_clearance(s))
            colliding = self._colliding(s)
            run.collisions += colliding and not was_colliding
            was_colliding = colliding
            prev = s.state
        if lost_since is not None and self.samples:
            run.reacquire.append(self.samples[-1].t - lost_since)
        return run

    def _failures(self, out: dict[str, Any], acquired: float | None, tracked: bool, run: _Run,
                  odo_err: float | None) -> list[str]:
        """Why the run fails the scenario's success criteria (none: it passes)."""
        sc, ok, reasons = self.scenario, self.scenario.success, []
        if sc.cat is not None and ok.must_acquire and acquired is None:
            reasons.append("the cat was never acquired (no TRACK)")
        if acquired is not None and acquired > ok.max_time_to_acquire_s:
            reasons.append(f"acquired after {acquired:.1f} s > {ok.max_time_to_acquire_s:g} s")
        if ok.must_acquire and tracked and out["centered_fraction"] < ok.min_centered_fraction:
            reasons.append(f"centered_fraction {out['centered_fraction']} < {ok.min_centered_fraction:g}")
        if run.errors and out["mean_distance_error_m"] > ok.max_mean_distance_error_m:
            reasons.append(f"mean_distance_error_m {out['mean_distance_error_m']} > {ok.max_mean_distance_error_m:g}")
        if run.collisions > ok.max_collisions:
            reasons.append(f"{run.collisions} collision(s) > {ok.max_collisions}")
        if run.min_clearance < ok.min_wall_clearance_m:
            reasons.append(f"came {run.min_clearance:.3f} m from a wall < {ok.min_wall_clearance_m:g} m")
        if self.after_stop_m > self.spin_down_m + ok.max_moved_after_stop_m or self.after_stop_drives:
            reasons.append(f"after stop commands the car got {self.after_stop_drives} non-zero drive(s) and moved "
                           f"{self.after_stop_m:.3f} m (at most 0 and its spin-down {self.spin_down_m:.3f} m + "
                           f"{ok.max_moved_after_stop_m:g} m)")
        if run.reacquire and max(run.reacquire) > ok.max_reacquire_s:
            reasons.append(f"reacquire took {max(run.reacquire):.1f} s > {ok.max_reacquire_s:g} s")
        if odo_err is not None and odo_err > ok.max_odometry_error_m:
            reasons.append(f"odometry error {odo_err:.2f} m > {ok.max_odometry_error_m:g} m")
        if any(a.startswith("ERR") for _, _, a in self.answers):
            refused = next(a for _, _, a in self.answers if a.startswith("ERR"))
            reasons.append(f"a scenario command was refused: {refused}")
        return reasons


@dataclass
class _Run:
    """What one pass over a run's samples counted."""
    errors: list[float] = field(default_factory=list)  # distance errors once tracking settled (m)
    reacquire: list[float] = field(default_factory=list)  # seconds from each loss to TRACK again
    min_dist: float = math.inf
    min_clearance: float = math.inf  # closest the body came to a wall (m)
    collisions: int = 0
    lost_episodes: int = 0
