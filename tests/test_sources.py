from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from cat_follow.config import Config
from cat_follow.errors import SourceError
from cat_follow.geometry import Letterbox, iou, map_to_source
from cat_follow.memory.pool import allocate_pool
from cat_follow.memory.shared_state import SharedState
from cat_follow.sources import (
    ArraySource,
    ImageDirSource,
    PoolWriter,
    ReadStatus,
    VideoFileSource,
    open_source,
)


def _writer(config: Config) -> tuple[SharedState, PoolWriter, int]:
    shared = SharedState(allocate_pool(config))
    return shared, PoolWriter(shared), shared.register_reader("test")


def test_video_frames_are_letterboxed_into_the_slot_with_their_mapping(config: Config, kittens: Path) -> None:
    shared, writer, rid = _writer(config)
    with VideoFileSource(kittens) as src:
        assert src.fps == pytest.approx(30.0) and src.frame_count == 957
        assert src.read(writer) is ReadStatus.FRAME
    cap = cv2.VideoCapture(str(kittens))
    ok, first = cap.read()
    assert ok and first.shape == (360, 640, 3)
    with shared.latest_frame(rid) as ref:
        assert ref is not None
        m = ref.meta
        assert (int(m["src_width"]), int(m["src_height"])) == (640, 360)
        assert float(m["scale"]) == 1.0 and int(m["pad_x"]) == 0 and int(m["pad_y"]) == 60
        assert int(m["frame_index"]) == 0 and int(m["seq"]) == 1
        assert np.array_equal(ref.pixels[60:420], first)  # content region = the source frame
        assert not ref.pixels[:60].any() and not ref.pixels[420:].any()  # black bars


def test_smaller_and_portrait_frames_are_scaled_and_mapped_back(config: Config) -> None:
    shared, writer, rid = _writer(config)
    rng = np.random.default_rng(1)
    portrait = rng.integers(0, 255, (400, 200, 3), dtype=np.uint8)
    assert writer.write(portrait, frame_index=0, t_media_ns=0) is ReadStatus.FRAME
    lb = Letterbox.fit(200, 400, 640, 480)
    with shared.latest_frame(rid) as ref:
        assert ref is not None
        m = ref.meta
        assert float(m["scale"]) == pytest.approx(1.2) and int(m["pad_x"]) == lb.pad_x == 200
        expected = cv2.resize(portrait, (lb.new_w, lb.new_h), interpolation=cv2.INTER_LINEAR)
        assert np.array_equal(ref.pixels[:, 200:440], expected)
        # a box drawn in slot pixels maps back to the same place in the source
        src_box = (50.0, 100.0, 80.0, 120.0)
        slot_box = (src_box[0] * 1.2 + 200, src_box[1] * 1.2, src_box[2] * 1.2, src_box[3] * 1.2)
        back = map_to_source(slot_box, float(m["scale"]), float(m["pad_x"]), float(m["pad_y"]), 200, 400)
        assert iou(back, src_box) > 0.999


@pytest.mark.parametrize("bad, why", [
    (None, "None"),
    (np.zeros((480, 640, 3), np.float32), "dtype"),
    (np.zeros((480, 640, 4), np.uint8), "shape"),
    (np.zeros((480, 640), np.uint8), "shape"),
    (np.zeros((1, 1, 3), np.uint8), "too small"),
    ("not a frame", "not an array"),
])
def test_bad_frames_are_rejected_counted_and_never_touch_the_pool(config: Config, bad: object, why: str,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    shared, writer, rid = _writer(config)
    good = np.full((480, 640, 3), 7, np.uint8)
    src = ArraySource([good, bad, good])
    assert src.read(writer) is ReadStatus.FRAME
    pixels_before = shared.pool.frame_latest.copy()
    gen_before = shared.pool.frame_gen.copy()
    assert src.read(writer) is ReadStatus.REJECTED
    assert int(shared.counters["frames_rejected"]) == 1
    assert np.array_equal(shared.pool.frame_latest, pixels_before)
    assert np.array_equal(shared.pool.frame_gen, gen_before)
    assert why in caplog.text and "frame 1 rejected" in caplog.text
    assert src.read(writer) is ReadStatus.FRAME  # the stream goes on
    assert src.read(writer) is ReadStatus.END
    with shared.latest_frame(rid) as ref:
        assert ref is not None and ref.seq == 2 and int(ref.meta["frame_index"]) == 2


def test_image_directory_counts_undecodable_files(config: Config, assets: Path, tmp_path: Path) -> None:
    (tmp_path / "a.bmp").write_bytes((assets / "images" / "cat.bmp").read_bytes())
    (tmp_path / "b.jpg").write_bytes(b"this is not a jpeg")
    (tmp_path / "notes.txt").write_text("ignored: not an image suffix")
    shared, writer, _ = _writer(config)
    with ImageDirSource(tmp_path) as src:
        statuses = [src.read(writer) for _ in range(3)]
    assert statuses == [ReadStatus.FRAME, ReadStatus.REJECTED, ReadStatus.END]
    assert int(shared.counters["frames_rejected"]) == 1


def test_missing_and_non_video_files_give_clear_errors(config: Config, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file"):
        open_source(tmp_path / "nope.mp4", config)
    fake = tmp_path / "fake.mp4"
    fake.write_bytes(b"\x00\x01not a video" * 100)
    with pytest.raises(SourceError, match=r"fake\.mp4"), open_source(fake, config):
        pass
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    with pytest.raises(SourceError, match="no image files"), open_source(empty_dir, config):
        pass


def test_letterbox_round_trip() -> None:
    for sw, sh in [(640, 360), (270, 202), (360, 640), (1280, 720), (640, 480)]:
        lb = Letterbox.fit(sw, sh, 640, 480)
        assert lb.new_w <= 640 and lb.new_h <= 480
        assert lb.new_w == 640 or lb.new_h == 480
        box = (sw * 0.25, sh * 0.3, sw * 0.2, sh * 0.4)
        dst = (box[0] * lb.scale + lb.pad_x, box[1] * lb.scale + lb.pad_y, box[2] * lb.scale, box[3] * lb.scale)
        assert iou(lb.to_src(dst), box) > 0.999


def test_a_video_begun_k_frames_later_starts_at_the_files_frame_k(config: Config, kittens: Path,
                                                                  tmp_path: Path) -> None:
    """``replay --skip-frames K`` (``evaluate --phases``): frame 0 is the file's frame K, the
    count is K fewer, and skipping more frames than there are, or in a folder, is an error."""
    shared, writer, rid = _writer(config)
    with VideoFileSource(kittens, skip=3) as src:
        assert src.frame_count == 957 - 3
        assert src.read(writer) is ReadStatus.FRAME
    cap = cv2.VideoCapture(str(kittens))
    frames = [cap.read()[1] for _ in range(4)]
    fourth = frames[-1]
    with shared.latest_frame(rid) as ref:
        assert ref is not None and int(ref.meta["frame_index"]) == 0
        assert np.array_equal(ref.pixels[60:420], fourth)
    with pytest.raises(SourceError, match="cannot skip 5000 frames"), VideoFileSource(kittens, skip=5000):
        pass
    with pytest.raises(SourceError, match="video file only"):
        open_source(tmp_path, config, skip=2)
    with pytest.raises(SourceError, match="cannot also skip"):
        VideoFileSource(kittens, loop=True, skip=2)
