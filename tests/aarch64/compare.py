"""Compare two `claim-edge analyze --json` outputs of the same photos (x86-64 vs arm64).

Labels, verification, scenarios, detection labels, document type and field values must be equal;
scores and similarities may differ by the int8 kernels' rounding, within TOLERANCE; each
detection's box must overlap its counterpart's at BOX_IOU, except weak ones (WEAK).
Prints one line per photo and the largest differences; exit status 1 on any mismatch.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

TOLERANCE = 0.02      # absolute, on scores and similarities (0..1)
BOX_IOU = 0.85        # a detection's box against its counterpart's on the other machine
# Weak detections (both sides under this score, within 0.2 of the profiles' 0.35 cut) may move:
# among overlapping candidates a rounding difference lets the NMS keep a neighbour. They are
# counted, not failed; their labels still count in the per-photo label list.
WEAK = 0.55


def _iou(p: list[float], q: list[float]) -> float:
    x0, y0 = max(p[0], q[0]), max(p[1], q[1])
    x1, y1 = min(p[0] + p[2], q[0] + q[2]), min(p[1] + p[3], q[1] + q[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = p[2] * p[3] + q[2] * q[3] - inter
    return inter / union if union > 0 else 0.0


def _load(path: str) -> dict[str, dict]:
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    return {Path(r["image"]).name: r for r in rows}


def _same(a: dict, b: dict) -> tuple[list[str], dict[str, float]]:
    """(mismatches, {what: absolute difference})."""
    bad, diffs = [], {}

    def num(what, x, y, tol=TOLERANCE):
        if x is None or y is None:
            if x is not y:
                bad.append(f"{what}: {x} vs {y}")
            return
        d = abs(float(x) - float(y))
        diffs[what] = max(diffs.get(what, 0.0), d)
        if d > tol:
            bad.append(f"{what}: {x} vs {y}")

    def eq(what, x, y):
        if x != y:
            bad.append(f"{what}: {x!r} vs {y!r}")

    eq("ok", a.get("ok"), b.get("ok"))
    eq("error", a.get("error"), b.get("error"))
    ca, cb = a.get("category") or {}, b.get("category") or {}
    eq("category", ca.get("label"), cb.get("label"))
    eq("verified", ca.get("verified"), cb.get("verified"))
    num("category score", ca.get("score"), cb.get("score"))
    num("similarity", ca.get("similarity"), cb.get("similarity"))
    for head in sorted(set(a.get("heads") or {}) | set(b.get("heads") or {})):
        ha, hb = (a.get("heads") or {}).get(head) or {}, (b.get("heads") or {}).get(head) or {}
        eq(f"heads.{head}", ha.get("label"), hb.get("label"))
        num(f"heads.{head} score", ha.get("score"), hb.get("score"))
    eq("scenarios", a.get("scenarios"), b.get("scenarios"))
    eq("quality", (a.get("quality") or {}).get("ok"), (b.get("quality") or {}).get("ok"))
    da, db = a.get("detections") or [], b.get("detections") or []
    eq("detections", sorted(d["label"] for d in da), sorted(d["label"] for d in db))
    for side, mine, theirs in (("x86-64", da, db), ("arm64", db, da)):
        for x in mine:
            others = [y for y in theirs if y["label"] == x["label"]]
            y = max(others, key=lambda o: _iou(x["box"], o["box"]), default=None)
            overlap = _iou(x["box"], y["box"]) if y else 0.0
            if x["score"] < WEAK and (y is None or y["score"] < WEAK):
                if overlap < BOX_IOU:
                    diffs["weak detections moved"] = diffs.get("weak detections moved", 0) + 0.5
                continue
            what = f"{x['label']} {x['score']:.3f} ({side})"
            diffs["detection box 1-IoU"] = max(diffs.get("detection box 1-IoU", 0.0), 1 - overlap)
            if overlap < BOX_IOU:
                bad.append(f"{what}: best overlap on the other side IoU {overlap:.2f}")
            else:
                num("detection score", x["score"], y["score"])
    doc_a, doc_b = a.get("document") or {}, b.get("document") or {}
    eq("document", doc_a.get("type"), doc_b.get("type"))
    num("document score", doc_a.get("score"), doc_b.get("score"))
    fa, fb = a.get("fields") or {}, b.get("fields") or {}
    eq("fields", {k: (v.get("value"), v.get("valid")) for k, v in fa.items()},
       {k: (v.get("value"), v.get("valid")) for k, v in fb.items()})
    return bad, diffs


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: compare.py X86.jsonl ARM64.jsonl", file=sys.stderr)
        return 2
    ref, other = _load(argv[0]), _load(argv[1])
    if not ref:
        print(f"{argv[0]}: no results", file=sys.stderr)
        return 1
    failures, worst = 0, {}
    for name in sorted(set(ref) | set(other)):
        if name not in ref or name not in other:
            print(f"MISSING {name}: only in {'x86-64' if name in ref else 'arm64'}")
            failures += 1
            continue
        bad, diffs = _same(ref[name], other[name])
        for k, v in diffs.items():
            worst[k] = max(worst.get(k, 0.0), v)
        c = (ref[name].get("category") or {})
        print(f"{'same' if not bad else 'DIFF'} {name}: {c.get('label')} "
              f"{ref[name].get('scenarios')}" + ("" if not bad else " | " + "; ".join(bad)))
        failures += bool(bad)
    print("largest differences: " + ", ".join(f"{k} {v:.4g}" for k, v in sorted(worst.items())))
    print(f"{len(ref)} photos, {failures} differ (tolerance: scores {TOLERANCE}, boxes IoU "
          f">= {BOX_IOU}; detections under {WEAK} on both machines may move)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
