"""Stand-in for pyaudio (tests only): robot_hat.music needs its constants at import time."""

from __future__ import annotations

paInt16 = 8


class PyAudio:
    def __init__(self) -> None:
        raise OSError("no audio device on the emulated HAT")
