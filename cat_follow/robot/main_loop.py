"""The main thread's job: commands -> state machine -> motion -> car, with every safety stop.

``Robot.run(max_ticks=None)`` is the testable main loop. The motors are stopped:
- on ``stop`` (state machine -> IDLE, speed 0 sent);
- when the camera delivers no frame for ``camera.stall_timeout_s`` (-> IDLE, reason kept);
- when the main loop stalls: the car thread's watchdog (-> IDLE once the loop is back);
- on an exception in the loop or in any thread, on SIGTERM/SIGINT, on a normal exit:
  ``shutdown`` in ``run``'s ``finally`` tells the car thread to stop, and the car thread
  stops the motors again in its own ``finally`` as it ends.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from cat_follow.calib.store import Calibration
from cat_follow.car.interface import Car, Order
from cat_follow.config import Config
from cat_follow.errors import CatFollowError
from cat_follow.memory.pool import BBOX_TRACKER, SOURCE_PREDICTED
from cat_follow.perception.target import TargetState
from cat_follow.pipeline import Pipeline
from cat_follow.process_setup import HeapTrimmer
from cat_follow.robot.car_thread import CarActor
from cat_follow.robot.command_socket import CommandServer
from cat_follow.robot.commands import VERB_FOLLOW, VERB_LOCATION, CommandQueue, answer_command
from cat_follow.robot.hint import TargetHints
from cat_follow.robot.motion import Decision, MotionController
from cat_follow.robot.odometry import Odometry
from cat_follow.robot.sdnotify import Notifier
from cat_follow.robot.state_machine import Intent, Mode, RobotState, Sighting, StateMachine
from cat_follow.robot.status import StatusBoard
from cat_follow.robot.ultrasonic import UltrasonicThread
from cat_follow.stats import LatencyRecorder
from cat_follow.threads.supervised import ThreadFailed

log = logging.getLogger(__name__)

BOX_MAX_AGE_S = 0.5
COAST_S = 0.6  # drive on the last box for this long when the tracker drops it
TRACKING, ACQUIRING = TargetState.TRACKING, TargetState.ACQUIRING
EDGE_PX = 1.0  # a box this close to the image's side touches it (tracker boxes are clipped to the frame)
TRACKER_STALE_S = 1.0  # no systemd watchdog ping once the tracker loop has not turned for this long
CAR_READY_TIMEOUT_S = 15.0


class Robot:
    """Owns the state machine, motion controller, odometry, command queue and server, the
    car thread and the ultrasonic thread; drives the perception ``pipeline`` it is given."""

    def __init__(self, config: Config, cal: Calibration, pipeline: Pipeline, car_factory: Callable[[], Car], *,
                 socket_path: Path | None = None, lockstep: bool = False,
                 clock: Callable[[], float] = time.monotonic, notifier: Notifier | None = None) -> None:
        """``lockstep`` (the simulator's --fast): no free-running ultrasonic thread (it is read
        from ``tick`` when due) and ``tick`` waits until the car thread has applied its command,
        so a run does not depend on the machine's speed. ``clock`` is the car's and sensors'."""
        self.config, self.pipeline = config, pipeline
        self.pool, self.health = pipeline.pool, pipeline.health
        self.queue = CommandQueue(self.pool)
        self.sm = StateMachine(config.behaviour, config.motion.goal_tolerance_m)
        w, h = int(self.pool.frame_meta["width"][0]), int(self.pool.frame_meta["height"][0])
        self.motion = MotionController(config.motion, config.robot, cal, w, h)
        self.hints = TargetHints(config.target.location_radius_m, self.motion.tan_hfov, w)  # which cat is meant
        self.odom = Odometry(self.pool.odometry, cal)
        self.lockstep, self.frame_w = lockstep, w
        self.actor = CarActor(car_factory, self.health, watchdog_s=config.robot.watchdog_s, clock=clock,
                              stop_resend_s=config.robot.stop_resend_s)
        self.sonar = UltrasonicThread(self.actor, self.health, rate_hz=config.robot.ultrasonic_hz, clock=clock)
        self.server = CommandServer(socket_path, self.queue, self.status_json, config.robot.arena, self.health,
                                    max_clients=config.robot.max_clients,
                                    max_line_bytes=config.robot.max_line_bytes, idle_s=config.robot.client_idle_s,
                                    on_answer=self._log_command) if socket_path else None
        self._bbox = pipeline.shared.new_bbox_buffer()
        self._events: collections.deque[dict[str, Any]] = collections.deque(maxlen=64)
        self.last_range_cm: float | None = None
        self._exit = threading.Event()
        self.notifier = notifier or Notifier()
        self.ready_sent, self.watchdog_pings, self._last_stamp = False, 0, 0
        self.heap = HeapTrimmer(config.process.malloc_trim_s)  # between ticks: RSS follows live memory
        self.exit_reason, self.ticks, self.camera_stalled = "", 0, False
        self.last_cmd = Order()  # the order last sent to the car thread
        self._last_tick: float | None = None
        self.board = StatusBoard(self.pool)
        self._coast: tuple[float, tuple[float, float, float, float]] | None = None
        self.wake_ms = LatencyRecorder(4096)  # control wake: the tracker's commit -> the main loop awake (run)

    # ---- life cycle --------------------------------------------------------------------
    def request_exit(self, reason: str) -> None:
        """Safe from a signal handler: the loop ends after the current tick."""
        self.exit_reason = reason
        self._exit.set()

    def start(self) -> None:
        self.actor.start()
        deadline = time.monotonic() + CAR_READY_TIMEOUT_S
        while not self.actor.ready.wait(0.05):  # fail at once (with the cause) if the factory raised
            self.health.raise_if_failed()
            if not self.actor.is_alive():
                raise CatFollowError("the car thread ended before the car came up")
            if time.monotonic() > deadline:
                raise CatFollowError(f"the car did not come up within {CAR_READY_TIMEOUT_S:.0f} s")
        if not self.lockstep:
            self.sonar.start()
        self.pipeline.start()
        if self.server is not None:
            self.server.start()
        log.info("cat-follow running%s", f"; commands on {self.server.path}" if self.server else "")

    def shutdown(self) -> None:
        """Motors first, then everything else; never raises."""
        self.actor.emergency_stop(f"shutdown: {self.exit_reason or 'exit'}")
        self.notifier.stopping()
        threads = [t for t in (self.server, self.sonar) if t is not None]
        for t in threads:
            t.stop()
        try:
            self.pipeline.stop()
        except Exception:
            log.exception("pipeline did not stop cleanly")
        for t in threads:
            if t.is_alive():
                t.join(2.0)
        if self.server is not None:
            self.server.close()
        self.actor.stop()
        if self.actor.is_alive():
            self.actor.join(3.0)
            if self.actor.is_alive():
                log.critical("car thread did not end: motors may still be running")

    def submit(self, line: str) -> str:
        """Handle one command line as the socket server does; returns the answer."""
        if self.server is not None:
            return self.server.answer(line)
        reply = answer_command(line, self.queue, self.config.robot.arena, self.status_json)
        self._log_command(line, reply)
        return reply

    def _log_command(self, line: str, reply: str) -> None:
        """Kept for the recorder (any thread; the deque is bounded and thread-safe)."""
        if not line.strip().startswith("status"):
            self._events.append({"line": line[:120], "answer": reply[:200]})

    def take_command_events(self) -> list[dict[str, Any]]:
        return [self._events.popleft() for _ in range(len(self._events))]

    def last_box_record(self) -> np.void:
        """The tracker's box record as this tick read it (a view: read, do not keep)."""
        return self._bbox[0]

    def run(self, max_ticks: int | None = None, clock: Callable[[], float] = time.monotonic,
            on_tick: Callable[[float], None] | None = None) -> int:
        """Start everything and tick until asked to exit (or ``max_ticks``): on each new tracker
        result, and one ``robot.control_hz`` period after the last tick without one. Stops the
        motors on every way out; returns the process exit status."""
        period = 1.0 / self.config.robot.control_hz
        shared = self.pipeline.shared
        try:
            self.start()
            while not self._exit.is_set() and (max_ticks is None or self.ticks < max_ticks):
                now = clock()
                self.tick(now)
                if on_tick is not None:
                    on_tick(now)
                self.heap.maybe(now)
                delay = now + period - clock()  # behind (a tick longer than the period): at once
                if delay > 0 and shared.wait_result(delay) and not self._exit.is_set():
                    self.wake_ms.add((time.monotonic_ns() - shared.result_ns) / 1e6)
            return 0
        except ThreadFailed as exc:
            self.exit_reason = str(exc)
            log.error("%s: stopping", exc)
            return 3
        except KeyboardInterrupt:  # Ctrl-C: a normal stop, not a failure (the caller says so in one line)
            self.exit_reason = "interrupted (Ctrl-C)"
            raise
        except BaseException as exc:
            self.exit_reason = f"main loop: {exc!r}"
            log.exception("main loop failed: stopping the motors")
            raise
        finally:
            self.shutdown()

    # ---- one tick ----------------------------------------------------------------------
    def _sighting(self, now: float, now_ns: int) -> tuple[Sighting, tuple[float, float, float, float] | None, bool]:
        """(sighting, box, stale). A confirmed target whose box dropped out a moment ago, or is only
        predicted (its image motion is partly the camera's own pan: README, "Dead reckoning"), is
        coasted on for COAST_S (for driving only: it is not a sighting)."""
        self.pipeline.shared.read_bbox(BBOX_TRACKER, self._bbox)
        r = self._bbox[0]
        fresh = bool(r["valid"]) and now_ns - int(r["t_ns"]) < BOX_MAX_AGE_S * 1e9 and r["source"] != SOURCE_PREDICTED
        fresh = fresh and self.hints.heard(r)  # chosen knowing which cat the user means
        state = int(r["target_state"])
        if fresh and state in (TRACKING, ACQUIRING):
            box = (float(r["x"]), float(r["y"]), float(r["w"]), float(r["h"]))
            self._coast = (now, box)
            if state == TRACKING:
                side = 1 if self.motion.last.pan + self.motion.cat_angles(box)[0] >= 0 else -1
                leaving = box[0] <= EDGE_PX or box[0] + box[2] >= self.frame_w - EDGE_PX  # going out of view
                return Sighting(True, side, leaving=leaving, moving=self.last_cmd.speed != 0), box, False
            return Sighting(False, candidate=True), box, False  # a candidate, not yet confirmed
        if self._coast is not None and now - self._coast[0] <= COAST_S and state in (TRACKING, ACQUIRING):
            return Sighting(False, candidate=True), self._coast[1], True
        return Sighting(False), None, False

    def tick(self, now: float) -> Decision:
        """One control step: safety checks, commands, state machine, motion, odometry."""
        dt = 0.0 if self._last_tick is None else min(max(now - self._last_tick, 0.0), 0.5)
        self._last_tick = now
        self.ticks += 1
        # dead reckoning over the interval that just ended, on the command that was in force
        prev = self.last_cmd
        latch = self.actor.latched  # a stop the car thread latched (watchdog): resumed by this tick's send
        self.odom.update(0.0 if latch is not None else prev.speed, prev.steer, dt)
        self.health.raise_if_failed()
        now_ns = time.monotonic_ns()
        if latch is not None:
            self.sm.stop(now, latch.reason)
        last_frame_ns = self.pipeline.camera.last_frame_ns  # 0: the camera thread has not started
        # lock-step: each tick follows the frame it was handed, so a wall-clock gap is the
        # machine's load (a busy 2-core box gave 1.6 s and stopped a run), not a stalled camera
        stall_s = (now_ns - last_frame_ns) / 1e9 if last_frame_ns and not self.lockstep else 0.0
        if stall_s > self.config.camera.stall_timeout_s:
            if not self.camera_stalled:
                log.error("camera stalled: no frame for %.1f s; motors stopped", stall_s)
                self.sm.stop(now, f"camera stalled: no frame for {stall_s:.1f} s")
            self.camera_stalled = True
        elif self.camera_stalled:
            log.info("camera frames are back")
            self.camera_stalled = False
        if self.queue.take_stop():
            self.sm.stop(now, "stop command")
        while (cmd := self.queue.get()) is not None:
            if cmd.verb == VERB_LOCATION:
                self.sm.locate(now, cmd.x, cmd.y)
            elif cmd.verb == VERB_FOLLOW:
                self.hints.click(cmd.x, self.sm.run)
                self.sm.follow(now)
        pose = self.odom.as_tuple()  # which cat the user means: a click, or where the cat_location is
        self.hints.update(self.sm, pose, self.motion.last.pan, self._bbox[0])
        self.pipeline.shared.post_hint(self.hints.id, *self.hints.view)
        seen, box, stale = self._sighting(now, now_ns)
        intent = self.sm.step(now, pose, seen)
        if self.camera_stalled:  # blind: no motion, whatever was commanded
            if self.sm.state is not RobotState.IDLE:
                self.sm.stop(now, "camera stalled")
            intent = Intent(Mode.STOP)
        if self.lockstep and now - self.sonar.reading[1] >= self.sonar.period - 1e-9:
            self.sonar.step()
        range_cm = self.sonar.latest(self.config.robot.ultrasonic_max_age_s)
        self.last_range_cm = range_cm
        out = self.motion.command(intent, t=now, dt=dt, pose=pose, box=box, distance_cm=range_cm, box_stale=stale)
        stamp = int(self._bbox[0]["t_capture_ns"])  # the frame behind this command, once per frame
        # resume=latch: the stop is lifted in the same locked step that posts this order, which
        # was computed after the state machine saw the stop (so it cannot be an older order)
        seq = self.actor.send(out.order, capture_ns=stamp if stamp != self._last_stamp else 0, resume=latch)
        self._last_stamp = stamp
        if self.lockstep:
            self.actor.wait_applied(seq, self._exit)
        self.last_cmd = out.order
        self._publish(now, out, range_cm)
        self._notify(now_ns)
        return out

    def _notify(self, now_ns: int) -> None:
        """systemd: READY once a frame went through the tracker and the detector has run;
        WATCHDOG pings only while the camera, the tracker and the car thread are alive and fresh,
        so a wedge in any gets the service restarted (and its motors reset)."""
        tracker = self.pipeline.tracker
        if not self.ready_sent and tracker.last_seq > 0 and self.pipeline.detector.runs > 0:
            self.ready_sent = self.notifier.ready("camera, tracker and detector up")
        tracker_fresh = (now_ns - tracker.heartbeat_ns) / 1e9 < TRACKER_STALE_S and tracker.is_alive()
        car_fresh = self.actor.turning(self.config.robot.car_hang_s)  # raises ThreadFailed if stuck: run exits 3
        if self.ready_sent and not self.camera_stalled and tracker_fresh and car_fresh and self.notifier.watchdog():
            self.watchdog_pings += 1

    # ---- status ------------------------------------------------------------------------
    def _publish(self, now: float, out: Decision, range_cm: float | None) -> None:
        self.pipeline.detector.watch()  # thread mode's hang watch: a stuck detector thread cannot watch itself
        c = self.pool.counters[0]
        counts = {"camera": int(c["frames_published"]), "tracker": int(c["tracker_frames"]),
                  "detector": int(c["detector_runs"]), "control": self.ticks}
        health = {"camera_stalled": self.camera_stalled, "watchdog_trips": self.actor.watchdog_trips,
                  "unconfirmed_stops": self.actor.unconfirmed_stops, "systemd_watchdog_pings": self.watchdog_pings,
                  "detector": self.pipeline.detector.status(),  # ok | [hung: ]restarting (n) | down: why
                  "threads_failed": [t.name for t in self.health.failed], "queued_commands": len(self.queue)}
        self.board.publish(now, self.sm, self._bbox[0], self.odom.as_tuple(), out, range_cm,
                           counts=counts, health=health, stop_confirmed=self.actor.stop_confirmed)

    def status_json(self) -> str:
        """One JSON line (called from the server thread)."""
        return self.board.json()
