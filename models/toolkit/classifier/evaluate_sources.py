"""Per-source figures of the classifier's output rows (evaluate.run_samples or loso.float_rows):
what issue 24 asks of real captures, per source, and what each category/damage consistency
policy costs. No torch: runs in the device environment.

A row: {"source", "synthetic", "true": {category, damage, view}, "pred": {category, damage},
"probs": {category: [...], damage: [...]}, "sims": {label: cosine} (optional), "verified"}.
"""
from __future__ import annotations

import numpy as np

from .labels import CATEGORY, DAMAGE

SEVERITY = ("minor", "moderate", "severe")


def claim_score(r):
    """Open-set score: cosine to the predicted category's prototype; a photo predicted `other`
    is rejected outright (score below every similarity, ordered by its `other` probability)."""
    if r["pred"]["category"] == "other":
        return -1.0 - r["probs"]["category"][CATEGORY.index("other")]
    return r["similarity"] if r["similarity"] is not None else -1.0


def _mean(xs):
    xs = list(xs)
    return float(np.mean(xs)) if xs else None


def undamaged_ok(r) -> bool:
    """An undamaged vehicle photo is right when called `vehicle`, or `plate` where the plate fills
    the frame (true category plate)."""
    p = r["pred"]["category"]
    return p == "vehicle" or (p == "plate" and r["true"]["category"] == "plate")


def damaged_ok(r) -> bool:
    """A damaged car is right when called vehicle or damage with a damage head other than none."""
    return r["pred"]["category"] in ("vehicle", "damage") and r["pred"]["damage"] != "none"


def is_undamaged_vehicle(r) -> bool:
    t = r["true"]
    return t["damage"] == "none" and t["category"] in ("vehicle", "plate") and \
        r["source"] not in ("plate_crops", "plate_photo_crops", "plate_scene_crops")


def is_damaged(r) -> bool:
    return r["true"]["category"] == "damage"


def contradiction(r) -> bool:
    """Category damage with damage none, and not sent to review."""
    return r["pred"]["category"] == "damage" and r["pred"]["damage"] == "none" and \
        bool(r.get("verified", True))


def source_metrics(rows) -> dict:
    """Per real source: n, undamaged-vehicle and damaged-car figures (where the source holds
    them), severity exact (where severity is labelled), contradictions and review rate."""
    out = {}
    for src in sorted({r["source"] for r in rows if not r["synthetic"]}):
        rs = [r for r in rows if r["source"] == src and r["true"]["category"] is not None]
        if not rs:
            continue
        d = {"n": len(rs), "category_acc": _mean(r["pred"]["category"] == r["true"]["category"] for r in rs)}
        und = [r for r in rs if is_undamaged_vehicle(r)]
        if und:
            d["undamaged_n"] = len(und)
            d["undamaged_ok"] = _mean(undamaged_ok(r) for r in und)
        dam = [r for r in rs if is_damaged(r)]
        if dam:
            d["damaged_n"] = len(dam)
            d["damaged_ok"] = _mean(damaged_ok(r) for r in dam)
        sev = [r for r in dam if r["true"]["damage"] in SEVERITY]
        if sev:
            d["severity_n"] = len(sev)
            d["severity_exact"] = _mean(r["pred"]["damage"] == r["true"]["damage"] for r in sev)
        d["contradictions"] = sum(contradiction(r) for r in rs)
        if "verified" in rs[0]:
            d["review_rate"] = _mean(not r["verified"] for r in rs)
        out[src] = d
    return out


def severity_report(rows) -> dict:
    """Severity on damaged cars with a severity label: confusion over none/minor/moderate/severe,
    exact accuracy, and the same split by the photo's context as the category head sees it
    (close-up: called damage; wide: called vehicle; else: anything else)."""
    sev = [r for r in rows if r["true"]["damage"] in SEVERITY and is_damaged(r)]
    m = np.zeros((len(DAMAGE), len(DAMAGE)), int)
    for r in sev:
        m[DAMAGE.index(r["true"]["damage"]), DAMAGE.index(r["pred"]["damage"])] += 1
    ctx = {"close-up": [r for r in sev if r["pred"]["category"] == "damage"],
           "wide": [r for r in sev if r["pred"]["category"] == "vehicle"],
           "other": [r for r in sev if r["pred"]["category"] not in ("damage", "vehicle")]}
    return {"n": len(sev), "exact": _mean(r["pred"]["damage"] == r["true"]["damage"] for r in sev),
            "confusion": m.tolist(),
            "by_context": {k: {"n": len(v), "exact": _mean(r["pred"]["damage"] == r["true"]["damage"]
                                                           for r in v)} for k, v in ctx.items()}}


