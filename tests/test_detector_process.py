"""Process mode: whole records across processes, the watchdog, and the segments' life cycle."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from multiprocessing.shared_memory import SharedMemory
from pathlib import Path

import numpy as np
import pytest

from cat_follow.config import Config, config_from_dict
from cat_follow.memory.pool import allocate_pool
from cat_follow.memory.segments import SHM_DIR, attach_segment, create_segment, sweep_stale, unlink_segment
from cat_follow.memory.shared_state import SharedState
from cat_follow.perception.model import ModelFiles
from cat_follow.perception.port import MAX_DETECTIONS, DetectJob, new_result_buffer
from cat_follow.pipeline import Pipeline
from cat_follow.sources import VideoFileSource, default_video
from cat_follow.threads.detector_process import ProcessDetectorPort
from cat_follow.threads.supervised import Health

REPO = Path(__file__).resolve().parents[1]
SMALL = {"camera": {"width": 160, "height": 120, "slots": 5}, "detector": {"mode": "process"}}


def _value(seq: int) -> int:
    return seq % 250 + 1


class _EchoWorker:
    """Reports what it saw: the frame's first pixel in every field, and whether the frame was
    uniform (a torn frame is not)."""

    def prepare(self, sizes: Sequence[tuple[int, int]]) -> None:
        pass

    def run(self, job: DetectJob, frame: np.ndarray, out: np.void) -> None:
        v = int(frame[0, 0, 0])
        time.sleep(0.001)  # the parent's camera laps the ring meanwhile
        out["verified"] = int(not np.all(frame == v))
        out["n"] = MAX_DETECTIONS
        for f in ("x", "y", "w", "h", "score"):
            out["dets"][f] = v
        out["cat_prob"] = v


def echo_worker(config: Config, models: ModelFiles) -> _EchoWorker:
    return _EchoWorker()


class _SpinWorker:
    """Computes (spins on a core) for ``min_score`` x 10 s: a slow detector, not a hung one."""

    def prepare(self, sizes: Sequence[tuple[int, int]]) -> None:
        pass

    def run(self, job: DetectJob, frame: np.ndarray, out: np.void) -> None:
        if job.min_score >= 1.0:
            return  # the child's warm-up run before READY
        end = time.monotonic() + job.min_score * 10
        while time.monotonic() < end:
            pass
        out["n"] = 0


def spin_worker(config: Config, models: ModelFiles) -> _SpinWorker:
    return _SpinWorker()


def _camera(shared: SharedState, stop: threading.Event) -> None:
    while not stop.is_set():
        with shared.writing() as slot:
            if slot is None:
                continue
            px = shared.slot_pixels(slot)
            v = _value(shared.published_seq + 1)
            px[: px.shape[0] // 2] = v
            time.sleep(0)
            px[px.shape[0] // 2:] = v
            shared.publish_slot(slot, t_capture_ns=0, t_media_ns=0, frame_index=0)


def test_results_come_back_whole_from_the_detector_process(models: ModelFiles) -> None:
    config = config_from_dict(SMALL)
    shared = SharedState(allocate_pool(config))
    port = ProcessDetectorPort(shared, config, models, Health(), [(160, 120)], factory=echo_worker)
    stop = threading.Event()
    cam = threading.Thread(target=_camera, args=(shared, stop))
    out = new_result_buffer()
    results = bad = torn = 0
    port.start()
    cam.start()
    try:
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            ticket = port.submit(DetectJob(None, 0.0))
            assert ticket is not None
            assert port.wait(ticket, 5.0, threading.Event())
            if not port.take(out):
                continue
            r = out[0]
            assert int(r["ticket"]) == ticket
            if int(r["seq"]) == 0:
                continue  # asked before the first frame: finished with nothing, as in thread mode
            v = _value(int(r["seq"]))
            bad += int(not (np.all(r["dets"][["x", "y", "w", "h", "score"]].tolist() == np.full((16, 5), v))
                            and float(r["cat_prob"]) == v))
            torn += int(r["verified"])
            results += 1
    finally:
        stop.set()
        cam.join()
        shared.close()
        port.thread.stop()
        port.thread.join(5)
        port.close()
    assert results > 100, results
    assert shared.published_seq > 2 * results, "the camera must have lapped the detector"
    assert torn == 0 and bad == 0, (torn, bad, results)
    assert port.restarts == 0


def test_a_slow_detector_process_is_waited_for_and_a_spinning_one_replaced(models: ModelFiles) -> None:
    """No result within hang_timeout_s is a hang only if the child used no CPU meanwhile (the
    SIGSTOP test below); one still computing gets up to 10x as long, then is replaced. The child
    runs at the service's priority here, so a loaded machine does not starve it."""
    config = config_from_dict({**SMALL, "detector": {"mode": "process", "hang_timeout_s": 0.3},
                               "process": {"detector_nice": 0}})
    shared = SharedState(allocate_pool(config))
    with shared.writing() as slot:
        assert slot is not None
        shared.publish_slot(slot, t_capture_ns=0, t_media_ns=0, frame_index=0)
    port = ProcessDetectorPort(shared, config, models, Health(), [(160, 120)], factory=spin_worker)
    port.start()
    try:
        slow = port.submit(DetectJob(None, 0.06))  # 0.6 s of CPU: twice the hang timeout
        assert slow is not None and port.wait(slow, 15.0, threading.Event())
        assert port.restarts == 0, "a child still computing must not be killed as hung"
        t0 = time.monotonic()
        spin = port.submit(DetectJob(None, 0.9))  # 9 s of CPU: beyond 10 x 0.3 s
        assert spin is not None and port.wait(spin, 20.0, threading.Event())
        waited = time.monotonic() - t0
        assert port.restarts == 1, port.restarts
        assert waited >= 2.9, f"replaced after {waited:.2f} s, before 10 x hang_timeout_s"
    finally:
        port.thread.stop()
        port.thread.join(5)
        port.close()
        shared.close()


