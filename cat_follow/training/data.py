"""The pets photo set (``../shared/datasets/pets``), read in place, and its fixed split.

Every row of MANIFEST.tsv is one photo with its class and sha256. The split depends on the
file's sha256 only (``split_of``), so it never changes with the order of files, the machine
or the seed: ``int(sha256[:8], 16) % 10`` is 0-1 -> ``test`` (20%), 2 -> ``calib`` (10%,
temperature scaling), 3-9 -> ``train`` (70%).
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from cat_follow.errors import ConfigError
from cat_follow.perception.classifier import CLASSES
from cat_follow.perception.model import REPO_ROOT

DEFAULT_DATA = REPO_ROOT.parent / "shared" / "datasets" / "pets"
SPLITS = ("train", "calib", "test")


@dataclass(frozen=True)
class Photo:
    path: Path
    label: int     # index into CLASSES
    sha256: str    # of the file, from MANIFEST.tsv
    subclass: str  # breed or Caltech category

    @property
    def split(self) -> str:
        return split_of(self.sha256)


def split_of(sha256: str) -> str:
    """``train``, ``calib`` or ``test`` for a file's sha256 (see the module docstring)."""
    r = int(sha256[:8], 16) % 10
    return "test" if r < 2 else "calib" if r == 2 else "train"


def read_image(path: Path) -> np.ndarray:
    """A photo as BGR; one Oxford file named .jpg is a GIF, which imread refuses: its first
    frame is read with VideoCapture. ConfigError if neither can decode it."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        cap = cv2.VideoCapture(str(path))
        ok, img = cap.read()
        cap.release()
        if not ok:
            raise ConfigError(f"pets data: {path} cannot be decoded")
    return img


def manifest_sha256(data: Path) -> str:
    return hashlib.sha256((data / "MANIFEST.tsv").read_bytes()).hexdigest()


def read_photos(data: Path) -> list[Photo]:
    """Every photo MANIFEST.tsv lists, sorted by file name; ConfigError if the set is missing
    or a listed file is absent."""
    manifest = data / "MANIFEST.tsv"
    if not manifest.is_file():
        raise ConfigError(f"pets data {data}: no MANIFEST.tsv (expected ../shared/datasets/pets; see --data)")
    photos = []
    with manifest.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if row["class"] not in CLASSES:
                raise ConfigError(f"{manifest}: unknown class {row['class']!r} for {row['file']}")
            path = data / row["file"]
            if not path.is_file():
                raise ConfigError(f"{manifest}: {row['file']} is listed but missing")
            photos.append(Photo(path, CLASSES.index(row["class"]), row["file_sha256"], row["subclass"]))
    return sorted(photos, key=lambda p: p.path.name)