def policy_rows(rows, policy: str, protos: dict, min_score: float) -> list[dict]:
    """The rows as a device with consistency ``policy`` would output them, recomputed from the
    heads' probabilities and each prototype's similarity (rows need "sims")."""
    from edge.classifier.consistency import reconcile
    from edge.result import HeadResult
    out = []
    for r in rows:
        if r["true"]["category"] is None and not r["source"].startswith("ood_"):
            continue
        pc, pd = r["probs"]["category"], r["probs"]["damage"]
        cat = HeadResult(CATEGORY[int(np.argmax(pc))], float(max(pc)), tuple(pc))
        dmg = HeadResult(DAMAGE[int(np.argmax(pd))], float(max(pd)), tuple(pd))
        st = reconcile(cat, dmg, tuple(CATEGORY), tuple(DAMAGE), policy)
        lab = st.category.label
        lo, hi = protos[lab] if lab in protos else (2.0, 2.0)
        sim = r["sims"].get(lab, -1.0)
        verified = st.category.score >= min_score and lo <= sim <= hi and not st.review_reason
        out.append({**r, "pred": {**r["pred"], "category": lab, "damage": st.damage.label},
                    "verified": verified, "similarity": sim})
    return out


def policy_table(rows, protos: dict, min_score: float, policies=("off", "review", "joint")) -> dict:
    """What each policy costs on the real held-out claim photos: share sent to review, category
    accuracy, verified-and-correct, contradictions left, damaged cars called damaged."""
    out = {}
    for pol in policies:
        rs = [r for r in policy_rows(rows, pol, protos, min_score)
              if not r["synthetic"] and r["true"]["category"] not in (None, "other")]
        dam = [r for r in rs if is_damaged(r)]
        und = [r for r in rs if is_undamaged_vehicle(r)]
        out[pol] = {"n": len(rs),
                    "review_rate": _mean(not r["verified"] for r in rs),
                    "category_acc": _mean(r["pred"]["category"] == r["true"]["category"] for r in rs),
                    "verified_correct": _mean(r["verified"] and r["pred"]["category"] == r["true"]["category"] for r in rs),
                    "contradictions": sum(contradiction(r) for r in rs),
                    "damaged_ok": _mean(damaged_ok(r) for r in dam),
                    "undamaged_ok": _mean(undamaged_ok(r) for r in und),
                    "severity_exact": severity_report(rs)["exact"]}
    return out


def open_set_at(rows, keep: float = 0.99) -> dict:
    """Non-claim photos accepted as verified claim photos, with the shipped ranges and at the
    similarity cut that keeps ``keep`` of the real in-domain claim photos."""
    ind = [claim_score(r) for r in rows if not r["synthetic"] and r["true"]["category"] not in (None, "other")]
    cut = float(np.quantile(ind, 1 - keep)) if ind else None
    out = {"in_domain_n": len(ind), "cut": cut,
           "in_domain_kept": _mean(r["verified"] and r["pred"]["category"] != "other" for r in rows
                                   if not r["synthetic"] and r["true"]["category"] not in (None, "other"))}
    for src in ["not_claim"] + sorted({r["source"] for r in rows if r["source"].startswith("ood_")}):
        neg = [r for r in rows if r["source"] == src]
        if neg:
            out[src] = {"n": len(neg),
                        "accepted": _mean(r["verified"] and r["pred"]["category"] != "other" for r in neg),
                        "accepted_at_cut": _mean(claim_score(r) >= cut for r in neg) if cut is not None else None}
    return out


def format_sources(sm: dict, title: str = "per real source") -> str:
    f = lambda x: "  -  " if x is None else f"{x:.3f}"  # noqa: E731
    L = [f"{title}:", f"  {'source':<20}{'n':>5}  {'category':>8}  {'undamaged->vehicle':>18}  {'damaged->damaged':>16}  "
         f"{'severity exact':>14}  {'contradictions':>14}  {'review':>6}"]
    for src, d in sm.items():
        L.append(f"  {src:<20}{d['n']:>5}  {f(d.get('category_acc')):>8}  {f(d.get('undamaged_ok')):>18}  "
                 f"{f(d.get('damaged_ok')):>16}  {f(d.get('severity_exact')):>14}  {d['contradictions']:>14}  "
                 f"{f(d.get('review_rate')):>6}")
    return "\n".join(L)


