"""Model health check: the bundle loads, its own canary photos give the labels its manifest
expects, and it runs within the profile's latency budget. Used before a new model serves."""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import cv2

from .bundle import Bundle, BundleError, load_bundle
from .classifier import Classifier
from .inference import InterpreterError
from .samples import sample_set

CANARY_DIR = "canary"
CANARY_SIDE = 320


@dataclass(frozen=True)
class Health:
    ok: bool
    reason: str
    latency_ms: float | None = None


def check(bundle_dir: Path, threads: int, max_ms: float) -> Health:
    try:
        bundle = load_bundle(bundle_dir)
        clf = Classifier(bundle, threads=threads)
    except (BundleError, InterpreterError) as e:
        return Health(False, f"does not load: {e}")
    canary = bundle.raw.get("canary") or []
    if not canary:
        return Health(False, "bundle has no canary photos to check against")
    times = []
    for entry in canary:
        img = cv2.imread(str(bundle.path / entry["file"]))
        if img is None:
            return Health(False, f"canary {entry['file']} missing or unreadable")
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


def write_canary(bundle_dir: Path, heads: tuple[str, ...] = ("category",)) -> list[dict]:
    """Put the generated sample photos (small) into the bundle with the labels this bundle gives
    them now: a later load that answers differently is a broken copy or a broken runtime."""
    bundle = load_bundle(bundle_dir)
    clf = Classifier(bundle, threads=1)
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
    mpath = Path(bundle_dir) / "manifest.json"
    manifest = json.loads(mpath.read_text())
    manifest["canary"] = entries
    mpath.write_text(json.dumps(manifest, indent=1) + "\n")
    return entries
