"""Plate reader health: each canary plate crop is read as the plate string the manifest
records."""

from __future__ import annotations

import statistics
import time

from ..bundle import load_bundle
from ..plates.ctc import CtcPlateRecognizer
from ..plates import read_plate_image
from . import Health, read_canary_image


def check(ref, threads: int, max_ms: float) -> Health:
    rec = CtcPlateRecognizer(load_bundle(ref.path), threads)
    times = []
    for entry in ref.manifest["canary"]:
        img = read_canary_image(ref, entry)
        t = time.perf_counter()
        got = read_plate_image(img, rec, entry.get("region", ""))
        times.append((time.perf_counter() - t) * 1000)
        want = entry["expect"]["text"]
        if got is None or got.value != want:
            return Health(False, f"canary {entry['file']}: read "
                                 f"{got.value if got else 'nothing'!r}, manifest expects {want!r}")
    ms = statistics.median(times)
    return Health(True, f"{len(times)} canary plates read as expected, median {ms:.1f} ms", ms)
