"""``claim-edge eval receipts DATA_DIR`` and ``claim-edge eval documents [DIR]``.

receipts: per-field exact match and F1 for vendor (company), date, address and total on the
held-out split of the receipts folder (labels.jsonl + boxes/), end to end from pixels with our
OCR (cached under .cache/ocr), and with the given boxes as an upper bound. Every miss is put in
one of: ocr_error (the true value is not in the OCR text at all), wrong_box (it is, but another
box was typed as the field, or none was), wrong_link (the value box was linked to the wrong
key, e.g. the subtotal's or the cash line's amount).

documents: on a folder with labels.csv (the real documents: image, doc_type, source_repo), document
type with every source held out of training once (leave one source out; fusion, text-only and
image-only trained on the same samples per fold; ``documents/loso.py``). Otherwise the shipped
classifier on generated documents of the held-out layout, or on a folder of images named
TYPE_*.png/jpg (OCR is run on them)."""

from __future__ import annotations

import argparse
import json
import re
import random
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import cv2
import numpy as np

from edge.documents.bills import BoxTyper, field_match, read_bill
from edge.documents.layout import Box, reading_order
from edge.documents.normalize import compact, find_amounts

FIELDS = {"company": "vendor", "date": "date", "address": "address", "total": "total"}


def _predicted_text(name: str, ex) -> str:
    if ex is None:
        return ""
    return ex.raw if name == "date" else ex.value


def _miss_kind(name: str, ex, truth: str, boxes: list[Box]) -> str:
    alltext = compact(" ".join(b.text for b in reading_order(boxes)))
    if name == "total":
        want = find_amounts(truth)
        have = {a.decimal for b in boxes for a in find_amounts(b.text)}
        present = bool(want) and want[-1].decimal in have
    else:
        present = compact(truth) in alltext
    if not present:
        return "ocr_error"
    if ex is not None and ex.key_box >= 0 and name in ("date", "total"):
        return "wrong_link"
    return "wrong_box"


def evaluate_set(items, typer: BoxTyper, label: str, verbose: bool = False) -> dict:
    stats = {f: Counter() for f in FIELDS}
    misses = {f: Counter() for f in FIELDS}
    examples = defaultdict(list)
    for name, boxes, truth in items:
        got, _ = read_bill(boxes, typer)
        for tf, pf in FIELDS.items():
            t = truth.get(tf, "")
            ex = got.get(pf)
            pred = _predicted_text(pf, ex)
            s = stats[tf]
            s["n"] += 1
            s["truth"] += bool(t)
            s["pred"] += bool(pred)
            if t and pred and re.sub(r"[^A-Z0-9]", "", pred.upper()) == \
                    re.sub(r"[^A-Z0-9]", "", t.upper()):
                s["alnum_ok"] += 1
            if t and pred and field_match(pf, pred, t):
                s["ok"] += 1
            elif t:
                kind = _miss_kind(pf, ex, t, boxes) if pred or True else "not_found"
                misses[tf][kind] += 1
                if len(examples[tf]) < 400:
                    examples[tf].append((name, kind, pred, t))
    print(f"\n{label}")
    print(f"{'field':<10}{'exact':>8}{'prec':>8}{'recall':>8}{'F1':>8}{'alnum':>8}   misses "
          f"(alnum: exact match ignoring punctuation too, a diagnostic only)")
    f1s = {}
    for tf, s in stats.items():
        p = s["ok"] / s["pred"] if s["pred"] else 0.0
        r = s["ok"] / s["truth"] if s["truth"] else 0.0
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        f1s[tf] = f1
        print(f"{tf:<10}{s['ok'] / max(s['n'], 1):>8.3f}{p:>8.3f}{r:>8.3f}{f1:>8.3f}"
              f"{s['alnum_ok'] / max(s['n'], 1):>8.3f}   "
              f"{dict(misses[tf])}")
    tot = {k: sum(s[k] for s in stats.values()) for k in ("ok", "pred", "truth", "n")}
    p, r = tot["ok"] / max(tot["pred"], 1), tot["ok"] / max(tot["truth"], 1)
    micro = 2 * p * r / (p + r) if p + r else 0.0
    print(f"{'all':<10}{tot['ok'] / max(tot['n'], 1):>8.3f}{p:>8.3f}{r:>8.3f}{micro:>8.3f}"
          f"{'':>8}   "
          f"(micro over fields; macro F1 {np.mean(list(f1s.values())):.3f})")
    if verbose:
        for tf, ex in examples.items():
            for e in ex[:15]:
                print(f"  miss {tf} {e[0]} [{e[1]}] got {e[2]!r} want {e[3]!r}")
    return {"f1": f1s, "micro_f1": micro, "misses": {k: dict(v) for k, v in misses.items()}}


