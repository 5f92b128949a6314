"""What a replay and a simulation both take: lock-step or paced, their outputs, the web view."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass
class RunOptions(Generic[T]):
    """``attach`` wraps the run around what it is given (the pipeline, the robot), e.g. the web view."""
    fast: bool = False
    out_video: Path | None = None
    summary_path: Path | None = None
    progress: bool = False
    attach: Callable[[T], AbstractContextManager[Any]] | None = None
