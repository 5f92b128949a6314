"""The frame ring's promises: no torn frame for any reader speed, a writer that never waits."""

from __future__ import annotations

import random
import threading
import time

import numpy as np

from cat_follow.config import Config, config_from_dict
from cat_follow.memory.pool import BBOX_TRACKER, allocate_pool
from cat_follow.memory.shared_state import SharedState

SMALL = config_from_dict({"camera": {"width": 320, "height": 240, "slots": 5}})


def _value(seq: int) -> int:
    return seq % 250 + 1


def _paint_and_publish(shared: SharedState, seq_hint: int) -> bool:
    """Write a frame filled with its (next) sequence number, in two halves with a thread
    switch between them, so a reader that looks at a slot being written sees two values."""
    with shared.writing() as slot:
        if slot is None:
            return False
        px = shared.slot_pixels(slot)
        v = _value(shared.published_seq + 1)
        px[: px.shape[0] // 2] = v
        time.sleep(0)  # let readers run in the middle of the write
        px[px.shape[0] // 2:] = v
        shared.publish_slot(slot, t_capture_ns=0, t_media_ns=0, frame_index=seq_hint)
    return True


def _run_writer(shared: SharedState, stop: threading.Event, counts: dict[str, int]) -> None:
    i = 0
    while not stop.is_set():
        if _paint_and_publish(shared, i):
            counts["published"] += 1
        else:
            counts["no_slot"] += 1
        i += 1


def _check_pinned(shared: SharedState, rid: int, stop: threading.Event, out: dict[str, int],
                  rng: random.Random) -> None:
    seen = 0
    while not stop.is_set():
        with shared.latest_frame(rid, newer_than=seen) as ref:
            if ref is None:
                time.sleep(0)
                continue
            seen = ref.seq
            first = int(ref.pixels[0, 0, 0])
            time.sleep(rng.uniform(0, 0.003))  # a slow reader: the camera laps it many times
            torn = first != _value(ref.seq) or not np.all(ref.pixels == first)
            out["torn"] += int(torn)
            out["frames"] += 1


def test_slow_readers_never_see_a_torn_frame() -> None:
    pool = allocate_pool(SMALL)
    shared = SharedState(pool)
    readers = [shared.register_reader(f"r{i}") for i in range(3)]
    stop = threading.Event()
    counts = {"published": 0, "no_slot": 0}
    results = [{"torn": 0, "frames": 0} for _ in readers]
    threads = [threading.Thread(target=_run_writer, args=(shared, stop, counts))]
    threads += [threading.Thread(target=_check_pinned, args=(shared, rid, stop, res, random.Random(rid)))
                for rid, res in zip(readers, results, strict=False)]
    for t in threads:
        t.start()
    time.sleep(2.0)
    stop.set()
    for t in threads:
        t.join()
    checked = sum(r["frames"] for r in results)
    assert checked > 200, results
    assert counts["published"] > 2 * checked, "the writer must have lapped the readers"
    assert sum(r["torn"] for r in results) == 0, results
    assert counts["no_slot"] == 0, "with slots = readers + 2 the writer always finds a slot"


def test_control_an_unpinned_reader_does_see_torn_frames() -> None:
    """The same check without the protocol detects tearing, so the test above can fail."""
    pool = allocate_pool(SMALL)
    shared = SharedState(pool)
    stop = threading.Event()
    counts = {"published": 0, "no_slot": 0}
    writer = threading.Thread(target=_run_writer, args=(shared, stop, counts))
    writer.start()
    torn = frames = 0
    deadline = time.monotonic() + 5.0
    try:
        while torn == 0 and time.monotonic() < deadline:
            s = int(pool.frame_ctl[0])
            if s < 0:
                continue
            px = pool.frame_latest[s]  # no pin, no generation check
            first = int(px[0, 0, 0])
            time.sleep(0.002)
            torn += int(not np.all(px == first))
            frames += 1
    finally:
        stop.set()
        writer.join()
    assert torn > 0, f"no tearing seen in {frames} unprotected reads"


def test_writer_skips_pinned_slots_and_the_latest(config: Config) -> None:
    pool = allocate_pool(config)
    shared = SharedState(pool)
    rid = shared.register_reader("slow")
    assert shared.acquire_latest(rid) is None  # nothing published yet
    assert _paint_and_publish(shared, 0)
    ref = shared.acquire_latest(rid)
    assert ref is not None and ref.seq == 1
    pinned = ref.slot
    for _i in range(50):
        slot = shared.claim_slot()
        assert slot is not None
        assert slot != pinned and slot != int(pool.frame_ctl[0])
        shared.abort_slot(slot)
    shared.release(rid)
    assert (pool.reader_pin == -1).all()


def test_newer_than_and_abort_keep_the_latest_frame(config: Config) -> None:
    pool = allocate_pool(config)
    shared = SharedState(pool)
    rid = shared.register_reader("r")
    _paint_and_publish(shared, 0)
    latest = int(pool.frame_ctl[0])
    with shared.latest_frame(rid, newer_than=1) as ref:
        assert ref is None  # nothing newer than seq 1
    gen_before = pool.frame_gen.copy()
    try:
        with shared.writing() as slot:
            assert slot is not None
            shared.slot_pixels(slot)[:5] = 99  # half a frame, then the source fails
            raise ValueError("decode failed")
    except ValueError:
        pass
    assert int(pool.frame_ctl[0]) == latest and shared.published_seq == 1
    assert (pool.frame_gen % 2 == 0).all(), "an aborted slot must not stay 'being written'"
    assert int(pool.frame_gen[slot]) == int(gen_before[slot]) + 2  # moved on: stale readers retry


def test_too_many_readers_is_refused_at_registration(config: Config) -> None:
    shared = SharedState(allocate_pool(config))
    for i in range(config.camera.slots - 2):
        shared.register_reader(f"r{i}")
    try:
        shared.register_reader("one too many")
    except RuntimeError as exc:
        assert "camera.slots" in str(exc)
    else:
        raise AssertionError("registration beyond the pool's pin entries must fail")


def test_box_records_are_read_whole(config: Config) -> None:
    shared = SharedState(allocate_pool(config))
    stop = threading.Event()

    def writer() -> None:
        i = 0
        while not stop.is_set():
            i += 1
            shared.publish_bbox(BBOX_TRACKER, i, i, i, i, score=float(i), valid=True, seq=i,
                                source=2, target_state=2, ms=float(i), t_media_ns=i)

    t = threading.Thread(target=writer)
    t.start()
    out = shared.new_bbox_buffer()
    mixed = reads = 0
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        shared.read_bbox(BBOX_TRACKER, out)
        r = out[0]
        vals = {float(r["x"]), float(r["y"]), float(r["w"]), float(r["h"]), float(r["score"]),
                float(r["seq"]), float(r["ms"]), float(r["t_media_ns"])}
        mixed += len(vals) != 1
        reads += 1
    stop.set()
    t.join()
    assert reads > 1000
    assert mixed == 0


def test_result_rows_are_copies_and_lapped_rows_are_counted(config: Config) -> None:
    from cat_follow.memory.pool import RESULT, RESULT_CAPACITY

    shared = SharedState(allocate_pool(config))

    def produce(n: int, start: int) -> None:
        for i in range(start, start + n):
            row = shared.push_result()
            row["seq"] = i
            shared.commit_result()

    out = np.zeros(RESULT_CAPACITY, dtype=RESULT)
    produce(10, 1)
    first, end = shared.copy_results(0, out)
    assert (first, end) == (0, 10) and list(out[:10]["seq"]) == list(range(1, 11))
    produce(RESULT_CAPACITY, 11)  # the ring wraps over every row copied above
    assert list(out[:10]["seq"]) == list(range(1, 11)), "a copy must not change under the consumer"
    first, end = shared.copy_results(10, out)
    assert end - first == RESULT_CAPACITY - 1  # the row being written next is never handed out
    assert int(shared.counters["results_overrun"]) == 1
    assert list(out[: end - first]["seq"]) == list(range(12, RESULT_CAPACITY + 11))


def test_a_lock_never_released_is_reported_not_waited_on_forever(config: Config) -> None:
    from cat_follow.memory.shared_state import ProtocolStalled

    lock = threading.Lock()
    shared = SharedState(allocate_pool(config), lock=lock)
    rid = shared.register_reader("r")
    lock.acquire()  # a holder that died inside the protocol
    try:
        t0 = time.monotonic()
        try:
            shared.acquire_latest(rid)
        except ProtocolStalled:
            pass
        else:
            raise AssertionError("acquire_latest must give up")
        assert time.monotonic() - t0 < 5.0
    finally:
        lock.release()


def test_a_committed_result_wakes_the_main_loop_and_none_is_lost(config: Config) -> None:
    shared = SharedState(allocate_pool(config))
    assert not shared.wait_result(0.01), "no result committed: the wait times out"
    shared.commit_result()  # committed before the wait: still seen
    assert shared.wait_result(0.0) and shared.result_ns > 0
    assert not shared.wait_result(0.01), "one commit wakes once"
    woke: list[bool] = []
    t = threading.Thread(target=lambda: woke.append(shared.wait_result(10.0)))
    t.start()
    time.sleep(0.05)
    shared.commit_result()
    t.join(10.0)
    assert woke == [True]
    assert shared.copy_results(0, np.zeros(8, dtype=shared.pool.results.dtype))[1] == 2
    shared.close()  # shutdown wakes a waiter too
    assert shared.wait_result(10.0)
