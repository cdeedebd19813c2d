"""The real receipts (../shared/data/receipts, ICDAR 2019 SROIE): loading, the fixed split, and
the OCR cache (our OCR output per image, computed once under .cache/ocr and reused).

Training code only: never imported by the runtime."""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2

from edge.config import OcrConfig
from edge.documents.page import cache_settings
from edge.documents.stage import OCR_ENGINE

ROOT = Path(__file__).resolve().parents[3]
CACHE = ROOT / ".cache" / "ocr"
# how the receipts are read (and the OCR cache keyed): set from the profile by use_profile_ocr()
OCR_SETTINGS: dict = dict(max_side=2000, use_cls=False, word_boxes=True,
                          rec_model=OcrConfig.rec_model, engine=OCR_ENGINE)
NOT_ENGINE_ARGS = ("find_page", "page_finder", "engine", "det_sha256")


def use_profile_ocr(det_max_side: int | None = None, rec_model: str | None = None) -> dict:
    """OCR_SETTINGS with the device profile's text detector side and recogniser (or the
    given ones), so that training, the cache and the evaluation read pages as the device does."""
    from edge.config import load_profile
    ocr = load_profile().ocr
    side = ocr.det_max_side if det_max_side is None else det_max_side
    OCR_SETTINGS.pop("det_max_side", None)
    if side:
        OCR_SETTINGS["det_max_side"] = side
    OCR_SETTINGS["rec_model"] = rec_model or ocr.rec_model
    for key in ("det_model", "det_sha256"):
        OCR_SETTINGS.pop(key, None)
    if ocr.det_model:   # a detector bundle: its file is part of what was read with
        from edge.ocr.models import detector_files
        OCR_SETTINGS["det_model"] = ocr.det_model
        OCR_SETTINGS["det_sha256"] = detector_files(ocr.det_model).used[3][:16]
    OCR_SETTINGS.pop("page_finder", None)
    OCR_SETTINGS.update(cache_settings(ocr.find_page))
    return OCR_SETTINGS


@dataclass
class Receipt:
    image: Path
    boxes: list[tuple[list[float], str]]   # 8 corner coordinates, text
    labels: dict[str, str]                 # company, date, address, total

    @property
    def name(self) -> str:
        return self.image.stem


def split_of(name: str) -> str:
    """Fixed split by a hash of the file name: 1 in 4 held out ("test"), never trained on."""
    return "test" if int(hashlib.md5(name.encode()).hexdigest(), 16) % 4 == 0 else "train"


def load_receipts(data_dir: str | Path) -> list[Receipt]:
    data_dir = Path(data_dir)
    out = []
    with open(data_dir / "labels.jsonl", encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            d = json.loads(line)
            boxes = []
            bpath = data_dir / d["boxes"]
            if bpath.is_file():
                with open(bpath, encoding="utf-8", errors="replace", newline="") as bf:
                    for row in csv.reader(bf):
                        if len(row) < 9:
                            continue
                        try:
                            coords = [float(v) for v in row[:8]]
                        except ValueError:
                            continue
                        boxes.append((coords, ",".join(row[8:]).strip()))
            out.append(Receipt(data_dir / d["image"], boxes,
                               {k: d.get(k, "") for k in ("company", "date", "address", "total")}))
    return out


def _engine(threads: int = 1):
    from edge.ocr import open_engine
    return open_engine(threads=threads, **{k: v for k, v in OCR_SETTINGS.items()
                                           if k not in NOT_ENGINE_ARGS})


def cached_ocr(image: Path, engine=None, threads: int = 1):
    """Raw OCR lines of one image, from the cache or computed (and cached) with the current
    OCR_SETTINGS."""
    from edge.ocr import OcrCache, settings_key
    data = image.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    cache = OcrCache(CACHE, settings_key(**OCR_SETTINGS))
    got = cache.get(sha)
    if got is not None:
        return got, engine
    engine = engine or _engine(threads)
    from edge.documents.page import read_document
    img = cv2.imread(str(image), cv2.IMREAD_COLOR)
    lines = read_document(engine, img, OCR_SETTINGS.get("det_max_side", 0),
                          OCR_SETTINGS.get("find_page", False))
    cache.put(sha, lines)
    return lines, engine


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="fill the OCR cache for the receipts (test first)")
    ap.add_argument("data_dir")
    ap.add_argument("--split", choices=["test", "train", "all"], default="all")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    print(f"OCR settings (from the profile): {use_profile_ocr()}")
    recs = load_receipts(a.data_dir)
    recs.sort(key=lambda r: (split_of(r.name) != "test", r.name))
    if a.split != "all":
        recs = [r for r in recs if split_of(r.name) == a.split]
    engine = None
    t0 = time.time()
    for i, r in enumerate(recs):
        _, engine = cached_ocr(r.image, engine, a.threads)
        if i % 10 == 0:
            print(f"{i}/{len(recs)} {time.time() - t0:.0f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
