"""Frame sources behind one interface: video file, image directory, arrays, Pi camera."""

from __future__ import annotations

from pathlib import Path

from cat_follow.config import Config
from cat_follow.errors import SourceError
from cat_follow.perception.model import assets_dirs
from cat_follow.record_files import Recording, is_recording
from cat_follow.sources.images import ArraySource, ImageDirSource
from cat_follow.sources.source import FrameSource, PoolWriter, ReadStatus, frame_problem
from cat_follow.sources.video import VideoFileSource

__all__ = ["ArraySource", "FrameSource", "ImageDirSource", "PoolWriter", "ReadStatus",
           "VideoFileSource", "default_video", "frame_problem", "open_source"]

SAMPLE_VIDEO = Path("video/kittens_floor.mp4")


def default_video() -> Path:
    """The sample video from the assets (setup.sh --assets copies it), for replay and bench."""
    for d in assets_dirs():
        if (d / SAMPLE_VIDEO).is_file():
            return d / SAMPLE_VIDEO
    raise SourceError(f"no video given and {SAMPLE_VIDEO} is not in {', '.join(map(str, assets_dirs()))}; "
                      "pass a video, or run ./setup.sh --dev --assets DIR")


def open_source(spec: str | Path, config: Config, *, image_fps: float = 10.0, loop: bool = False,
                skip: int = 0) -> FrameSource:
    """Make the source named by ``spec``: ``picamera``, a ``record`` folder, a directory of images,
    or a video file (``skip``: its first frames, as if it began later; video files only). The
    source is not opened yet (use it as a context manager)."""
    text = str(spec)
    if skip and (text == "picamera" or Path(text).is_dir()):
        raise SourceError(f"{text}: skipping frames works on a video file only")
    if text == "picamera":
        from cat_follow.sources.picamera import PiCameraSource  # lazy: Pi only

        cam = config.camera
        return PiCameraSource(cam.width, cam.height, cam.fps, cam.camera_id)
    path = Path(text)
    if is_recording(path):
        from cat_follow.sources.recorded import RecordingSource

        return RecordingSource(Recording(path))
    if path.is_dir():
        return ImageDirSource(path, fps=image_fps, loop=loop)
    if not path.exists():
        raise SourceError(f"{path}: no such file or directory")
    return VideoFileSource(path, loop=loop, skip=skip)
