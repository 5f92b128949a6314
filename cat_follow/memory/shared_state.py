"""SharedState: the access protocol over the pool's buffers.

Frames: a ring of ``slots`` frame buffers, one writer (the camera thread), any number
of registered readers, no lock on the data path.

* Writer: ``claim`` a slot that is neither the latest frame nor pinned by a reader,
  mark it "being written" (odd generation), write, then ``publish`` it (even generation,
  then ``latest = slot``). It never waits for a reader.
* Reader: read ``latest`` and its generation, *pin* the slot (its own entry in
  ``reader_pin``), then check the generation again. If the writer claimed the slot in
  between, the check fails and the reader retries on the new latest frame.

Why pinning plus a third (and fourth) slot, rather than a plain double buffer: with two
slots and a reader slower than the camera, the writer comes round to the slot being read
and the reader sees a torn frame. Pinning makes the reader's slot untouchable for as long
as it needs it, however slow it is; extra slots make sure the writer always finds a free
one, so it never waits. Each pinning reader holds at most one slot and the writer must
leave the latest alone, so ``slots = pinning readers + 2`` (5 by default: the tracker,
the detector's snapshot and the main thread's viewer). The check-after-pin on both sides (writer: claim then look at the
pins; reader: pin then look at the generation) is Dekker's pattern: one of the two always
sees the other. It relies on the sequentially consistent order CPython's GIL gives to
these small numpy stores; a cross-process version must keep the same protocol with
atomics, or hand frames over with a semaphore.

Box records: one writer each, published whole through a per-record generation counter
(a seqlock): readers copy the record into their own buffer and retry if the counter
moved or was odd.

Signalling (a new frame, lock-step acknowledgements) uses a ``threading.Event`` per reader
and a Condition for lock-step; these are waits, never on the frame data path.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from cat_follow.memory.pool import BBOX, RESULT_CAPACITY, Pool


@dataclass
class FrameRef:
    """A pinned frame: ``pixels`` and ``meta`` stay valid until the reader releases it."""

    slot: int
    pixels: np.ndarray
    meta: np.void

    @property
    def seq(self) -> int:
        return int(self.meta["seq"])


class SharedState:
    """Owns the protocol over ``pool``; threads only touch the pool through it."""

    def __init__(self, pool: Pool, *, lockstep: bool = False) -> None:
        self.pool = pool
        self.lockstep = lockstep
        self._slot_pixels = [pool.frame_latest[i] for i in range(pool.slots)]
        self._slot_meta = [pool.frame_meta[i] for i in range(pool.slots)]
        self._bbox_rec = [pool.bbox[i] for i in range(pool.bbox.shape[0])]
        self.counters: np.void = pool.counters[0]
        self._reader_names: list[str] = []
        self._reader_events: list[threading.Event] = []
        self._lockstep_readers: list[int] = []
        self._done_cond = threading.Condition()
        self._next_slot = 0
        self._seq = 0
        self.closed = threading.Event()

    # ---- registration (before threads start) -------------------------------------------
    def register_reader(self, name: str, *, lockstep: bool = False) -> int:
        """Reserve a pin entry for one reader thread; ``lockstep`` readers hold the writer
        back (in lock-step mode) until they have finished each frame."""
        rid = len(self._reader_names)
        if rid >= self.pool.readers:
            raise RuntimeError(f"pool has pin entries for {self.pool.readers} readers; "
                               f"raise camera.slots to register {name!r}")
        self._reader_names.append(name)
        self._reader_events.append(threading.Event())
        if lockstep:
            self._lockstep_readers.append(rid)
        return rid

    # ---- writer side (camera thread only) ----------------------------------------------
    @property
    def published_seq(self) -> int:
        """Sequence number of the last published frame (0 = none yet)."""
        return self._seq

    def claim_slot(self) -> int | None:
        """Return a free slot marked "being written", or None (counted) if every slot is busy."""
        n = self.pool.slots
        gen = self.pool.frame_gen
        latest = int(self.pool.frame_ctl[0])
        for k in range(n):
            s = (self._next_slot + k) % n
            if s == latest or self._pinned(s):
                continue
            gen[s] += 1  # odd: being written
            if self._pinned(s):  # a reader pinned it between our look and our claim
                gen[s] += 1  # back to even, with a new value, so the reader's check fails
                continue
            self._next_slot = (s + 1) % n
            return s
        self.counters["frames_no_slot"] += 1
        return None

    def _pinned(self, slot: int) -> bool:
        return any(p == slot for p in self.pool.reader_pin)

    def slot_pixels(self, slot: int) -> np.ndarray:
        return self._slot_pixels[slot]

    def slot_meta(self, slot: int) -> np.void:
        return self._slot_meta[slot]

    def abort_slot(self, slot: int) -> None:
        """Give back a claimed slot without publishing (a rejected frame). Its generation
        moves on, so no stale reader can take its half-written pixels for a frame."""
        self.pool.frame_gen[slot] += 1

    def publish_slot(self, slot: int, *, t_capture_ns: int, t_media_ns: int, frame_index: int) -> int:
        """Make a fully written slot the latest frame; returns its sequence number."""
        self._seq += 1
        meta = self._slot_meta[slot]
        meta["seq"] = self._seq
        meta["t_capture_ns"] = t_capture_ns
        meta["t_media_ns"] = t_media_ns
        meta["frame_index"] = frame_index
        meta["t_publish_ns"] = time.monotonic_ns()
        self.pool.frame_gen[slot] += 1  # even: stable
        self.pool.frame_ctl[0] = slot
        self.counters["frames_published"] += 1
        for ev in self._reader_events:
            ev.set()
        return self._seq

    @contextmanager
    def writing(self) -> Iterator[int | None]:
        """Claim a slot for the body to fill; abort it if the body raises. The caller
        publishes with ``publish_slot`` (or leaves it to be aborted by returning early)."""
        slot = self.claim_slot()
        published_before = self._seq
        try:
            yield slot
        finally:
            if slot is not None and self._seq == published_before:
                self.abort_slot(slot)

    def wait_consumers(self, seq: int, timeout: float | None = None) -> bool:
        """Lock-step: block until every lock-step reader has finished frame ``seq``."""
        if not self._lockstep_readers:
            return True
        done = self.pool.reader_done_seq
        with self._done_cond:
            return self._done_cond.wait_for(
                lambda: self.closed.is_set() or all(done[r] >= seq for r in self._lockstep_readers),
                timeout)

    # ---- reader side -------------------------------------------------------------------
    def acquire_latest(self, reader: int, newer_than: int = 0) -> FrameRef | None:
        """Pin and return the newest complete frame with seq > ``newer_than``, else None."""
        gen, pins, ctl = self.pool.frame_gen, self.pool.reader_pin, self.pool.frame_ctl
        while True:
            s = int(ctl[0])
            if s < 0:
                return None
            g = int(gen[s])
            meta = self._slot_meta[s]
            if g & 1 or int(meta["seq"]) <= newer_than:
                if g & 1:  # cannot be latest while written; retry after the writer moves on
                    time.sleep(0)
                    continue
                return None
            pins[reader] = s
            if int(gen[s]) == g:
                return FrameRef(s, self._slot_pixels[s], meta)
            pins[reader] = -1  # the writer claimed it first; take the new latest

    def release(self, reader: int) -> None:
        self.pool.reader_pin[reader] = -1

    @contextmanager
    def latest_frame(self, reader: int, newer_than: int = 0) -> Iterator[FrameRef | None]:
        """``with shared.latest_frame(rid, seen) as f:`` pins the newest frame for the body."""
        ref = self.acquire_latest(reader, newer_than)
        try:
            yield ref
        finally:
            if ref is not None:
                self.release(reader)

    def wait_frame(self, reader: int, timeout: float) -> bool:
        """Wait until a frame was published since this reader's last wait (or ``timeout``)."""
        ev = self._reader_events[reader]
        got = ev.wait(timeout)
        ev.clear()  # before the reader looks at latest, so no publish can be missed
        return got

    def mark_done(self, reader: int, seq: int) -> None:
        """A reader finished frame ``seq`` (lets the writer go on in lock-step mode)."""
        self.pool.reader_done_seq[reader] = seq
        with self._done_cond:
            self._done_cond.notify_all()

    def wait_reader_done(self, reader: int, seq: int, timeout: float) -> bool:
        """Lock-step: block until ``reader`` has finished frame ``seq`` (or ``timeout``)."""
        done = self.pool.reader_done_seq
        with self._done_cond:
            return self._done_cond.wait_for(lambda: self.closed.is_set() or done[reader] >= seq, timeout)

    def snapshot_for_detector(self, reader: int) -> int:
        """Copy the newest frame into ``frame_for_detector``; returns its seq (0 = none).

        The one frame copy of the detector path (921,600 bytes at 640x480): it frees the
        ring slot at once, and is the hand-off point when the detector moves to its own
        process. Only the detector thread reads or writes ``frame_for_detector``.
        """
        with self.latest_frame(reader) as ref:
            if ref is None:
                return 0
            np.copyto(self.pool.frame_for_detector, ref.pixels)  # copy: snapshot for the detector
            self.pool.detector_meta[0] = ref.meta
            return ref.seq

    # ---- box records (seqlock; one writer per record) ----------------------------------
    def publish_bbox(self, which: int, x: float, y: float, w: float, h: float, *, score: float,
                     valid: bool, seq: int, source: int, target_state: int, ms: float,
                     t_media_ns: int = 0, drop_reason: int = 0) -> None:
        gen = self.pool.bbox_gen
        rec = self._bbox_rec[which]
        gen[which] += 1
        rec["x"], rec["y"], rec["w"], rec["h"] = x, y, w, h
        rec["score"] = score
        rec["valid"] = 1 if valid else 0
        rec["seq"] = seq
        rec["source"] = source
        rec["target_state"] = target_state
        rec["ms"] = ms
        rec["drop_reason"] = drop_reason
        rec["t_media_ns"] = t_media_ns
        rec["t_ns"] = time.monotonic_ns()
        gen[which] += 1

    def read_bbox(self, which: int, out: np.ndarray) -> None:
        """Copy record ``which`` whole into ``out`` (a (1,) BBOX array the caller owns)."""
        gen = self.pool.bbox_gen
        src = self.pool.bbox[which:which + 1]
        while True:
            g = int(gen[which])
            if g & 1:
                time.sleep(0)
                continue
            np.copyto(out, src)
            if int(gen[which]) == g:
                return

    @staticmethod
    def new_bbox_buffer() -> np.ndarray:
        """A reader's own record buffer for ``read_bbox`` (allocate once, outside loops)."""
        return np.zeros(1, dtype=BBOX)

    # ---- results ring (tracker -> main thread, single producer, single consumer) -------
    def push_result(self) -> np.void:
        """Return the next result row for the producer to fill; ``commit_result`` makes it
        visible."""
        head = int(self.pool.results_head[0])
        return self.pool.results[head % RESULT_CAPACITY]

    def commit_result(self) -> None:
        self.pool.results_head[0] += 1

    def results_since(self, cursor: int) -> tuple[int, int]:
        """(first, end) row counters the consumer may read; rows lost to overrun are
        skipped and counted."""
        head = int(self.pool.results_head[0])
        first = max(cursor, head - RESULT_CAPACITY + 1)
        if first > cursor:
            self.counters["results_overrun"] += first - cursor
        return first, head

    def result_row(self, counter: int) -> np.void:
        return self.pool.results[counter % RESULT_CAPACITY]

    # ---- shutdown ----------------------------------------------------------------------
    def close(self) -> None:
        """Wake every waiter so threads can see ``closed`` and leave."""
        self.closed.set()
        for ev in self._reader_events:
            ev.set()
        with self._done_cond:
            self._done_cond.notify_all()
