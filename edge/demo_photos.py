"""Real photos the package may redistribute, for the README's first run (`claim-edge samples`).

Each file in ``edge/demo/`` has a row in ``edge/demo/sources.csv``: what it shows, where it came
from (repository, commit, path) and its licence; ``edge/demo/SOURCES.md`` says the same for
people. They are examples the shipped models get right, chosen for the demo: not a measurement
(the model cards give those, on held-out sources).
"""

from __future__ import annotations

import csv
import shutil
from dataclasses import dataclass
from pathlib import Path

DEMO_DIR = Path(__file__).resolve().parent / "demo"


@dataclass(frozen=True)
class DemoPhoto:
    file: str
    category: str                   # what the classifier should call it
    scenarios: tuple[str, ...]      # where the kiosk profile files it
    document: str                   # document type, or ""
    source_repo: str
    commit: str
    source_path: str
    licence: str

    @property
    def path(self) -> Path:
        return DEMO_DIR / self.file


def demo_photos() -> list[DemoPhoto]:
    with open(DEMO_DIR / "sources.csv", newline="", encoding="utf-8") as f:
        return [DemoPhoto(file=r["file"], category=r["category"],
                          scenarios=tuple(r["scenarios"].split()), document=r["document"],
                          source_repo=r["source_repo"], commit=r["commit"],
                          source_path=r["source_path"], licence=r["licence"])
                for r in csv.DictReader(f)]


def write_demo_photos(folder: str | Path) -> list[tuple[Path, DemoPhoto]]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for photo in demo_photos():
        dest = folder / photo.file
        shutil.copyfile(photo.path, dest)
        out.append((dest, photo))
    return out


__all__ = ["DEMO_DIR", "DemoPhoto", "demo_photos", "write_demo_photos"]
