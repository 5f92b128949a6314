"""Where the command socket lives: the configured path, or a per-user fallback, in a directory
checked to be this user's alone."""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from pathlib import Path

from cat_follow.errors import CatFollowError

log = logging.getLogger(__name__)


def fallback_dir() -> Path:
    return Path(f"/tmp/cat-follow-{os.getuid()}")


def secure_dir(path: Path) -> None:
    """Create ``path`` 0700, or accept it only if it is a real directory (not a link) owned by
    this user with no access for others: /tmp is shared, and whoever owns the directory
    could swap the socket for their own."""
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
    st = path.lstat()
    if not stat.S_ISDIR(st.st_mode):
        raise CatFollowError(f"{path} is not a directory (a link or a file): refusing to listen there")
    if st.st_uid != os.geteuid():
        raise CatFollowError(f"{path} belongs to uid {st.st_uid}, not to this user ({os.geteuid()}): "
                             "refusing to listen there")
    if st.st_mode & 0o077:
        raise CatFollowError(f"{path} has mode {stat.S_IMODE(st.st_mode):04o}, not 0700: refusing to listen there")


def fallback_socket_path() -> Path:
    """Where a non-root user's service listens when /run/cat-follow is not writable."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.access(runtime, os.W_OK):
        return Path(runtime) / "cat-follow.sock"
    return fallback_dir() / "cat-follow.sock"


def server_socket_path(configured: str, override: str | None) -> Path:
    """The path to listen on: --socket, else the config's, else the per-user fallback."""
    if override:
        return Path(override)
    path = Path(configured)
    parent = path.parent
    if (parent.is_dir() and os.access(parent, os.W_OK)) or (not parent.exists() and os.access(parent.parent, os.W_OK)):
        return path
    fb = fallback_socket_path()
    log.info("%s is not writable; listening on %s instead", parent, fb)
    return fb


def client_socket_paths(configured: str, override: str | None) -> list[Path]:
    return [Path(override)] if override else [Path(configured), fallback_socket_path()]
