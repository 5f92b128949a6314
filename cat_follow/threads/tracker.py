"""Tracker thread: KCF on every new frame, fused with the detector's boxes.

Owns the KCF tracker object, the TargetDecider (confirmation, crop checks, drops) and
``tracker_scratch``. Per frame it:
1. applies a detector result that arrived since the last frame: the decider says whether it
   holds a hit on the cat (KCF is re-initialised from it when KCF has failed or their IoU
   is below the detectors' NMS IoU, ``scene.SAME_BOX_IOU``), a crop check's verdict, or a decoy;
2. asks for a detection when one is due (every K frames, at once with no target, a failed
   tracker or an unconfirmed candidate), with a crop check when the decider wants one; in
   lock-step mode it waits for it and applies it to this frame;
3. otherwise updates KCF on the frame, on a copy shrunk so the box is at most
   ``tracker.max_target_px`` (KCF's cost grows with the box: 87 ms for a 341x352 box
   at full size, 3 ms for 100x100, measured here with OpenCV 5.0);
4. while KCF has lost the target and the detector has not answered, shows KCF's last box
   carried on at its recent velocity (``Coast``, source "predicted"), for at most K frames;
5. publishes the fused box (BBOX_TRACKER, with the state and the last drop reason) and a
   result row for the main thread.
"""

from __future__ import annotations

import time

import cv2
import numpy as np

from cat_follow.config import Config
from cat_follow.geometry import Box, clip_box, iou, map_to_source
from cat_follow.memory.pool import (
    BBOX_TRACKER,
    HINT,
    SHOWN_TRACKS,
    SOURCE_DETECTOR,
    SOURCE_NONE,
    SOURCE_PREDICTED,
    SOURCE_TRACKER,
    TRACK_ROW,
)
from cat_follow.memory.shared_state import FrameRef, SharedState
from cat_follow.perception.coast import Coast
from cat_follow.perception.decide import TargetDecider
from cat_follow.perception.port import LOCKSTEP_WAIT_S, DetectJob, DetectorPort, new_result_buffer
from cat_follow.perception.regions import ROI_MIN, ROI_STEP, scan_plan
from cat_follow.perception.scene import SAME_BOX_IOU
from cat_follow.perception.target import TargetState
from cat_follow.stats import LatencyRecorder
from cat_follow.threads.supervised import Health, SupervisedThread

MIN_BOX_PX = 4.0


