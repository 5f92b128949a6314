"""The web view with real sockets on 127.0.0.1: encode once and fan out, slow viewers, the
viewer limit, the security model, and a bounded fuzz that must change no robot state.
(Stalled viewers and the per-run token: test_web_viewers.py.)"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web_rig import STATUS, TOKEN, MjpegReader, Rig, rigs

from cat_follow.config import Config, config_from_dict
from cat_follow.config_web import WebConfig
from cat_follow.errors import CatFollowError, ConfigError
from cat_follow.web.overlay import whole
from cat_follow.web.view import parse_web_spec


@pytest.fixture
def rig_factory() -> Iterator[Any]:
    with rigs() as make:
        yield make


def test_one_encoder_feeds_every_viewer_and_runs_only_while_watched(rig_factory: Any) -> None:
    rig = rig_factory(rate_hz=20.0)
    time.sleep(0.5)
    assert rig.view.encoder.encodes == 0  # nobody watching: nothing encoded
    viewers = [MjpegReader(rig.port, 2.0, rig.stream) for _ in range(8)]
    for v in viewers:
        v.start()
    for v in viewers:
        v.join(5)
    enc = rig.view.encoder.encodes
    got = [len(v.jpegs) for v in viewers]
    assert min(got) >= 15, got  # ~20 per second each
    assert enc <= max(got) + 2  # one encode per frame served, however many viewers
    c = rig.view.counters()
    # a viewer that closes while the server waits for its socket to drain has its last JPEG but
    # the server does not count that send as served
    assert c["frames_sent"] >= sum(got) - len(viewers) and c["distinct_sent"] <= c["encodes"]
    img = cv2.imdecode(np.frombuffer(viewers[0].jpegs[-1], np.uint8), cv2.IMREAD_COLOR)
    assert img.shape == (480, 640, 3) and float(img.std()) > 5
    time.sleep(0.5)
    assert rig.view.hub.viewers == 0
    before = rig.view.encoder.encodes
    time.sleep(0.6)
    assert rig.view.encoder.encodes - before <= 1  # stopped with the last viewer


def test_a_slow_viewer_skips_frames_and_holds_back_no_one(rig_factory: Any) -> None:
    rig = rig_factory(rate_hz=20.0, jpeg_quality=95)
    slow = MjpegReader(rig.port, 3.0, rig.stream, delay=0.05)
    fast = MjpegReader(rig.port, 3.0, rig.stream)
    slow.start()
    time.sleep(0.3)
    fast.start()
    fast.join(6)
    slow.join(6)
    assert len(fast.jpegs) >= 40, len(fast.jpegs)
    assert len(slow.jpegs) < len(fast.jpegs) // 2  # it skipped frames
    for j in slow.jpegs:  # what it got is whole
        assert cv2.imdecode(np.frombuffer(j, np.uint8), cv2.IMREAD_COLOR) is not None


def test_viewers_past_max_clients_get_503(rig_factory: Any) -> None:
    rig = rig_factory(max_clients=2)
    held = [MjpegReader(rig.port, 1.5, rig.stream) for _ in range(2)]
    for v in held:
        v.start()
    time.sleep(0.4)
    code, _, body = rig.request("GET", rig.stream)
    assert code == 503 and b"max_clients" in body
    for v in held:
        v.join(4)
        assert v.jpegs


def test_page_status_and_commands_on_loopback_with_the_runs_token(rig_factory: Any) -> None:
    rig = rig_factory()
    code, h, body = rig.request("GET", "/?token=" + rig.view.token)
    assert code == 200 and b"stream.mjpg" in b"".join([body, rig.request("GET", "/app.js")[2]])
    assert h["x-frame-options"] == "DENY" and h["referrer-policy"] == "no-referrer"
    assert json.loads(rig.request("GET", "/status.json", headers=rig.auth)[2]) == json.loads(STATUS)
    json_h = {**rig.auth, "Content-Type": "application/json"}
    code, _, body = rig.request("POST", "/command", json.dumps({"line": "cat_location 1.5 0.3"}).encode(), json_h)
    assert code == 200 and json.loads(body) == {"answer": "OK"}
    assert len(rig.queue) == 1
    code, _, body = rig.request("POST", "/command", json.dumps({"line": "stop"}).encode(), json_h)
    assert code == 200 and rig.queue.take_stop()


def test_every_request_needs_the_token_and_bad_input_changes_nothing(rig_factory: Any) -> None:
    rig = rig_factory(token=TOKEN)
    before = rig.state()
    ok_cmd = json.dumps({"line": "cat_location 1 1"}).encode()
    json_h = {"Content-Type": "application/json"}
    assert rig.request("GET", "/status.json")[0] == 401
    assert rig.request("GET", "/status.json?token=wrong")[0] == 401
    assert rig.request("GET", "/stream.mjpg")[0] == 401
    assert rig.request("GET", "/")[0] == 401
    assert rig.request("GET", "/app.js")[0] == 200  # the page's script alone: static, holds nothing
    assert rig.request("GET", f"/status.json?token={TOKEN}")[0] == 200
    assert rig.request("GET", "/status.json", headers={"Authorization": f"Bearer {TOKEN}"})[0] == 200
    assert rig.request("POST", "/command", ok_cmd, json_h)[0] == 401
    assert rig.request("POST", f"/command?token={TOKEN}", ok_cmd, json_h)[0] == 401  # commands: header only
    auth = {"X-Cat-Follow-Token": TOKEN}
    assert rig.request("GET", "/command?line=stop", headers=auth)[0] == 405  # no GET changes state
    assert rig.request("POST", "/command", b"line=stop", {**auth, "Content-Type":
                                                          "application/x-www-form-urlencoded"})[0] == 415
    cross = {**auth, **json_h, "Origin": "http://evil.example"}
    assert rig.request("POST", "/command", ok_cmd, cross)[0] == 403
    assert rig.request("GET", "/status.json", headers={**auth, "Host": "evil.example"})[0] == 403
    assert rig.request("GET", "/status.json", headers={**auth, "Host": "rebind.attacker.test:8080"})[0] == 403
    for body, why in [(b"{", b"not JSON"), (b'{"line": 5}', b"line"), (b'{"line": "go 1 2"}', b"unknown"),
                      (b'{"line": "cat_location 1e999 0"}', b"finite"), (b'{"line": "cat_location 99 0"}', b"arena"),
                      (json.dumps({"line": "stop " + "x" * 300}).encode(), b"one line"),
                      (b'{"line": "stop\\nstop"}', b"one line")]:
        code, _, text = rig.request("POST", "/command", body, {**auth, **json_h})
        assert code == 400 and why in text, (body, code, text)
    code, _, _ = rig.request("POST", "/command", b"x" * 5000, {**auth, **json_h})
    assert code == 413
    assert rig.state() == before  # nothing above reached the queue
    _, h, _ = rig.request("GET", "/status.json", headers={**auth, "Origin": "http://evil.example"})
    assert not any(k.startswith("access-control-") for k in h)  # no CORS, ever
    assert rig.request("POST", "/command", ok_cmd, {**auth, **json_h})[0] == 200
    assert rig.state() != before and len(rig.queue) == 1


def test_a_click_on_the_view_asks_to_follow_the_cat_there_and_bad_points_change_nothing(rig_factory: Any) -> None:
    """POST /target: token-checked like /command; a point of the view (fractions) becomes one
    ``follow_at`` in the same queue; anything else is a 400 and queues nothing."""
    from cat_follow.robot.commands import VERB_FOLLOW

    rig = rig_factory(token=TOKEN)
    json_h = {"Content-Type": "application/json"}
    point = json.dumps({"x": 0.25, "y": 0.5}).encode()
    assert rig.request("POST", "/target", point, json_h)[0] == 401
    auth = {"X-Cat-Follow-Token": TOKEN, **json_h}
    before = rig.state()
    for body, why in [(b"{", b"not JSON"), (b'{"x": 0.2}', b"a point"), (b'{"x": "0.2", "y": 0.5}', b"a point"),
                      (b'{"x": true, "y": 0.5}', b"a point"), (b'{"x": 1.5, "y": 0.5}', b"outside the image"),
                      (b'{"x": NaN, "y": 0.5}', b"not a number")]:
        code, _, text = rig.request("POST", "/target", body, auth)
        assert code == 400 and why in text, (body, code, text)
    assert rig.state() == before
    code, _, body = rig.request("POST", "/target", point, auth)
    assert code == 200 and json.loads(body) == {"answer": "OK"}
    cmd = rig.queue.get()
    assert cmd is not None and (cmd.verb, cmd.x, cmd.y) == (VERB_FOLLOW, 0.25, 0.5)


def test_binding_beyond_loopback_needs_a_token() -> None:
    with pytest.raises(ConfigError, match=r"web\.token"):
        config_from_dict({"web": {"host": "0.0.0.0"}})
    with pytest.raises(CatFollowError, match="token"):
        parse_web_spec("0.0.0.0:8080", WebConfig())
    with pytest.raises(CatFollowError, match="PORT"):
        parse_web_spec("host:http", WebConfig())
    assert parse_web_spec("9000", WebConfig()).host == "127.0.0.1"
    assert parse_web_spec("0.0.0.0:9000", WebConfig(token=TOKEN)).port == 9000
    assert whole(-0.4) == "0" and whole(-0.0) == "0" and whole(-1.6) == "-2"


def test_a_port_in_use_is_a_clear_error() -> None:
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen(1)
    port = blocker.getsockname()[1]
    try:
        rig = Rig(replace(WebConfig(), port=0))
        rig.view.server.port = port
        with pytest.raises(CatFollowError, match=f"cannot listen on 127.0.0.1:{port}"):
            rig.view.start()
        rig.view.stop()
    finally:
        blocker.close()


REQUEST = st.tuples(
    st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]),
    st.sampled_from(["/command", "/command?token=" + TOKEN, "/status.json", "/", "/stream.mjpg?x=1", "/nope"]),
    st.one_of(st.binary(max_size=300), st.builds(lambda s: json.dumps({"line": s}).encode(), st.text(max_size=80)),
              st.just(b'{"line": "stop"}'), st.just(b'{"line": "cat_location 1 1"}')),
    st.sampled_from([None, "", "wrong", TOKEN[:-1], TOKEN + "x", "Bearer " + TOKEN]),
    st.sampled_from([None, "application/json", "text/plain", "application/x-www-form-urlencoded"]),
    st.sampled_from([None, "http://evil.example", "null"]),
    st.sampled_from(["127.0.0.1", "evil.example", "localhost:1"]),
)


@pytest.mark.slow
def test_fuzz_unauthenticated_or_malformed_requests_change_no_state(rig_factory: Any) -> None:
    """Loopback only, bounded: random requests without the right token, or with it and a
    malformed command: the command queue never moves and the server keeps answering."""
    rig = rig_factory(token=TOKEN)
    before = rig.state()
    seen: set[int] = set()

    @settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))
    @given(REQUEST)
    def one(req: tuple[Any, ...]) -> None:
        method, path, body, token, ctype, origin, host = req
        headers = {"Host": host}
        if token is not None:
            headers["X-Cat-Follow-Token"] = token
        if ctype is not None:
            headers["Content-Type"] = ctype
        if origin is not None:
            headers["Origin"] = origin
        if method == "GET" and path.startswith("/stream"):
            path = "/status.json"  # a stream never ends; its auth is the same code path
        code, _, _ = rig.request(method, path, body if method != "GET" else None, headers)
        seen.add(code)
        assert code < 500
        assert rig.state() == before

    one()
    assert {401, 403} <= seen
    assert rig.request("GET", "/status.json", headers={"X-Cat-Follow-Token": TOKEN})[0] == 200


@pytest.mark.slow
def test_bench_web_counts_one_encode_per_served_frame(kittens: Any, models: Any) -> None:
    from cat_follow.web.bench import run_web_bench

    out = run_web_bench(kittens, Config(), models, seconds=1.5, clients=(0, 3))
    idle, watched = out["phases"]
    assert idle["encodes"] == 0 and idle["jpegs_served"] == 0  # no viewer: no encoding
    assert watched["encodes"] >= 10 and watched["viewer_parts_received"] >= 2 * watched["encodes"]
    assert watched["jpegs_served"] >= 2.5 * watched["distinct_jpegs_served"]  # each JPEG to ~every viewer
    assert watched["encodes_per_distinct_jpeg_served"] <= 1.15
    assert idle["tracker_fps"] > 5 and watched["tracker_fps"] > 5
    assert watched["frame_to_jpeg_ms_p50"] is not None and watched["frame_to_jpeg_ms_p50"] > 0


def test_overlay_draws_on_its_canvas_only_with_label_score_source_and_reasons() -> None:
    from cat_follow.memory.pool import BBOX, SOURCE_DETECTOR
    from cat_follow.perception.target import TargetState
    from cat_follow.web.overlay import draw_overlay, status_lines

    pixels = np.full((480, 640, 3), 90, np.uint8)
    before = pixels.copy()
    canvas = np.zeros_like(pixels)
    box = np.zeros(1, dtype=BBOX)[0]
    box["x"], box["y"], box["w"], box["h"], box["score"], box["valid"] = 100, 120, 200, 150, 0.87, 1
    box["source"], box["target_state"] = SOURCE_DETECTOR, TargetState.TRACKING
    status = json.loads(STATUS)
    trail = np.array([[0.0, 0.0], [0.1, -0.1], [0.1, -0.2]])
    draw_overlay(canvas, pixels, box, "cat", status, trail)
    assert np.array_equal(pixels, before)  # the shared frame is only read
    assert tuple(canvas[200, 100]) == (0, 165, 255)  # the box's left edge, detector orange
    assert tuple(canvas[300, 400]) == (90, 90, 90)  # the picture elsewhere, copied
    lines = status_lines(status)
    assert lines[0] == "IDLE: start-up" and "pan 0 " in lines[2] and "-0" not in lines[2]
    assert status_lines({"state": "track", "motors": {"limited_by": "obstacle 15 cm"}})[0] == \
        "TRACK: obstacle 15 cm"
    thin = np.zeros_like(pixels)
    draw_overlay(thin, pixels, box, "cat", status, trail, held_s=0.3)
    assert tuple(thin[200, 100]) == (0, 165, 255) and tuple(thin[200, 102]) == (90, 90, 90)
