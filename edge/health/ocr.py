"""OCR model health. A recogniser reads each canary line image as the text the manifest records
(similarity ratio, spaces and case ignored: recognisers differ on spaces); a text detector finds
each recorded line box again (IoU). The model runs inside the project's RapidOCR engine, as on
the photos (edge/ocr/rapid.py)."""

from __future__ import annotations

import difflib
import statistics
import time

import numpy as np

from . import Health, iou_xyxy, read_canary_image


def _norm(s: str) -> str:
    return "".join(s.split()).upper()


def similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, _norm(a), _norm(b)).ratio()


def engine_for(ref, threads: int):
    """The engine with this bundle's model (the other part: the profile default's)."""
    from ..ocr.rapid import RapidOcrEngine
    if ref.kind == "ocr_recognizer":
        return RapidOcrEngine(threads=threads, rec_model=str(ref.path), word_boxes=False)
    return RapidOcrEngine(threads=threads, det_model=str(ref.path), word_boxes=False)


def recognise_line(engine, img) -> str:
    return " ".join(t for t, _ in engine.read_line(img))


def detect_lines(engine, img) -> list[tuple[float, float, float, float]]:
    out = []
    for line in engine.read_raw(img):
        q = np.asarray(line.box, np.float32).reshape(-1, 2)
        out.append((float(q[:, 0].min()), float(q[:, 1].min()), float(q[:, 0].max()),
                    float(q[:, 1].max())))
    return out


def check(ref, threads: int, max_ms: float) -> Health:
    engine = engine_for(ref, threads)
    times, n = [], 0
    for entry in ref.manifest["canary"]:
        img = read_canary_image(ref, entry)
        want = entry["expect"]
        t = time.perf_counter()
        if ref.kind == "ocr_recognizer":
            text = recognise_line(engine, img)
            times.append((time.perf_counter() - t) * 1000)
            need = float(want.get("min_ratio", 0.9))
            if similarity(text, want["text"]) < need:
                return Health(False, f"canary {entry['file']}: read {text!r}, manifest expects "
                                     f"{want['text']!r}")
            n += 1
            continue
        boxes = detect_lines(engine, img)
        times.append((time.perf_counter() - t) * 1000)
        need = float(want.get("min_iou", 0.5))
        for box in want["boxes"]:
            best = max((iou_xyxy(box, b) for b in boxes), default=0.0)
            if best < need:
                return Health(False, f"canary {entry['file']}: text line {box} not found again "
                                     f"(best IoU {best:.2f}, needs {need})")
            n += 1
    ms = statistics.median(times)
    what = "lines read" if ref.kind == "ocr_recognizer" else "line boxes found"
    return Health(True, f"{n} canary {what} as expected, median {ms:.1f} ms", ms)
