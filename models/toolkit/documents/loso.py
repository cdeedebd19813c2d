"""Leave one source out for the document-type classifier: every source group of the real
documents is held out of training once and tested on; fusion and its two single-modality
baselines (text only; image only = visual + position) are trained on the same samples each
time. Also a same-source figure (4 folds drawn across all sources) for comparison, and the
final model trained on everything.

    claim-edge eval documents ../shared/data/documents              # the LOSO table
    python -m models.toolkit.documents.loso ../shared/data/documents --write  # + ship the model

Samples: the real documents read by our OCR (from the OCR cache; fill it with
``python -m models.toolkit.documents.real DIR``), generated documents of every type (layouts
0-2 and the international layout 4; 3 stays held out), and the SROIE receipts' train split.

Training code only: never imported by the runtime."""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge.documents.bills import bill_reader_entries
from edge.documents.doctype import MODEL_DIR, DocTypeModel, forward, tighten_boxes
from edge.documents.layout import Box, box_features, visual_features_batch

from .synth import DOC_TYPES
from .train import (OCR_BOX_MARGINS, VARIANTS, degrade, doc_sample, pad,
                    receipt_samples, train_model)

DIMS = None  # filled from the first sample: {"text": .., "visual": .., "position": ..}


@dataclass
class Sample:
    boxes: list[Box]
    vis: np.ndarray
    label: int
    source: str        # repository (real) or "generated" / "sroie"
    group: str         # the held-out group
    name: str = ""


def tighten(boxes: list[Box]) -> list[Box]:
    """OCR boxes to the generator's tight extents (as DocTypeModel.tighten does at run time)."""
    return tighten_boxes(boxes, OCR_BOX_MARGINS)


def real_samples(data_dir: str, small: int | None = None, progress=print,
                 cached_only: bool = False) -> list[Sample]:
    """The real documents as our OCR reads them (from the OCR cache; an image not in it is
    read now, slowly, or left out with ``cached_only``)."""
    from edge.ocr import lines_from_raw
    from edge.ocr.models import space_gap

    from .real import SMALL, load_documents, source_groups
    from .receipts import cached_ocr, use_profile_ocr
    gap = space_gap(use_profile_ocr()["rec_model"])
    docs = load_documents(data_dir)
    groups = source_groups(docs, small or SMALL)
    out, eng = [], None
    t0 = time.time()
    from edge.ocr import OcrCache, settings_key

    from .receipts import CACHE, OCR_SETTINGS
    cache = OcrCache(CACHE, settings_key(**OCR_SETTINGS))
    for i, d in enumerate(docs):
        if cached_only:
            raw = cache.get(hashlib.sha256(d.image.read_bytes()).hexdigest())
            if raw is None:
                continue
        else:
            raw, eng = cached_ocr(d.image, eng)
        boxes = tighten([Box.from_quad(ln.box, ln.text, ln.score)
                         for ln in lines_from_raw(raw, gap_ratio=gap)])
        gray = cv2.imread(str(d.image), cv2.IMREAD_GRAYSCALE)
        out.append(Sample(boxes, visual_features_batch(gray, boxes),
                          DOC_TYPES.index(d.doc_type), d.source, groups[d.source], d.name))
        if eng is not None and i % 10 == 0:
            progress(f"  read {i + 1}/{len(docs)} ({time.time() - t0:.0f}s)")
    return out


def generated_samples(per_layout: int, seed0: int = 0) -> list[Sample]:
    out = []
    for t in DOC_TYPES:
        for layout in (0, 1, 2, 4):
            for s in range(per_layout):
                boxes, vis, lab = doc_sample(t, layout, seed0 + s)
                out.append(Sample(boxes, vis, lab, "generated", "generated"))
    return out


def views(samples: list[Sample], n_degraded: int, seed: int) -> list[tuple[dict, int]]:
    """Feature dicts of every sample as read and ``n_degraded`` partial views of it."""
    rng = random.Random(seed)
    out = []
    for s in samples:
        x = (s.boxes, s.vis, s.label)
        if not s.boxes:
            continue
        for k in range(1 + (n_degraded if len(s.boxes) >= 3 else 0)):
            b, v, lab = x if k == 0 else degrade(x, rng)
            f = box_features(b, None)
            f["visual"] = v
            out.append((f, lab))
    return out


def _blocks(mods, dims):
    out, at = [], 0
    for m in mods:
        out.append(slice(at, at + dims[m]))
        at += dims[m]
    return out


