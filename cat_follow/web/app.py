"""The web view's HTTP side (aiohttp): the page, the MJPEG stream, status, path, commands, and
the cat to follow (a point clicked in the view).

Everything here runs on the web thread's event loop. ``Hub`` owns the JPEG ring and the
viewer count; the encoder thread reaches it only through ``publish_threadsafe``.
Commands are handed to ``submit``: the same parser and queue as the command socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np
from aiohttp import web

from cat_follow.stats import LatencyRecorder
from cat_follow.web.ring import BOUNDARY, JpegRing, send_view
from cat_follow.web.security import Guard
from cat_follow.web.trail import Trail

log = logging.getLogger(__name__)

MAX_BODY = 1024
STATUS_SAMPLE_S = 0.2
CatEstimate = Callable[[dict[str, Any]], "tuple[float, float] | None"]


@dataclass
class Endpoints:
    """What the server serves from: the robot's status, its command path, and extras."""

    status: Callable[[], str]
    submit: Callable[[str], str] | None  # None: no car behind this view (replay)
    max_line_bytes: int = 256
    cat_estimate: CatEstimate | None = None


class Hub:
    """The ring, the viewers and the counters; event-loop thread only (except the
    ``watching`` event the encoder waits on)."""

    def __init__(self, ring: JpegRing, watching: Any, max_clients: int, write_timeout_s: float) -> None:
        self.ring = ring
        self.watching = watching
        self.max_clients = max_clients
        self.write_timeout_s = write_timeout_s
        self.viewers = 0
        self.refused = 0
        self.stalled = 0  # viewers disconnected because their socket took nothing for write_timeout_s
        self.frames_sent = 0
        self.distinct_sent = 0  # JPEGs sent to at least one viewer
        self._last_counted = 0
        self.latency_ms = LatencyRecorder()  # frame capture -> JPEG written to a viewer's socket
        self.new_jpeg: asyncio.Event | None = None  # set and cleared at once: wakes every waiting viewer
        self.loop: asyncio.AbstractEventLoop | None = None
        self.closing = False

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.new_jpeg = asyncio.Event()

    def publish_threadsafe(self, jpeg: np.ndarray, t_capture_ns: int, frame_seq: int) -> None:
        """Called by the encoder thread: the loop thread copies the JPEG into the ring."""
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self._publish, jpeg, t_capture_ns, frame_seq)

    def _publish(self, jpeg: np.ndarray, t_capture_ns: int, frame_seq: int) -> None:
        if self.ring.publish(jpeg, t_capture_ns, frame_seq) and self.new_jpeg is not None:
            self.new_jpeg.set()
            self.new_jpeg.clear()

    async def close(self) -> None:
        self.closing = True
        if self.new_jpeg is not None:
            self.new_jpeg.set()

    def counted_send(self, ring_seq: int, t_capture_ns: int) -> None:
        self.frames_sent += 1
        if ring_seq != self._last_counted:
            self._last_counted = ring_seq
            self.distinct_sent += 1
        self.latency_ms.add((time.monotonic_ns() - t_capture_ns) / 1e6)

    def counters(self) -> dict[str, Any]:
        return {"viewers": self.viewers, "refused": self.refused, "stalled": self.stalled, "jpegs": self.ring.seq,
                "frames_sent": self.frames_sent, "distinct_sent": self.distinct_sent,
                "oversize": self.ring.oversize}


HUB = web.AppKey("hub", Hub)
ENDPOINTS = web.AppKey("endpoints", Endpoints)
TRAIL = web.AppKey("trail", Trail)


def _asset(name: str) -> str:
    return resources.files("cat_follow.web").joinpath("static", name).read_text(encoding="utf-8")


async def stream(request: web.Request) -> web.StreamResponse:
    """multipart/x-mixed-replace: the newest JPEG each time one is published."""
    hub: Hub = request.app[HUB]
    if hub.viewers >= hub.max_clients:
        hub.refused += 1
        raise web.HTTPServiceUnavailable(text=f"at most {hub.max_clients} viewers (web.max_clients)\n")
    hub.viewers += 1
    hub.watching.set()
    try:
        resp = web.StreamResponse(headers={
            "Content-Type": f"multipart/x-mixed-replace; boundary={BOUNDARY}", "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff"})
        await resp.prepare(request)
        if not await _send_frames(hub, resp):
            # a viewer that stopped reading: drop the connection (its unsent bytes with it)
            hub.stalled += 1
            log.info("web viewer %s took no data for %.1f s (web.write_timeout_s): disconnected",
                     request.remote, hub.write_timeout_s)
            if request.transport is not None:
                request.transport.abort()
        return resp
    finally:
        hub.viewers -= 1
        if hub.viewers == 0:
            hub.watching.clear()


