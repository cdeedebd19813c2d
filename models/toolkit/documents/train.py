"""Train the document-type classifier (fusion of text, visual and position features per text
box) and its two single-modality baselines, on generated documents (layouts 0-2; layout 3 held
out) and the real receipts' train split; write the fusion model to models/document-classifier/.

    python -m models.toolkit.documents.train --receipts ../shared/data/receipts

Training code only: never imported by the runtime. Needs only numpy and OpenCV."""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import pickle
import random
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from edge.documents.bills import bill_reader_entries
from edge.documents.doctype import MODEL_DIR, forward, softmax, stack_inputs
from edge.documents.layout import Box, box_features, same_line, visual_features_batch

from .receipts import ROOT
from .synth import DOC_TYPES, HELD_OUT, LAYOUTS, generate, photograph

# RapidOCR's boxes vs the generator's tight boxes, in box heights (median over 962 matched
# lines of 48 generated held-out-layout documents read by our OCR; /tmp/margin.py in the report)
OCR_BOX_MARGINS = {"left": 0.11, "right": 0.15, "top": -0.08, "bottom": 0.21, "height_ratio": 1.11}

VARIANTS = {"fusion": ("text", "visual", "position"), "text_only": ("text",),
            "image_only": ("visual", "position")}


def ocr_like(boxes: list[Box], rng: random.Random, p_merge=0.3, p_nospace=0.4, p_sub=0.03):
    """What our OCR does to generated text: neighbours on a line merged into one box, spaces
    dropped, a few characters misread."""
    out: list[Box] = []
    for b in boxes:
        if out and rng.random() < p_merge and same_line(out[-1], b) and b.x0 > out[-1].x1:
            a = out.pop()
            b = Box(a.x0, min(a.y0, b.y0), b.x1, max(a.y1, b.y1), f"{a.text} {b.text}")
        out.append(b)
    res = []
    confuse = {"O": "0", "0": "O", "I": "1", "1": "I", "S": "5", "B": "8", "E": "F", "l": "1"}
    for b in out:
        t = b.text
        if rng.random() < p_nospace:
            t = t.replace(" ", "")
        t = "".join(confuse.get(ch, ch) if rng.random() < p_sub else ch for ch in t)
        res.append(Box(b.x0, b.y0, b.x1, b.y1, t))
    return res


def doc_sample(doc_type: str, layout: int, seed: int):
    """(OCR-like boxes, their visual features, label) of one generated document."""
    rng = random.Random(seed * 7919 + layout)
    doc = photograph(generate(doc_type, layout, seed), seed, table=rng.random() < 0.3)
    boxes = ocr_like(doc.boxes, rng)
    gray = cv2.cvtColor(doc.image, cv2.COLOR_BGR2GRAY)
    return boxes, visual_features_batch(gray, boxes), DOC_TYPES.index(doc_type)


def receipt_samples(data_dir: str, split: str):
    from .receipts import load_receipts, split_of
    out = []
    recs = [r for r in load_receipts(data_dir) if split_of(r.name) == split]
    for i, r in enumerate(recs):
        rng = random.Random(i)
        boxes = [Box.from_quad(np.array(c).reshape(4, 2), t) for c, t in r.boxes if t]
        boxes = ocr_like(boxes, rng, p_merge=0.0)
        img = cv2.imread(str(r.image), cv2.IMREAD_GRAYSCALE)
        out.append((boxes, visual_features_batch(img, boxes), DOC_TYPES.index("receipt_invoice")))
    return out


def degrade(sample, rng: random.Random, keep=(0.25, 0.6), p_sub=0.08):
    """A harder view of a document, as a phone photo at a scene gives it: only part of the
    lines read (glare, a finger, the page cut off) and more misread characters."""
    boxes, vis, lab = sample
    n = len(boxes)
    k = max(2, int(round(n * rng.uniform(*keep))))
    start = rng.randint(0, max(0, n - k)) if rng.random() < 0.5 else None
    idx = list(range(start, start + k)) if start is not None else sorted(rng.sample(range(n),
                                                                                    min(k, n)))
    confuse = {"O": "0", "0": "O", "I": "1", "1": "I", "S": "5", "B": "8", "E": "F", "A": "4",
               "G": "6", "T": "7", "N": "M", "R": "P"}
    sub = []
    for i in idx:
        b = boxes[i]
        t = "".join(confuse.get(ch, ch) if rng.random() < p_sub else ch for ch in b.text)
        sub.append(Box(b.x0, b.y0, b.x1, b.y1, t))
    return sub, vis[idx], lab


def features_of(sample):
    boxes, vis, lab = sample
    f = box_features(boxes, None)
    f["visual"] = vis
    return f, lab


