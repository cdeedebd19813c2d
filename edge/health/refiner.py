"""Box refiner health: each canary box, moved by the refiner, lands where the manifest records
(IoU)."""

from __future__ import annotations

import statistics
import time

from ..bundle import load_bundle
from ..detect.refine import BoxRefiner
from . import Health, iou_xywh, read_canary_image


def check(ref, threads: int, max_ms: float) -> Health:
    refiner = BoxRefiner(load_bundle(ref.path), threads)
    times = []
    for entry in ref.manifest["canary"]:
        img = read_canary_image(ref, entry)
        t = time.perf_counter()
        got = refiner.refine_bgr(img, entry["box"])
        times.append((time.perf_counter() - t) * 1000)
        min_iou = float(entry["expect"].get("min_iou", 0.8))
        iou = iou_xywh(got.box, entry["expect"]["box"])
        if iou < min_iou:
            return Health(False, f"canary {entry['file']}: refined box at IoU {iou:.2f} of the "
                                 f"expected one (needs {min_iou})")
    ms = statistics.median(times)
    return Health(True, f"{len(times)} canary boxes refined as expected, median {ms:.1f} ms", ms)
