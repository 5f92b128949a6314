"""SharedState: the access protocol over the pool's buffers, correct without the GIL.

Everything the threads share in the pool is reached through this class. The frame pixels
are never copied or locked on the data path; the small control words (which slot is the
latest, which slots are pinned, the box records, the results ring's head) are only read
or written while holding ONE lock, ``self._lock``.

Frames: a ring of ``slots`` frame buffers, one writer (the camera thread), any number of
registered readers.

* Writer: under the lock, ``claim_slot`` picks a slot that is neither the latest frame nor
  pinned by a reader and marks it "being written" (odd generation). It then writes the
  pixels WITHOUT the lock, and ``publish_slot`` (under the lock) writes the metadata, makes
  the generation even and sets ``latest = slot``. It never waits for a reader.
* Reader: under the lock, reads ``latest`` and pins that slot (its own entry in
  ``reader_pin``); it reads the pixels without the lock; ``release`` unpins under the lock.

Why it is correct on any CPU (ARM64 included), free-threaded Python included:

1. Mutual exclusion of the control words: claim, publish, abort, pin and unpin are critical
   sections of the same lock, so each sees the others whole and in one total order. The
   writer can only claim a slot that is unpinned and not latest at that moment; a reader
   can only pin the slot that is latest at that moment. Hence a slot is never both pinned
   and claimed: the writer owns a claimed slot's pixels alone, a reader shares a pinned
   slot's pixels only with other readers.
2. Visibility of the pixels: the writer's pixel stores precede (in its program order) its
   ``release`` of the lock in ``publish_slot``; the reader's pixel loads follow its
   ``acquire`` that saw ``latest = slot``. A lock release/acquire pair is a
   release/acquire synchronisation (POSIX.1 Base Definitions 4.12 lists
   ``pthread_mutex_lock``/``sem_wait`` among the functions that synchronise memory;
   CPython's ``threading.Lock`` and ``multiprocessing.Lock`` are built on them), so every
   pixel store happens-before every pixel load of that publication.
3. No early reuse: the reader's pixel loads precede its unpin, a release; the writer's next
   claim of that slot acquires the lock after it and only then stores pixels. So no load
   of the reader can see a store of the next frame, even where the CPU reorders loads after
   later stores (ARM64 may; a plain Dekker "pin, then re-check the generation" cannot
   forbid that without a full fence, which is why this module no longer uses it).

The lock is held for a few index and record copies (microseconds), never during a pixel
copy, and is acquired with a timeout: a thread that cannot get it in ``LOCK_TIMEOUT_S``
gets ``ProtocolStalled`` (a bug or a dead holder, reported instead of a silent hang).
``lock`` may be a ``multiprocessing`` lock when the pool lives in shared memory and readers
live in other processes (tests/test_shm_protocol.py runs the ring so across two processes);
the detector process itself never takes this lock (``cat_follow.threads.detector_child``).

Box records: one writer each. The writer fills a private staging record and copies it
whole under the lock; readers copy it whole under the lock. No retry loop, so no spin.

Results ring (tracker -> main): the producer fills the row at ``head`` (a row no reader may
read yet) and commits by incrementing ``head`` under the lock. The consumer copies the rows
it is owed into its own buffer under the lock; rows the producer has lapped are skipped and
counted, never handed out as live views that could be overwritten while being used.

Why pinning plus a third (and fourth) slot, rather than a plain double buffer: with two
slots and a reader slower than the camera, the writer comes round to the slot being read.
Pinning makes the reader's slot untouchable for as long as it needs it; extra slots make
sure the writer always finds a free one, so it never waits: ``slots = pinning readers + 2``.

Signalling (a new frame, lock-step acknowledgements, a new result for the main loop) uses a
``threading.Event`` per reader, a binary semaphore for results and a Condition for lock-step;
these are waits, never on the frame data path. The results signal (a bare ``threading.Lock``
the producer releases and the consumer takes, with a timeout: no Python-level critical
section, nothing allocated) is given after ``commit_result`` released the lock: it only says
"look now"; the rows and box are still read under the lock. The tracker, its producer, runs in
the main process in both detector modes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

import numpy as np

from cat_follow.memory.pool import Pool
from cat_follow.memory.records import AnyLock, LockedRecords, ProtocolStalled

__all__ = ["AnyLock", "FrameRef", "ProtocolStalled", "SharedState"]  # ProtocolStalled: what a stalled lock raises

@dataclass
class FrameRef:
    """A pinned frame: ``pixels`` and ``meta`` stay valid until the reader releases it."""

    slot: int
    pixels: np.ndarray
    meta: np.void

    @property
    def seq(self) -> int:
        return int(self.meta["seq"])


class SharedState(LockedRecords):
    """Owns the protocol over ``pool``; threads only touch the pool through it. The lock, the
    box records and the results ring come from ``LockedRecords``; the frame ring is here."""

    def __init__(self, pool: Pool, *, lockstep: bool = False, lock: AnyLock | None = None) -> None:
        super().__init__(pool, lock)
        self.lockstep = lockstep
        self._slot_pixels = [pool.frame_latest[i] for i in range(pool.slots)]
        self._slot_meta = [pool.frame_meta[i] for i in range(pool.slots)]
        self._reader_names: list[str] = []
        self._reader_events: list[threading.Event] = []
        self._lockstep_readers: list[int] = []
        self._done_cond = threading.Condition()
        self._next_slot = 0
        self._seq = 0
        self.closed = threading.Event()
        self._result_ready = threading.Lock()  # held = no result since the consumer's last wait
        self._result_ready.acquire()
        self.result_ns = 0  # monotonic_ns of the last commit, stored before the signal is given

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
        pins = self.pool.reader_pin
        self._acquire()
        try:
            latest = int(self.pool.frame_ctl[0])
            for k in range(n):
                s = (self._next_slot + k) % n
                if s == latest or any(p == s for p in pins):
                    continue
                self.pool.frame_gen[s] += 1  # odd: being written, owned by the writer alone
                self._next_slot = (s + 1) % n
                return s
            self.counters["frames_no_slot"] += 1
            return None
        finally:
            self._lock.release()

    def slot_pixels(self, slot: int) -> np.ndarray:
        return self._slot_pixels[slot]

    def slot_meta(self, slot: int) -> np.void:
        return self._slot_meta[slot]

    def abort_slot(self, slot: int) -> None:
        """Give back a claimed slot without publishing (a rejected frame)."""
        self._acquire()
        try:
            self.pool.frame_gen[slot] += 1
        finally:
            self._lock.release()

    def publish_slot(self, slot: int, *, t_capture_ns: int, t_media_ns: int, frame_index: int) -> int:
        """Make a fully written slot the latest frame; returns its sequence number."""
        self._seq += 1
        meta = self._slot_meta[slot]
        self._acquire()
        try:
            meta["seq"] = self._seq
            meta["t_capture_ns"] = t_capture_ns
            meta["t_media_ns"] = t_media_ns
            meta["frame_index"] = frame_index
            meta["t_publish_ns"] = time.monotonic_ns()
            self.pool.frame_gen[slot] += 1  # even: stable
            self.pool.frame_ctl[0] = slot
            self.counters["frames_published"] += 1
        finally:
            self._lock.release()  # release: the pixels and meta above are visible to the next pin
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
        """Pin and return the newest frame with seq > ``newer_than``, else None. One pass
        under the lock: the latest slot is never being written, so there is nothing to retry."""
        self._acquire()
        try:
            s = int(self.pool.frame_ctl[0])
            if s < 0 or int(self._slot_meta[s]["seq"]) <= newer_than:
                return None
            self.pool.reader_pin[reader] = s
        finally:
            self._lock.release()
        return FrameRef(s, self._slot_pixels[s], self._slot_meta[s])

    def release(self, reader: int) -> None:
        self._acquire()
        try:
            self.pool.reader_pin[reader] = -1  # after every load of the pinned pixels (release)
        finally:
            self._lock.release()

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
        with self._done_cond:
            self.pool.reader_done_seq[reader] = seq
            self._done_cond.notify_all()

    def wait_reader_done(self, reader: int, seq: int, timeout: float) -> bool:
        """Lock-step: block until ``reader`` has finished frame ``seq`` (or ``timeout``)."""
        done = self.pool.reader_done_seq
        with self._done_cond:
            return self._done_cond.wait_for(lambda: self.closed.is_set() or done[reader] >= seq, timeout)

    def snapshot_for_detector(self, reader: int, out: np.ndarray | None = None,
                              out_meta: np.ndarray | None = None) -> int:
        """Copy the newest frame into ``frame_for_detector`` (or ``out``); returns its seq
        (0 = none). The one frame copy of the detector path (921,600 bytes at 640x480): it
        frees the ring slot at once. Only the detector side reads or writes the target."""
        with self.latest_frame(reader) as ref:
            if ref is None:
                return 0
            np.copyto(self.pool.frame_for_detector if out is None else out, ref.pixels)  # copy: snapshot
            (self.pool.detector_meta if out_meta is None else out_meta)[0] = ref.meta
            return ref.seq

    # ---- results ring: waking its consumer -------------------------------------------
    def commit_result(self) -> None:
        """Commit the producer's row (under the lock), then wake the consumer's ``wait_result``."""
        super().commit_result()
        self.result_ns = time.monotonic_ns()
        self._signal_result()

    def _signal_result(self) -> None:
        """Release the semaphore (``result_ns`` is then visible to the taker); already released =
        a signal pending, so signals coalesce. Only ``close`` may release it in between."""
        if self._result_ready.locked():
            with suppress(RuntimeError):  # close() released it in between
                self._result_ready.release()

    def wait_result(self, timeout: float) -> bool:
        """The results' one consumer: wait for a commit since its last wait (or ``timeout``). Taken
        before the caller reads, so a commit in between is read now and wakes it once more."""
        return self._result_ready.acquire(True, max(timeout, 0.0))

    # ---- shutdown ----------------------------------------------------------------------
    def close(self) -> None:
        """Wake every waiter so threads can see ``closed`` and leave."""
        self.closed.set()
        self._signal_result()
        for ev in self._reader_events:
            ev.set()
        with self._done_cond:
            self._done_cond.notify_all()
