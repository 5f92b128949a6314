"""The frame ring and box records across two processes (spawn), on a pool in shared memory.

The parent writes frames and box records; a spawned child reads them through SharedState
with a ``multiprocessing`` lock and counts torn ones. The control runs the same reader
without the protocol (no lock, no pin) and must see tearing, so the checks can fail.
"""

from __future__ import annotations

import gc
import multiprocessing
import random
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
import pytest

from cat_follow.config import config_from_dict
from cat_follow.memory.pool import BBOX_TRACKER, allocate_pool, pool_nbytes
from cat_follow.memory.segments import attach_segment, create_segment, unlink_segment
from cat_follow.memory.shared_state import AnyLock, SharedState

SMALL = {"camera": {"width": 160, "height": 120, "slots": 5}}
CTX = multiprocessing.get_context("spawn")
RUN_S = 1.5


def _value(seq: int) -> int:
    return seq % 250 + 1


def _record_mixed(rec: np.void) -> bool:
    vals = {float(rec["x"]), float(rec["y"]), float(rec["w"]), float(rec["h"]), float(rec["score"]),
            float(rec["seq"]), float(rec["ms"]), float(rec["t_media_ns"])}
    return len(vals) != 1


def _child(name: str, lock: AnyLock, protected: bool, conn: Connection) -> None:
    """Spawned reader: frames and box records for RUN_S seconds, counts sent back."""
    shm = attach_segment(name)
    try:
        conn.send(_read_for_a_while(shm.buf, lock, protected))
        gc.collect()  # the pool's views are gone with the function's frame
    finally:
        shm.close()


def _read_for_a_while(buf: memoryview, lock: AnyLock, protected: bool) -> dict[str, int]:
    pool = allocate_pool(config_from_dict(SMALL), buffer=buf, initialise=False)
    shared = SharedState(pool, lock=lock)
    rid = shared.register_reader("child")
    rng = random.Random(1)
    out = shared.new_bbox_buffer()
    counts = {"frames": 0, "torn": 0, "records": 0, "mixed": 0}
    seen = 0
    deadline = time.monotonic() + RUN_S
    while time.monotonic() < deadline:
        if protected:
            with shared.latest_frame(rid, newer_than=seen) as ref:
                if ref is not None:
                    seen = ref.seq
                    first = int(ref.pixels[0, 0, 0])
                    time.sleep(rng.uniform(0, 0.002))  # slow reader: the writer laps it
                    counts["torn"] += int(first != _value(ref.seq) or not np.all(ref.pixels == first))
                    counts["frames"] += 1
            shared.read_bbox(BBOX_TRACKER, out)
        else:
            s = int(pool.frame_ctl[0])
            if s >= 0:
                px = pool.frame_latest[s]  # no lock, no pin
                first = int(px[0, 0, 0])
                time.sleep(rng.uniform(0, 0.002))
                counts["torn"] += int(not np.all(px == first))
                counts["frames"] += 1
            out[0] = pool.bbox[BBOX_TRACKER]  # no lock: the writer stores field by field
        if int(out[0]["seq"]) > 0:
            counts["mixed"] += int(_record_mixed(out[0]))
            counts["records"] += 1
    return counts


def _writer(shared: SharedState, stop: threading.Event, protected: bool, stats: dict[str, int]) -> None:
    pool = shared.pool
    i = 0
    while not stop.is_set():
        i += 1
        with shared.writing() as slot:
            if slot is not None:
                px = shared.slot_pixels(slot)
                v = _value(shared.published_seq + 1)
                px[: px.shape[0] // 2] = v
                time.sleep(0)  # a gap in the middle of the write
                px[px.shape[0] // 2:] = v
                shared.publish_slot(slot, t_capture_ns=0, t_media_ns=0, frame_index=i)
                stats["published"] += 1
        if protected:
            shared.publish_bbox(BBOX_TRACKER, i, i, i, i, score=float(i), valid=True, seq=i,
                                source=2, target_state=2, ms=float(i), t_media_ns=i)
        else:
            rec = pool.bbox[BBOX_TRACKER]
            for f in ("x", "y", "w", "h", "score", "seq", "ms", "t_media_ns"):
                rec[f] = i


def _run(protected: bool) -> tuple[dict[str, int], dict[str, int]]:
    config = config_from_dict(SMALL)
    shm = create_segment(f"test_ring_{int(protected)}", pool_nbytes(config))
    try:
        pool = allocate_pool(config, buffer=shm.buf)
        lock = CTX.Lock()
        shared = SharedState(pool, lock=lock)
        shared.register_reader("child")  # the child registers the same entry on its side
        parent_end, child_end = CTX.Pipe(duplex=False)
        child = CTX.Process(target=_child, args=(shm.name, lock, protected, child_end))
        stop = threading.Event()
        stats = {"published": 0}
        writer = threading.Thread(target=_writer, args=(shared, stop, protected, stats))
        child.start()
        writer.start()
        try:
            assert parent_end.poll(60), "child sent no counts"
            counts: dict[str, Any] = parent_end.recv()
        finally:
            stop.set()
            writer.join()
            child.join(10)
        assert child.exitcode == 0
        del shared, pool
        gc.collect()
    finally:
        unlink_segment(shm)
    return counts, stats


def test_two_processes_see_no_torn_frame_and_no_torn_record() -> None:
    counts, stats = _run(protected=True)
    assert counts["frames"] > 100 and counts["records"] > 1000, counts
    assert stats["published"] > 2 * counts["frames"], "the writer must have lapped the reader"
    assert counts["torn"] == 0 and counts["mixed"] == 0, counts


@pytest.mark.parametrize("what", ["frames", "records"])
def test_control_without_the_protocol_tears_across_processes(what: str) -> None:
    counts, _ = _run(protected=False)
    key = "torn" if what == "frames" else "mixed"
    assert counts[key] > 0, f"no tearing seen in {counts[what]} unprotected reads: {counts}"