async def _send_frames(hub: Hub, resp: web.StreamResponse) -> bool:
    """Send each new JPEG until the server closes or the viewer leaves; False if the viewer
    stalled: one write (the socket's drain) took longer than ``write_timeout_s``."""
    assert hub.new_jpeg is not None
    last = 0
    while not hub.closing:
        while hub.ring.seq <= last and not hub.closing:
            await hub.new_jpeg.wait()
        if hub.closing:
            return True
        seq, part, t_capture_ns, _ = hub.ring.newest()
        try:
            # the whole part in one write, taken from the ring with no await in between (ring.py);
            # the timeout can only fire in the drain after it
            await asyncio.wait_for(resp.write(send_view(part)), hub.write_timeout_s)
        except TimeoutError:
            return False
        except (ConnectionResetError, ConnectionError):
            return True
        hub.counted_send(seq, t_capture_ns)
        last = seq
    return True


async def page(request: web.Request) -> web.Response:
    return web.Response(text=_asset("index.html"), content_type="text/html")


async def script(request: web.Request) -> web.Response:
    return web.Response(text=_asset("app.js"), content_type="application/javascript")


async def status(request: web.Request) -> web.Response:
    ep: Endpoints = request.app[ENDPOINTS]
    return web.Response(text=ep.status(), content_type="application/json")


async def path(request: web.Request) -> web.Response:
    """The odometry trail, and the cat's position as the robot estimates it."""
    ep: Endpoints = request.app[ENDPOINTS]
    trail: Trail = request.app[TRAIL]
    st = json.loads(ep.status())
    cat = ep.cat_estimate(st) if ep.cat_estimate is not None else None
    return web.json_response({"trail": trail.as_list(), "pose": st.get("pose"), "target": st.get("target"),
                              "cat": None if cat is None else [round(cat[0], 3), round(cat[1], 3)],
                              "stream": request.app[HUB].counters()})


async def command(request: web.Request) -> web.Response:
    """POST {"line": "cat_location 1.5 0.3"} -> 200 {"answer": "OK"} | 4xx {"error": reason}."""
    ep, body = await _posted_json(request, "commands are")
    if body is _NOT_JSON:
        return _error(400, "body is not JSON")
    line = body.get("line") if isinstance(body, dict) else None
    if not isinstance(line, str):
        return _error(400, 'body must be {"line": "<command>"}')
    if len(line.encode("utf-8")) > ep.max_line_bytes or "\n" in line or "\r" in line:
        return _error(400, f"a command is one line of at most {ep.max_line_bytes} bytes")
    return _submit(ep, line)


async def target(request: web.Request) -> web.Response:
    """POST {"x": FX, "y": FY} (a point of the camera view, fractions 0..1 of its width and
    height, as clicked) -> follow the cat there: the ``follow_at FX FY`` command, same queue."""
    ep, body = await _posted_json(request, "a target is")
    if body is _NOT_JSON:
        return _error(400, "body is not JSON")
    point = [v for v in (body.get("x"), body.get("y")) if isinstance(v, (int, float)) and not isinstance(v, bool)] \
        if isinstance(body, dict) else []
    if len(point) != 2:
        return _error(400, 'body must be {"x": <0..1>, "y": <0..1>} (a point of the camera view)')
    return _submit(ep, f"follow_at {float(point[0])!r} {float(point[1])!r}")


_NOT_JSON = object()


async def _posted_json(request: web.Request, what: str) -> tuple[Endpoints, Any]:
    """The endpoints and the JSON body of a POST that changes state (``_NOT_JSON`` if it is not
    JSON); 415 unless posted as JSON, 409 in a view with no car behind it (replay)."""
    ep: Endpoints = request.app[ENDPOINTS]
    if request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(text=f"{what} POSTed as application/json\n")
    if ep.submit is None:
        raise web.HTTPConflict(text="this view has no car behind it (replay): commands are not taken\n")
    try:
        return ep, json.loads(await request.read())
    except (ValueError, UnicodeDecodeError):
        return ep, _NOT_JSON


def _submit(ep: Endpoints, line: str) -> web.Response:
    assert ep.submit is not None  # _posted_json answered 409 otherwise
    answer = ep.submit(line)  # the command socket's parser and queue
    if answer == "ERR busy":
        return _error(503, "busy: the command queue is full")
    if answer.startswith("ERR"):
        return _error(400, answer[4:])
    if answer == "OK":
        return web.json_response({"answer": "OK"})
    return web.Response(text=answer, content_type="application/json")  # status


def _error(code: int, reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=code)


async def sample_trail(app: web.Application) -> None:
    """Keep the path while nobody watches too (cheap: one status read every 0.2 s)."""
    ep: Endpoints = app[ENDPOINTS]
    trail: Trail = app[TRAIL]
    while True:
        with contextlib.suppress(ValueError, TypeError, KeyError):
            trail.add_from_status(json.loads(ep.status()))
        await asyncio.sleep(STATUS_SAMPLE_S)


def make_app(hub: Hub, endpoints: Endpoints, trail: Trail, guard: Guard) -> web.Application:
    app = web.Application(middlewares=[guard.middleware], client_max_size=MAX_BODY)
    app[HUB], app[ENDPOINTS], app[TRAIL] = hub, endpoints, trail
    app.router.add_get("/", page)
    app.router.add_get("/app.js", script)
    app.router.add_get("/stream.mjpg", stream)
    app.router.add_get("/status.json", status)
    app.router.add_get("/path.json", path)
    app.router.add_post("/command", command)
    app.router.add_post("/target", target)
    return app
