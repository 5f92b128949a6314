"""Named shared-memory segments: created by the service, attached by its children, swept
when a previous run died without unlinking them.

Names are ``cat-follow-<pid>-<tag>`` (``/dev/shm/cat-follow-<pid>-<tag>`` on Linux): the
service, the pid of the process that created the segment, and what it holds. The sweep at
start-up unlinks a segment only if its name has that form, its owner is this user, and its
pid is dead; a segment of a live process, of another user or of another program is left
alone.

Python 3.11's ``multiprocessing.resource_tracker`` registers every ``SharedMemory`` it sees,
created or merely attached, and unlinks what is still registered when the tracker shuts
down (cpython#82300): an attaching child could unlink the service's segment under it. Here
nothing stays registered: ``create_segment`` and ``attach_segment`` unregister at once
(``track=False`` where Python has it, 3.13+). Cleanup is explicit instead: the creator
unlinks in its shutdown path, and ``sweep_stale`` covers a creator killed by SIGKILL.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import sys
from multiprocessing import resource_tracker
from multiprocessing.shared_memory import SharedMemory
from pathlib import Path

log = logging.getLogger(__name__)

SERVICE = "cat-follow"
SHM_DIR = Path("/dev/shm")
_NAME = re.compile(rf"^{SERVICE}-(\d+)-[A-Za-z0-9_]+$")


def segment_name(tag: str, pid: int | None = None) -> str:
    """``cat-follow-<pid>-<tag>``; ``tag`` is letters, digits and underscores."""
    if not re.fullmatch(r"[A-Za-z0-9_]+", tag):
        raise ValueError(f"segment tag {tag!r}: letters, digits and underscores only")
    return f"{SERVICE}-{os.getpid() if pid is None else pid}-{tag}"


def _untrack(shm: SharedMemory) -> None:
    """Take the segment out of the resource tracker's books (see module docstring)."""
    resource_tracker.unregister(shm._name, "shared_memory")  # type: ignore[attr-defined]


def create_segment(tag: str, size: int) -> SharedMemory:
    """Create this process's segment ``tag`` (zero-filled by the kernel); the caller owns it
    and must ``close()`` and ``unlink()`` it on every exit path."""
    if sys.version_info >= (3, 13):
        return SharedMemory(segment_name(tag), create=True, size=size, track=False)  # type: ignore[call-arg]
    shm = SharedMemory(segment_name(tag), create=True, size=size)
    _untrack(shm)
    return shm


def attach_segment(name: str) -> SharedMemory:
    """Map a segment another process created, without ever letting this process's resource
    tracker unlink it. The caller only ``close()``s it."""
    if sys.version_info >= (3, 13):
        return SharedMemory(name, track=False)  # type: ignore[call-arg]
    shm = SharedMemory(name)
    _untrack(shm)
    return shm


def unlink_segment(shm: SharedMemory) -> None:
    """Close and unlink a segment this process created (``create_segment``). Views onto it
    that are still alive keep the mapping (the kernel frees it with the last one); the name
    goes at once, so no one can attach to it any more."""
    try:
        shm.close()
    except BufferError:
        log.debug("segment %s still has views; unlinking it anyway", shm.name)
    if sys.version_info < (3, 13):
        # SharedMemory.unlink() tells the tracker to forget the name; it was never left
        # registered, so register it for that one message (else the tracker logs a KeyError).
        resource_tracker.register(shm._name, "shared_memory")  # type: ignore[attr-defined]
    try:
        shm.unlink()
    except FileNotFoundError:
        log.warning("segment %s was already unlinked", shm.name)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, belongs to someone else
    return True


def sweep_stale(shm_dir: Path = SHM_DIR) -> list[str]:
    """Unlink this user's ``cat-follow-<pid>-*`` segments whose pid is dead; returns their
    names. Anything else in ``shm_dir`` is left untouched."""
    removed: list[str] = []
    if not shm_dir.is_dir():
        return removed
    uid = os.getuid()
    for entry in shm_dir.iterdir():
        m = _NAME.match(entry.name)
        if not m or int(m.group(1)) == os.getpid() or _alive(int(m.group(1))):
            continue
        try:
            st = entry.lstat()
            if st.st_uid != uid or not stat.S_ISREG(st.st_mode):
                continue  # someone else's, or not a segment (a link, a directory)
            entry.unlink()
        except FileNotFoundError:
            continue  # another sweeper was first
        except OSError as exc:
            log.warning("could not remove stale segment %s: %s", entry, exc)
            continue
        log.warning("removed stale shared-memory segment %s (its process %s is gone)", entry.name, m.group(1))
        removed.append(entry.name)
    return removed
