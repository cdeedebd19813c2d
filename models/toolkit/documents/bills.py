"""Train the bill box typer (edge/documents/bills.py) on box-level labels derived from the real
receipts' train split (our OCR's lines from the cache, and the given boxes) and generated
invoices / repair estimates, and write models/document-classifier/bill_typer.npz.

    python -m models.toolkit.documents.bills --receipts ../shared/data/receipts

Receipt boxes are labelled by matching the ground truth (company, address, date, total) to the
box texts; keys and headers by their wording. Training code only."""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

from edge.documents.bills import BOX_TYPES, KW, MODEL_DIR, T, bill_features
from edge.documents.layout import Box, reading_order
from edge.documents.normalize import compact, find_amounts, find_dates

from .synth import HELD_OUT, LAYOUTS, generate


def ocr_boxes(raw_lines) -> list[Box]:
    from edge.ocr import lines_from_raw
    from edge.ocr.models import space_gap

    from .receipts import OCR_SETTINGS
    gap = space_gap(OCR_SETTINGS["rec_model"])
    return [Box.from_quad(t.box, t.text, t.score) for t in lines_from_raw(raw_lines, gap_ratio=gap)]


def given_boxes(receipt) -> list[Box]:
    return [Box.from_quad(np.array(c).reshape(4, 2), t) for c, t in receipt.boxes if t.strip()]


def label_receipt(boxes: list[Box], truth: dict[str, str]) -> list[int]:
    """Box types from the receipt's ground truth (boxes in reading order). A key is labelled
    as such only when it is the key of a true value (the nearest box left of it on its line,
    or above it): 'SUB-TOTAL', 'TOTAL QTY' and 'ROUNDING' are other keys, typed 'other'."""
    from edge.documents.layout import relations
    comp, addr = compact(truth.get("company", "")), compact(truth.get("address", ""))
    date = compact(truth.get("date", ""))
    tot = find_amounts(truth.get("total", ""))
    tot = tot[-1].decimal if tot else None
    labels = []
    for i, b in enumerate(boxes):
        c = compact(b.text)
        lab = "other"
        amts = [a.decimal for a in find_amounts(b.text) if a.decimal_sep]
        if comp and len(c) >= 3 and (c in comp and len(c) >= 0.4 * len(comp) or comp in c) \
                and i < len(boxes) // 2 + 2:
            lab = "vendor"
        elif addr and len(c) >= 4 and c in addr:
            lab = "address"
        elif date and date in c:
            lab = "date"
        elif tot is not None and amts and amts[-1] == tot and not KW["cash"].search(b.text) \
                and not KW["subtotal"].search(b.text):
            lab = "total"
        elif KW["header"].search(b.text):
            lab = "header"
        labels.append(T[lab])
    rels = relations(boxes)
    for i, lab in enumerate(list(labels)):
        # the same amount paid in cash, or a subtotal equal to the total, is not the total
        j = rels[i].left
        if lab == T["total"] and j >= 0 and (KW["cash"].search(boxes[j].text)
                                             or KW["subtotal"].search(boxes[j].text)):
            labels[i] = T["other"]
    # several boxes carry the total's amount (a single item, the cash paid): when some are
    # linked to a total key, only those are the total
    tot_idx = [i for i, lab in enumerate(labels) if lab == T["total"]]

    def keyed(i):
        own = KW["total"].search(boxes[i].text) and not KW["subtotal"].search(boxes[i].text)
        near = [j for j in (rels[i].left, rels[i].above) if j >= 0
                and KW["total"].search(boxes[j].text) and not KW["subtotal"].search(boxes[j].text)
                and not find_amounts(boxes[j].text)]
        return bool(own or near)
    linked = [i for i in tot_idx if keyed(i)]
    if linked:
        for i in tot_idx:
            if i not in linked:
                labels[i] = T["other"]
    for i, lab in enumerate(list(labels)):
        if lab not in (T["total"], T["date"]):
            continue
        key = "key_total" if lab == T["total"] else "key_date"
        kw = KW["total"] if lab == T["total"] else KW["date"]
        for j in (rels[i].left, rels[i].above):
            if j >= 0 and labels[j] == T["other"] and kw.search(boxes[j].text) \
                    and not find_amounts(boxes[j].text):
                labels[j] = T[key]
                break
    return labels


def label_generated(doc, boxes: list[Box]) -> list[int]:
    f = {k: doc.fields.get(k) or "" for k in ("vendor", "address", "date", "invoice_number",
                                              "total", "tax")}   # a layout may print fewer
    vendor, address, number = (compact(f[k]) for k in ("vendor", "address", "invoice_number"))
    out = []
    for b in boxes:
        c = compact(b.text)
        amts = [a.decimal for a in find_amounts(b.text) if a.decimal_sep]
        lab = "other"
        if vendor and (c == vendor or (len(c) > 4 and vendor.startswith(c)
                                       and b.y0 < doc.image.shape[0] * 0.2)):
            lab = "vendor"
        elif c and c in address and len(c) > 6:
            lab = "address"
        elif f["date"] and any(d.iso == f["date"] for d in find_dates(b.text)):
            lab = "date"
        elif number and number in c and any(ch.isdigit() for ch in c):
            lab = "invoice_number"
        elif amts and str(amts[-1]) == f["total"]:
            lab = "total"
        elif amts and str(amts[-1]) == f["tax"]:
            lab = "tax"
        elif KW["header"].search(b.text):
            lab = "header"
        elif KW["total"].search(b.text) and not KW["subtotal"].search(b.text) and not amts:
            lab = "key_total"
        elif KW["tax"].search(b.text) and not amts:
            lab = "key_tax"
        elif KW["date"].search(b.text) and not find_dates(b.text):
            lab = "key_date"
        elif KW["invoice"].search(b.text) or b.text.upper().startswith(("DOC NO", "INV")):
            lab = "key_invoice"
        out.append(T[lab])
    return out