def build(per_layout: int, receipts: str | None, seed0: int = 0):
    """Samples (boxes, visual features, label): train (layouts 0-2 and the receipts' train
    split), held-out-layout test, held-out receipts."""
    cache = ROOT / ".cache" / f"doctype-samples-{per_layout}-{bool(receipts)}.pkl"
    if cache.is_file():
        with open(cache, "rb") as f:
            return pickle.load(f)
    train, test = [], []
    for t in DOC_TYPES:
        for layout in range(LAYOUTS):
            n = per_layout if layout != HELD_OUT else max(10, per_layout // 2)
            for s in range(n):
                seed = seed0 + s + (100000 if layout == HELD_OUT else 0)
                (test if layout == HELD_OUT else train).append(doc_sample(t, layout, seed))
    rtrain = receipt_samples(receipts, "train") if receipts else []
    rtest = receipt_samples(receipts, "test") if receipts else []
    out = (train + rtrain, test, rtest)
    cache.parent.mkdir(parents=True, exist_ok=True)
    with open(cache, "wb") as f:
        pickle.dump(out, f)
    return out


def pad(samples, modalities, mu=None, sigma=None, max_boxes=96):
    """samples: (feature dict, label) pairs."""
    xs = [stack_inputs(f, modalities)[:max_boxes] for f, _ in samples]
    if mu is None:
        allx = np.concatenate(xs)
        mu, sigma = allx.mean(0), allx.std(0) + 1e-3
    n = max(len(x) for x in xs)
    X = np.zeros((len(xs), n, xs[0].shape[1]), np.float32)
    M = np.zeros((len(xs), n), np.float32)
    for i, x in enumerate(xs):
        X[i, :len(x)] = (x - mu) / sigma
        M[i, :len(x)] = 1
    y = np.array([lab for _, lab in samples])
    return X, M, y, mu.astype(np.float32), sigma.astype(np.float32)


def train_model(X, M, y, n_classes, hidden=48, epochs=40, lr=3e-3, wd=1e-4, seed=0,
                batch=32, drop=0.1, blocks=(), p_block=0.0):
    """blocks: column slices of the modalities; with p_block a modality is blanked (set to its
    mean) for a whole document now and then, so the fused model learns to use each."""
    rng = np.random.default_rng(seed)
    D = X.shape[2]
    w = {"W1": rng.normal(0, np.sqrt(2 / D), (D, hidden)).astype(np.float32),
         "b1": np.zeros(hidden, np.float32),
         "W2": rng.normal(0, np.sqrt(1 / (2 * hidden)), (2 * hidden, n_classes)).astype(np.float32),
         "b2": np.zeros(n_classes, np.float32)}
    m = {k: np.zeros_like(v) for k, v in w.items()}
    v2 = {k: np.zeros_like(v) for k, v in w.items()}
    t = 0
    # class weights: the real receipts outnumber each generated type
    counts = np.bincount(y, minlength=n_classes).astype(np.float32)
    cw = (counts.sum() / np.maximum(counts, 1) / n_classes)
    lengths = M.sum(1)
    for ep in range(epochs):
        # batches of documents with similar box counts (shuffled), each cut to its longest:
        # a receipt's 90 boxes do not make every card in its batch pay for 90
        noisy = lengths + rng.uniform(0, 4, len(y))
        order = np.argsort(noisy, kind="stable")
        chunks = [order[s:s + batch] for s in range(0, len(y), batch)]
        for ci in rng.permutation(len(chunks)):
            idx = chunks[ci]
            n_max = max(1, int(lengths[idx].max()))
            x, mk, yy = X[idx, :n_max], M[idx, :n_max].copy(), y[idx]
            if p_block and blocks:
                x = x.copy()
                for bi_ in range(len(idx)):
                    if rng.random() < p_block:
                        sl = blocks[rng.integers(len(blocks))]
                        x[bi_, :, sl] = 0.0
            if drop:
                mk *= (rng.random(mk.shape) > drop)  # drop whole boxes
                mk[np.arange(len(idx)), 0] = np.maximum(mk[np.arange(len(idx)), 0], M[idx, 0])
            logits, (pre, h, count, pooled) = forward(x, mk, w)
            p = softmax(logits)
            B = len(idx)
            sw = cw[yy]
            dlog = p.copy()
            dlog[np.arange(B), yy] -= 1
            dlog *= sw[:, None] / sw.sum()
            g = {"W2": pooled.T @ dlog, "b2": dlog.sum(0)}
            dpool = dlog @ w["W2"].T
            K = h.shape[2]
            dmean, dmax = dpool[:, :K], dpool[:, K:]
            dh = dmean[:, None, :] / count[:, :, None] * mk[..., None]
            am = h.argmax(1)  # (B, K)
            onehot = np.zeros_like(h)
            bi, ki = np.meshgrid(np.arange(B), np.arange(K), indexing="ij")
            onehot[bi, am, ki] = 1
            dh = dh + onehot * dmax[:, None, :]
            dpre = dh * (pre > 0) * mk[..., None]
            g["W1"] = x.reshape(-1, D).T @ dpre.reshape(-1, dpre.shape[2])
            g["b1"] = dpre.sum((0, 1))
            t += 1
            for k in w:
                gk = g[k] + (wd * w[k] if k.startswith("W") else 0)
                m[k] = 0.9 * m[k] + 0.1 * gk
                v2[k] = 0.999 * v2[k] + 0.001 * gk * gk
                mh, vh = m[k] / (1 - 0.9 ** t), v2[k] / (1 - 0.999 ** t)
                w[k] -= lr * mh / (np.sqrt(vh) + 1e-8)
    return w


def accuracy(w, X, M, y):
    logits, _ = forward(X, M, w)
    pred = logits.argmax(1)
    return float((pred == y).mean()), pred


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--receipts", help="../shared/data/receipts (real receipts; train split)")
    ap.add_argument("--per-layout", type=int, default=50)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--out", default=str(MODEL_DIR))
    ap.add_argument("--hidden", type=int, default=48)
    ap.add_argument("--balance", action="store_true", help="equal variance per modality")
    ap.add_argument("--variants", nargs="*", help="train only these (default: all three)")
    ap.add_argument("--modality-dropout", type=float, default=0.3)
    a = ap.parse_args(argv)
    t0 = time.time()
    train, test, rtest = build(a.per_layout, a.receipts)
    print(f"built {len(train)} train, {len(test)} held-out-layout, {len(rtest)} held-out real "
          f"receipts in {time.time() - t0:.0f}s", flush=True)
    rng = random.Random(1)
    # training views: every document as read, and two degraded views of it
    tr = [features_of(x) for x in train] + [features_of(degrade(x, rng)) for x in train] + \
        [features_of(degrade(x, rng)) for x in train]
    rng = random.Random(2)
    sets = {"held-out layouts": [features_of(x) for x in test],
            "held-out layouts, degraded": [features_of(degrade(x, rng)) for x in test for _ in
                                           range(3)]}
    if rtest:
        sets["real receipts (test split)"] = [features_of(x) for x in rtest]
    results = {}
    fusion = None
    for name, mods in VARIANTS.items():
        if a.variants and name not in a.variants:
            continue
        X, M, y, mu, sg = pad(tr, mods)
        if a.balance and len(mods) > 1:
            # each modality gets the same total variance at the fused layer's input, so the
            # 134 text dimensions do not drown the 24 visual and 10 position ones
            at = 0
            dd = [tr[0][0][m_].shape[1] for m_ in mods]
            for d_ in dd:
                f_ = np.sqrt(d_ / np.mean(dd))
                X[:, :, at:at + d_] /= f_
                sg[at:at + d_] *= f_
                at += d_
        dims = {"text": tr[0][0]["text"].shape[1], "visual": tr[0][0]["visual"].shape[1],
                "position": tr[0][0]["position"].shape[1]}
        blocks, at = [], 0
        for m_ in mods:
            blocks.append(slice(at, at + dims[m_]))
            at += dims[m_]
        w = train_model(X, M, y, len(DOC_TYPES), hidden=a.hidden, epochs=a.epochs, blocks=blocks,
                        p_block=a.modality_dropout if len(blocks) > 1 else 0.0)
        res = {"modalities": list(mods)}
        for sname, ss in sets.items():
            Xt, Mt, yt, *_ = pad(ss, mods, mu, sg)
            acc, pred = accuracy(w, Xt, Mt, yt)
            res[sname] = {"accuracy": acc, "per_type": {
                DOC_TYPES[c]: float((pred[yt == c] == c).mean()) for c in np.unique(yt)}}
        res["heldout_layout_accuracy"] = res["held-out layouts"]["accuracy"]
        results[name] = res
        print(f"{name:<11} " + "  ".join(f"{k}: {v['accuracy']:.3f}" for k, v in res.items()
                                         if isinstance(v, dict)), flush=True)
        if name == "fusion" or fusion is None:
            fusion = (w, mu, sg)
            saved_mods = mods
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    w, mu, sg = fusion
    np.savez(out / "weights.npz", mu=mu, sigma=sg, **w)
    manifest = {"name": "document-classifier", "version": dt.date.today().strftime("%Y.%m.%d"),
                "format": "numpy-npz", "weights": "weights.npz",
                "sha256": hashlib.sha256((out / "weights.npz").read_bytes()).hexdigest(),
                "labels": list(DOC_TYPES), "modalities": list(saved_mods),
                "architecture": f"per-box dense({a.hidden}, relu) over [text 134 | visual 24 | position "
                                "10] -> mean+max pool -> dense(8) softmax",
                "ocr_box_margins": OCR_BOX_MARGINS,
                "trained_on": {"generated_per_layout": a.per_layout, "layouts": "0-2",
                               "held_out_layout": HELD_OUT,
                               "real_receipts": "SROIE train split" if a.receipts else None},
                "evaluation": results}
    old = out / "manifest.json"
    if old.is_file():
        manifest.update(bill_reader_entries(json.loads(old.read_text())))
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    from ..canaries import write_or_warn
    write_or_warn(out)   # the device's health check for a fleet release of this bundle
    print(f"wrote {out} in {time.time() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
