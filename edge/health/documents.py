"""Document classifier health: each canary page, with its text boxes given, gets the document
type the manifest records (the bill reader loads too)."""

from __future__ import annotations

import statistics
import time

import cv2

from ..documents.bills import BoxTyper
from ..documents.doctype import DocTypeModel
from ..documents.layout import Box
from . import Health, read_canary_image


def check(ref, threads: int, max_ms: float) -> Health:
    model = DocTypeModel.load(ref.path)
    BoxTyper.load(ref.path)
    times = []
    for entry in ref.manifest["canary"]:
        gray = cv2.cvtColor(read_canary_image(ref, entry), cv2.COLOR_BGR2GRAY)
        boxes = [Box(*map(float, b["box"]), b["text"]) for b in entry["boxes"]]
        t = time.perf_counter()
        got = model.classify(boxes, gray, from_ocr=False)
        times.append((time.perf_counter() - t) * 1000)
        want = entry["expect"]["type"]
        if got.label != want:
            return Health(False, f"canary {entry['file']}: typed {got.label!r}, manifest "
                                 f"expects {want!r}")
    ms = statistics.median(times)
    return Health(True, f"{len(times)} canary documents typed as expected, median {ms:.1f} ms",
                  ms)
