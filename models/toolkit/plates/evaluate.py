"""Plates measured by source: what a customer in each region meets.

For every plate source (``plates.sources.PLATE_SOURCES``: openalpr-eu, openalpr-br, ucsd-us,
easypr-ccpd-cn) and every labelled plate of its photos: detection recall at IoU 0.5 (after the
zoom pass), recall by the plate's width in the photo's pixels (``WIDTH_BUCKETS``), the exact read
end to end from the full photo (detect -> zoom -> crop -> recognise -> normalise), the exact read
from the labelled box (recognition alone), and the kinds of misread (``miss_kind``: O/0, I/1,
B/8, S/5, Z/2 swaps, a dropped first or last character ...). The summary is the mean and the
worst source.

The read compared is the registration: a Chinese plate's leading province character is dropped
from the truth before comparing (the readers' alphabet is 0-9 A-Z; they read no province
characters). End to end, a photo with one labelled plate is scored on the value the pipeline
puts in ``fields.plate`` (all the photo's plate detections compete); on a photo with several
labelled plates each is scored on the read of the detections on it (IoU >= 0.3 or the centre
inside its box).

Torch-free: runs in the runtime environment.
"""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from edge.detect import DetectTimings, Detector, detect_photo, iou_xywh
from edge.detect.boxes import centre_inside
from edge.result import Detection

from .sources import PLATE_SOURCES, SOURCE_REGION, registration

WIDTH_BUCKETS = ((0, 40, "<40"), (40, 80, "40-80"), (80, 160, "80-160"), (160, float("inf"), ">160"))
# the plate's width as a fraction of the photo's: wide shots put it at 2-5%
SHARE_BUCKETS = ((0, 0.02, "<2%"), (0.02, 0.05, "2-5%"), (0.05, 0.10, "5-10%"),
                 (0.10, float("inf"), ">10%"))
SWAPS = ("O/0", "I/1", "B/8", "S/5", "Z/2")


def width_bucket(w: float, buckets=WIDTH_BUCKETS) -> str:
    return next(name for lo, hi, name in buckets if lo <= w < hi)


def wide_shot(bgr: np.ndarray, boxes: list, factor: float, seed: int):
    """The photo as a wider shot: placed, at its own resolution, somewhere in a frame ``factor``
    times larger filled with its blurred enlargement (the detector's zoom-out training view).
    The plates keep their pixels and become ``1/factor`` as wide relative to the photo.
    Returns the frame and the boxes moved into it."""
    import cv2
    H, W = bgr.shape[:2]
    nh, nw = int(H * factor), int(W * factor)
    frame = cv2.resize(cv2.GaussianBlur(bgr, (0, 0), 15), (nw, nh))
    rng = np.random.default_rng(seed)
    yo, xo = int(rng.integers(0, nh - H + 1)), int(rng.integers(0, nw - W + 1))
    frame[yo:yo + H, xo:xo + W] = bgr
    return frame, [(b[0], b[1] + xo, b[2] + yo, b[3], b[4]) for b in boxes]


def miss_kind(truth: str, read: str) -> list[str]:
    """Why ``read`` is not ``truth``: one entry per swapped character pair of ``SWAPS`` or
    ``other swap`` (same length), or ``dropped first`` / ``dropped last`` / ``extra character``
    / ``not read`` / ``other``. Empty when they are equal."""
    if read == truth:
        return []
    if not read:
        return ["not read"]
    if read == truth[1:]:
        return ["dropped first"]
    if read == truth[:-1]:
        return ["dropped last"]
    if len(read) == len(truth) + 1 and (read[1:] == truth or read[:-1] == truth):
        return ["extra character"]
    if len(read) != len(truth):
        return ["other"]
    out = []
    for a, b in zip(truth, read):
        if a == b:
            continue
        pair = next((s for s in SWAPS if {a, b} == set(s.split("/"))), None)
        out.append(pair or "other swap")
    return out


def swapped(truth: str, read: str) -> list[str]:
    """The characters a same-length read swapped, as ``truth>read`` (``4>L``)."""
    if len(truth) != len(read):
        return []
    return [f"{a}>{b}" for a, b in zip(truth, read) if a != b]


