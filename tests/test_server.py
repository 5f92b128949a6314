"""The command socket with real Unix sockets: many clients, slow, silent and hostile ones,
while a control loop keeps ticking."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import socket
import stat
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cat_follow.config import Config
from cat_follow.errors import CatFollowError
from cat_follow.memory.pool import allocate_pool
from cat_follow.robot.client import NoService, send_line
from cat_follow.robot.command_socket import CommandServer
from cat_follow.robot.commands import CommandQueue
from cat_follow.threads.supervised import Health

STATUS = json.dumps({"state": "idle", "pad": "x" * 500})


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="cf", dir="/tmp"))  # AF_UNIX paths must be short
    yield d
    for p in d.iterdir():
        p.unlink()
    d.rmdir()


@pytest.fixture
def server(sock_dir: Path, config: Config) -> Iterator[CommandServer]:
    q = CommandQueue(allocate_pool(config))
    srv = CommandServer(sock_dir / "s.sock", q, lambda: STATUS, (-5.0, 5.0, -5.0, 5.0), Health(),
                        max_clients=8, max_line_bytes=64)
    srv.start()
    yield srv
    srv.stop()
    srv.join(2)
    srv.close()


def connect(srv: CommandServer) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(3)
    s.connect(str(srv.path))
    return s


def ask(s: socket.socket, line: str) -> str:
    s.sendall(line.encode() + b"\n")
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = s.recv(4096)
        if not chunk:
            break
        buf += chunk
    return buf.decode().rstrip("\n")


def test_many_clients_at_once(server: CommandServer) -> None:
    clients = [connect(server) for _ in range(5)]
    for i, c in enumerate(clients):
        assert json.loads(ask(c, "status"))["state"] == "idle"
        assert ask(c, f"cat_location {i} 1") == "OK"
        assert ask(c, "cat_location 9 9").startswith("ERR location (9, 9) is outside the arena")
        assert ask(c, "stop") == "OK"
    assert server.queue.take_stop()  # the main loop takes the stop...
    assert len(server.queue) == 0  # ...and with it drops what was queued before it
    for c in clients:
        c.close()


def test_socket_file_is_group_only_and_removed_on_close(sock_dir: Path, config: Config) -> None:
    q = CommandQueue(allocate_pool(config))
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(sock_dir / "x.sock"))  # left over from a crash: a socket nobody listens on
    stale.close()
    (sock_dir / "file.sock").write_text("not a socket")
    with pytest.raises(CatFollowError, match="not a socket"):
        CommandServer(sock_dir / "file.sock", q, lambda: STATUS, (-1, 1, -1, 1), Health())
    assert (sock_dir / "file.sock").read_text() == "not a socket"  # refused, and kept
    srv = CommandServer(sock_dir / "x.sock", q, lambda: STATUS, (-1, 1, -1, 1), Health())
    assert stat.S_IMODE(os.stat(srv.path).st_mode) == 0o660
    with pytest.raises(CatFollowError, match="already listening"):
        CommandServer(sock_dir / "x.sock", q, lambda: STATUS, (-1, 1, -1, 1), Health())
    srv.close()
    assert not srv.path.exists()


def test_partial_line_does_not_block_others(server: CommandServer) -> None:
    slow = connect(server)
    slow.sendall(b"cat_loc")  # and then nothing
    other = connect(server)
    t0 = time.monotonic()
    assert ask(other, "status") == STATUS
    assert time.monotonic() - t0 < 0.5
    slow.sendall(b"ation 1 2\n")  # completed later: still understood
    assert ask(slow, "status") in ("OK\n" + STATUS, "OK")
    slow.close()
    other.close()


def test_oversize_line_is_refused_and_the_client_dropped(server: CommandServer) -> None:
    c = connect(server)
    c.sendall(b"cat_location " + b"1" * 200 + b" 1\n")
    assert c.recv(4096).startswith(b"ERR line longer than 64 bytes")
    assert c.recv(4096) == b""  # closed
    c2 = connect(server)
    c2.sendall(b"x" * 500)  # no newline at all
    assert c2.recv(4096).startswith(b"ERR line longer")
    assert ask(connect(server), "status") == STATUS


def test_a_client_that_never_reads_is_held_back_then_dropped(server: CommandServer,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("cat_follow.robot.command_socket.STUCK_S", 0.5)
    deaf = connect(server)
    deaf.setblocking(False)
    other = connect(server)
    sent = 0
    deadline = time.monotonic() + 10
    while server.counts["dropped"] == 0 and time.monotonic() < deadline:
        try:
            sent += deaf.send(b"status\n" * 100)
        except (BlockingIOError, BrokenPipeError, ConnectionResetError):
            time.sleep(0.01)
        assert ask(other, "status") == STATUS  # the others are served all along
    assert server.counts["dropped"] >= 1, sent
    assert server.counts["lines"] < sent / len(b"status\n")  # it was not read past the high water


def test_too_many_clients_are_refused_but_a_stop_is_obeyed(server: CommandServer) -> None:
    """Over max_clients a new client may send one line: `stop` is obeyed, anything else (or
    nothing within OVERFLOW_S) is refused; then it is closed."""
    held = [connect(server) for _ in range(8)]
    for c in held:
        assert ask(c, "status") == STATUS
    extra = connect(server)
    assert ask(extra, "status") == "ERR too many clients"
    assert extra.recv(4096) == b""  # closed
    assert not server.queue.take_stop()
    stopper = connect(server)
    assert ask(stopper, "stop") == "OK" and stopper.recv(4096) == b""
    assert server.queue.take_stop()
    silent = connect(server)
    t = time.monotonic()
    assert silent.recv(4096) == b"ERR too many clients\n"
    assert 1.0 <= time.monotonic() - t < 3.0  # OVERFLOW_S, 2 s
    assert ask(held[0], "status") == STATUS  # the held clients were not disturbed
    for c in [*held, extra, stopper, silent]:
        c.close()


def test_idle_clients_are_disconnected(sock_dir: Path, config: Config) -> None:
    srv = CommandServer(sock_dir / "s.sock", CommandQueue(allocate_pool(config)), lambda: STATUS,
                        (-5.0, 5.0, -5.0, 5.0), Health(), max_clients=2, idle_s=0.5)
    srv.start()
    try:
        idle, busy = connect(srv), connect(srv)
        t = time.monotonic()
        while time.monotonic() - t < 1.0:
            assert ask(busy, "status") == STATUS  # a client that talks is kept
            time.sleep(0.1)
        assert idle.recv(4096) == b""  # disconnected: its slot is free again
        assert srv.counts["idle"] == 1
        again = connect(srv)
        assert ask(again, "status") == STATUS
        for c in (idle, busy, again):
            c.close()
    finally:
        srv.stop()
        srv.join(2)
        srv.close()


def test_a_flood_neither_blocks_other_clients_nor_the_control_loop(server: CommandServer) -> None:
    ticks: list[float] = []
    taken = [0]
    stop = threading.Event()

    def control_loop() -> None:  # the main thread's side: drains the queue at 50 Hz
        while not stop.is_set():
            ticks.append(time.monotonic())
            while server.queue.get() is not None:
                taken[0] += 1
            time.sleep(0.02)

    loop = threading.Thread(target=control_loop)
    loop.start()
    flood = connect(server)
    answers = bytearray()

    def flooder() -> None:
        flood.sendall(b"cat_location 1 1\n" * 20000)

    def reader() -> None:
        while answers.count(b"\n") < 20000:
            chunk = flood.recv(65536)
            if not chunk:
                break
            answers.extend(chunk)

    threads = [threading.Thread(target=flooder), threading.Thread(target=reader)]
    for t in threads:
        t.start()
    other = connect(server)
    round_trips = []
    for _ in range(20):
        t0 = time.monotonic()
        assert ask(other, "status") == STATUS
        round_trips.append(time.monotonic() - t0)
        time.sleep(0.01)
    for t in threads:
        t.join(30)
    stop.set()
    loop.join()
    while server.queue.get() is not None:  # what the loop's next tick would have taken (it stopped first)
        taken[0] += 1
    lines = answers.decode().splitlines()
    assert len(lines) == 20000
    assert set(lines) <= {"OK", "ERR busy"} and "ERR busy" in lines
    assert taken[0] == lines.count("OK")  # every accepted command reached the loop
    assert max(round_trips) < 0.5
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert max(gaps) < 0.25


def test_client_reports_no_service(sock_dir: Path) -> None:
    with pytest.raises(NoService, match="no cat-follow service is listening"):
        send_line([sock_dir / "none.sock"], "status")


def test_the_tmp_fallback_directory_is_0700_and_checked(tmp_path: Path) -> None:
    from cat_follow.robot.command_socket import secure_dir

    d = tmp_path / "cf"
    secure_dir(d)
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    d.chmod(0o755)  # e.g. made by someone else's umask: refused
    with pytest.raises(CatFollowError, match="0755"):
        secure_dir(d)
    d.chmod(0o700)
    secure_dir(d)
    link = tmp_path / "link"
    link.symlink_to(d)
    with pytest.raises(CatFollowError, match="not a directory"):
        secure_dir(link)
    if os.geteuid() == 0:  # root can make a directory owned by another user
        other = tmp_path / "other"
        other.mkdir(mode=0o700)
        os.chown(other, 12345, 12345)
        with pytest.raises(CatFollowError, match="belongs to uid 12345"):
            secure_dir(other)


def test_accept_errors_are_survived_and_counted(server: CommandServer, monkeypatch: pytest.MonkeyPatch) -> None:
    real = server.listener
    fails = {"n": 3}

    class Flaky:
        def accept(self) -> tuple[socket.socket, object]:
            if fails["n"] > 0:
                fails["n"] -= 1
                raise OSError(24, "Too many open files")
            return real.accept()

    monkeypatch.setattr(server, "listener", Flaky())
    c = connect(server)
    assert ask(c, "status").startswith("{")
    assert server.counts["accept_errors"] == 3 and server.is_alive()
    c.close()


def test_input_is_bounded_under_a_flood_of_short_valid_lines(server: CommandServer) -> None:
    """A client that writes short valid lines as fast as it can and reads its answers: the
    server's unprocessed input for it never grows past a bound."""
    from cat_follow.robot.command_socket import INBUF_HIGH

    c = connect(server)
    stop = threading.Event()
    peak = {"n": 0}

    def reader() -> None:
        with contextlib.suppress(OSError):
            while not stop.is_set() and c.recv(65536):
                pass

    def watch() -> None:
        while not stop.is_set():
            for cl in list(server.clients.values()):
                peak["n"] = max(peak["n"], len(cl.inbuf))
            time.sleep(0.001)

    threads = [threading.Thread(target=reader), threading.Thread(target=watch)]
    for t in threads:
        t.start()
    line = b"stop\n" * 2000
    deadline = time.monotonic() + 1.5
    with contextlib.suppress(OSError):
        while time.monotonic() < deadline:
            c.sendall(line)
    stop.set()
    c.close()
    for t in threads:
        t.join(5)
    assert server.counts["lines"] > 1000
    assert peak["n"] < INBUF_HIGH + 65536  # at most one recv past the mark
