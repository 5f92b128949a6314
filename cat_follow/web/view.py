"""``WebView``: the encoder and the server around one pipeline, started and stopped as one.

Built before the pipeline starts (it registers a frame reader, so the config needs one more
camera slot: ``with_web_slot``). ``start`` returns once the socket is bound, or raises a
CatFollowError that says why, and logs the page's URL with its token (as Jupyter does: the
token is random for each run unless ``web.token`` fixes it); ``stop`` ends both threads and
closes every connection.
"""

from __future__ import annotations

import logging
import math
import secrets
from dataclasses import replace
from types import TracebackType
from typing import Any
from urllib.parse import quote

import numpy as np

from cat_follow.config import Config
from cat_follow.config_web import WebConfig, is_loopback_host
from cat_follow.errors import CatFollowError
from cat_follow.memory.shared_state import SharedState
from cat_follow.threads.supervised import Health
from cat_follow.web.app import CatEstimate, Endpoints, Hub, make_app
from cat_follow.web.encoder import FrameEncoder
from cat_follow.web.ring import JpegRing
from cat_follow.web.security import Guard
from cat_follow.web.thread import WebServerThread
from cat_follow.web.trail import Trail

log = logging.getLogger(__name__)
# the URL with its token is logged whatever logging.level says (WARNING would hide it, and
# without it nobody can open the page), as Jupyter always prints its URL
url_log = logging.getLogger(__name__ + ".url")
url_log.setLevel(logging.INFO)

RING_SLOTS = 3
TOKEN_BYTES = 18  # secrets.token_urlsafe: 24 characters, 144 random bits
BIND_TIMEOUT_S = 10.0
JOIN_S = 3.0


def with_web_slot(cfg: Config) -> Config:
    """The config with one more camera slot: the web encoder pins frames like any reader."""
    return replace(cfg, camera=replace(cfg.camera, slots=min(cfg.camera.slots + 1, 16)))


def parse_web_spec(spec: str, web: WebConfig) -> WebConfig:
    """``--web [HOST:]PORT`` applied to ``web``, validated like the config file."""
    host, _, port_s = spec.rpartition(":")
    try:
        port = int(port_s)
    except ValueError:
        raise CatFollowError(f"--web {spec}: expected [HOST:]PORT, e.g. 8080 or 0.0.0.0:8080") from None
    if not 0 <= port <= 65535:
        raise CatFollowError(f"--web {spec}: port must be 0..65535")
    out = replace(web, host=host.strip("[]") or web.host, port=port)
    try:
        out.check()
    except ValueError as exc:
        raise CatFollowError(f"--web {spec}: web.{exc} (set it in the config file's [web] section)") from exc
    return out


def robot_cat_estimate(motion: Any) -> CatEstimate:
    """Where the robot's own geometry puts the cat (odometry frame), from a status dict:
    the pose, the camera pan and the last box (distance from the box height)."""
    def estimate(status: dict[str, Any]) -> tuple[float, float] | None:
        box, pose, motors = status.get("last_bbox"), status.get("pose"), status.get("motors") or {}
        if not box or not pose or box.get("age_s", 99.0) > 1.0:
            return None
        b = tuple(float(v) for v in box["bbox"])
        d = float(motion.cat_distance_m(b))
        right, _ = motion.cat_angles(b)
        bearing = math.radians(pose["heading_deg"]) - math.radians(float(motors.get("pan", 0.0)) + right)
        return pose["x"] + d * math.cos(bearing), pose["y"] + d * math.sin(bearing)
    return estimate


class WebView:
    """Owns the web encoder thread, the server thread, the JPEG ring and the path."""

    def __init__(self, web: WebConfig, shared: SharedState, health: Health, endpoints: Endpoints, *,
                 label: str = "cat", canvas: np.ndarray | None = None) -> None:
        h, w = int(shared.pool.frame_meta["height"][0]), int(shared.pool.frame_meta["width"][0])
        self.config = web
        self.reader = shared.register_reader("web")
        # the canvas is allocated once here unless given (the pool's frame_annotate belongs
        # to the main thread's video writer in simulate and replay)
        self.canvas = canvas if canvas is not None else np.zeros((h, w, 3), dtype=np.uint8)
        self.trail = Trail()
        self.encoder = FrameEncoder(shared, self.reader, self.canvas, endpoints.status, self.trail, label, health,
                                    rate_hz=web.rate_hz, quality=web.jpeg_quality)
        # a JPEG of a camera frame is well under 1 byte per pixel; a bigger one is dropped, counted
        self.ring = JpegRing(RING_SLOTS, h * w)
        self.hub = Hub(self.ring, self.encoder.watching, web.max_clients, web.write_timeout_s)
        self.encoder.publish = self.hub.publish_threadsafe
        # one per run unless the config fixes it, on loopback too (web.token's doc says why)
        self.token = web.token or secrets.token_urlsafe(TOKEN_BYTES)
        self.guard = Guard(web.host, self.token, web.allowed_hosts)
        app = make_app(self.hub, endpoints, self.trail, self.guard)
        self.server = WebServerThread(app, self.hub, web.host, web.port, health)

    @property
    def url(self) -> str:
        host = self.config.host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.server.port}/?token={quote(self.token)}"

    def start(self) -> None:
        self.server.start()
        while not self.server.bound.wait(0.05):
            if not self.server.is_alive():
                err = self.server.error
                raise CatFollowError(f"web view: cannot listen on {self.config.host}:{self.server.port}: "
                                     f"{getattr(err, 'strerror', None) or err}")
        self.encoder.start()
        reach = "this machine only" if is_loopback_host(self.config.host) else "reachable from the network"
        fixed = "web.token" if self.config.token else "random for this run; web.token fixes it"
        url_log.info("web view on %s (open this URL; %s; token %s)", self.url, reach, fixed)

    def stop(self) -> None:
        """End both threads (never raises); a thread that will not end is logged."""
        for t in (self.encoder, self.server):
            t.stop()
        for t in (self.encoder, self.server):
            if t.is_alive():
                t.join(JOIN_S)
                if t.is_alive():
                    log.error("%s thread did not stop within %.0f s", t.name, JOIN_S)

    def counters(self) -> dict[str, Any]:
        return {"encodes": self.encoder.encodes, **self.hub.counters(), "rejected": dict(self.guard.rejected)}

    def __enter__(self) -> WebView:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def open_in_browser(url: str) -> bool:
    """Open ``url`` in the desktop's browser; False where there is none (no display, no
    browser registered). For the simulator's "window or the web view in the browser"."""
    import webbrowser

    try:
        return bool(webbrowser.open(url, new=2))
    except webbrowser.Error:
        return False