@dataclass
class SourceTally:
    photos: int = 0
    plates: int = 0
    detected: int = 0
    read: int = 0
    read_labelled_box: int = 0
    detections: int = 0
    tiled: int = 0  # photos the detector tiled
    buckets: dict = field(default_factory=lambda: {b[2]: [0, 0] for b in WIDTH_BUCKETS})
    shares: dict = field(default_factory=lambda: {b[2]: [0, 0] for b in SHARE_BUCKETS})
    kinds: Counter = field(default_factory=Counter)
    kinds_labelled_box: Counter = field(default_factory=Counter)
    swaps: Counter = field(default_factory=Counter)
    misses: list = field(default_factory=list)
    undetected: list = field(default_factory=list)  # every plate no box reaches IoU 0.5 on
    ms: list = field(default_factory=list)
    reads: bool = True  # False: detection only (``eval plates --skip-reads``)

    def as_dict(self) -> dict:
        n = max(1, self.plates)
        return {"photos": self.photos, "plates": self.plates,
                "detection_recall": self.detected / n,
                "exact_read": self.read / n if self.reads else None,
                "exact_read_from_labelled_box": self.read_labelled_box / n if self.reads else None,
                "detections_per_photo": self.detections / max(1, self.photos),
                "photos_tiled": self.tiled,
                "recall_by_width": {k: {"plates": v[0], "recall": v[1] / v[0] if v[0] else None}
                                    for k, v in self.buckets.items()},
                "recall_by_share_of_width": {k: {"plates": v[0], "recall": v[1] / v[0] if v[0]
                                                 else None} for k, v in self.shares.items()},
                "misreads": dict(self.kinds), "misreads_from_labelled_box":
                dict(self.kinds_labelled_box), "misses": self.misses[:12],
                "swapped_characters": dict(self.swaps.most_common(10)),
                "undetected": self.undetected,
                "median_ms": float(np.median(self.ms)) if self.ms else None}


def _on(gt, d: Detection) -> bool:
    return centre_inside(d.box, gt) or iou_xywh(d.box, gt) >= 0.3


def device_category(profile, threads: int = 2):
    """``f(decoded) -> category``, as the device's classifier and consistency rule give it: the
    detector's tiles depend on it (``detect.tile_categories``, ``wide_tile_categories``)."""
    from edge.classifier import Classifier
    from edge.classifier.consistency import label_heads
    from edge.registry import resolve_model
    bundle = resolve_model(profile.runtime.classifier, None)
    clf = Classifier(bundle, threads)

    def category(dec) -> str | None:
        cls = clf.classify(dec.small)
        heads, _ = label_heads(cls.heads, cls.embedding, bundle, profile.verify.min_score,
                               profile.verify.consistency)
        return heads["category"].label if "category" in heads else None
    return category


def evaluate_photo(tally: SourceTally, dec, sample: dict, det: Detector, rec, cfg,
                   region: str, category: str | None = None) -> None:
    """Adds one photo's plates to ``tally``; ``dec`` is its decode (edge.decode.Decoded), of a
    photo the classifier calls ``category``; with ``rec`` None the plates are not read
    (detection only: a ``SourceTally(reads=False)``)."""
    from edge.plates import read_plate_field
    t = time.perf_counter()
    passes = DetectTimings()
    dets = detect_photo(det, dec.small, dec.full, dec.width, dec.height, cfg, category=category,
                        timings=passes, crop=dec.crop)
    tally.tiled += passes.tiles > 0
    plates = [d for d in dets if d.label == "plate"]
    tally.photos += 1
    tally.detections += len(plates)
    gts = [b[1:] for b in sample["boxes"] if b[0] == "plate"]
    single = read_plate_field(dec, plates, region, rec) \
        if rec is not None and len(gts) == 1 and plates else None
    tally.ms.append((time.perf_counter() - t) * 1000)
    sreg = SOURCE_REGION.get(sample.get("plate_source", ""), sample.get("region", ""))
    for gt, text in zip(gts, sample["plates"]):
        truth = registration(text, sreg)
        tally.plates += 1
        best = max(plates, key=lambda d: iou_xywh(d.box, gt), default=None)
        overlap = iou_xywh(best.box, gt) if best else 0.0
        hit = overlap >= 0.5
        tally.detected += hit
        if not hit:
            tally.undetected.append({
                "photo": sample["key"], "size": [dec.width, dec.height],
                "plate": [round(float(v)) for v in gt], "best_iou": round(overlap, 2),
                "best_box": [round(float(v)) for v in best.box] if best else None})
        for b in (tally.buckets[width_bucket(gt[2])],
                  tally.shares[width_bucket(gt[2] / dec.width, SHARE_BUCKETS)]):
            b[0] += 1
            b[1] += hit
        if rec is None:
            continue
        if len(gts) == 1:
            fv = single
        else:
            on = [d for d in plates if _on(gt, d)]
            fv = read_plate_field(dec, on, region, rec) if on else None
        got = fv.value if fv else ""
        tally.read += got == truth
        kinds = miss_kind(truth, got)
        tally.kinds.update(["not detected"] if not got and not hit else kinds)
        tally.swaps.update(swapped(truth, got))
        if kinds and len(tally.misses) < 12:
            tally.misses.append(f"{truth}->{got or '(none)'}")
        gv = read_plate_field(dec, [Detection("plate", tuple(gt), 1.0)], region, rec)
        gk = miss_kind(truth, gv.value if gv else "")
        tally.read_labelled_box += not gk
        tally.kinds_labelled_box.update(gk)


