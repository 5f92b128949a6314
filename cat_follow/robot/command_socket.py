"""The command socket: a line protocol on a Unix domain socket, one non-blocking thread.

Each client gets an input and an output buffer; the thread never blocks on any of them, so
a slow, silent or flooding client cannot hold up the others or the control loop (which only
reads the CommandQueue). At most ``MAX_LINES_PER_TURN`` lines of one client are handled
before the others get their turn; a client whose unread answers pass ``HIGH_WATER`` is not
read from until it takes them (a flood is slowed down, not buffered), and is dropped if it
takes none for ``STUCK_S``. A line longer than ``max_line_bytes`` is answered ``ERR`` and
the connection closed. A client that sends nothing for ``idle_s`` is disconnected.

``stop`` is never refused: with ``max_clients`` connected, a new client still gets
``OVERFLOW_S`` to send one line (at most ``max_clients`` such clients at once); a ``stop`` is
obeyed and answered ``OK``, anything else ``ERR too many clients``; then it is closed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import socket
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cat_follow.errors import CatFollowError
from cat_follow.robot.commands import VERB_STOP, CommandError, CommandQueue, answer_command, parse_command
from cat_follow.robot.socket_paths import client_socket_paths as client_socket_paths
from cat_follow.robot.socket_paths import fallback_dir, secure_dir
from cat_follow.robot.socket_paths import server_socket_path as server_socket_path
from cat_follow.threads.supervised import Health, SupervisedThread

log = logging.getLogger(__name__)

HIGH_WATER = 16 * 1024  # unsent answers above this: stop reading that client (back-pressure)
STUCK_S = 5.0  # a client that takes none of its answers for this long is dropped
MAX_LINES_PER_TURN = 32
INBUF_HIGH = 16 * 1024  # unprocessed input above this: stop reading that client until it is handled
SOCKET_MODE = 0o660
OVERFLOW_S = 2.0  # a client over max_clients has this long to send its one line (a stop is sent at once)
TOO_MANY = "ERR too many clients"


@dataclass
class _Client:
    sock: socket.socket
    inbuf: bytearray = field(default_factory=bytearray)
    outbuf: bytearray = field(default_factory=bytearray)
    closing: bool = False
    stuck_since: float | None = None  # answers waiting and none taken since then
    heard: float = field(default_factory=time.monotonic)  # when it last sent anything
    since: float = field(default_factory=time.monotonic)  # when it connected
    overflow: bool = False  # accepted over max_clients: one line (a stop) and closed


class CommandServer(SupervisedThread):
    """Owns the listening socket and every client connection."""

    def __init__(self, path: Path, queue: CommandQueue, status: Callable[[], str],
                 arena: tuple[float, float, float, float], health: Health, *,
                 max_clients: int = 16, max_line_bytes: int = 256, idle_s: float = 30.0,
                 on_answer: Callable[[str, str], None] | None = None) -> None:
        super().__init__("commands", health)
        self.on_answer = on_answer  # told of every line and its answer (the recorder)
        self.path = path
        self.queue = queue
        self.status = status
        self.arena = arena
        self.max_clients = max_clients
        self.max_line = max_line_bytes
        self.idle_s = idle_s
        self.sel = selectors.DefaultSelector()
        self.clients: dict[int, _Client] = {}
        self.counts = {"connections": 0, "lines": 0, "errors": 0, "dropped": 0, "refused": 0, "accept_errors": 0,
                       "idle": 0, "overflow_stops": 0}
        self.listener = self._bind()
        self.sel.register(self.listener, selectors.EVENT_READ, None)

    def _bind(self) -> socket.socket:
        """Bind before any thread starts (the umask is process-wide); refuse to steal the
        socket of a running service, remove a stale one."""
        if self.path.parent == fallback_dir():
            secure_dir(self.path.parent)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        if os.path.lexists(self.path):
            if not stat.S_ISSOCK(self.path.lstat().st_mode):
                raise CatFollowError(f"{self.path} exists and is not a socket: refusing to remove it")
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.connect(str(self.path))
            except OSError:
                self.path.unlink()  # stale: nobody listening
            else:
                raise CatFollowError(f"another cat-follow is already listening on {self.path}")
            finally:
                probe.close()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o117)
        try:
            sock.bind(str(self.path))
        except OSError as exc:
            sock.close()
            raise CatFollowError(f"cannot listen on {self.path}: {exc.strerror}") from exc
        finally:
            os.umask(old)
        os.chmod(self.path, SOCKET_MODE)
        sock.listen(32)
        sock.setblocking(False)
        return sock

    # ---- protocol ----------------------------------------------------------------------
    def answer(self, line: str) -> str:
        """The reply to one command line (no newline)."""
        reply = answer_command(line, self.queue, self.arena, self.status)
        if reply.startswith("ERR"):
            self.counts["errors"] += 1
        if self.on_answer is not None:
            self.on_answer(line, reply)
        return reply

    # ---- I/O ---------------------------------------------------------------------------
    def _accept(self) -> None:
        try:
            sock, _ = self.listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:  # EMFILE, ENFILE, ENOBUFS, ECONNABORTED...: survive, count, pause
            self.counts["accept_errors"] += 1
            log.warning("accept() failed: %s", exc)
            self.stopping.wait(0.05)  # the listener stays readable: do not spin on it
            return
        sock.setblocking(False)
        self.counts["connections"] += 1
        over = sum(c.overflow for c in self.clients.values())
        if len(self.clients) - over >= self.max_clients and over >= self.max_clients:
            self.counts["refused"] += 1
            with contextlib.suppress(OSError):
                sock.send(TOO_MANY.encode() + b"\n")
            sock.close()
            return
        self.clients[sock.fileno()] = _Client(sock, overflow=len(self.clients) - over >= self.max_clients)
        self.sel.register(sock, selectors.EVENT_READ, sock.fileno())

    def _drop(self, c: _Client) -> None:
        fd = c.sock.fileno()
        self.clients.pop(fd, None)
        with contextlib.suppress(KeyError, ValueError):
            self.sel.unregister(c.sock)
        c.sock.close()

    def _reply(self, c: _Client, text: str, *, then_close: bool = False) -> None:
        c.outbuf += text.encode("ascii", "replace") + b"\n"
        c.closing = c.closing or then_close

    def _flush(self, c: _Client) -> None:
        try:
            sent = c.sock.send(c.outbuf) if c.outbuf else 0
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self._drop(c)
            return
        del c.outbuf[:sent]
        if sent or not c.outbuf:
            c.stuck_since = None
        elif c.stuck_since is None:
            c.stuck_since = time.monotonic()
        if not c.outbuf and c.closing:
            self._drop(c)
            return
        # back-pressure: a client that does not take its answers is not read from
        events = selectors.EVENT_WRITE if c.outbuf else 0
        if len(c.outbuf) < HIGH_WATER and len(c.inbuf) < INBUF_HIGH and not c.closing:
            events |= selectors.EVENT_READ
        with contextlib.suppress(KeyError, ValueError):
            self.sel.modify(c.sock, events or selectors.EVENT_READ, c.sock.fileno())

    def _recv(self, c: _Client) -> None:
        try:
            data = c.sock.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._drop(c)
            return
        if not data:
            self._drop(c)
            return
        c.inbuf += data
        c.heard = time.monotonic()

    def _processable(self, c: _Client) -> bool:
        return not c.closing and len(c.outbuf) < HIGH_WATER and c.inbuf.find(b"\n") >= 0

    def _process(self, c: _Client) -> None:
        """Answer at most MAX_LINES_PER_TURN complete lines, then let others have a turn."""
        for _ in range(MAX_LINES_PER_TURN):
            nl = c.inbuf.find(b"\n")
            if nl < 0 or c.closing:
                break
            raw = bytes(c.inbuf[:nl]).rstrip(b"\r")
            del c.inbuf[: nl + 1]
            if len(raw) > self.max_line:
                self._oversize(c)
                break
            self.counts["lines"] += 1
            if c.overflow:
                self._overflow_line(c, raw.decode("ascii", "replace"))
                break
            self._reply(c, self.answer(raw.decode("ascii", "replace")))
        if not c.closing and c.inbuf.find(b"\n") < 0 and len(c.inbuf) > self.max_line:
            self._oversize(c)
        self._flush(c)

    def _oversize(self, c: _Client) -> None:
        self.counts["errors"] += 1
        self.counts["dropped"] += 1
        c.inbuf.clear()
        self._reply(c, f"ERR line longer than {self.max_line} bytes; closing", then_close=True)

    def _overflow_line(self, c: _Client, line: str) -> None:
        """The one line of a client over max_clients: obeyed if it is ``stop``, else refused."""
        try:
            is_stop = parse_command(line, self.arena).verb == VERB_STOP
        except CommandError:
            is_stop = False
        if is_stop:
            self.counts["overflow_stops"] += 1
            self._reply(c, self.answer(line), then_close=True)
        else:
            self.counts["refused"] += 1
            self._reply(c, TOO_MANY, then_close=True)

    def _drop_stuck(self) -> None:
        """Drop clients that take no answers, idle ones, and overflow ones past their time."""
        now = time.monotonic()
        for c in list(self.clients.values()):
            if c.stuck_since is not None and now - c.stuck_since > STUCK_S:
                log.warning("dropping a command client that has not read its answers for %.0f s", STUCK_S)
                self.counts["dropped"] += 1
                self._drop(c)
            elif c.overflow and not c.closing and now - c.since > OVERFLOW_S:  # not extended by a trickle
                self.counts["refused"] += 1
                self._reply(c, TOO_MANY, then_close=True)
                self._flush(c)
            elif now - c.heard > self.idle_s and not c.closing:
                log.info("disconnecting a command client idle for %.0f s", self.idle_s)
                self.counts["idle"] += 1
                self._drop(c)

    def loop(self) -> None:
        while not self.stopping.is_set():
            self.beat()
            busy = any(self._processable(c) for c in self.clients.values())
            for key, events in self.sel.select(timeout=0 if busy else 0.1):
                if key.data is None:
                    self._accept()
                    continue
                c = self.clients.get(key.data)
                if c is None:
                    continue
                if events & selectors.EVENT_WRITE:
                    self._flush(c)
                if (events & selectors.EVENT_READ and key.data in self.clients and len(c.outbuf) < HIGH_WATER
                        and len(c.inbuf) < INBUF_HIGH):
                    self._recv(c)
            for c in list(self.clients.values()):
                if self._processable(c) or (not c.closing and len(c.inbuf) > self.max_line):
                    self._process(c)
            self._drop_stuck()

    def close(self) -> None:
        """Close every connection and the socket, and remove its file (after stop/join)."""
        for c in list(self.clients.values()):
            self._drop(c)
        with contextlib.suppress(KeyError, ValueError):
            self.sel.unregister(self.listener)
        self.listener.close()
        self.sel.close()
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISSOCK(self.path.stat().st_mode):
                self.path.unlink()
