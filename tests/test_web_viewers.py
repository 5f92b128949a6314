"""Who holds a viewer slot, with real sockets on 127.0.0.1: a viewer that stops reading loses
its slot after web.write_timeout_s while the others keep getting frames; a request without
this run's token is refused before it takes a slot; the token is random per run unless fixed."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from web_rig import TOKEN, MjpegReader, rigs


@pytest.fixture
def rig_factory() -> Iterator[Any]:
    with rigs() as make:
        yield make


def wait_until(cond: Callable[[], bool], timeout: float) -> bool:
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def stalled_viewer(port: int, path: str) -> socket.socket:
    """Connects, asks for the stream, then never reads: a tiny receive window fills at once."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: sets the window
    s.connect(("127.0.0.1", port))
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    return s


def test_a_viewer_that_stops_reading_loses_its_slot_and_others_keep_their_frames(rig_factory: Any) -> None:
    # JPEGs of ~180 kB: the kernel's socket buffers (up to 4 MB once tuned) and the transport's
    # fill in about a second; then one write waits write_timeout_s and the viewer is dropped
    rig = rig_factory(noise_rows=240, max_clients=2, write_timeout_s=0.5, rate_hz=20.0, jpeg_quality=95)
    stuck = stalled_viewer(rig.port, rig.stream)
    try:
        good = MjpegReader(rig.port, 4.0, rig.stream)
        good.start()
        assert wait_until(lambda: rig.view.hub.viewers == 2, 3.0)
        # both slots taken: one more viewer is refused while the stuck one holds its slot
        assert rig.request("GET", rig.stream)[0] == 503
        t0 = time.monotonic()
        assert wait_until(lambda: rig.view.hub.stalled == 1, 8.0), rig.view.counters()
        freed_after = time.monotonic() - t0
        assert rig.view.hub.viewers == 1  # the stuck client never closed its socket: the server did
        n_at_eviction = len(good.jpegs)
        late = MjpegReader(rig.port, 1.5, rig.stream)  # the freed slot is usable
        late.start()
        late.join(4)
        assert late.status_line.endswith(b"200 OK") and len(late.jpegs) >= 10, late.status_line
        good.join(8)
        assert n_at_eviction >= 10 and len(good.jpegs) - n_at_eviction >= 10, (n_at_eviction, len(good.jpegs))
        assert freed_after < 5.0
        # what the stuck client finds when it reads at last: the connection is gone
        stuck.settimeout(2.0)
        with pytest.raises((ConnectionResetError, BrokenPipeError)):
            while stuck.recv(65536):
                pass
            raise ConnectionResetError("closed")  # an orderly close counts as gone too
    finally:
        stuck.close()


def test_requests_without_the_token_take_no_slot_and_lock_nobody_out(rig_factory: Any) -> None:
    rig = rig_factory(max_clients=2)
    token = rig.view.token
    assert len(token) >= 24 and token != TOKEN
    intruders = []
    for i in range(20):  # like 20 <img src=".../stream.mjpg"> on another page: no token, or a wrong one
        s = socket.create_connection(("127.0.0.1", rig.port), timeout=5)
        path = "/stream.mjpg" if i % 2 else "/stream.mjpg?token=" + token[:-1]
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        intruders.append(s)  # held open, keep-alive
    try:
        for s in intruders:
            assert s.recv(4096).startswith(b"HTTP/1.1 401"), "a stream without the token was served"
        assert rig.view.hub.viewers == 0 and rig.view.guard.rejected["token"] == 20
        assert rig.view.encoder.encodes == 0  # nobody watching: not even encoded
        owners = [MjpegReader(rig.port, 1.5, rig.stream) for _ in range(2)]  # every slot, for the user
        for v in owners:
            v.start()
        for v in owners:
            v.join(4)
            assert v.status_line.endswith(b"200 OK") and len(v.jpegs) >= 10
        assert rig.view.hub.refused == 0
    finally:
        for s in intruders:
            s.close()


def test_the_token_is_random_per_run_logged_with_the_url_and_fixed_by_the_config(
        rig_factory: Any, caplog: pytest.LogCaptureFixture) -> None:
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.WARNING)  # as with logging.level = "WARNING": the URL must still show
    caplog.handler.setLevel(logging.DEBUG)
    try:
        a, b = rig_factory(), rig_factory()
    finally:
        root.setLevel(level)
    assert a.view.token != b.view.token
    for rig in (a, b):
        url = f"http://127.0.0.1:{rig.port}/?token={rig.view.token}"
        assert rig.view.url == url
        assert any(url in r.getMessage() for r in caplog.records), caplog.text
        assert rig.request("GET", "/?token=" + rig.view.token)[0] == 200
    assert a.request("GET", "/?token=" + b.view.token)[0] == 401  # one run's token opens no other
    fixed = rig_factory(token=TOKEN)
    assert fixed.view.token == TOKEN and fixed.request("GET", "/status.json", headers=fixed.auth)[0] == 200