def summary(per: dict[str, dict]) -> dict:
    """Mean and worst over the four plate sources present."""
    got = [s for s in PLATE_SOURCES if s in per]
    if not got:
        return {}
    out = {"sources": got}
    for k in ("detection_recall", "exact_read", "exact_read_from_labelled_box"):
        vals = [per[s][k] for s in got]
        if None in vals:  # plates not read
            continue
        out[k] = {"mean": float(np.mean(vals)), "worst": float(min(vals)),
                  "worst_source": got[int(np.argmin(vals))]}
    return out


def format_source(name: str, r: dict) -> list[str]:
    widths = ", ".join(f"{k} {v['recall']:.2f} ({v['plates']})" for k, v in
                       r["recall_by_width"].items() if v["plates"])
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(r["misreads"].items(), key=lambda kv: -kv[1]))
    shares = ", ".join(f"{k} {v['recall']:.2f} ({v['plates']})" for k, v in
                       r["recall_by_share_of_width"].items() if v["plates"])
    read = "plates not read" if r["exact_read"] is None else (
        f"exact read end to end {r['exact_read']:.3f} (from the labelled box "
        f"{r['exact_read_from_labelled_box']:.3f})")
    lines = [f"{name:<15} {r['photos']:>4} photos {r['plates']:>4} plates: detection recall@0.5 "
             f"{r['detection_recall']:.3f}, {read}, "
             f"{r['detections_per_photo']:.2f} plate detections/photo, {r['photos_tiled']} "
             "photos tiled",
             f"{'':<15} recall by plate width (px): {widths}; by share of the photo's width: "
             f"{shares}"]
    if r["exact_read"] is not None:
        swapped = ", ".join(f"{k} {v}" for k, v in (r.get("swapped_characters") or {}).items())
        lines.append(f"{'':<15} misreads end to end: {kinds or 'none'}"
                     + (f"; swapped {swapped}" if swapped else "")
                     + (f"; e.g. {', '.join(r['misses'][:6])}" if r["misses"] else ""))
    return lines


def format_undetected(r: dict) -> list[str]:
    """One line per plate no detection reached IoU 0.5 on: the labelled box, the closest box."""
    return [f"  not detected: {u['photo']} ({u['size'][0]}x{u['size'][1]}) plate {u['plate']}, "
            + (f"closest box {u['best_box']} at IoU {u['best_iou']:.2f}" if u["best_box"]
               else "no plate box") for u in r.get("undetected", [])]


def format_summary(s: dict) -> str:
    if not s:
        return "no plate source measured"
    return ("over " + ", ".join(s["sources"]) + ": " + "; ".join(
        f"{k.replace('_', ' ')} mean {v['mean']:.3f}, worst {v['worst']:.3f} ({v['worst_source']})"
        for k, v in s.items() if k != "sources"))
