"""Leave one source out: train the same architecture and recipe without one real source (on the
shared trunk-feature cache), then score every photo of that source (all its splits: none was
trained on) with the float network and the device's consistency rule.

``claim-edge-train loso DATA_DIR --hold plate_scenes --hold vehicles`` prints, per held-out
source, the issue-24 figures (evaluate_sources) and writes them to the bundle's manifest
(metrics.loso) so the model card leads with them. Verification is not scored here (the int8
similarity ranges belong to the shipped bundle); the category and damage labels are.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .evaluate_sources import format_loso, severity_report, source_metrics  # noqa: F401
from .labels import CATEGORY, DAMAGE
from .net import MultiTaskNet
from .train import _Body, cached_features, pooled_neck, train_frozen, training_features

# sources cut from the same photos leave together
COUPLED = {"plate_photos": ("plate_photos", "plate_photo_crops"),
           "plate_photo_crops": ("plate_photos", "plate_photo_crops")}


def held_group(source: str) -> tuple[str, ...]:
    return COUPLED.get(source, (source,))


def plain_features(net: MultiTaskNet, features, wanted, cache_dir: Path, *, size: int, train_blocks: int,
                   cache_blocks: int | None, freeze_neck: bool, log=print) -> np.ndarray:
    """Features of the plain view of each of ``wanted``, in order: train/val photos are read from
    the training ``features`` (train.training_features: their view 0), the others computed (and
    cached) apart."""
    use, feats, idx, views = features
    # plate_photo_crops share their photo's key: a row is known by (source, key)
    row_of = {(use[i]["source"], use[i]["key"]): r for r, (i, v) in enumerate(zip(idx, views)) if v == 0}
    rest = [{**s, "split": "test"} for s in wanted if (s["source"], s["key"]) not in row_of]
    if rest:
        log(f"[loso] plain features of {len(rest)} photos not in the training cache")
        f2, i2, _ = cached_features(net, rest, size, cache_dir, train_blocks=train_blocks,
                                    cache_blocks=cache_blocks, log=log)
        extra = {(rest[i]["source"], rest[i]["key"]): f2[r] for r, i in enumerate(i2)}
    else:
        extra = {}
    if freeze_neck and extra:
        keys = list(extra)
        extra = dict(zip(keys, pooled_neck(net, np.stack([extra[k] for k in keys]))))
    return np.stack([feats[row_of[k]] if k in row_of else extra[k]
                     for k in ((s["source"], s["key"]) for s in wanted)])


@torch.no_grad()
def float_rows(net: MultiTaskNet, samples, feats: np.ndarray, *, train_blocks: int,
               freeze_neck: bool = False, policy: str = "joint") -> list[dict]:
    """Rows (evaluate_sources format) of the float network on the samples' plain-view features."""
    from edge.classifier.consistency import reconcile
    from edge.result import HeadResult
    body = _Body(net, train_blocks, freeze_neck).eval()
    rows = []
    for b in range(0, len(samples), 256):
        o = body(torch.from_numpy(feats[b:b + 256]).float())
        pc, pd = F.softmax(o["category"], 1).numpy(), F.softmax(o["damage"], 1).numpy()
        for k in range(len(pc)):
            s = samples[b + k]
            cat = HeadResult(CATEGORY[int(pc[k].argmax())], float(pc[k].max()), tuple(map(float, pc[k])))
            dmg = HeadResult(DAMAGE[int(pd[k].argmax())], float(pd[k].max()), tuple(map(float, pd[k])))
            st = reconcile(cat, dmg, tuple(CATEGORY), tuple(DAMAGE), policy)
            rows.append({"source": s["source"], "synthetic": s["synthetic"], "key": s["key"],
                         "true": {h: s.get(h) for h in ("category", "damage", "view")},
                         "pred": {"category": st.category.label, "damage": st.damage.label},
                         "raw": {"category": cat.label, "damage": dmg.label},
                         "probs": {"category": list(cat.probs), "damage": list(dmg.probs)}})
    return rows


def run_loso(samples, held: str, cache_dir: Path, *, size=224, epochs=8, train_blocks=0,
             cache_blocks=None, views_scale=1.0, seed=0, freeze_neck=False, features=None,
             log=print) -> dict:
    """``features``: training_features of a fresh pretrained net with the same settings (the
    frozen part is the same ImageNet trunk in every run), computed here when not given."""
    group = held_group(held)
    torch.manual_seed(seed)  # the heads' initialisation is part of the run's seed
    net = MultiTaskNet(size, pretrained=True).eval()
    t0 = time.time()
    if features is None:
        features = training_features(net, samples, size, cache_dir, train_blocks=train_blocks,
                                     cache_blocks=cache_blocks, views_scale=views_scale,
                                     freeze_neck=freeze_neck, log=log)
    train_frozen(net, samples, cache_dir, size=size, epochs=epochs, views_scale=views_scale,
                 seed=seed, train_blocks=train_blocks, cache_blocks=cache_blocks,
                 exclude_sources=set(group), freeze_neck=freeze_neck, features=features, log=log)
    test = [s for s in samples if s["source"] in group and s["category"] is not None]
    feats = plain_features(net, features, test, cache_dir, size=size, train_blocks=train_blocks,
                           cache_blocks=cache_blocks, freeze_neck=freeze_neck, log=log)
    rows = float_rows(net, test, feats, train_blocks=train_blocks, freeze_neck=freeze_neck)
    return {"held_out": list(group), "epochs": epochs, "train_blocks": train_blocks,
            "freeze_neck": freeze_neck, "views_scale": views_scale,
            "per_source": source_metrics(rows), "severity": severity_report(rows),
            "train_s": round(time.time() - t0)}


RATES = ("category_acc", "undamaged_ok", "damaged_ok", "severity_exact")


def over_seeds(runs: list[dict]) -> dict:
    """One held-out source's runs with different seeds (heads' initialisation and batches) as one
    result: each rate's mean, with its lowest and highest in ``<rate>_range``; the most
    contradictions any run left."""
    if len(runs) == 1:
        return runs[0]
    out = {**runs[0], "seeds": len(runs), "train_s": sum(r["train_s"] for r in runs)}
    out["per_source"] = {}
    for src, d0 in runs[0]["per_source"].items():
        ds = [r["per_source"][src] for r in runs]
        d = dict(d0)
        for k in RATES:
            vals = [x[k] for x in ds if x.get(k) is not None]
            if vals:
                d[k] = float(np.mean(vals))
                d[f"{k}_range"] = [float(min(vals)), float(max(vals))]
        d["contradictions"] = max(x["contradictions"] for x in ds)
        out["per_source"][src] = d
    return out


def write_to_manifest(bundle_dir: Path, results: dict) -> None:
    p = Path(bundle_dir) / "manifest.json"
    man = json.loads(p.read_text())
    man.setdefault("metrics", {}).setdefault("loso", {}).update(results)
    p.write_text(json.dumps(man, indent=1) + "\n")


def summarize(results: dict) -> dict:
    und = [d["undamaged_ok"] for r in results.values() for d in r["per_source"].values() if d.get("undamaged_ok") is not None]
    dam = [d["damaged_ok"] for r in results.values() for d in r["per_source"].values() if d.get("damaged_ok") is not None]
    return {"worst_undamaged_ok": float(np.min(und)) if und else None,
            "worst_damaged_ok": float(np.min(dam)) if dam else None}