def _thread_nice(pid: int | None) -> set[int]:
    """The nice values of every thread of ``pid`` (field 19 of /proc/<pid>/task/<tid>/stat)."""
    assert pid is not None
    return {int((task / "stat").read_text().rsplit(")", 1)[1].split()[16])
            for task in Path(f"/proc/{pid}/task").iterdir()}


def _run_with_fault(models: ModelFiles, fault: signal.Signals, hang_timeout_s: float) -> dict[str, object]:
    """A process-mode pipeline on the sample video; after some detections, ``fault`` goes to
    the child. Returns what the main thread saw."""
    config = config_from_dict({"detector": {"mode": "process", "hang_timeout_s": hang_timeout_s}})
    pipe = Pipeline(config, VideoFileSource(default_video()), models, max_frames=150)
    seen: dict[str, object] = {"statuses": set(), "rows_while_down": 0}
    statuses: set[str] = set()
    cursor = 0
    with pipe:
        port = pipe.detector
        assert isinstance(port, ProcessDetectorPort)
        segment = SHM_DIR / f"cat-follow-{os.getpid()}-detector"
        assert segment.exists()
        old_pid = None
        runs_at_fault = 0
        while not pipe.finished():
            pipe.health.raise_if_failed()
            pipe.shared.wait_frame(pipe.main_reader, 0.05)
            status = port.status()
            statuses.add(status)
            for c, _row in pipe.results(cursor):
                cursor = c + 1
                if old_pid is not None and port.runs == runs_at_fault:  # from the fault to the new child's first result
                    seen["rows_while_down"] = int(seen["rows_while_down"]) + 1  # type: ignore[call-overload]
            if old_pid is None and port.runs >= 3:
                old_pid = port.child_pid
                runs_at_fault = port.runs
                assert old_pid is not None and old_pid != os.getpid()
                os.kill(old_pid, fault)
        assert old_pid is not None, f"no 3 detector runs to fault after (restarts {port.restarts}: a loaded machine?)"
        seen.update(statuses=statuses, restarts=port.restarts, recovery_ms=port.recovery_ms.samples().tolist(),
                    runs_after=port.runs - runs_at_fault, old_pid=old_pid, new_pid=port.child_pid,
                    child_nice=_thread_nice(port.child_pid))
    seen["segment_left"] = segment.exists()
    return seen


@pytest.mark.slow
@pytest.mark.parametrize("fault", [signal.SIGKILL, signal.SIGSTOP], ids=["crash", "hang"])
def test_a_crashed_or_hung_detector_process_is_replaced_within_2_s(models: ModelFiles,
                                                                    fault: signal.Signals) -> None:
    # A crash is seen through the child's sentinel, not the hang timeout: a long timeout there
    # keeps a machine so loaded that one inference takes over 1 s from faking a hang first.
    seen = _run_with_fault(models, fault, hang_timeout_s=10.0 if fault == signal.SIGKILL else 1.0)
    assert seen["restarts"] == 1, seen
    assert "restarting (1)" in seen["statuses"], seen  # type: ignore[operator]
    assert seen["recovery_ms"] and max(seen["recovery_ms"]) < 2000, seen  # type: ignore[arg-type]
    # Counted from the fault to the new child's first result, not only while the status says
    # "restarting": a restart can take 60 ms, between two frames.
    assert int(seen["rows_while_down"]) > 0, "tracking must go on while the detector is down"  # type: ignore[call-overload]
    assert int(seen["runs_after"]) > 0, "the new detector process must deliver results"  # type: ignore[call-overload]
    assert seen["new_pid"] != seen["old_pid"]
    # the restarted child, the runtime's own threads included, runs below the service's priority
    mine = os.getpriority(os.PRIO_PROCESS, 0)
    assert seen["child_nice"] == {min(19, mine + config_from_dict({}).process.detector_nice)} != {mine}
    with pytest.raises(ProcessLookupError):
        os.kill(int(seen["old_pid"]), 0)  # type: ignore[call-overload]  # killed and reaped
    assert not seen["segment_left"], "stop must unlink the segment"


