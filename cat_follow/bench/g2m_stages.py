"""Where glass-to-motor goes (``python -m cat_follow.bench.g2m_stages``).

Runs the bench's robot loop (``robot_run``: thread or process mode, paced video, simulated car)
with class-level time stamps (bench only) and splits each frame's glass-to-motor, keyed by its
capture stamp, into:

* ``capture_to_publish``: the source's stamp -> ``publish_slot`` (letterbox/copy into the slot);
* ``publish_to_process``: -> the tracker starts on it (the handoff);
* ``process_to_commit``: -> the tracker commits its result (detector take, KCF, publish), of
  which ``kcf`` is KCF's own update (its shrink included);
* ``commit_to_tick``: -> the main loop's tick that reads it starts (the control wake);
* ``tick_to_send``: -> that tick posts its order to the car thread;
* ``send_to_apply``: -> the car thread's ``apply`` of it returns (the car thread's wake + apply);
* ``total``: capture -> apply (what the car thread records as glass-to-motor).

Only frames whose order reached the car are counted. p50/p99 in ms, one JSON line per mode.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import threading
import time
from dataclasses import replace
from typing import Any

import numpy as np

from cat_follow.bench.robot_run import robot_run
from cat_follow.config import load_config
from cat_follow.memory.shared_state import SharedState
from cat_follow.perception.model import resolve_model
from cat_follow.robot.car_thread import CarActor
from cat_follow.robot.main_loop import Robot
from cat_follow.sources import default_video
from cat_follow.stats import percentile
from cat_follow.threads.tracker import TrackerThread

STAGES = ("capture_to_publish", "publish_to_process", "process_to_commit", "commit_to_tick",
          "tick_to_send", "send_to_apply", "total")


def _instrument(marks: dict[int, dict[str, int]]) -> contextlib.ExitStack:
    """Stamps keyed by a frame's ``t_capture_ns``, for as long as the returned stack is open."""
    process, commit, tick, send, turn = (TrackerThread.process, SharedState.commit_result, Robot.tick,
                                         CarActor.send, CarActor._turn)
    update_kcf = TrackerThread._update_kcf
    current = threading.local()

    def w_process(self: TrackerThread, ref: Any) -> None:
        cap = int(ref.meta["t_capture_ns"])
        marks.setdefault(cap, {}).update(publish=int(ref.meta["t_publish_ns"]), process=time.monotonic_ns())
        current.cap = cap
        process(self, ref)

    def w_kcf(self: TrackerThread, frame: Any) -> bool:
        t0 = time.monotonic_ns()
        ok = update_kcf(self, frame)
        cap = getattr(current, "cap", None)
        if cap is not None and cap in marks:
            marks[cap]["kcf_ns"] = time.monotonic_ns() - t0
        return ok

    def w_commit(self: SharedState) -> None:
        commit(self)
        cap = getattr(current, "cap", None)
        if cap is not None and cap in marks:
            marks[cap]["commit"] = time.monotonic_ns()

    def w_tick(self: Robot, now: float) -> Any:
        current.tick = time.monotonic_ns()
        return tick(self, now)

    def w_send(self: CarActor, order: Any, *, capture_ns: int = 0, resume: Any = None) -> int:
        if capture_ns and capture_ns in marks:
            marks[capture_ns].update(tick=getattr(current, "tick", 0), send=time.monotonic_ns())
        return send(self, order, capture_ns=capture_ns, resume=resume)

    def w_turn(self: CarActor, car: Any) -> None:
        cap = self._capture_ns
        turn(self, car)
        if cap and cap in marks and "send" in marks[cap] and "apply" not in marks[cap]:
            marks[cap]["apply"] = time.monotonic_ns()

    stack = contextlib.ExitStack()
    for cls, name, fn in ((TrackerThread, "process", w_process), (SharedState, "commit_result", w_commit),
                          (Robot, "tick", w_tick), (CarActor, "send", w_send), (CarActor, "_turn", w_turn),
                          (TrackerThread, "_update_kcf", w_kcf)):
        stack.enter_context(_patched(cls, name, fn))
    return stack


@contextlib.contextmanager
def _patched(cls: type, name: str, fn: Any) -> Any:
    old = cls.__dict__[name]
    setattr(cls, name, fn)
    try:
        yield
    finally:
        setattr(cls, name, old)


def split(marks: dict[int, dict[str, int]], skip: int) -> dict[str, Any]:
    """p50/p99 (ms) of each stage over the frames whose order was applied (after ``skip``)."""
    keys = ("publish", "process", "commit", "tick", "send", "apply")
    rows = [(cap, m) for cap, m in sorted(marks.items()) if all(k in m for k in keys)][skip:]
    out: dict[str, Any] = {"frames": len(rows)}
    for stage, (a, b) in zip(STAGES, (("cap", "publish"), ("publish", "process"), ("process", "commit"),
                                      ("commit", "tick"), ("tick", "send"), ("send", "apply"),
                                      ("cap", "apply")), strict=True):
        ms = np.array([(m[b] - (cap if a == "cap" else m[a])) / 1e6 for cap, m in rows])
        out[stage] = {"p50": percentile(ms, 50), "p99": percentile(ms, 99)} if ms.size else None
    kcf = np.array([m["kcf_ns"] / 1e6 for _, m in rows if "kcf_ns" in m])
    out["kcf"] = {"p50": percentile(kcf, 50), "p99": percentile(kcf, 99)} if kcf.size else None
    return out


def worker(mode: str, frames: int) -> dict[str, Any]:
    config = load_config(None)
    config = replace(config, verifier=replace(config.verifier, enabled=False))  # as the bench runs it
    marks: dict[int, dict[str, int]] = {}
    with _instrument(marks):
        run = robot_run(default_video(), config, resolve_model(None, None), frames, None, mode)
    out = split(marks, 30)
    out.update(mode=mode, glass_to_motor_ms_p50=run["glass_to_motor_ms_p50"],
               glass_to_motor_ms_p99=run["glass_to_motor_ms_p99"])
    return out


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=300)
    p.add_argument("--modes", default="thread,process")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.worker:
        print(json.dumps(worker(a.worker, a.frames)))
        return
    for mode in a.modes.split(","):  # each in its own process, as the bench does
        proc = subprocess.run([sys.executable, "-m", "cat_follow.bench.g2m_stages", "--worker", mode,
                               "--frames", str(a.frames)], capture_output=True, text=True, check=True)
        print(proc.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main(sys.argv[1:])
