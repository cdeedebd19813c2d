"""Learn the bill reader's lexicon (edge/documents/lexicon.py) from the receipts' train split and
write models/document-classifier/bill_lexicon.json.

    python -m models.toolkit.documents.lexicon ../shared/data/receipts [--write]

- words: the words of 3+ letters in the train split's true vendors and addresses, kept when
  met at least twice;
- confusions: (as read, as printed) letter pairs from our OCR of the same receipts (the OCR
  cache: fill it first with ``python -m models.toolkit.documents.receipts DIR --split train``):
  a true word not in the OCR text, and an OCR word of its length that differs from it in one
  place, counts that place's pair; kept when met at least twice.

Before writing, the repair is measured on the train split in 4 folds (the lexicon learned on 3,
applied to the 4th's vendors and addresses as the shipped bill typer reads them): fields it
makes right and fields it makes wrong. The test split's figure is ``claim-edge eval receipts``.
Training code only."""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections import Counter
from pathlib import Path

from edge.documents.bills import MODEL_DIR, BoxTyper, field_match, read_bill
from edge.documents.lexicon import LEXICON_FILE, WORD, Lexicon

from .bills import ocr_boxes
from .receipts import cached_ocr, load_receipts, split_of, use_profile_ocr

MIN_COUNT = 2
FIELDS = {"company": "vendor", "address": "address"}


def _truth_words(labels: dict) -> list[str]:
    return [w for f in FIELDS for w in WORD.findall(labels.get(f, "").upper())
            if len(w) >= 3 and w.isalpha()]


def learn(items: list[tuple[dict, list]]) -> Lexicon:
    """The lexicon from (true labels, OCR boxes) pairs."""
    words = Counter(w for labels, _ in items for w in _truth_words(labels))
    pairs: Counter = Counter()
    for labels, boxes in items:
        read = set(WORD.findall(" ".join(b.text for b in boxes).upper()))
        for w in set(_truth_words(labels)) - read:
            for r in read:
                diff = [(a, b) for a, b in zip(r, w) if a != b] if len(r) == len(w) else []
                if len(diff) == 1 and diff[0][1].isalpha():
                    pairs[diff[0]] += 1
    return Lexicon({w: n for w, n in words.items() if n >= MIN_COUNT},
                   frozenset(p for p, n in pairs.items() if n >= MIN_COUNT))


def repair_effect(items: list[tuple[str, dict, list]], typer: BoxTyper, folds: int = 4) -> Counter:
    """Fields the lexicon makes right ('fixed') and wrong ('broken'), each fold's receipts read
    with the lexicon learned on the other folds."""
    out: Counter = Counter()
    without = BoxTyper(typer.w, typer.manifest)
    for k in range(folds):
        held = [it for i, it in enumerate(items) if i % folds == k]
        rest = [(lab, boxes) for i, (_, lab, boxes) in enumerate(items) if i % folds != k]
        with_lexicon = BoxTyper(typer.w, typer.manifest, learn(rest))
        for _, labels, boxes in held:
            plain, _ = read_bill(boxes, without)
            fixed, _ = read_bill(boxes, with_lexicon)
            for tf, pf in FIELDS.items():
                if not labels.get(tf):
                    continue
                a, b = (pf in got and field_match(pf, got[pf].value, labels[tf])
                        for got in (plain, fixed))
                out[f"{tf} right"] += b
                out[f"{tf} fixed"] += b and not a
                out[f"{tf} broken"] += a and not b
                out[f"{tf} n"] += 1
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data_dir")
    ap.add_argument("--out", default=str(MODEL_DIR))
    ap.add_argument("--write", action="store_true", help="write the lexicon and its manifest entry")
    a = ap.parse_args(argv)
    use_profile_ocr()
    recs = sorted((r for r in load_receipts(a.data_dir) if split_of(r.name) == "train"),
                  key=lambda r: r.name)
    items, engine = [], None
    for r in recs:
        raw, engine = cached_ocr(r.image, engine)
        items.append((r.name, r.labels, ocr_boxes(raw)))
    typer = BoxTyper.load(a.out)
    effect = repair_effect(items, typer)
    print(f"{len(items)} train receipts, 4 folds (learned on 3, applied to the 4th):")
    for tf in FIELDS:
        print(f"  {tf:<8} right {effect[tf + ' right']}/{effect[tf + ' n']}: "
              f"fixed {effect[tf + ' fixed']}, broken {effect[tf + ' broken']}")
    lexicon = learn([(lab, boxes) for _, lab, boxes in items])
    print(f"lexicon: {len(lexicon.words)} words, confusions (read, printed) "
          f"{sorted(lexicon.confusions)}")
    if a.write:
        out = Path(a.out)
        path = out / LEXICON_FILE
        path.write_text(json.dumps(lexicon.to_json(), indent=1) + "\n", encoding="utf-8")
        mpath = out / "manifest.json"
        man = json.loads(mpath.read_text(encoding="utf-8"))
        man["bill_lexicon"] = {
            "file": LEXICON_FILE, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "words": len(lexicon.words), "confusions": len(lexicon.confusions),
            "trained_on": "SROIE train split: true vendors and addresses, our OCR of them",
            "command": "python -m models.toolkit.documents.lexicon ../shared/data/receipts --write",
            "train_folds": {k: v for k, v in sorted(effect.items())}}
        mpath.write_text(json.dumps(man, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