TRAIN_BOXES = 48   # a document's first boxes in reading order go into a training step (all at test)


BLANK_P = 0.3   # share of training documents with one modality blanked (fused variants only)


def fit(train_views, mods, hidden: int, epochs: int, seed: int = 0, blank=None,
        blank_p: float = BLANK_P):
    """``blank``: the modalities that may be blanked (default: each of ``mods``), each time
    in a ``blank_p`` share of the documents."""
    X, M, y, mu, sg = pad(train_views, mods, max_boxes=TRAIN_BOXES)
    dims = {k: train_views[0][0][k].shape[1] for k in ("text", "visual", "position")}
    blocks = [sl for m, sl in zip(mods, _blocks(mods, dims)) if blank is None or m in blank]
    w = train_model(X, M, y, len(DOC_TYPES), hidden=hidden, epochs=epochs, seed=seed,
                    blocks=blocks, p_block=blank_p if len(mods) > 1 and blocks else 0.0)
    return w, mu, sg


def predict(model, test_views, mods) -> np.ndarray:
    w, mu, sg = model
    if not test_views:
        return np.zeros(0, int)
    X, M, _, _, _ = pad(test_views, mods, mu, sg, max_boxes=256)
    logits, _ = forward(X, M, w)
    return logits.argmax(1)


def with_mrz(pred: np.ndarray, samples: list[Sample]) -> np.ndarray:
    """The stage's rule on top of the classifier: a zone whose check digits hold says
    identity document or licence (``edge.documents.stage.document_type``)."""
    from edge.documents.mrz import find_mrz
    out = pred.copy()
    for i, s in enumerate(samples):
        m = find_mrz(s.boxes)
        if m is not None and m.trusted:
            out[i] = DOC_TYPES.index("driver_license" if m.is_driving_licence else "id_card")
    return out


def loso(real: list[Sample], base: list[Sample], hidden: int = 64, epochs: int = 20,
         variants=tuple(VARIANTS), progress=print, same_source_folds: int = 4,
         fit_kw: dict | None = None) -> dict:
    """Predictions for every real sample with its group held out, per variant; and the
    same-source figure (folds drawn at random across all sources)."""
    fit_kw = fit_kw or {}
    base_views = views(base, 1, 11)
    real_views = {id(s): views([s], 2, 13 + i) for i, s in enumerate(real)}
    test_views = {id(s): views([s], 0, 0) for s in real}
    groups = sorted({s.group for s in real})
    # a document with no text read is "other_document", as DocTypeModel says for no boxes
    empty = DOC_TYPES.index("other_document")
    preds = {v: np.full(len(real), empty) for v in variants}
    t0 = time.time()
    for gi, g in enumerate(groups):
        train = list(base_views)
        for s in real:
            if s.group != g:
                train += real_views[id(s)]
        idx = [i for i, s in enumerate(real) if s.group == g and test_views[id(s)]]
        tv = [test_views[id(real[i])][0] for i in idx]
        for v in variants:
            mods = VARIANTS[v]
            model = fit(train, mods, hidden, epochs, **fit_kw)
            p = predict(model, tv, mods)
            preds[v][idx] = p
        acc = np.mean([preds[variants[0]][i] == real[i].label for i in idx]) if idx else 0
        progress(f"  fold {gi + 1}/{len(groups)} {g}: {len(idx)} held out, "
                 f"{variants[0]} {acc:.3f} ({time.time() - t0:.0f}s)")
    same = {}
    if same_source_folds:
        same = {v: np.full(len(real), empty) for v in variants[:1]}
        rng = np.random.default_rng(0)
        fold = rng.integers(0, same_source_folds, len(real))
        for k in range(same_source_folds):
            train = list(base_views)
            for i, s in enumerate(real):
                if fold[i] != k:
                    train += real_views[id(s)]
            idx = [i for i in range(len(real)) if fold[i] == k and test_views[id(real[i])]]
            mods = VARIANTS[variants[0]]
            model = fit(train, mods, hidden, epochs, **fit_kw)
            same[variants[0]][idx] = predict(model, [test_views[id(real[i])][0] for i in idx],
                                             mods)
        progress(f"  same-source folds done ({time.time() - t0:.0f}s)")
    return {"preds": preds, "same_source": same}


