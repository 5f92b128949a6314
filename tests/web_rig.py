"""What the web tests share: a real pool fed by a synthetic camera, the command socket's own
queue, a WebView on an ephemeral loopback port, and an MJPEG viewer on a raw socket."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import numpy as np

from cat_follow.config import Config
from cat_follow.config_web import WebConfig
from cat_follow.memory.pool import allocate_pool
from cat_follow.memory.shared_state import SharedState
from cat_follow.robot.commands import CommandQueue, answer_command
from cat_follow.threads.supervised import Health
from cat_follow.web.app import Endpoints
from cat_follow.web.view import WebView, with_web_slot

TOKEN = "s3cret-token"
STATUS = json.dumps({"state": "idle", "pose": {"x": 0.1, "y": -0.2, "heading_deg": 10.0},
                     "motors": {"speed": 0.0, "steer": -0.2, "pan": -0.4, "tilt": 0.0},
                     "fps": {"camera": 30.0, "tracker": 29.0}, "stop_reason": "start-up"})


class Camera(threading.Thread):
    """Publishes synthetic frames into the pool at ``fps`` through SharedState, like the camera
    thread: each frame a different shade with a moving square; ``noise_rows`` rows of noise on
    top make JPEGs of ~180 kB at quality 95 (a stalled viewer's buffers fill in a second)."""

    def __init__(self, shared: SharedState, fps: float = 30.0, noise_rows: int = 0) -> None:
        super().__init__(daemon=True)
        self.shared, self.period, self.stop_ev, self.frames = shared, 1.0 / fps, threading.Event(), 0
        w = int(shared.pool.frame_meta["width"][0])
        self.noise = np.random.default_rng(0).integers(0, 256, (noise_rows, w, 3), dtype=np.uint8)

    def run(self) -> None:
        while not self.stop_ev.wait(self.period):
            with self.shared.writing() as slot:
                if slot is None:
                    continue
                px = self.shared.slot_pixels(slot)
                px[:] = (40 + self.frames * 7) % 200
                k = (self.frames * 5) % 300
                px[100:160, k:k + 60] = (0, 0, 255)
                px[:len(self.noise)] = self.noise
                self.shared.publish_slot(slot, t_capture_ns=time.monotonic_ns(), t_media_ns=0,
                                         frame_index=self.frames)
                self.frames += 1


class Rig:
    """A pool, a camera, the socket's command queue and a WebView on an ephemeral port."""

    def __init__(self, web: WebConfig, noise_rows: int = 0) -> None:
        cfg = with_web_slot(Config())
        self.pool = allocate_pool(cfg)
        self.shared = SharedState(self.pool)
        self.health = Health()
        self.queue = CommandQueue(self.pool)
        arena = cfg.robot.arena

        def submit(line: str) -> str:  # the command socket's own path (CommandServer.answer)
            return answer_command(line, self.queue, arena, lambda: STATUS)

        self.view = WebView(replace(web, port=0), self.shared, self.health,
                            Endpoints(status=lambda: STATUS, submit=submit))
        self.camera = Camera(self.shared, noise_rows=noise_rows)

    @property
    def port(self) -> int:
        return self.view.server.port

    @property
    def auth(self) -> dict[str, str]:
        """The header that carries this run's token."""
        return {"X-Cat-Follow-Token": self.view.token}

    @property
    def stream(self) -> str:
        """The stream's path with this run's token, as the page's <img> asks for it."""
        return "/stream.mjpg?token=" + quote(self.view.token)

    def state(self) -> tuple[Any, ...]:
        """Everything a command could change: the queue's counters and slots."""
        return (tuple(int(v) for v in self.pool.command_ctl), self.pool.commands.tobytes())

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            conn.close()


@contextmanager
def rigs() -> Iterator[Callable[..., Rig]]:
    """make(noise_rows=0, **web_fields) -> a started Rig; every one is stopped and checked at the end."""
    made: list[Rig] = []

    def make(noise_rows: int = 0, **kw: Any) -> Rig:
        rig = Rig(replace(WebConfig(), **kw), noise_rows)
        rig.camera.start()
        rig.view.start()
        made.append(rig)
        return rig

    yield make
    for rig in made:
        rig.view.stop()
        rig.camera.stop_ev.set()
        rig.camera.join(2)
        assert not rig.view.server.is_alive() and not rig.view.encoder.is_alive()
        assert not rig.health.fault.is_set(), rig.health.failed


class MjpegReader(threading.Thread):
    """A viewer on a raw socket: parses multipart parts, decodes each JPEG; ``delay`` between
    reads makes it a slow one."""

    def __init__(self, port: int, seconds: float, path: str, delay: float = 0.0,
                 host: str = "127.0.0.1") -> None:
        super().__init__(daemon=True)
        self.port, self.seconds, self.path, self.delay, self.host = port, seconds, path, delay, host
        self.jpegs: list[bytes] = []
        self.status_line = b""

    def run(self) -> None:
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
        s.sendall(f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode())
        buf = b""
        t_end = time.monotonic() + self.seconds
        try:
            while time.monotonic() < t_end:
                chunk = s.recv(8192 if self.delay else 65536)
                if not chunk:
                    break
                buf += chunk
                if not self.status_line and b"\r\n" in buf:
                    self.status_line = buf.split(b"\r\n", 1)[0]
                buf = self._parts(buf)
                if self.delay:
                    time.sleep(self.delay)
        finally:
            s.close()

    def _parts(self, buf: bytes) -> bytes:
        while True:
            i = buf.find(b"--frame\r\n")
            j = buf.find(b"\r\n\r\n", i)
            if i < 0 or j < 0:
                return buf
            head = buf[i:j].decode("latin-1")
            n = int(head.split("Content-Length: ")[1].split("\r\n")[0])
            if len(buf) < j + 4 + n:
                return buf
            self.jpegs.append(buf[j + 4:j + 4 + n])
            buf = buf[j + 4 + n:]
