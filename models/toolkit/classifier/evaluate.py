"""Evaluate the SHIPPED int8 bundle through the device runtime path (edge.decode -> edge.classifier
-> edge.classifier.verify) on the held-out split of each real set, the synthetic sets (reported apart) and
generated out-of-domain images.

``main_category(argv)`` is what ``claim-edge eval category DATA_DIR`` runs.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from . import data as D
from ..timing import latency_ms
from .evaluate_sources import (claim_score, format_loso, format_open_set, format_policies,
                               format_severity, format_sources, open_set_at, policy_table,
                               severity_report, source_metrics)
from .labels import CATEGORY, DAMAGE, VIEW

DEFAULT_BUNDLE = Path(__file__).resolve().parents[2] / "claim-classifier"
CLAIM = [c for c in CATEGORY if c != "other"]


def _bgr_for(s, decode_kw):
    from edge.decode import decode_file
    if s["synthetic"]:
        from . import synth
        return cv2.cvtColor(synth.render(s["kind"], s["seed"]), cv2.COLOR_RGB2BGR)
    d = decode_file(s["path"], **decode_kw)
    if s.get("crop"):
        return np.ascontiguousarray(D.crop_with_margin(d.full(), s["crop"]))
    return d.small


def run_samples(bundle, samples, *, threads=2, classify_side=640, policy="joint", log=print):
    """One row per sample: the device's output under the consistency ``policy`` (pred, verified),
    the heads' own argmaxes (raw) and every prototype's similarity, so other policies can be
    scored from the rows (policy_table)."""
    from edge.classifier import Classifier
    from edge.classifier.consistency import label_heads
    from edge.classifier.verify import cosine
    clf = Classifier(bundle, threads=threads)
    protos = bundle.prototypes.get("category", {})
    min_score = float(bundle.thresholds.get("min_score", 0.5))
    kw = dict(max_bytes=64 << 20, max_pixels=120_000_000, classify_side=classify_side)
    rows = []
    t0 = time.time()
    for k, s in enumerate(samples):
        c = clf.classify(_bgr_for(s, kw))
        heads, v = label_heads(c.heads, c.embedding, bundle, min_score, policy)
        rows.append({"source": s["source"], "synthetic": s["synthetic"], "key": s["key"],
                     "true": {h: s.get(h) for h in ("category", "damage", "view")},
                     "pred": {h: heads[h].label for h in ("category", "damage", "view")},
                     "raw": {h: c.heads[h].label for h in ("category", "damage")},
                     "probs": {h: list(c.heads[h].probs) for h in ("category", "damage")},
                     "sims": {lab: cosine(c.embedding, np.asarray(p.vector, np.float32))
                              for lab, p in protos.items()},
                     "similarity": v.similarity, "verified": v.verified})
        if (k + 1) % 250 == 0:
            log(f"  evaluated {k + 1}/{len(samples)} ({time.time() - t0:.0f}s)")
    return rows


def _macro_f1(y, p, labels):
    f1s = []
    for l in labels:
        tp = sum(1 for a, b in zip(y, p) if a == l and b == l)
        fp = sum(1 for a, b in zip(y, p) if a != l and b == l)
        fn = sum(1 for a, b in zip(y, p) if a == l and b != l)
        if tp + fp + fn == 0:
            continue
        f1s.append(2 * tp / (2 * tp + fp + fn))
    return float(np.mean(f1s)) if f1s else float("nan")


def _auroc(pos, neg):
    pos, neg = np.asarray(pos, float), np.asarray(neg, float)
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    # Mann-Whitney U with ties counted half
    allv = np.concatenate([pos, neg])
    order = allv.argsort(kind="mergesort")
    ranks = np.empty(len(allv))
    sv = allv[order]
    i = 0
    while i < len(sv):
        j = i
        while j + 1 < len(sv) and sv[j + 1] == sv[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    rp = ranks[:len(pos)].sum()
    return float((rp - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def confusion(y, p, labels):
    m = np.zeros((len(labels), len(labels)), int)
    for a, b in zip(y, p):
        if a in labels and b in labels:
            m[labels.index(a), labels.index(b)] += 1
    return m


def metrics(rows):
    out = {"per_source": {}, "synthetic": {}}
    for src in sorted({r["source"] for r in rows}):
        rs = [r for r in rows if r["source"] == src]
        d = {"n": len(rs)}
        if rs[0]["true"]["category"] is not None:
            d["category_acc"] = float(np.mean([r["pred"]["category"] == r["true"]["category"] for r in rs]))
            if rs[0]["true"]["category"] == "damage":
                d["vehicle_or_damage_acc"] = float(np.mean([r["pred"]["category"] in ("vehicle", "damage") for r in rs]))
            d["verified_rate"] = float(np.mean([r["verified"] and r["pred"]["category"] == r["true"]["category"] for r in rs]))
        else:
            d["accepted_as_claim_rate"] = float(np.mean([r["verified"] and r["pred"]["category"] != "other" for r in rs]))
        (out["synthetic"] if rs[0]["synthetic"] else out["per_source"])[src] = d
    real = [r for r in rows if not r["synthetic"]]
    y = [r["true"]["category"] for r in real]
    p = [r["pred"]["category"] for r in real]
    out["category"] = {"n": len(real), "accuracy": float(np.mean([a == b for a, b in zip(y, p)])),
                       "macro_f1": _macro_f1(y, p, CATEGORY),
                       "confusion": confusion(y, p, CATEGORY).tolist()}
    # damage and view are scored on vehicle photos (non-vehicle photos are trained as none/unknown)
    dm = [r for r in real if r["true"]["damage"] in DAMAGE and r["true"]["category"] in ("vehicle", "damage")]
    yd = [r["true"]["damage"] for r in dm]
    pd = [r["pred"]["damage"] for r in dm]
    out["damage"] = {"n": len(dm),
                     "presence_acc": float(np.mean([(a == "none") == (b == "none") for a, b in zip(yd, pd)])) if dm else float("nan"),
                     "accuracy": float(np.mean([a == b for a, b in zip(yd, pd)])) if dm else float("nan"),
                     "macro_f1": _macro_f1(yd, pd, DAMAGE), "confusion": confusion(yd, pd, DAMAGE).tolist()}
    vw = [r for r in real if r["true"]["view"] and r["true"]["category"] == "vehicle"]
    yv = [r["true"]["view"] for r in vw]
    pv = [r["pred"]["view"] for r in vw]
    out["view"] = {"n": len(vw), "accuracy": float(np.mean([a == b for a, b in zip(yv, pv)])) if vw else float("nan"),
                   "macro_f1": _macro_f1(yv, pv, [v for v in VIEW if v in yv]),
                   "confusion": confusion(yv, pv, VIEW).tolist()}
    ind = [claim_score(r) for r in real if r["true"]["category"] in CLAIM]
    ood = {}
    nc = [claim_score(r) for r in real if r["source"] == "not_claim"]
    if nc:
        ood["not_claim"] = nc
    for src in sorted({r["source"] for r in rows if r["source"].startswith("ood_")}):
        ood[src] = [claim_score(r) for r in rows if r["source"] == src]
    allneg = [v for vs in ood.values() for v in vs]
    out["sources"] = source_metrics(rows)
    out["severity"] = severity_report([r for r in real if r["source"] == "damage_severity"])
    out["open_set_99"] = open_set_at(rows)
    out["open_set"] = {"in_domain_n": len(ind), "auroc_all": _auroc(ind, allneg),
                       **{f"auroc_{k}": _auroc(ind, v) for k, v in ood.items()},
                       **{f"n_{k}": len(v) for k, v in ood.items()}}
    return out


def plot_confusion(m, labels, title, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    m = np.asarray(m)
    keep = [i for i in range(len(labels)) if m[i].sum() or m[:, i].sum()]
    m = m[np.ix_(keep, keep)]
    labels = [labels[i] for i in keep]
    fig, ax = plt.subplots(figsize=(1.1 * len(labels) + 2, 1.0 * len(labels) + 1.5), dpi=90)
    norm = m / np.maximum(1, m.sum(1, keepdims=True))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, str(m[i, j]), ha="center", va="center",
                    color="white" if norm[i, j] > 0.6 else "black", fontsize=9)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted (int8)")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def format_report(m, lat=None):
    L = []
    if m.get("loso"):
        L.append(format_loso(m["loso"]))
    if m.get("sources"):
        what = ("every photo (--split all: held out only for a source the bundle never trained on)"
                if m.get("split") == "all" else f"same-source {m.get('split', 'test')} split")
        L.append(format_sources(m["sources"], f"{what}, per real source (policy {m.get('policy', 'joint')})"))
    if m.get("severity"):
        L.append(format_severity(m["severity"]))
    if m.get("policies"):
        L.append(format_policies(m["policies"]))
    if m.get("open_set_99"):
        L.append(format_open_set(m["open_set_99"]))
    L.append("held-out real sets (category accuracy per source):")
    for src, d in m["per_source"].items():
        if "category_acc" in d:
            extra = f"  (vehicle|damage {d['vehicle_or_damage_acc']:.3f})" if "vehicle_or_damage_acc" in d else ""
            L.append(f"  {src:<20} n={d['n']:<4} acc {d['category_acc']:.3f}  verified {d['verified_rate']:.3f}{extra}")
    c = m["category"]
    L.append(f"category (all real held-out, n={c['n']}): accuracy {c['accuracy']:.3f}  macro F1 {c['macro_f1']:.3f}")
    d = m["damage"]
    L.append(f"damage (n={d['n']}): presence (none vs any) accuracy {d['presence_acc']:.3f}  "
             f"4-class accuracy {d['accuracy']:.3f}  macro F1 {d['macro_f1']:.3f}")
    v = m["view"]
    L.append(f"view (n={v['n']}, vehicles with a front/rear label): accuracy {v['accuracy']:.3f}")
    L.append("synthetic held-out (reported apart):")
    for src, d in m["synthetic"].items():
        if "category_acc" in d:
            L.append(f"  {src:<20} n={d['n']:<4} acc {d['category_acc']:.3f}  verified {d['verified_rate']:.3f}")
        else:
            L.append(f"  {src:<20} n={d['n']:<4} accepted as a verified claim photo {d['accepted_as_claim_rate']:.3f}")
    o = m["open_set"]
    L.append(f"open-set AUROC (in-domain real held-out n={o['in_domain_n']} vs out-of-domain): all {o['auroc_all']:.3f}  " +
             "  ".join(f"{k[6:]} {v:.3f}" for k, v in o.items() if k.startswith("auroc_") and k != "auroc_all"))
    if lat:
        L.append(f"latency int8, {lat['threads']} threads: median {lat['median_ms']:.2f} ms (p90 {lat['p90_ms']:.2f}, {lat['runs']} runs)")
    return "\n".join(L)


def evaluate_bundle(data_dir, bundle_dir=DEFAULT_BUNDLE, *, split="test", n_ood=240, n_docs=840,
                    n_other=360, max_per_source=None, write=False, log=print, threads=2,
                    policy="joint", sources=None, extra=()):
    from edge.bundle import load_bundle
    from .data import build_samples
    bundle = load_bundle(bundle_dir)
    samples = build_samples(data_dir, n_docs=n_docs, n_other=n_other, n_ood=n_ood,
                            max_per_source=max_per_source, extra=extra)
    ev = [s for s in samples if split == "all" or s["split"] == split]
    if sources:
        ev = [s for s in ev if s["source"] in sources]
    log(f"[eval] {bundle.name} {bundle.version} sha {bundle.sha256[:12]} on {len(ev)} {split} images")
    rows = run_samples(bundle, ev, threads=threads, policy=policy, log=log)
    m = metrics(rows)
    ranges = {k: tuple(p.similarity_range) for k, p in bundle.prototypes.get("category", {}).items()}
    m["policy"] = policy
    m["policies"] = policy_table(rows, ranges, float(bundle.thresholds.get("min_score", 0.5)))
    # leave-one-source-out figures come from `claim-edge-train loso` (written to the manifest)
    m["loso"] = (bundle.raw.get("metrics") or {}).get("loso")
    m["latency_int8"] = latency_ms(bundle.model_file, threads=2)
    m["split"] = split
    m["bundle"] = f"{bundle.name} {bundle.version} (sha256 {bundle.sha256[:12]})"
    if write:
        out = Path(bundle_dir)
        plot_confusion(m["category"]["confusion"], CATEGORY, "category, real held-out", out / "confusion_category.png")
        plot_confusion(m["damage"]["confusion"], DAMAGE, "damage severity, real held-out", out / "confusion_damage.png")
        plot_confusion(m["view"]["confusion"], VIEW, "view, vehicles held-out", out / "confusion_view.png")
        man = json.loads((out / "manifest.json").read_text())
        man.setdefault("metrics", {})["heldout"] = {k: v for k, v in m.items() if k != "loso"}
        (out / "manifest.json").write_text(json.dumps(man, indent=1) + "\n")
    return m, rows


def main_category(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="claim-edge eval category",
                                 description="Evaluate the shipped classifier bundle on the held-out split of DATA_DIR.")
    ap.add_argument("data_dir")
    ap.add_argument("--bundle", default=str(DEFAULT_BUNDLE))
    ap.add_argument("--split", default="test", choices=["test", "val", "train", "all"],
                    help="all: every photo (for a source the bundle never trained on)")
    ap.add_argument("--sources", help="comma-separated sources to evaluate (default: all)")
    ap.add_argument("--extra", action="append", default=[], metavar="DIR",
                    help="also evaluate the further real sources in DIR (DIR/<source>/labels.csv; "
                         "python -m models.toolkit.extra_sources build writes them; repeatable)")
    ap.add_argument("--json", help="write the metrics as JSON to this file")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--policy", default="joint", choices=["joint", "review", "off"],
                    help="category/damage consistency rule the device applies (profile [verify] consistency)")
    ap.add_argument("--rows", help="write the per-photo rows as JSON lines to this file")
    a = ap.parse_args(argv)
    if not Path(a.data_dir).is_dir():
        print(f"{a.data_dir}: data folder not found", file=sys.stderr)
        return 2
    srcs = set(a.sources.split(",")) if a.sources else None
    m, rows = evaluate_bundle(a.data_dir, a.bundle, split=a.split, threads=a.threads, policy=a.policy,
                              sources=srcs, extra=a.extra,
                              log=lambda s: print(s, file=sys.stderr, flush=True))
    if a.rows:
        Path(a.rows).write_text("".join(json.dumps(r) + "\n" for r in rows))
    print(format_report(m, m.get("latency_int8")))
    if a.json:
        Path(a.json).write_text(json.dumps(m, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main_category())