def report(real: list[Sample], result: dict, out=print) -> dict:
    """The table: per type and per source (held out), each variant; the worst source."""
    y = np.array([s.label for s in real])
    preds = result["preds"]
    names = list(preds)
    fusion = names[0]
    preds = dict(preds)
    preds[f"{fusion}+mrz"] = with_mrz(preds[fusion], real)
    cols = [f"{fusion}+mrz"] + names
    summary: dict = {"n": int(len(y)), "overall": {}, "per_type": {}, "per_source": {},
                     "per_group": {}}
    for c in cols:
        summary["overall"][c] = float((preds[c] == y).mean())
    same = result.get("same_source", {}).get(fusion)
    if same is not None:
        summary["overall"]["same_source_" + fusion] = float((same == y).mean())
    head = f"{'':<44}{'n':>5}" + "".join(f"{c:>14}" for c in cols)
    out("document type, leave one source out (each source group held out of training once)")
    out(head)
    out(f"{'all':<44}{len(y):>5}" + "".join(f"{summary['overall'][c]:>14.3f}" for c in cols))
    if "same_source_" + fusion in summary["overall"]:
        out(f"  (same-source split, 4 folds across all sources: {fusion} "
            f"{summary['overall']['same_source_' + fusion]:.3f})")
    out("per type")
    for t, name in enumerate(DOC_TYPES):
        m = y == t
        if not m.any():
            continue
        row = {c: float((preds[c][m] == t).mean()) for c in cols}
        wrong = Counter(DOC_TYPES[v] for v in preds[cols[0]][m] if v != t)
        summary["per_type"][name] = {"n": int(m.sum()), **row,
                                     "confused_with": dict(wrong)}
        out(f"  {name:<42}{m.sum():>5}" + "".join(f"{row[c]:>14.3f}" for c in cols)
            + (f"   -> {dict(wrong)}" if wrong else ""))
    for key, attr in (("per_group", "group"), ("per_source", "source")):
        out("per held-out group" if key == "per_group" else "per source repository")
        by = defaultdict(list)
        for i, s in enumerate(real):
            by[getattr(s, attr)].append(i)
        for g, idx in sorted(by.items(), key=lambda kv: -len(kv[1])):
            row = {c: float((preds[c][idx] == y[idx]).mean()) for c in cols}
            summary[key][g] = {"n": len(idx), **row}
            out(f"  {g[:42]:<42}{len(idx):>5}" + "".join(f"{row[c]:>14.3f}" for c in cols))
    worst = min(summary["per_group"].items(), key=lambda kv: kv[1][cols[0]])
    summary["worst_group"] = {"group": worst[0], **worst[1]}
    out(f"worst held-out group: {worst[0]} ({worst[1]['n']} images) {worst[1][cols[0]]:.3f}")
    return summary


def train_final(real, base, hidden, epochs, out_dir: Path, summary: dict, args: dict,
                fit_kw: dict) -> None:
    """The shipped model: trained on every real document, the generated ones and receipts."""
    tr = views(base, 1, 11)
    for i, s in enumerate(real):
        tr += views([s], 2, 13 + i)
    mods = VARIANTS["fusion"]
    w, mu, sg = fit(tr, mods, hidden, epochs, **fit_kw)
    out_dir.mkdir(parents=True, exist_ok=True)
    np.savez(out_dir / "weights.npz", mu=mu, sigma=sg, **w)
    prev = json.loads((out_dir / "manifest.json").read_text()) \
        if (out_dir / "manifest.json").is_file() else {}
    dims = {k: int(tr[0][0][k].shape[1]) for k in ("text", "visual", "position")}
    import datetime as dt
    manifest = {
        "name": "document-classifier", "version": dt.date.today().strftime("%Y.%m.%d"),
        "format": "numpy-npz", "weights": "weights.npz",
        "sha256": hashlib.sha256((out_dir / "weights.npz").read_bytes()).hexdigest(),
        "labels": list(DOC_TYPES), "modalities": list(mods),
        "architecture": f"per-box dense({hidden}, relu) over [text {dims['text']} | visual "
                        f"{dims['visual']} | position {dims['position']}] -> mean+max pool -> "
                        "dense(8) softmax",
        "ocr_box_margins": OCR_BOX_MARGINS,
        "trained_on": {"real_documents": f"{len(real)} images, {len({s.source for s in real})} "
                                         "sources (../shared/data/documents)",
                       "generated": args.get("per_layout"), "generated_layouts": "0-2, 4",
                       "held_out_layout": 3, "real_receipts": "SROIE train split"},
        "command": args.get("command", "python -m models.toolkit.documents.loso DIR --write"),
        "evaluation": {"leave_one_source_out": summary},
    }
    manifest.update(bill_reader_entries(prev))
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


