"""Classifier health: its canary photos give the head labels the manifest expects, within the
profile's latency budget."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import cv2

from ..bundle import load_bundle
from ..classifier import Classifier
from ..samples import sample_set
from . import CANARY_DIR, Health, read_canary_image, save_manifest_canary

CANARY_SIDE = 320


def check(ref, threads: int, max_ms: float) -> Health:
    clf = Classifier(load_bundle(ref.path), threads=threads)
    canary = ref.manifest["canary"]
    times = []
    for entry in canary:
        img = read_canary_image(ref, entry)
        t = time.perf_counter()
        got = clf.classify(img)
        times.append((time.perf_counter() - t) * 1000)
        for head, want in entry["expect"].items():
            have = got.heads[head].label if head in got.heads else None
            if have != want:
                return Health(False, f"canary {entry['file']}: {head} is '{have}', manifest "
                                     f"expects '{want}'")
    ms = statistics.median(times)
    if ms > max_ms:
        return Health(False, f"median {ms:.1f} ms over the {max_ms:.0f} ms budget", ms)
    return Health(True, f"{len(canary)} canary photos as expected, median {ms:.1f} ms", ms)


def write(bundle_dir: Path, heads: tuple[str, ...] = ("category",)) -> list[dict]:
    """Put the generated sample photos (small) into the bundle with the labels this bundle gives
    them now: a later load that answers differently is a broken copy or a broken runtime."""
    clf = Classifier(load_bundle(bundle_dir), threads=1)
    folder = Path(bundle_dir) / CANARY_DIR
    folder.mkdir(exist_ok=True)
    entries = []
    for name, img in sample_set().items():
        scale = CANARY_SIDE / max(img.shape[:2])
        small = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        rel = f"{CANARY_DIR}/{Path(name).stem}.png"  # lossless: the file decodes identically
        cv2.imwrite(str(Path(bundle_dir) / rel), small)
        got = clf.classify(cv2.imread(str(Path(bundle_dir) / rel)))
        entries.append({"file": rel, "expect": {h: got.heads[h].label for h in heads}})
    save_manifest_canary(bundle_dir, entries)
    return entries
