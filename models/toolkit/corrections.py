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


def count(samples) -> int:
    return sum(1 for s in samples if s.get("corrected"))


def summary(samples, exports) -> dict:
    """What a manifest records: how many corrected samples, from which exports."""
    return {"corrected_samples": count(samples), "exports": [str(e) for e in exports or ()]}
