"""Operators' corrections and reviewers' decisions, exported by central
(``claim-edge central export-labels``), folded into the toolkit's training data.

An export has the data folder's layout (``plate_photos/labels.csv``, ``documents/labels.csv``,
``not_claim/labels.csv`` ...), so the same loaders read it; its samples are marked
``corrected: True``, always go to the train split (the held-out splits stay the data folder's,
so figures remain comparable), and the model card and manifest say how many were used.
"""

from __future__ import annotations

from pathlib import Path

SOURCE = "corrections"


def check_export(export_dir: str | Path) -> Path:
    d = Path(export_dir)
    if not (d / "export.json").is_file():
        raise SystemExit(f"{d}: not an export of `claim-edge central export-labels` "
                         "(no export.json)")
    return d


def classifier_samples(export_dir: str | Path) -> list[dict]:
    """The export's photos as classifier samples (models/toolkit/data.py format)."""
    from .data import index_real
    d = check_export(export_dir)
    return [dict(s, source=f"{SOURCE}/{s['source']}", split="train", corrected=True,
                 key=f"{SOURCE}/{s['key']}") for s in index_real(d)]


def plate_samples(export_dir: str | Path) -> list[dict]:
    """The export's corrected plates as plate-reader samples (plates_ctc format)."""
    import csv
    d = check_export(export_dir)
    p = d / "plate_photos" / "labels.csv"
    if not p.is_file():
        return []
    out = []
    with open(p, encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            out.append({"path": str(d / "plate_photos" / r["image"]), "text": r["plate"],
                        "box": [float(r[k]) for k in ("x", "y", "w", "h")], "split": "train",
                        "key": f"{SOURCE}/{Path(r['image']).name}", "region": r["region"],
                        "corrected": True})
    return out


def count(samples) -> int:
    return sum(1 for s in samples if s.get("corrected"))


def summary(samples, exports) -> dict:
    """What a manifest records: how many corrected samples, from which exports."""
    return {"corrected_samples": count(samples), "exports": [str(e) for e in exports or ()]}
