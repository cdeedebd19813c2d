"""The real documents (../shared/data/documents: labels.csv + images/, SOURCES.md): loading,
the source groups that leave-one-source-out holds out, and the OCR cache (our OCR's output per
image, computed once under .cache/ocr and reused by training and evaluation).

    python -m models.toolkit.documents.real DATA_DIR/documents     # fill the OCR cache

Training code only: never imported by the runtime."""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

# A source is one public repository. Repositories with fewer than SMALL images are pooled into
# one group per document type they mostly hold ("small:<type>"), so that every held-out fold
# has enough images to say something and no fold trains on a sibling image of the one it tests
# (all images of a repository always fall in the same fold).
SMALL = 5


@dataclass(frozen=True)
class RealDoc:
    image: Path
    doc_type: str
    source: str       # the repository, owner/name
    note: str

    @property
    def name(self) -> str:
        return self.image.stem


def load_documents(data_dir: str | Path) -> list[RealDoc]:
    """The labelled documents of ``data_dir`` (the folder holding labels.csv). Raises
    FileNotFoundError with the path when labels.csv is missing."""
    data_dir = Path(data_dir)
    labels = data_dir / "labels.csv"
    if not labels.is_file():
        raise FileNotFoundError(f"{labels}: no labels.csv (image,doc_type,source_repo,...) there")
    out = []
    with open(labels, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            out.append(RealDoc(data_dir / row["image"], row["doc_type"], row["source_repo"],
                               row.get("note", "")))
    return out


def source_groups(docs: list[RealDoc], small: int = SMALL) -> dict[str, str]:
    """source repository -> the group it is held out with (itself, or small:<type>)."""
    per = Counter(d.source for d in docs)
    types: dict[str, Counter] = {}
    for d in docs:
        types.setdefault(d.source, Counter())[d.doc_type] += 1
    return {s: s if n >= small else f"small:{types[s].most_common(1)[0][0]}"
            for s, n in per.items()}


def fields_report(data_dir: str | Path, verbose: bool = False, out=print) -> dict:
    """Identity fields on the real documents (OCR from the cache), the document type taken as
    labelled: machine-readable zones found, parsed and valid; licence number and expiry read
    on the driving licences."""
    import hashlib

    from edge.documents.layout import Box
    from edge.documents.mrz import clean, find_mrz
    from edge.documents.stage import identity_fields
    from edge.ocr import OcrCache, lines_from_raw, settings_key
    from edge.ocr.models import space_gap

    from .receipts import CACHE, use_profile_ocr
    settings = use_profile_ocr()
    cache = OcrCache(CACHE, settings_key(**settings))
    gap = space_gap(settings["rec_model"])
    stats = Counter()
    rows = []
    for d in load_documents(data_dir):
        if d.doc_type not in ("id_card", "driver_license"):
            continue
        raw = cache.get(hashlib.sha256(d.image.read_bytes()).hexdigest())
        if raw is None:
            stats["not_read"] += 1
            continue
        boxes = [Box.from_quad(ln.box, ln.text, ln.score)
                 for ln in lines_from_raw(raw, gap_ratio=gap)]
        zone_text = [clean(b.text) for b in boxes if clean(b.text).count("<") >= 3
                     and len(clean(b.text)) >= 20]
        m = find_mrz(boxes)
        stats[f"{d.doc_type}:n"] += 1
        if zone_text:
            stats["zone_seen"] += 1
        if m is not None:
            stats["zone_parsed"] += 1
            stats["zone_seen_parsed"] += bool(zone_text)
            stats["zone_valid"] += m.valid
            stats[f"zone_{m.format}"] += 1
        f = identity_fields(boxes, d.doc_type, (), m)
        if d.doc_type == "driver_license":
            num, exp = f.get("license_number"), f.get("expiry_date")
            stats["dl_number"] += num is not None
            stats["dl_expiry"] += exp is not None
            stats["dl_both"] += num is not None and exp is not None
        rows.append((d.name, m and (m.format, dict(m.checks)), bool(zone_text),
                     {k: (v.value, v.valid, v.source) for k, v in f.items()}))
    n_dl = stats["driver_license:n"]
    out(f"identity documents read: {stats['id_card:n']} ID cards/passports, {n_dl} licences "
        f"({stats['not_read']} not in the OCR cache)")
    formats = ", ".join(f"{f} {stats[f'zone_{f}']}" for f in ("TD3", "TD2", "TD1", "DL", "FR")
                        if stats[f"zone_{f}"])
    out(f"machine-readable zone: text with fillers seen on {stats['zone_seen']}, of them "
        f"parsed {stats['zone_seen_parsed']}; parsed in all {stats['zone_parsed']} ({formats}), "
        f"every check digit holding on {stats['zone_valid']}")
    if n_dl:
        out(f"driving licences: number read on {stats['dl_number']}/{n_dl} "
            f"({stats['dl_number'] / n_dl:.3f}), expiry on {stats['dl_expiry']}/{n_dl} "
            f"({stats['dl_expiry'] / n_dl:.3f}), both on {stats['dl_both']}/{n_dl}")
    if verbose:
        for r in rows:
            out(f"  {r[0]}: zone {r[1]} (zone-like text {r[2]}) {r[3]}")
    return dict(stats)


def main(argv: list[str] | None = None) -> int:
    from .receipts import cached_ocr, use_profile_ocr
    if argv is None:
        argv = sys.argv[1:]
    if argv and argv[0] == "fields":
        fp = argparse.ArgumentParser(prog="python -m models.toolkit.documents.real fields",
                                     description="identity fields on the real documents")
        fp.add_argument("data_dir")
        fp.add_argument("--verbose", action="store_true")
        a = fp.parse_args(argv[1:])
        fields_report(a.data_dir, a.verbose)
        return 0
    ap = argparse.ArgumentParser(description="fill the OCR cache for the real documents")
    ap.add_argument("data_dir", help="the documents folder (labels.csv, images/)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reverse", action="store_true", help="last image first (a second worker "
                    "filling the same cache from the other end)")
    ap.add_argument("--start", type=int, default=0, help="begin at this image")
    a = ap.parse_args(argv)
    print(f"OCR settings (from the profile): {use_profile_ocr()}", flush=True)
    docs = load_documents(a.data_dir)
    if a.reverse:
        docs.reverse()
    docs = docs[a.start:]
    engine = None
    t0 = time.time()
    for i, d in enumerate(docs):
        _, engine = cached_ocr(d.image, engine, a.threads)
        if i % 10 == 0:
            print(f"{i}/{len(docs)} {time.time() - t0:.0f}s", flush=True)
    print(f"{len(docs)} documents read in {time.time() - t0:.0f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
