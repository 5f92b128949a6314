"""The newest JPEGs, in preallocated buffers: the encoder's output, read by every viewer.

Only the web server's event-loop thread touches a ``JpegRing`` (the encoder thread hands
each encoded image over with ``loop.call_soon_threadsafe``), so it needs no lock.

Why the buffers can be reused while viewers are slow: a viewer sends the newest buffer with
one ``transport.write`` that runs without yielding to the loop, and asyncio's selector
transport (CPython 3.11, the Pi's and CI's Python) sends what the socket takes and *copies*
the rest into its own bounded buffer (``bytearray.extend``) before returning. So once the
write call returns nothing refers to the ring's buffer, and the next publish may overwrite the
oldest slot. A client slower than the encoder waits in aiohttp's drain (at most ~64 KiB
buffered per client), then takes whatever is newest: it skips frames, nothing piles up.
Newer Pythons may keep a view instead of copying: ``send_view`` copies there (one copy per
send, correct but slower) — see ``TRANSPORT_COPIES``.
"""

from __future__ import annotations

import sys

import numpy as np

TRANSPORT_COPIES = sys.version_info[:2] == (3, 11)


BOUNDARY = "frame"
PART_HEAD_MAX = 96  # room for the multipart part's header before each JPEG


class JpegRing:
    """``slots`` buffers, each holding one whole multipart part (its header, a JPEG of at most
    ``capacity`` bytes, CRLF), with its length, a sequence number and the capture time of its
    frame. ``publish`` copies into the oldest slot; a viewer sends ``newest()`` in one write."""

    def __init__(self, slots: int, capacity: int) -> None:
        self.capacity = capacity
        self._bufs = [bytearray(PART_HEAD_MAX + capacity + 2) for _ in range(slots)]
        self._views = [memoryview(b) for b in self._bufs]
        self._len = [0] * slots
        self._t_capture_ns = [0] * slots
        self._frame_seq = [0] * slots
        self._slot = -1
        self.seq = 0  # JPEGs published so far; 0 = none yet
        self.oversize = 0  # encodes larger than a slot, dropped

    def publish(self, jpeg: np.ndarray, t_capture_ns: int, frame_seq: int) -> bool:
        """Copy an encoded image (cv2.imencode's array) into the next slot; False if too big."""
        n = int(jpeg.shape[0])
        if n > self.capacity:
            self.oversize += 1
            return False
        slot = (self._slot + 1) % len(self._bufs)
        head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {n}\r\n\r\n".encode("ascii")
        view, h = self._views[slot], len(head)
        view[:h] = head
        view[h:h + n] = jpeg.data  # copy: the one copy out of OpenCV's buffer
        view[h + n:h + n + 2] = b"\r\n"
        self._len[slot], self._t_capture_ns[slot], self._frame_seq[slot] = h + n + 2, t_capture_ns, frame_seq
        self._slot = slot
        self.seq += 1
        return True

    def newest_jpeg(self) -> bytes:
        """A copy of the newest JPEG alone (tests, snapshots; not the streaming path)."""
        _, part, _, _ = self.newest()
        start = bytes(part[:PART_HEAD_MAX]).find(b"\r\n\r\n") + 4
        return bytes(part[start:len(part) - 2])

    def newest(self) -> tuple[int, memoryview, int, int]:
        """(ring seq, the whole part as a view into the slot, capture time ns, frame seq)."""
        s = self._slot
        if s < 0:
            return 0, self._views[0][:0], 0, 0
        return self.seq, self._views[s][: self._len[s]], self._t_capture_ns[s], self._frame_seq[s]


def send_view(view: memoryview) -> memoryview | bytes:
    """What to give the transport: the view itself where the transport copies (3.11)."""
    return view if TRANSPORT_COPIES else bytes(view)  # copy: only where the transport keeps views
