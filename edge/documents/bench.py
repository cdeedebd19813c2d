"""The document path in ``claim-edge bench``: receipt-like generated documents photographed on
a table, as 12 MP JPEGs, through the whole pipeline with OCR (cache off), median and p95."""

from __future__ import annotations

import copy
import dataclasses
import multiprocessing
import tempfile

import cv2
import numpy as np

BUDGET_MS = 800.0


def receipt_photo(seed: int, size: tuple[int, int] = (3024, 4032)) -> np.ndarray:
    """A receipt-like page on a table, drawn (no OCR ground truth needed here)."""
    rng = np.random.default_rng(seed)
    w, h = size
    img = np.empty((h, w, 3), np.uint8)
    img[:] = rng.integers(60, 140, 3)
    img = np.clip(img + rng.normal(0, 8, (h // 8 + 1, w // 8 + 1, 1)).repeat(8, 0).repeat(
        8, 1)[:h, :w], 0, 255).astype(np.uint8)
    pw, ph = int(w * 0.55), int(h * 0.8)
    page = np.full((ph, pw, 3), 245, np.uint8)
    font, s = cv2.FONT_HERSHEY_DUPLEX, pw / 900
    lines = ["QUICK FIX AUTO SDN BHD", "12 JALAN MERDEKA, 50050 KUALA LUMPUR",
             "TEL: 03-2222 1234", "TAX INVOICE", f"INVOICE NO: INV-{20000 + seed}",
             f"DATE: {1 + seed % 28:02d}/03/2019 10:{seed % 60:02d}", "",
             "BRAKE PADS          2 x 45.00     90.00", "ENGINE OIL 4L       1 x 89.90     89.90",
             "AIR FILTER          1 x 25.00     25.00", "LABOUR                          60.00",
             "", "SUBTOTAL                       264.90", "SST 6%                          15.89",
             "TOTAL                          280.79", "CASH                           300.00",
             "CHANGE                          19.21", "", "THANK YOU, PLEASE COME AGAIN"]
    for i, t in enumerate(lines):
        if t:
            cv2.putText(page, t, (int(40 * s), int((80 + 62 * i) * s)), font, s * 0.95,
                        (30, 30, 30), max(1, int(2 * s)), cv2.LINE_AA)
    x0, y0 = (w - pw) // 2, (h - ph) // 2
    src = np.float32([[0, 0], [pw, 0], [pw, ph], [0, ph]])
    j = rng.uniform(-0.02, 0.02, (4, 2)) * [w, h]
    dst = np.float32([[x0, y0], [x0 + pw, y0], [x0 + pw, y0 + ph], [x0, y0 + ph]]) + j
    M = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
    warped = cv2.warpPerspective(page, M, (w, h))
    mask = cv2.warpPerspective(np.full((ph, pw), 255, np.uint8), M, (w, h)) > 0
    img[mask] = warped[mask]
    return img


def reading_every_photo(main):
    """``main``'s classifier (and OCR engine, shared by the plate reader) with only a document
    stage that reads every photo, the OCR cache off: the other models stay loaded, as on a
    device."""
    from .stage import DocumentStage
    prof = dataclasses.replace(main.profile, ocr=dataclasses.replace(
        main.profile.ocr, always=True, cache=False))
    pipe = copy.copy(main)
    pipe.profile, pipe.stages = prof, [DocumentStage(prof)]
    return pipe


def bench_documents(main, runs: int) -> float:
    """Prints the document path's per-stage latency through the pipeline ``main`` (its stages,
    OCR on every photo, cache off); returns the median total in ms."""
    from ..samples import write_drawn
    pipe = reading_every_photo(main)
    prof = pipe.profile
    n = max(3, min(runs, 10))
    stages: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="claim-edge-bench-doc-") as tmp:
        with multiprocessing.get_context("spawn").Pool(1) as pool:   # see write_drawn
            paths = pool.apply(write_drawn, (tmp, "receipt", receipt_photo, n + 1))
        pipe.analyze(paths[0])  # warm-up: loads the OCR engine and the document models
        found = 0
        for p in paths[1:]:
            r, _ = pipe.analyze(p)
            for k, v in r.timings_ms.items():
                stages.setdefault(k, []).append(v)
            found += bool(r.fields.get("total")) and r.fields["total"].value == "280.79"
    print(f"\ndocument path: receipt-like page photographed on a table, 12MP JPEG, {n} photos, "
          f"OCR {prof.ocr.threads or prof.runtime.threads} threads, max side {prof.ocr.max_side}"
          f" (total read right on {found}/{n})")
    print(f"{'stage':<12}{'median ms':>10}{'p95 ms':>10}")
    for k, v in stages.items():
        print(f"{k:<12}{np.median(v):>10.1f}{np.percentile(v, 95):>10.1f}")
    return float(np.median(stages["total"]))
