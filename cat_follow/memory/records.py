"""The one lock of ``SharedState`` and the small records it guards beside the frame ring.

``LockedRecords`` owns the lock under which every control word of the pool is read and
written, the box records (one writer each, copied whole under the lock) and the results ring
(tracker -> main thread). ``SharedState`` (``cat_follow.memory.shared_state``) adds the frame
ring on the same lock; its docstring argues why the whole protocol, this part included, is
correct without the GIL and across processes.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

import numpy as np

from cat_follow.memory.pool import BBOX, RESULT_CAPACITY, Pool

LOCK_TIMEOUT_S = 1.0


class ProtocolStalled(RuntimeError):
    """The shared-state lock was not released in time (a bug, or a holder that died)."""


class AnyLock(Protocol):
    """``threading.Lock`` or a ``multiprocessing`` lock."""

    def acquire(self, block: bool = ..., timeout: float = ...) -> bool: ...
    def release(self) -> None: ...


class LockedRecords:
    """Owns the shared-state lock and each box writer's staging record; the box records and
    the results ring are only reached through it."""

    def __init__(self, pool: Pool, lock: AnyLock | None = None) -> None:
        self.pool = pool
        self._lock: AnyLock = lock if lock is not None else threading.Lock()
        self._bbox_stage = np.zeros(pool.bbox.shape[0], dtype=BBOX)  # each writer's staging record
        self.counters: np.void = pool.counters[0]

    def _acquire(self) -> None:
        if not self._lock.acquire(True, LOCK_TIMEOUT_S):
            raise ProtocolStalled(f"shared-state lock not released within {LOCK_TIMEOUT_S} s")

    # ---- box records (one writer per record, copied whole under the lock) --------------
    def publish_bbox(self, which: int, x: float, y: float, w: float, h: float, *, score: float,
                     valid: bool, seq: int, source: int, target_state: int, ms: float,
                     t_media_ns: int = 0, t_capture_ns: int = 0, drop_reason: int = 0,
                     hint_id: int = 0, track_id: int = 0, tracks: np.ndarray | None = None) -> None:
        """Publish box record ``which`` whole; ``tracks``: the rows of the track table in use
        (``track_id`` = the followed one's)."""
        rec = self._bbox_stage[which]
        rec["x"], rec["y"], rec["w"], rec["h"] = x, y, w, h
        rec["score"] = score
        rec["valid"] = 1 if valid else 0
        rec["seq"] = seq
        rec["source"] = source
        rec["target_state"] = target_state
        rec["ms"] = ms
        rec["drop_reason"], rec["hint_id"], rec["track_id"] = drop_reason, hint_id, track_id
        rec["n_tracks"] = 0 if tracks is None else len(tracks)
        if tracks is not None:
            rec["tracks"][: len(tracks)] = tracks  # copy: a few rows
        rec["t_media_ns"] = t_media_ns
        rec["t_capture_ns"] = t_capture_ns
        rec["t_ns"] = time.monotonic_ns()
        self._acquire()
        try:
            self.pool.bbox[which] = rec  # copy: the whole record at once
            self.pool.bbox_gen[which] += 2  # version: even, moves on every publication
        finally:
            self._lock.release()

    def read_bbox(self, which: int, out: np.ndarray) -> int:
        """Copy record ``which`` whole into ``out`` (a (1,) BBOX array the caller owns);
        returns the record's version (0 = never published)."""
        self._acquire()
        try:
            out[0] = self.pool.bbox[which]  # copy: the whole record at once
            return int(self.pool.bbox_gen[which])
        finally:
            self._lock.release()

    @staticmethod
    def new_bbox_buffer() -> np.ndarray:
        """A reader's own record buffer for ``read_bbox`` (allocate once, outside loops)."""
        return np.zeros(1, dtype=BBOX)

    # ---- the target hint (main loop -> tracker) ------------------------------------------
    def post_hint(self, hint_id: int, x: float, half: float) -> None:
        """Post where the commanded cat_location ``hint_id`` lies in the image (column and its
        radius's half-width, slot pixels; NaN when out of view): the main loop, every tick."""
        self._acquire()
        try:
            h = self.pool.target_hint[0]
            h["id"], h["x"], h["half"] = hint_id, x, half
        finally:
            self._lock.release()

    def read_hint(self, out: np.ndarray) -> None:
        """Copy the hint into ``out`` (the caller's (1,) HINT array; id 0 = none posted yet)."""
        self._acquire()
        try:
            out[0] = self.pool.target_hint[0]  # copy: the whole record at once
        finally:
            self._lock.release()

    # ---- results ring (tracker -> main thread, single producer, single consumer) -------
    def push_result(self) -> np.void:
        """The row for the producer to fill: row ``head``, which no consumer may read until
        ``commit_result``. Only the producer calls this (it alone moves ``head``)."""
        return self.pool.results[int(self.pool.results_head[0]) % RESULT_CAPACITY]

    def commit_result(self) -> None:
        self._acquire()
        try:
            self.pool.results_head[0] += 1  # release: the row's stores are visible with it
        finally:
            self._lock.release()

    def copy_results(self, cursor: int, out: np.ndarray) -> tuple[int, int]:
        """Copy the rows produced since ``cursor`` into ``out`` (the consumer's own
        (RESULT_CAPACITY,) RESULT buffer); returns (first, end): row ``c`` is ``out[c - first]``.
        Rows lost to overrun are skipped and counted. Under the lock ``head`` cannot move, and
        the one row the producer may be writing (``head``) is never among those copied."""
        self._acquire()
        try:
            head = int(self.pool.results_head[0])
            first = max(cursor, head - RESULT_CAPACITY + 1)
            if first > cursor:
                self.counters["results_overrun"] += first - cursor
            n = head - first
            a = first % RESULT_CAPACITY
            k = min(n, RESULT_CAPACITY - a)
            out[:k] = self.pool.results[a:a + k]  # copy: rows out of the ring, whole
            out[k:n] = self.pool.results[:n - k]
            return first, head
        finally:
            self._lock.release()
