"""Further real sources, found and recorded by the project but kept out of the repository
(their images are not ours to redistribute): each model kind's ``extra_sources/<source>/``
(models/claim-classifier for the classifier's car photos, models/plate-reader for plate photos
and crops, which the detector trains on too) holds its labels.csv (which file of which
repository commit, and its labels) and SOURCE.md (licence as stated, what was kept and dropped,
why).

``python -m models.toolkit.extra_sources build GIT_DIR --source thai_carparts --out DIR`` writes
the source's images from a local clone (or bare mirror) of its repository: each file at the
recorded commit, resized so its long side is at most the kind's ``RECORDS`` size (a plate box in
labels.csv is in those pixels), under the recorded name, with the labels.csv beside them.
``claim-edge-train ... --extra DIR`` (classifier) or ``--extra DIR`` of the detector, plate
reader and ``claim-edge eval plates`` then train and evaluate on them.
"""
from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

MODELS = Path(__file__).resolve().parents[1]
# where each kind's sources are recorded -> the long side their images are kept at
RECORDS = {MODELS / "claim-classifier" / "extra_sources": 800,
           MODELS / "plate-reader" / "extra_sources": 1280}


def records() -> dict[str, Path]:
    """Recorded sources by name; a name is one source across every kind (``build --source``)."""
    out: dict[str, Path] = {}
    for root in RECORDS:
        for p in sorted(root.iterdir()) if root.is_dir() else ():
            if (p / "labels.csv").is_file():
                if p.name in out:
                    raise SystemExit(f"source {p.name!r} is recorded twice: {out[p.name]} and {p}")
                out[p.name] = p
    return out


def build(git_dir: Path, source: str, out: Path, log=print) -> int:
    rec = records().get(source)
    if rec is None:
        raise SystemExit(f"no recorded source {source!r} (recorded: {', '.join(records())})")
    with open(rec / "labels.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    long_side = RECORDS[rec.parent]
    dest = out / source
    dest.mkdir(parents=True, exist_ok=True)
    rows = list({r["image"]: r for r in rows}.values())  # a photo with several plates: once
    for k, r in enumerate(rows, 1):
        blob = subprocess.run(["git", "--git-dir", str(git_dir), "show", f"{r['commit']}:{r['source_path']}"],
                              capture_output=True, check=False)
        img = cv2.imdecode(np.frombuffer(blob.stdout, np.uint8), cv2.IMREAD_COLOR) if blob.returncode == 0 else None
        if img is None:
            raise SystemExit(f"{git_dir}: {r['commit'][:12]}:{r['source_path']} is missing or not an image")
        s = min(1.0, long_side / max(img.shape[:2]))
        if s < 1:
            img = cv2.resize(img, (round(img.shape[1] * s), round(img.shape[0] * s)), interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(dest / r["image"]), img, [cv2.IMWRITE_JPEG_QUALITY, 90])
        if k % 100 == 0:
            log(f"  {source}: {k}/{len(rows)}")
    shutil.copy(rec / "labels.csv", dest / "labels.csv")
    shutil.copy(rec / "SOURCE.md", dest / "SOURCE.md")
    log(f"{source}: {len(rows)} images in {dest}")
    return len(rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m models.toolkit.extra_sources",
                                 description="Materialise a recorded further source from its repository.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", help="the recorded sources")
    b = sub.add_parser("build", help="write a recorded source's images from a clone of its repository")
    b.add_argument("git_dir", type=Path, help="the repository's .git folder or bare mirror")
    b.add_argument("--source", required=True)
    b.add_argument("--out", type=Path, required=True, help="folder to pass as --extra")
    a = ap.parse_args(argv)
    if a.cmd == "list":
        for name, p in records().items():
            n = sum(1 for _ in open(p / "labels.csv", encoding="utf-8")) - 1
            print(f"{name}: {n} images  ({p / 'SOURCE.md'})")
        return 0
    build(a.git_dir, a.source, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