def main_receipts(argv=None) -> int:
    from edge.ocr import lines_from_raw
    from edge.ocr.models import space_gap

    from .receipts import cached_ocr, load_receipts, split_of, use_profile_ocr
    ap = argparse.ArgumentParser(prog="claim-edge eval receipts", description=__doc__)
    ap.add_argument("data_dir")
    ap.add_argument("--split", default="test", choices=["test", "train", "all"],
                    help="test = the held-out quarter the bill model never saw (default)")
    ap.add_argument("--model", default=None, help="document-classifier folder")
    ap.add_argument("--no-ocr", action="store_true", help="only the given-boxes upper bound")
    ap.add_argument("--verbose", action="store_true", help="list misses")
    ap.add_argument("--json", help="write the numbers to this file")
    ap.add_argument("--det-max-side", type=int, default=None,
                    help="OCR text detector's long side (default: the profile's [ocr] "
                         "det_max_side; 0: RapidOCR's rule)")
    ap.add_argument("--rec-model", default=None,
                    help="OCR text recogniser (default: the profile's [ocr] rec_model; "
                         "rapidocr: the copy of PP-OCRv6 small inside the rapidocr wheel)")
    a = ap.parse_args(argv)
    settings = use_profile_ocr(a.det_max_side, a.rec_model)
    typer = BoxTyper.load(a.model) if a.model else BoxTyper.load()
    recs = [r for r in load_receipts(a.data_dir)
            if a.split == "all" or split_of(r.name) == a.split]
    print(f"{len(recs)} receipts ({a.split} split) from {a.data_dir}")
    given = [(r.name, [Box.from_quad(np.array(c).reshape(4, 2), t) for c, t in r.boxes
                       if t.strip()], r.labels) for r in recs]
    out = {"given_boxes": evaluate_set(given, typer, "with the given boxes (upper bound)",
                                       a.verbose)}
    if not a.no_ocr:
        t0 = time.time()
        items, engine = [], None
        gap = space_gap(settings["rec_model"])
        for r in recs:
            raw, engine = cached_ocr(r.image, engine)
            items.append((r.name, [Box.from_quad(t.box, t.text, t.score)
                                   for t in lines_from_raw(raw, gap_ratio=gap)], r.labels))
        out["end_to_end"] = evaluate_set(items, typer, "end to end from pixels (our OCR, word "
                                         f"gaps recovered; OCR cached, {time.time() - t0:.0f}s)",
                                         a.verbose)
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=2))
    return 0


def main_documents(argv=None) -> int:
    from edge.documents.doctype import DocTypeModel
    args = list(argv if argv is not None else sys.argv[1:])
    first = next((x for x in args if not x.startswith("-")), None)
    if first and (Path(first) / "labels.csv").is_file():
        # real documents with their sources: leave one source out (trains per fold)
        from .loso import main as loso_main
        return loso_main(args)

    from .synth import DOC_TYPES, HELD_OUT, generate, photograph
    from .train import ocr_like
    ap = argparse.ArgumentParser(prog="claim-edge eval documents", description=__doc__)
    ap.add_argument("dir", nargs="?", help="folder of images named TYPE_*.png|jpg (OCR is run); "
                    "default: generate documents of the held-out layout")
    ap.add_argument("--n", type=int, default=25, help="generated documents per type")
    ap.add_argument("--model", default=None)
    ap.add_argument("--seed", type=int, default=300000, help="first seed for --write")
    ap.add_argument("--write", metavar="OUT", help="only write generated held-out-layout "
                    "documents as OUT/TYPE_N.jpg (photographed, some on a table), for an end-to-end "
                    "run with OCR: eval documents OUT")
    a = ap.parse_args(argv)
    if a.write:
        from edge.samples import jpeg_bytes
        out = Path(a.write)
        out.mkdir(parents=True, exist_ok=True)
        for t in DOC_TYPES:
            for s in range(a.n):
                doc = photograph(generate(t, HELD_OUT, a.seed + s), a.seed - 300000 + s,
                                 table=s % 2 == 1)
                (out / f"{t}_{s}.jpg").write_bytes(jpeg_bytes(doc.image))
        print(f"wrote {len(DOC_TYPES) * a.n} documents to {out}")
        return 0
    model = DocTypeModel.load(a.model) if a.model else DocTypeModel.load()
    y, pred = [], []
    if a.dir:
        from edge.ocr import lines_from_raw
        from edge.ocr.models import space_gap

        from .receipts import cached_ocr, use_profile_ocr
        eng = None
        gap = space_gap(use_profile_ocr()["rec_model"])
        for p in sorted(Path(a.dir).iterdir()):
            t = next((d for d in DOC_TYPES if p.name.startswith(d + "_")), None)
            if t is None or p.suffix.lower() not in (".png", ".jpg", ".jpeg"):
                continue
            img = cv2.imread(str(p))
            raw, eng = cached_ocr(p, eng)   # OCR once per image (.cache/ocr)
            boxes = [Box.from_quad(ln.box, ln.text, ln.score)
                     for ln in lines_from_raw(raw, gap_ratio=gap)]
            y.append(t)
            pred.append(model.classify(boxes, cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)).label)
        src = str(a.dir)
    else:
        for t in DOC_TYPES:
            for s in range(a.n):
                doc = photograph(generate(t, HELD_OUT, 200000 + s), s, table=s % 3 == 0)
                boxes = ocr_like(doc.boxes, random.Random(s))
                y.append(t)
                pred.append(model.classify(boxes, cv2.cvtColor(doc.image, cv2.COLOR_BGR2GRAY),
                                           from_ocr=False).label)
        src = f"generated, held-out layout {HELD_OUT}, {a.n} per type"
    y, pred = np.array(y), np.array(pred)
    print(f"document type on {len(y)} documents ({src}): accuracy {(y == pred).mean():.3f}")
    for t in DOC_TYPES:
        m = y == t
        if m.any():
            wrong = Counter(str(v) for v in pred[m & (pred != t)])
            print(f"  {t:<22}{(pred[m] == t).mean():>7.3f}  n={m.sum():<4}"
                  f"{'  confused with ' + str(dict(wrong)) if wrong else ''}")
    loso = model.manifest.get("evaluation", {}).get("leave_one_source_out", {})
    if loso.get("overall"):
        print(f"training-time comparison (real documents, leave one source out, "
              f"{loso.get('n')} images): " + ", ".join(
                  f"{k} {v:.3f}" for k, v in loso["overall"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main_receipts(sys.argv[1:]))
