"""The Pi camera through picamera2 (imported lazily: it exists only on the Pi, from apt).

Buffer ownership: ``captured_request()`` lends us one libcamera request; inside it,
``MappedArray`` maps the request's DMA buffer as a numpy array without a copy. The
writer copies those pixels into a pool slot (``np.copyto``: the one copy in), and
both context managers give the buffer back to libcamera at once. We never use
``capture_array()``, which would allocate and copy a new array for every frame.
"RGB888" in libcamera's naming is B, G, R in memory, which is the pool's order.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from cat_follow.errors import SourceError
from cat_follow.sources.source import FrameSource, PoolWriter, ReadStatus

log = logging.getLogger(__name__)


class PiCameraSource(FrameSource):
    """A Pi camera configured to the pool's frame size in BGR ("RGB888")."""

    live = True

    def __init__(self, width: int, height: int, fps: float, camera_num: int = 0,
                 buffer_count: int = 4) -> None:
        self.width, self.height, self.fps = width, height, fps
        self.camera_num = camera_num
        self.buffer_count = buffer_count
        self.name = f"picamera{camera_num}"
        self._cam: Any = None
        self._mapped_array: Any = None
        self._index = 0
        self._t0_sensor: int | None = None

    def open(self) -> None:
        try:
            from picamera2 import MappedArray, Picamera2  # lazy: Pi only
        except ImportError as exc:
            raise SourceError("picamera2 is not installed: on the Pi run `sudo apt install "
                              "python3-picamera2` and use a venv made with --system-site-packages "
                              "(setup.sh does both)") from exc
        try:
            cam = Picamera2(self.camera_num)
            config = cam.create_video_configuration(
                main={"size": (self.width, self.height), "format": "RGB888"},
                buffer_count=self.buffer_count,
                controls={"FrameRate": self.fps},
            )
            cam.configure(config)
            cam.start()
        except (RuntimeError, IndexError, OSError) as exc:
            raise SourceError(f"camera {self.camera_num} cannot start: {exc}. Is another program "
                              "(vilib, libcamera-hello, a second cat-follow) holding it?") from exc
        self._cam = cam
        self._mapped_array = MappedArray
        self._index = 0
        self._t0_sensor = None

    def close(self) -> None:
        cam, self._cam = self._cam, None
        if cam is not None:
            try:
                cam.stop()
            finally:
                cam.close()

    def read(self, writer: PoolWriter) -> ReadStatus:
        if self._cam is None:
            raise SourceError("camera read before open")
        index = self._index
        self._index += 1
        with self._cam.captured_request() as request:  # request released on leaving
            t_capture_ns = time.monotonic_ns()
            sensor_ns = request.get_metadata().get("SensorTimestamp")
            if sensor_ns is None:
                sensor_ns = t_capture_ns
            if self._t0_sensor is None:
                self._t0_sensor = int(sensor_ns)
            with self._mapped_array(request, "main") as mapped:  # a view of the DMA buffer
                return writer.write(mapped.array, frame_index=index,
                                    t_media_ns=int(sensor_ns) - self._t0_sensor,
                                    t_capture_ns=t_capture_ns)