def build(receipts_dir: str | None, n_generated: int):
    from .receipts import load_receipts, split_of
    from .train import ocr_like
    X, Y = [], []
    if receipts_dir:
        for r in load_receipts(receipts_dir):
            if split_of(r.name) != "train":
                continue
            sets = [reading_order(given_boxes(r))]
            raw, _ = cached_ocr_if_present(r.image)
            if raw is not None:
                sets.append(reading_order(ocr_boxes(raw)))
            for boxes in sets:
                if not boxes:
                    continue
                x, _, _ = bill_features(boxes)
                X.append(x)
                Y.append(np.array(label_receipt(boxes, r.labels)))
    for s in range(n_generated):
        for t in ("receipt_invoice", "repair_estimate"):
            layout = s % LAYOUTS
            if layout == HELD_OUT:
                continue
            doc = generate(t, layout, s)
            boxes = reading_order(ocr_like(doc.boxes, random.Random(s), p_merge=0.5,
                                           p_nospace=0.3))
            x, _, _ = bill_features(boxes)
            X.append(x)
            Y.append(np.array(label_generated(doc, boxes)))
    return np.concatenate(X), np.concatenate(Y)


def cached_ocr_if_present(image: Path):
    """Only what the cache already holds: training never runs OCR itself."""
    from edge.ocr import OcrCache, settings_key

    from .receipts import CACHE, OCR_SETTINGS
    sha = hashlib.sha256(image.read_bytes()).hexdigest()
    return OcrCache(CACHE, settings_key(**OCR_SETTINGS)).get(sha), None


def train(X, Y, hidden=64, epochs=60, lr=2e-3, wd=1e-4, seed=0, batch=256):
    rng = np.random.default_rng(seed)
    mu, sg = X.mean(0), X.std(0) + 1e-3
    Z = (X - mu) / sg
    D, C = Z.shape[1], len(BOX_TYPES)
    w = {"W1": rng.normal(0, np.sqrt(2 / D), (D, hidden)).astype(np.float32),
         "b1": np.zeros(hidden, np.float32),
         "W2": rng.normal(0, np.sqrt(1 / hidden), (hidden, C)).astype(np.float32),
         "b2": np.zeros(C, np.float32)}
    m = {k: np.zeros_like(v) for k, v in w.items()}
    v = {k: np.zeros_like(v_) for k, v_ in w.items()}
    counts = np.bincount(Y, minlength=C).astype(np.float32)
    cw = np.sqrt(counts.sum() / np.maximum(counts, 1) / C)
    t = 0
    for ep in range(epochs):
        order = rng.permutation(len(Y))
        for s in range(0, len(Y), batch):
            idx = order[s:s + batch]
            x, y = Z[idx], Y[idx]
            pre = x @ w["W1"] + w["b1"]
            h = np.maximum(pre, 0)
            lo = h @ w["W2"] + w["b2"]
            lo -= lo.max(1, keepdims=True)
            p = np.exp(lo)
            p /= p.sum(1, keepdims=True)
            d = p.copy()
            d[np.arange(len(y)), y] -= 1
            sw = cw[y]
            d *= sw[:, None] / sw.sum()
            g = {"W2": h.T @ d, "b2": d.sum(0)}
            dh = d @ w["W2"].T * (pre > 0)
            g["W1"] = x.T @ dh
            g["b1"] = dh.sum(0)
            t += 1
            for k in w:
                gk = g[k] + (wd * w[k] if k.startswith("W") else 0)
                m[k] = 0.9 * m[k] + 0.1 * gk
                v[k] = 0.999 * v[k] + 0.001 * gk * gk
                w[k] -= lr * (m[k] / (1 - 0.9 ** t)) / (np.sqrt(v[k] / (1 - 0.999 ** t)) + 1e-8)
    return {**w, "mu": mu.astype(np.float32), "sigma": sg.astype(np.float32)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--receipts")
    ap.add_argument("--generated", type=int, default=300)
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--out", default=str(MODEL_DIR))
    a = ap.parse_args(argv)
    t0 = time.time()
    from .receipts import use_profile_ocr
    print(f"OCR lines from the cache read with (the profile's) {use_profile_ocr()}", flush=True)
    X, Y = build(a.receipts, a.generated)
    print(f"{len(Y)} boxes; per type "
          f"{dict(zip(BOX_TYPES, np.bincount(Y, minlength=len(BOX_TYPES)).tolist()))}",
          flush=True)
    w = train(X, Y, epochs=a.epochs)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    np.savez(out / "bill_typer.npz", **w)
    mpath = out / "manifest.json"
    man = json.loads(mpath.read_text()) if mpath.is_file() else {"name": "document-classifier"}
    man["bill_typer"] = {"weights": "bill_typer.npz", "box_types": list(BOX_TYPES),
                         "sha256": hashlib.sha256((out / "bill_typer.npz").read_bytes()).hexdigest(),
                         "architecture": "per-box dense(64, relu) -> dense(12) softmax over "
                                         "box attributes + 4 neighbour relations + hashed text",
                         "trained_on": {"receipts": "SROIE train split (given boxes and our OCR "
                                                    "lines)" if a.receipts else None,
                                        "generated_documents": a.generated,
                                        "boxes": int(len(Y))}}
    mpath.write_text(json.dumps(man, indent=2) + "\n")
    print(f"wrote {out / 'bill_typer.npz'} in {time.time() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
