"""Detector health: on each canary image the boxes the manifest records are found again, each
with its label, at the recorded IoU, and no box of another label outscores it there (first
pass, no zoom: the model is checked, not the profile)."""

from __future__ import annotations

import statistics
import time

from ..bundle import load_bundle
from ..detect import Detector
from . import Health, iou_xywh, read_canary_image

SCORE = 0.25
NMS_IOU = 0.5


def detect(det: Detector, img, score: float = SCORE):
    h, w = img.shape[:2]
    return det.run_bgr(img, (0.0, 0.0, float(w), float(h)), score, NMS_IOU)


def check(ref, threads: int, max_ms: float) -> Health:
    det = Detector(load_bundle(ref.path), threads)
    times, n = [], 0
    for entry in ref.manifest["canary"]:
        img = read_canary_image(ref, entry)
        t = time.perf_counter()
        got = detect(det, img)
        times.append((time.perf_counter() - t) * 1000)
        min_iou = float(entry["expect"].get("min_iou", 0.5))
        for want in entry["expect"]["boxes"]:
            best = max((iou_xywh(want["box"], d.box) for d in got if d.label == want["label"]),
                       default=0.0)
            # the most confident box there must carry the label: a weaker box of another class
            # on the same spot is normal, one that outscores it is a mislabelled export
            there = [d for d in got if iou_xywh(want["box"], d.box) >= min_iou]
            top = max(there, key=lambda d: d.score).label if there else None
            if best < min_iou or top != want["label"]:
                found = ", ".join(f"{d.label} {d.score:.2f}" for d in got) or "nothing"
                return Health(False, f"canary {entry['file']}: no {want['label']} box at IoU "
                                     f">= {min_iou} as the most confident there (best IoU "
                                     f"{best:.2f}; found {found})")
            n += 1
    ms = statistics.median(times)
    return Health(True, f"{n} canary boxes found again on {len(times)} images, median "
                        f"{ms:.1f} ms", ms)