MAIN = """
import sys, time
from pathlib import Path
from cat_follow.config import config_from_dict
from cat_follow.perception.model import ModelFiles
from cat_follow.pipeline import Pipeline
from cat_follow.sources import VideoFileSource, default_video
m = Path(sys.argv[1])
pipe = Pipeline(config_from_dict({"detector": {"mode": "process"}, "verifier": {"enabled": False}}),
                VideoFileSource(default_video()),
                ModelFiles(m / "detect.tflite", m / "labelmap.txt"))
pipe.start()
print(pipe.detector.child_pid, flush=True)
time.sleep(60)
"""


@pytest.mark.slow
def test_sigkill_of_the_main_process_leaves_nothing_after_the_next_start(models: ModelFiles) -> None:
    """The child notices its parent's death and exits; the next start sweeps the segment;
    a live process's segment and other programs' files are not touched."""
    main = subprocess.Popen([sys.executable, "-c", MAIN, str(models.model.parent)], cwd=REPO,
                            stdout=subprocess.PIPE, text=True)
    assert main.stdout is not None
    child_pid = int(main.stdout.readline())
    segment = SHM_DIR / f"cat-follow-{main.pid}-detector"
    assert segment.exists()
    live = create_segment("decoy", 64)  # ours: this process is alive
    other = SharedMemory("not-cat-follow-1-x", create=True, size=64)
    try:
        main.kill()
        main.wait()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and os.path.exists(f"/proc/{child_pid}"):
            time.sleep(0.05)
        assert not os.path.exists(f"/proc/{child_pid}"), "the orphaned child must exit"
        assert segment.exists(), "SIGKILL leaves the segment behind"
        removed = sweep_stale()
        assert segment.name in removed and not segment.exists()
        assert (SHM_DIR / live.name).exists() and (SHM_DIR / "not-cat-follow-1-x").exists()
    finally:
        unlink_segment(live)
        other.close()
        other.unlink()


ATTACH = """
import sys
from multiprocessing.shared_memory import SharedMemory
from cat_follow.memory.segments import attach_segment
shm = attach_segment(sys.argv[1]) if sys.argv[2] == "ours" else SharedMemory(sys.argv[1])
shm.close()
"""


@pytest.mark.parametrize("how", ["ours", "plain"])
def test_an_attaching_process_never_unlinks_the_segment(how: str) -> None:
    """cpython#82300: a process that merely attaches with a plain SharedMemory has its resource
    tracker unlink the segment at exit (the control); ``attach_segment`` does not."""
    shm = create_segment(f"attach_{how}", 4096)
    try:
        subprocess.run([sys.executable, "-c", ATTACH, shm.name, how], cwd=REPO, check=True,
                       capture_output=True, timeout=60)
        survived = (SHM_DIR / shm.name).exists()
        assert survived == (how == "ours")
        if survived:
            again = attach_segment(shm.name)
            again.close()
    finally:
        if (SHM_DIR / shm.name).exists():
            unlink_segment(shm)
        else:
            shm.close()


@pytest.mark.slow
def test_lock_step_replay_gives_the_same_boxes_in_both_modes(tmp_path: Path, cli_env: dict[str, str]) -> None:
    """The port's protocol is the same in both modes: in lock-step, the same frames give the
    same detections, so the same boxes."""
    logs = {}
    for mode in ("thread", "process"):
        cfg = tmp_path / f"{mode}.toml"
        cfg.write_text(f'[detector]\nmode = "{mode}"\n', encoding="utf-8")
        logs[mode] = tmp_path / f"{mode}.jsonl"
        proc = subprocess.run([sys.executable, "-m", "cat_follow", "replay", "--fast", "--max-frames", "90",
                               "--config", str(cfg), "--log", str(logs[mode])],
                              capture_output=True, text=True, env=cli_env, timeout=300, check=False)
        assert proc.returncode == 0, proc.stderr[-2000:]
    thread, process = (logs[m].read_text().splitlines() for m in ("thread", "process"))
    assert len(thread) == 90 and thread == process