def main(argv=None) -> int:
    from .receipts import ROOT
    ap = argparse.ArgumentParser(prog="claim-edge eval documents (leave one source out)",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("data_dir", help="the real documents folder (labels.csv, images/)")
    ap.add_argument("--receipts", default=None, help="the SROIE receipts folder (train split "
                    "added to training; default: receipts/ beside DATA_DIR when present)")
    ap.add_argument("--per-layout", type=int, default=20, help="generated documents per type "
                    "and layout")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--small", type=int, default=None, help="sources with fewer images are "
                    "pooled by type (default 5)")
    ap.add_argument("--variants", nargs="*", default=list(VARIANTS))
    ap.add_argument("--json", help="write the summary here")
    ap.add_argument("--cached-only", action="store_true", help="only the documents whose OCR "
                    "is cached")
    ap.add_argument("--write", action="store_true", help="also train on everything and write "
                    "the model to --out")
    ap.add_argument("--out", default=str(MODEL_DIR))
    ap.add_argument("--save-preds", help="write this run's held-out predictions here (JSON), "
                    "to --merge with a run of the other variants")
    ap.add_argument("--merge", nargs="+", help="only print the table from saved predictions")
    ap.add_argument("--no-same-source", action="store_true")
    ap.add_argument("--blank", nargs="+", choices=["text", "visual", "position"], default=None,
                    help="modalities the fused model sees blanked in training (one modality "
                         "in a --blank-p share of the documents; default: any of the three)")
    ap.add_argument("--blank-p", type=float, default=BLANK_P)
    a = ap.parse_args(argv)
    t0 = time.time()
    fit_kw = {"blank": a.blank, "blank_p": a.blank_p}
    receipts = a.receipts or str(Path(a.data_dir).resolve().parent / "receipts")
    real = real_samples(a.data_dir, a.small, cached_only=a.cached_only)
    print(f"{len(real)} real documents, {len({s.group for s in real})} held-out groups "
          f"({time.time() - t0:.0f}s)", flush=True)
    if a.merge:
        res = {"preds": {}, "same_source": {}}
        names = [s.name for s in real]
        for f in a.merge:
            got = json.loads(Path(f).read_text())
            order = [got["names"].index(n) for n in names]
            for k in ("preds", "same_source"):
                for v, p in got[k].items():
                    res[k][v] = np.array(p)[order]
        res["preds"] = {v: res["preds"][v] for v in VARIANTS if v in res["preds"]}
        summary = report(real, res)
        if a.json:
            Path(a.json).write_text(json.dumps(summary, indent=2))
        return 0
    cache = ROOT / ".cache" / f"doctype-base-{a.per_layout}.pkl"
    import pickle
    if cache.is_file():
        base = pickle.loads(cache.read_bytes())
    else:
        base = generated_samples(a.per_layout)
        if Path(receipts, "labels.jsonl").is_file():
            rs = receipt_samples(receipts, "train")[::3]   # a third: they are all one kind
            base += [Sample(b, v, lab, "sroie", "sroie") for b, v, lab in rs]
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_bytes(pickle.dumps(base))
    print(f"{len(base)} generated documents and receipts ({time.time() - t0:.0f}s)", flush=True)
    res = loso(real, base, a.hidden, a.epochs, tuple(a.variants),
               progress=lambda m: print(m, flush=True),
               same_source_folds=0 if a.no_same_source else 4, fit_kw=fit_kw)
    if a.save_preds:
        Path(a.save_preds).write_text(json.dumps({
            "names": [s.name for s in real],
            "preds": {k: v.tolist() for k, v in res["preds"].items()},
            "same_source": {k: v.tolist() for k, v in res["same_source"].items()}}))
    summary = report(real, res)
    summary["settings"] = {"per_layout": a.per_layout, "epochs": a.epochs, "hidden": a.hidden,
                           **fit_kw,
                           "small_sources_pooled_below": a.small or 5}
    if a.json:
        Path(a.json).write_text(json.dumps(summary, indent=2))
    if a.write:
        train_final(real, base, a.hidden, a.epochs, Path(a.out), summary,
                    {"per_layout": a.per_layout, **fit_kw,
                     "command": "python -m models.toolkit.documents.loso "
                                + " ".join(sys.argv[1:] if argv is None else argv)},
                    fit_kw=fit_kw)
        print(f"wrote {a.out}")
        DocTypeModel.load(a.out)   # loads as the runtime will
    print(f"done in {time.time() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
