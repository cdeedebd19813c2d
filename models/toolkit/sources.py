"""Reading the labelled sets every toolkit room shares: the hash split of a file name, the
label files of ../shared/data (with the project's recorded errata applied) and of the further
sources kept outside it, and the image decode the training code uses."""
from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import cv2
import numpy as np

SPLITS = (("train", 0.70), ("val", 0.15), ("test", 0.15))


def split_of(key: str) -> str:
    """Deterministic split from a stable hash of the file name."""
    h = int(hashlib.sha1(key.encode("utf-8")).hexdigest()[:8], 16) / 0xFFFFFFFF
    acc = 0.0
    for name, frac in SPLITS:
        acc += frac
        if h < acc:
            return name
    return SPLITS[-1][0]


# Labels of ../shared/data that the photo and the plate's national format contradict, checked
# by eye: each row names the set, image, column, the label as given, the label used and why.
ERRATA = Path(__file__).with_name("label_errata.csv")


def read_errata(path: str | Path = ERRATA) -> dict[tuple[str, str, str], tuple[str, str]]:
    """(set, image, column) -> (label as given, label used)."""
    with open(path, newline="", encoding="utf-8") as f:
        return {(r["set"], r["image"], r["column"]): (r["was"], r["now"])
                for r in csv.DictReader(f)}


def read_labels(data_dir: str | Path, name: str, errata: str | Path | None = ERRATA) -> list[dict]:
    """Rows of ``<data_dir>/<name>/labels.csv`` (none when the set is absent), with the
    ``errata`` applied where the label is still the one they correct (a set whose label was
    since fixed, or changed otherwise, is read as it is)."""
    p = Path(data_dir) / name / "labels.csv"
    if not p.is_file():
        return []
    with open(p, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    fixes = read_errata(errata) if errata else {}
    for r in rows:
        for column, value in r.items():
            was_now = fixes.get((name, r.get("image", ""), column))
            if was_now and value == was_now[0]:
                r[column] = was_now[1]
    return rows


def read_jsonl(data_dir: str | Path, name: str) -> list[dict]:
    """Rows of ``<data_dir>/<name>/labels.jsonl`` (none when the set is absent)."""
    p = Path(data_dir) / name / "labels.jsonl"
    if not p.is_file():
        return []
    return [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def read_sources(root: str | Path, columns) -> dict[str, list[dict]]:
    """The rows of every ``root/<source>/labels.csv``, by source: the further real sources kept
    outside ../shared/data (``python -m models.toolkit.extra_sources build`` writes them). A
    file without one of ``columns`` is refused by name, and so is a folder with none."""
    out = {}
    for folder in sorted(p for p in Path(root).iterdir() if (p / "labels.csv").is_file()):
        rows = read_labels(folder.parent, folder.name)
        missing = [c for c in columns if rows and c not in rows[0]]
        if missing:
            raise SystemExit(f"{folder / 'labels.csv'}: missing column(s) {', '.join(missing)}")
        out[folder.name] = rows
    if not any(out.values()):
        raise SystemExit(f"{root}: no <source>/labels.csv here (--extra expects the folder "
                         "that `python -m models.toolkit.extra_sources build` wrote)")
    return out


def decode_rgb(path: str | Path) -> np.ndarray:
    """OpenCV decode (EXIF orientation applied by IMREAD_COLOR), BGR -> RGB uint8."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"{path}: cannot decode image")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