class TrackerThread(SupervisedThread):
    def __init__(self, shared: SharedState, config: Config, health: Health,
                 detector: DetectorPort) -> None:
        super().__init__("tracker", health)
        self.shared = shared
        self.detector = detector  # the port: submit a job, take its result; nothing else
        self.reader = shared.register_reader("tracker", lockstep=True)
        self.every_k = config.detector.every_k_frames
        self.keep_threshold = config.detector.keep_threshold
        self.roi_scale = config.detector.roi_scale
        self.decider = TargetDecider(config)
        self.lock = self.decider.lock  # read-only here: the decider changes it
        self.max_target_px = config.tracker.max_target_px
        self.scratch = shared.pool.tracker_scratch
        self.scale = 1.0
        self._small = self.scratch[:0].reshape(0, 0, 3)
        self.width = int(shared.pool.frame_meta["width"][0])
        self.height = int(shared.pool.frame_meta["height"][0])
        self.scan = scan_plan(self.width, self.height, config.detector.scan_tile_px)
        self._scan_next = 0
        self._lost_tries = 0  # detections asked since KCF lost a held target
        self.kcf: cv2.TrackerKCF | None = None
        self.kcf_ok = False
        self.box: Box = (0.0, 0.0, 0.0, 0.0)
        self.coast = Coast(self.every_k, self.width, self.height)
        self.decide_ms = LatencyRecorder(1 << 12)  # the decision path's cost per detector result
        self._t_ns = 0  # the current frame's media time
        self.score, self.last_seq = 0.0, 0
        self._hint = np.zeros(1, HINT)  # the main loop's hint: which cat the user means
        self._tracks = np.zeros(SHOWN_TRACKS, TRACK_ROW)  # every animal in view, as published with the box
        self.last_request_seq = -(1 << 62)
        self._result = new_result_buffer()

    # ---- KCF ---------------------------------------------------------------------------
    def _set_scale(self, box: Box) -> None:
        """Pick the KCF image scale for a new box and the matching view of the scratch buffer
        (a contiguous prefix of the pool's flat buffer: a view, no new pixels)."""
        longest = max(box[2], box[3])
        s = 1.0 if self.max_target_px <= 0 or longest <= self.max_target_px else self.max_target_px / longest
        self.scale = s
        if s < 1.0:
            sw, sh = max(8, round(self.width * s)), max(8, round(self.height * s))
            self._small = self.scratch[: sh * sw * 3].reshape(sh, sw, 3)

    def kcf_image(self, frame: np.ndarray) -> np.ndarray:
        """What KCF sees of ``frame``: the frame itself, or its shrink into the tracker's own
        scratch buffer (overwritten by the next call) when the box is big (``scale`` < 1).
        Bilinear: INTER_AREA was 1.9 of 5.7 ms CPU per frame (a 240x200 box), bilinear 0.3, with
        the same ``evaluate --suite`` figures (README, "Reacting on the frame")."""
        if self.scale >= 1.0:
            return frame
        small = self._small
        cv2.resize(frame, (small.shape[1], small.shape[0]), dst=small, interpolation=cv2.INTER_LINEAR)
        return small

    def init_kcf(self, frame: np.ndarray, box: Box) -> bool:
        """Start a fresh KCF on ``box`` of ``frame``; sets ``box``, ``scale`` and ``kcf_ok``.
        False (KCF off) for a box too small to track. Tracker thread only (or a bench that owns
        this tracker)."""
        x, y, w, h = clip_box(box, self.width, self.height)
        if w < MIN_BOX_PX or h < MIN_BOX_PX:
            self.kcf_ok = False
            return False
        self._set_scale((x, y, w, h))
        s = self.scale
        # A fresh KCF per (re-)initialisation: OpenCV's KCF keeps its first box size
        # internally, and init() on a used object with a new size fails in update().
        # This allocates on a re-init (a detector event), never per frame.
        self.kcf = cv2.TrackerKCF_create()
        self.kcf.init(self.kcf_image(frame), (int(x * s), int(y * s), max(2, int(w * s)), max(2, int(h * s))))
        self.kcf_ok = True
        self.box = (x, y, w, h)
        self.coast.restart(self.box, self._t_ns)
        return True

    def _update_kcf(self, frame: np.ndarray) -> bool:
        assert self.kcf is not None
        ok, b = self.kcf.update(self.kcf_image(frame))
        if not ok:
            self.kcf_ok = False
            self.shared.counters["tracker_failures"] += 1
            self.coast.lost()
            return False
        s = self.scale
        self.box = clip_box((b[0] / s, b[1] / s, b[2] / s, b[3] / s), self.width, self.height)
        if self.box[2] < MIN_BOX_PX or self.box[3] < MIN_BOX_PX:
            self.kcf_ok = False  # shrunk to nothing: not a place to coast from either
            return False
        self.coast.observe(self.box, self._t_ns)
        return True

    # ---- where to look -----------------------------------------------------------------
    def detection_roi(self) -> tuple[int, int, int, int] | None:
        """Tracking: a square around the box (quantised to 80 px so the detector's buffers stay
        few). KCF lost a held target: around its last place and the whole frame in turn (not
        scan tiles: a 240 px tile cut a near kitten into a paw-sized "cat"; the last place
        alone missed a kitten that had run off). Searching: the next step of the scan plan."""
        if self.lock.state.has_target and not self.kcf_ok:
            self._lost_tries += 1
            if self._lost_tries % 2 == 0 or self.box[2] < MIN_BOX_PX or self.box[3] < MIN_BOX_PX:
                return None
        else:
            self._lost_tries = 0
        if self.lock.state.has_target:
            if self.roi_scale <= 0:
                return None
            x, y, w, h = self.box
            side = max(ROI_MIN, -(-int(self.roi_scale * max(w, h)) // ROI_STEP) * ROI_STEP)
            if side >= min(self.width, self.height):
                return None
            cx, cy = x + w / 2, y + h / 2
            x0 = int(min(max(cx - side / 2, 0), self.width - side))
            y0 = int(min(max(cy - side / 2, 0), self.height - side))
            return (x0, y0, x0 + side, y0 + side)
        roi = self.scan[self._scan_next % len(self.scan)]
        self._scan_next += 1
        return roi

    # ---- detector hand-off -------------------------------------------------------------
    def detection_due(self, seq: int) -> bool:
        if self.detector.busy:
            return False
        if self.lock.state != TargetState.TRACKING or not self.kcf_ok:
            return True
        return seq - self.last_request_seq >= self.every_k

    def apply_detection(self, frame: np.ndarray) -> bool:
        """Take a new detector result, if any; True if it re-initialised KCF on ``frame``."""
        if not self.detector.take(self._result):
            return False
        rec = self._result[0]
        if int(rec["seq"]) == 0:
            return False
        self.coast.answered()
        # self.box keeps the target's last place when KCF fails: the decider looks there first
        t0 = time.perf_counter()
        hit = self.decider.on_result(rec, frame, self.box if self.kcf_ok else None,
                                     None if self.kcf_ok else self.box)
        self.decide_ms.add((time.perf_counter() - t0) * 1e3)
        if not self.lock.state.has_target:
            self.kcf_ok = False  # a dropped target is found again by the detector, not by KCF
        if hit is None:
            return False
        self.score = hit.score
        if self.kcf_ok and iou(self.box, hit.box) >= SAME_BOX_IOU:
            return False  # one box by the detectors' own NMS: keep KCF's own, newer estimate
        return self.init_kcf(frame, hit.box)

    def submit(self, seq: int, t_ns: int) -> int | None:
        """Ask for a detection (and a crop check when one is due); the ticket, or None."""
        verify = self.decider.verify_box(self.box if self.kcf_ok else None, t_ns)
        check = self.decider.cat_check() if verify is None else None
        ticket = self.detector.submit(DetectJob(self.detection_roi(), self.keep_threshold, verify, after_seq=seq,
                                                check_cat=check))
        if ticket is not None:
            self.decider.submitted(ticket, verify, check is not None)
        return ticket

    def _ask_detector(self, seq: int, meta: np.void, frame: np.ndarray) -> tuple[int | None, bool]:
        """Submit a job when one is due; in lock-step wait for it and apply it to ``frame``.
        (the ticket or None, whether that answer re-initialised KCF)."""
        ticket = self.submit(seq, int(meta["t_media_ns"])) if self.detection_due(seq) else None
        if ticket is None:
            return None, False
        self.last_request_seq = seq
        answered = self.shared.lockstep and self.detector.wait(ticket, LOCKSTEP_WAIT_S, self.stopping)
        return ticket, answered and self.apply_detection(frame)

    # ---- per frame ---------------------------------------------------------------------
    def process(self, ref: FrameRef) -> None:
        t_start = time.monotonic_ns()
        meta, seq, frame = ref.meta, ref.seq, ref.pixels
        self._t_ns = int(meta["t_media_ns"])
        self.shared.read_hint(self._hint)
        self.decider.hint(self._hint[0], self.box if self.kcf_ok else None, self._t_ns)
        reinit = self.apply_detection(frame)
        ticket, answered = self._ask_detector(seq, meta, frame)
        reinit = answered or reinit
        t_kcf = time.monotonic_ns()
        if reinit:
            source = SOURCE_DETECTOR
        elif self.kcf_ok and self._update_kcf(frame):
            source = SOURCE_TRACKER
        else:
            source = SOURCE_NONE
        tracker_ms = (time.monotonic_ns() - t_kcf) / 1e6
        if source == SOURCE_NONE and ticket is None and self.lock.state.has_target:
            # KCF failed on this frame: ask about this very frame now, not with the next one
            source = SOURCE_DETECTOR if self._ask_detector(seq, meta, frame)[1] else SOURCE_NONE
        state = self.decider.update(int(meta["t_media_ns"]))
        if not state.has_target:
            source = SOURCE_NONE
            self.kcf_ok = False  # a lost target is found again by the detector, not by KCF
        shown = self.box
        if source == SOURCE_NONE and state.has_target and (coasted := self.coast.box_at(self._t_ns)):
            shown, source = coasted, SOURCE_PREDICTED
        if state.has_target and not self.decider.shows(shown):
            source = SOURCE_NONE  # tracked, but not shown until its crop passes
        valid = source != SOURCE_NONE
        x, y, w, h = shown if valid else (0.0, 0.0, 0.0, 0.0)
        scene = self.decider.scene
        n = scene.write(self._tracks, self._t_ns)
        self.shared.publish_bbox(BBOX_TRACKER, x, y, w, h, score=self.score if valid else 0.0,
                                 valid=valid, seq=seq, source=source, target_state=int(state),
                                 ms=tracker_ms, t_media_ns=int(meta["t_media_ns"]),
                                 t_capture_ns=int(meta["t_capture_ns"]),
                                 drop_reason=int(self.decider.drop_reason), hint_id=int(self._hint[0]["id"]),
                                 track_id=scene.followed, tracks=self._tracks[:n])
        row = self.shared.push_result()
        row["seq"], row["frame_index"], row["t_media_ns"] = seq, meta["frame_index"], meta["t_media_ns"]
        row["x"], row["y"], row["w"], row["h"] = x, y, w, h
        sx, sy, sw, sh = map_to_source(shown, float(meta["scale"]), float(meta["pad_x"]),
                                       float(meta["pad_y"]), int(meta["src_width"]),
                                       int(meta["src_height"])) if valid else (0.0, 0.0, 0.0, 0.0)
        row["src_x"], row["src_y"], row["src_w"], row["src_h"] = sx, sy, sw, sh
        row["score"] = self.score if valid else 0.0
        row["valid"], row["source"], row["target_state"] = int(valid), source, int(state)
        row["drop_reason"], row["track_id"] = int(self.decider.drop_reason), scene.followed
        row["n_tracks"], row["tracks"][:n] = n, self._tracks[:n]  # copy: a few rows
        lb = row["letterbox"]
        lb[:3] = meta["scale"], meta["pad_x"], meta["pad_y"]
        lb[3:] = meta["src_width"], meta["src_height"]
        row["tracker_ms"] = tracker_ms
        row["handoff_ms"] = (t_start - int(meta["t_publish_ns"])) / 1e6
        self.shared.commit_result()
        self.shared.counters["tracker_frames"] += 1
        self.last_seq = seq

    def step(self) -> bool:
        """Process the newest unseen frame, if any (the body of the thread's loop)."""
        with self.shared.latest_frame(self.reader, newer_than=self.last_seq) as ref:
            if ref is None:
                return False
            self.process(ref)
        self.shared.mark_done(self.reader, self.last_seq)
        return True

    def loop(self) -> None:
        while not self.stopping.is_set() and not self.shared.closed.is_set():
            self.beat()
            self.shared.wait_frame(self.reader, 0.1)
            self.step()
