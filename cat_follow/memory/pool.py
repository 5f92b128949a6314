"""Every large buffer of cat_follow, allocated once at start-up.

``allocate_pool(config)`` computes one layout and carves every array out of ONE
contiguous byte buffer, 64-byte aligned. All arrays are plain numpy views with fixed
dtypes (no Python objects inside), so the same layout can later be placed in a
``multiprocessing.shared_memory.SharedMemory`` block by passing its ``buf``: a
second process rebuilds identical views with ``allocate_pool(config, buffer=shm.buf)``.

Nothing here synchronises anything, and plain numpy stores into these arrays are NOT
ordered between threads or processes by themselves (the GIL happens to order them in
CPython; a free-threaded build and another process on ARM64 do not). ``SharedState`` owns
the access protocol: a lock around every control word (latest slot, pins, box records,
results head), ownership of the pixels passed by that lock. Only what that docstring
argues is promised; a layout placed in shared memory is safe across processes only when
every process goes through ``SharedState`` with one ``multiprocessing`` lock.
Frames are BGR uint8, rows x cols x 3, like OpenCV and picamera2's "RGB888".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from cat_follow.config import Config
from cat_follow.geometry import Box
from cat_follow.perception.port import RESULT as DETECTOR_RESULT

ALIGN = 64
COLOR_BGR = 0

# Per-slot frame metadata. width/height = the slot; src_* and scale/pad = the letterbox
# mapping from source pixels: slot = src * scale + pad.
FRAME_META = np.dtype([
    ("seq", np.int64),            # 1, 2, 3... per published frame; 0 = never written
    ("t_capture_ns", np.int64),   # time.monotonic_ns() when the source delivered it
    ("t_publish_ns", np.int64),   # time.monotonic_ns() when it became the latest frame
    ("t_media_ns", np.int64),     # position in the source's own clock (video time)
    ("frame_index", np.int64),    # 0-based index of the frame in its source
    ("width", np.int32), ("height", np.int32),
    ("src_width", np.int32), ("src_height", np.int32),
    ("scale", np.float64), ("pad_x", np.float64), ("pad_y", np.float64),
    ("color", np.uint8), ("camera_id", np.uint8),
], align=True)

# Which cat the user means (main loop -> tracker): where the commanded cat_location lies in the
# image (column ``x`` and the ``half`` width of its radius, slot pixels; NaN while out of view),
# posted every tick; ``id`` names the command (a new cat_location, a new id; 0 = none).
HINT = np.dtype([("id", np.int64), ("x", np.float64), ("half", np.float64)], align=True)

# One tracked animal or person as published with the box (perception/scene.py): its id, class
# belief and box in slot pixels (the replay log maps RESULT's to source pixels by its
# ``letterbox``), the followed track first.
TRACK_ROW = np.dtype([
    ("id", np.int32), ("p_cat", np.float32), ("p_dog", np.float32),
    ("x", np.float32), ("y", np.float32), ("w", np.float32), ("h", np.float32),
])
SHOWN_TRACKS = 8

# A box record, published whole through a per-record generation counter.
BBOX = np.dtype([
    ("x", np.float64), ("y", np.float64), ("w", np.float64), ("h", np.float64),  # slot pixels
    ("score", np.float64),
    ("valid", np.int64),          # 1 = a box is present
    ("seq", np.int64),            # frame sequence number the box belongs to
    ("t_ns", np.int64),           # monotonic time of publication
    ("t_media_ns", np.int64),     # source-clock time of that frame
    ("source", np.int64),         # SOURCE_* below
    ("target_state", np.int64),   # TargetState value (perception.target)
    ("ms", np.float64),           # time spent producing it
    ("t_capture_ns", np.int64),   # monotonic capture time of that frame (glass-to-motor latency)
    ("drop_reason", np.int64),    # why the last target was dropped (perception.target.DropReason)
    ("hint_id", np.int64),        # the cat_location (HINT id) the tracker had heard of for this box
    ("track_id", np.int64),       # the followed track's id (0 = none)
    ("n_tracks", np.int64),       # rows of ``tracks`` in use
    ("tracks", TRACK_ROW, (SHOWN_TRACKS,)),
], align=True)

# PREDICTED: KCF lost the target on this frame and the detector has not answered yet: KCF's last
# box carried on at its recent velocity (perception/coast.py)
SOURCE_NONE, SOURCE_DETECTOR, SOURCE_TRACKER, SOURCE_PREDICTED = 0, 1, 2, 3
SOURCE_NAMES = {SOURCE_NONE: None, SOURCE_DETECTOR: "detector", SOURCE_TRACKER: "tracker",
                SOURCE_PREDICTED: "predicted"}

# One row per frame the tracker processed, drained by the main thread.
RESULT = np.dtype([
    ("seq", np.int64), ("frame_index", np.int64), ("t_media_ns", np.int64),
    ("x", np.float64), ("y", np.float64), ("w", np.float64), ("h", np.float64),
    ("score", np.float64), ("valid", np.int64), ("source", np.int64), ("target_state", np.int64),
    ("src_x", np.float64), ("src_y", np.float64), ("src_w", np.float64), ("src_h", np.float64),
    ("tracker_ms", np.float64), ("handoff_ms", np.float64),
    ("drop_reason", np.int64),    # DropReason of the last dropped target, until a new one is confirmed
    ("track_id", np.int64), ("n_tracks", np.int64), ("tracks", TRACK_ROW, (SHOWN_TRACKS,)),  # as in BBOX
    ("letterbox", np.float64, (5,)),  # scale, pad_x, pad_y, src_width, src_height: slot -> source pixels
], align=True)


def track_rows(rec: Any, to_source: Callable[[Box], Box] | None = None) -> list[dict[str, Any]]:
    """The track table of a BBOX or RESULT record as JSON-able rows (status, replay log), each
    box in slot pixels or mapped by ``to_source``."""
    out = []
    for t in rec["tracks"][: int(rec["n_tracks"])]:
        box: Box = (float(t["x"]), float(t["y"]), float(t["w"]), float(t["h"]))
        out.append({"id": int(t["id"]), "cat": round(float(t["p_cat"]), 3), "dog": round(float(t["p_dog"]), 3),
                    "box": [round(v, 1) for v in (to_source(box) if to_source else box)]})
    return out

STATE = np.dtype([
    ("state", np.int64), ("target_x", np.float64), ("target_y", np.float64),
    ("last_x", np.float64), ("last_y", np.float64), ("last_w", np.float64), ("last_h", np.float64),
    ("last_bbox_t_ns", np.int64), ("stop_reason", np.int64),
], align=True)

COMMAND = np.dtype([("verb", np.int64), ("x", np.float64), ("y", np.float64), ("t_ns", np.int64)], align=True)

COUNTERS = np.dtype([
    ("frames_published", np.int64), ("frames_rejected", np.int64), ("frames_no_slot", np.int64),
    ("tracker_frames", np.int64), ("tracker_failures", np.int64), ("detector_runs", np.int64),
    ("detector_hits", np.int64), ("results_overrun", np.int64),
], align=True)

BBOX_TRACKER = 0
COMMAND_CAPACITY = 8
RESULT_CAPACITY = 1024


@dataclass
class Pool:
    """The allocated buffers. Field order is the memory layout order."""

    frame_latest: np.ndarray        # (slots, H, W, 3) uint8: the camera's ring of latest frames
    frame_meta: np.ndarray          # (slots,) FRAME_META
    frame_gen: np.ndarray           # (slots,) int64: even = stable, odd = being written
    frame_ctl: np.ndarray           # (2,) int64: [latest slot index (-1 = none), spare]
    reader_pin: np.ndarray          # (readers,) int64: slot pinned by each reader, -1 = none
    reader_done_seq: np.ndarray     # (readers,) int64: last seq each reader finished (lock-step)
    frame_for_detector: np.ndarray  # (H, W, 3) uint8: the detector's snapshot
    detector_meta: np.ndarray       # (1,) FRAME_META of that snapshot
    detector_result: np.ndarray     # (2,) perception.port.RESULT: [0] being written, [1] published
    tracker_scratch: np.ndarray     # (H*W*3,) uint8: the downscaled frame for KCF, any size up to H x W
    frame_annotate: np.ndarray      # (H, W, 3) uint8: main thread's drawing canvas
    bbox: np.ndarray                # (1,) BBOX: [BBOX_TRACKER] the tracker's fused output
    bbox_gen: np.ndarray            # (1,) int64 generation counter of the bbox record
    results: np.ndarray             # (RESULT_CAPACITY,) RESULT ring
    results_head: np.ndarray        # (1,) int64: results written so far
    odometry: np.ndarray            # (3,) float64: x, y, heading (m, m, rad)
    state: np.ndarray               # (1,) STATE: the state machine's record
    commands: np.ndarray            # (COMMAND_CAPACITY,) COMMAND slots
    command_ctl: np.ndarray         # (4,) int64: [taken, put, stop pending, put-count at the stop]
    counters: np.ndarray            # (1,) COUNTERS
    target_hint: np.ndarray         # (1,) HINT: the main loop's hint for the tracker

    @property
    def slots(self) -> int:
        return int(self.frame_latest.shape[0])

    @property
    def readers(self) -> int:
        return int(self.reader_pin.shape[0])

    def nbytes(self) -> int:
        return sum(int(getattr(self, f.name).nbytes) for f in fields(self))


def pool_layout(config: Config) -> list[tuple[str, tuple[int, ...], np.dtype[Any]]]:
    """(name, shape, dtype) of every pool array, in layout order."""
    h, w = config.camera.height, config.camera.width
    n = config.camera.slots
    readers = n - 2  # each pinning reader holds at most one slot; the writer needs latest + 1 free
    u8, i8 = np.dtype(np.uint8), np.dtype(np.int64)
    return [
        ("frame_latest", (n, h, w, 3), u8),
        ("frame_meta", (n,), FRAME_META),
        ("frame_gen", (n,), i8),
        ("frame_ctl", (2,), i8),
        ("reader_pin", (readers,), i8),
        ("reader_done_seq", (readers,), i8),
        ("frame_for_detector", (h, w, 3), u8),
        ("detector_meta", (1,), FRAME_META),
        ("detector_result", (2,), DETECTOR_RESULT),
        ("tracker_scratch", (h * w * 3,), u8),
        ("frame_annotate", (h, w, 3), u8),
        ("bbox", (1,), BBOX),
        ("bbox_gen", (1,), i8),
        ("results", (RESULT_CAPACITY,), RESULT),
        ("results_head", (1,), i8),
        ("odometry", (3,), np.dtype(np.float64)),
        ("state", (1,), STATE),
        ("commands", (COMMAND_CAPACITY,), COMMAND),
        ("command_ctl", (4,), i8),
        ("counters", (1,), COUNTERS),
        ("target_hint", (1,), HINT),
    ]


def pool_nbytes(config: Config) -> int:
    """Bytes of the backing buffer ``allocate_pool`` needs for ``config``."""
    total = 0
    for _, shape, dtype in pool_layout(config):
        total = -(-total // ALIGN) * ALIGN
        total += int(np.prod(shape)) * dtype.itemsize
    return total


def allocate_pool(config: Config, buffer: Any = None, *, initialise: bool = True) -> Pool:
    """Allocate (or map onto ``buffer``) every pool array and set the initial values.

    Owns the backing buffer when ``buffer`` is None. With a caller's buffer (e.g. a
    SharedMemory ``buf``) the arrays are views onto it; the creating process initialises it
    (``initialise=True``), a process that attaches to it passes ``initialise=False``.
    """
    size = pool_nbytes(config)
    if buffer is None:
        raw = np.zeros(size + ALIGN, dtype=np.uint8)
        start = -raw.ctypes.data % ALIGN  # numpy only promises 16-byte alignment
        backing = raw[start:start + size]
    else:
        backing = np.frombuffer(buffer, dtype=np.uint8)
        if backing.nbytes < size:
            raise ValueError(f"pool buffer has {backing.nbytes} bytes, layout needs {size}")
    views: dict[str, np.ndarray] = {}
    offset = 0
    for name, shape, dtype in pool_layout(config):
        offset = -(-offset // ALIGN) * ALIGN
        count = int(np.prod(shape))
        views[name] = np.ndarray(shape, dtype=dtype, buffer=backing.data, offset=offset)
        offset += count * dtype.itemsize
    pool = Pool(**views)
    if not initialise:
        return pool
    if buffer is not None:
        backing[:size] = 0
    pool.frame_ctl[0] = -1
    pool.reader_pin[:] = -1
    pool.frame_meta["width"] = config.camera.width
    pool.frame_meta["height"] = config.camera.height
    pool.frame_meta["color"] = COLOR_BGR
    pool.frame_meta["camera_id"] = config.camera.camera_id
    return pool