def seed_spread(r: dict, d: dict) -> str:
    """' (mean of 3 seeds; undamaged 0.710-0.800)' for a run over several seeds."""
    if not r.get("seeds"):
        return ""
    parts = [f"{k.replace('_ok', '').replace('_', ' ')} {lo:.3f}-{hi:.3f}"
             for k in ("undamaged_ok", "damaged_ok") if (rg := d.get(f"{k}_range")) for lo, hi in [rg]]
    return f" (mean of {r['seeds']} seeds" + (f"; {', '.join(parts)}" if parts else "") + ")"


def format_loso(results: dict) -> str:
    f = lambda x: "  -  " if x is None else f"{x:.3f}"  # noqa: E731
    L = ["leave one source out (trained without the source, scored on all its photos, float):",
         f"  {'held out':<20}{'n':>5}  {'category':>8}  {'undamaged->vehicle':>18}  {'damaged->damaged':>16}  {'severity exact':>14}  {'contradictions':>14}"]
    for held, r in results.items():
        for src, d in r["per_source"].items():
            L.append(f"  {src:<20}{d['n']:>5}  {f(d.get('category_acc')):>8}  {f(d.get('undamaged_ok')):>18}  "
                     f"{f(d.get('damaged_ok')):>16}  {f(d.get('severity_exact')):>14}  {d['contradictions']:>14}"
                     + seed_spread(r, d))
    und = [d["undamaged_ok"] for r in results.values() for d in r["per_source"].values() if d.get("undamaged_ok") is not None]
    dam = [d["damaged_ok"] for r in results.values() for d in r["per_source"].values() if d.get("damaged_ok") is not None]
    if und:
        L.append(f"  worst undamaged->vehicle {min(und):.3f}")
    if dam:
        L.append(f"  worst damaged->damaged {min(dam):.3f}")
    return "\n".join(L)


def format_severity(sv: dict) -> str:
    L = [f"severity on damaged cars with a severity label (n={sv['n']}): exact {sv['exact']:.3f}" if sv["n"] else "severity: none labelled"]
    if sv["n"]:
        L.append("  confusion (rows true, columns predicted): " + "  ".join(DAMAGE))
        for lab, row in zip(DAMAGE, sv["confusion"]):
            if lab != "none":
                L.append(f"    {lab:<9}" + "".join(f"{v:>9}" for v in row))
        parts = []
        for k, v in sv["by_context"].items():
            parts.append(f"{k} n={v['n']} exact " + ("-" if v["exact"] is None else f"{v['exact']:.3f}"))
        L.append("  by context (close-up: called damage, wide: called vehicle): " + "  ".join(parts))
    return "\n".join(L)


def format_policies(pt: dict) -> str:
    f = lambda x: "  -  " if x is None else f"{x:.3f}"  # noqa: E731
    L = ["category/damage consistency policy, real held-out claim photos:",
         f"  {'policy':<8}{'n':>6}  {'to review':>9}  {'category acc':>12}  {'verified&correct':>16}  "
         f"{'contradictions':>14}  {'damaged ok':>10}  {'undamaged ok':>12}  {'severity':>8}"]
    for pol, d in pt.items():
        L.append(f"  {pol:<8}{d['n']:>6}  {f(d['review_rate']):>9}  {f(d['category_acc']):>12}  "
                 f"{f(d['verified_correct']):>16}  {d['contradictions']:>14}  {f(d['damaged_ok']):>10}  "
                 f"{f(d['undamaged_ok']):>12}  {f(d['severity_exact']):>8}")
    return "\n".join(L)


def format_open_set(o: dict) -> str:
    L = [f"open set: in-domain real claim photos kept (verified) {o['in_domain_kept']:.3f} (n={o['in_domain_n']}); "
         f"similarity cut keeping 99% of them: {o['cut']:.3f}"]
    for k, v in o.items():
        if isinstance(v, dict):
            L.append(f"  {k:<14} n={v['n']:<4} accepted as a verified claim photo {v['accepted']:.3f}; "
                     f"above the 99% cut {v['accepted_at_cut']:.3f}")
    return "\n".join(L)
