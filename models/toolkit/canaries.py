"""Canary inputs for every bundle kind, generated (never customer photos or data-set images),
written into the bundle with the outputs this bundle gives on them: the device's health check
(edge/health) runs them again before a release serves, so a broken copy, a broken runtime or a
mislabelled export is rolled back.

    python -m models.toolkit.canaries models/detector models/plate-reader ...

Toolkit code (build time): never imported by the runtime.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from edge.health import CANARY_DIR, iou_xywh, save_manifest_canary
from edge.modelref import read_ref
from edge.samples import document_page, plate_closeup, plate_rect, vin_sticker

PLATES = ("ABC1234", "KLM4821", "XYZ9053", "HTR5066", "JWN3187", "PQD7719")
VINS = ("1HGCM82633A004352", "WVWZZZ1JZXW000001", "JH4KA8260MC000000")
DOCS = ("driver_license", "id_card", "insurance_card", "receipt_invoice", "repair_estimate",
        "vehicle_registration", "accident_report")
LINES = ("QUICK FIX AUTO REPAIR", "INVOICE NO INV-20391", "TOTAL 159.00", "DATE 05/03/2018")


class CanaryError(Exception):
    """The bundle does not give usable outputs on the generated inputs."""


def _save(bundle: Path, name: str, img: np.ndarray) -> str:
    (bundle / CANARY_DIR).mkdir(exist_ok=True)
    rel = f"{CANARY_DIR}/{name}.png"   # lossless: the file decodes to the same pixels
    cv2.imwrite(str(bundle / rel), img)
    return rel


def _load(bundle: Path, rel: str) -> np.ndarray:
    return cv2.imread(str(bundle / rel))


def detector(bundle: Path, threads: int = 1) -> list[dict]:
    from edge.bundle import load_bundle
    from edge.detect import Detector
    from edge.health.detector import detect
    det = Detector(load_bundle(bundle), threads)
    entries = []
    drawn = [(f"plate_{t}", plate_closeup(t, 640, 360, seed=i)) for i, t in enumerate(PLATES[:3])]
    drawn += [("vin_sticker", vin_sticker(VINS[0], 384, 384)[0]),
              ("document_page", document_page(width=800, height=600))]
    for name, img in drawn:
        rel = _save(bundle, name, img)
        got = [d for d in detect(det, _load(bundle, rel)) if d.score >= 0.4]
        if not got:
            (bundle / rel).unlink()
        else:
            entries.append({"file": rel, "expect": {
                "boxes": [{"label": d.label, "box": [round(v, 1) for v in d.box]} for d in got],
                "min_iou": 0.5}})
    if not any(b["label"] == "plate" for e in entries for b in e["expect"]["boxes"]):
        raise CanaryError(f"{bundle}: the detector finds no plate on the generated close-ups")
    return entries


def box_refiner(bundle: Path, threads: int = 1) -> list[dict]:
    from edge.bundle import load_bundle
    from edge.detect.refine import BoxRefiner
    refiner = BoxRefiner(load_bundle(bundle), threads)
    entries = []
    for i, vin in enumerate(VINS):
        img, truth = vin_sticker(vin, 256, 256, seed=i)
        rel = _save(bundle, f"vin_{i}", img)
        x, y, w, h = truth
        start = [x - 0.06 * w, y - 0.4 * h, w * 1.1, h * 1.6]   # a detector's loose box
        got = refiner.refine_bgr(_load(bundle, rel), start)
        if iou_xywh(got.box, truth) < 0.5:
            (bundle / rel).unlink()
            continue
        entries.append({"file": rel, "box": [round(v, 1) for v in start],
                        "expect": {"box": [round(v, 2) for v in got.box], "min_iou": 0.8}})
    if not entries:
        raise CanaryError(f"{bundle}: the refiner moves no generated VIN box onto its line")
    return entries


def plate_reader(bundle: Path, threads: int = 1) -> list[dict]:
    from edge.bundle import load_bundle
    from edge.plates.ctc import CtcPlateRecognizer
    from edge.plates import read_plate_image
    rec = CtcPlateRecognizer(load_bundle(bundle), threads)
    entries = []
    for i, text in enumerate(PLATES):
        img = plate_closeup(text, 640, 360, seed=i)
        x, y, w, h = plate_rect(640, 360)
        crop = img[max(0, y - h // 12):y + h + h // 12, max(0, x - w // 25):x + w + w // 25]
        rel = _save(bundle, f"plate_{text}", crop)
        got = read_plate_image(_load(bundle, rel), rec, "")
        if got is not None and got.value == text:   # the truth drawn, read right today
            entries.append({"file": rel, "region": "", "expect": {"text": text}})
        else:
            (bundle / rel).unlink()
    if len(entries) < 2:
        raise CanaryError(f"{bundle}: the plate reader reads {len(entries)} of {len(PLATES)} "
                          "generated plates right; a canary needs 2")
    return entries


def document(bundle: Path, threads: int = 1) -> list[dict]:
    from edge.documents.doctype import DocTypeModel
    from .documents.synth import generate
    model = DocTypeModel.load(bundle)
    entries = []
    for i, doc_type in enumerate(DOCS):
        doc = generate(doc_type, 0, seed=9000 + i)
        rel = _save(bundle, f"doc_{doc_type}", doc.image)
        gray = cv2.cvtColor(_load(bundle, rel), cv2.COLOR_BGR2GRAY)
        got = model.classify(doc.boxes, gray, from_ocr=False)
        if got.label != doc_type:    # the truth, typed right today
            (bundle / rel).unlink()
            continue
        entries.append({"file": rel, "boxes": [{"box": [round(b.x0, 1), round(b.y0, 1),
                                                        round(b.x1, 1), round(b.y1, 1)],
                                                "text": b.text} for b in doc.boxes],
                        "expect": {"type": doc_type}})
    if len(entries) < 3:
        raise CanaryError(f"{bundle}: {len(entries)} generated documents typed right; need 3")
    return entries


def _line_image(text: str) -> np.ndarray:
    scale, thick = 1.2, 2
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_DUPLEX, scale, thick)
    img = np.full((th + base + 24, tw + 24, 3), 245, np.uint8)
    cv2.putText(img, text, (12, th + 12), cv2.FONT_HERSHEY_DUPLEX, scale, (20, 20, 20), thick,
                cv2.LINE_AA)
    return img


def ocr_recognizer(bundle: Path, threads: int = 1) -> list[dict]:
    from edge.health.ocr import engine_for, recognise_line, similarity
    engine = engine_for(read_ref(bundle), threads)
    entries = []
    for i, text in enumerate(LINES):
        rel = _save(bundle, f"line_{i}", _line_image(text))
        got = recognise_line(engine, _load(bundle, rel))
        if similarity(got, text) >= 0.9:
            entries.append({"file": rel, "expect": {"text": text, "min_ratio": 0.9}})
        else:
            (bundle / rel).unlink()
    if len(entries) < 2:
        raise CanaryError(f"{bundle}: the recogniser reads {len(entries)} generated lines; need 2")
    return entries


def ocr_detector(bundle: Path, threads: int = 1) -> list[dict]:
    from edge.health.ocr import detect_lines, engine_for
    engine = engine_for(read_ref(bundle), threads)
    rel = _save(bundle, "page", document_page(width=960, height=720))
    boxes = detect_lines(engine, _load(bundle, rel))
    if len(boxes) < 3:
        raise CanaryError(f"{bundle}: the text detector finds {len(boxes)} lines on the "
                          "generated page; need 3")
    return [{"file": rel, "expect": {"boxes": [[round(v, 1) for v in b] for b in boxes],
                                     "min_iou": 0.5}}]


def write(bundle: str | Path, threads: int = 1) -> list[dict]:
    """Generate the canaries of the bundle's kind and record them in its manifest."""
    bundle = Path(bundle)
    kind = read_ref(bundle).kind
    if kind == "classifier":
        from edge.health import write_canary
        return write_canary(bundle)
    entries = globals()[kind](bundle, threads)
    save_manifest_canary(bundle, entries)
    return entries


def write_or_warn(bundle: str | Path, log=print) -> list[dict]:
    """``write`` for the exporters: a bundle without canaries still serves as the shipped copy,
    only the fleet refuses it, so a long training run ends with a warning, not a crash."""
    try:
        return write(bundle)
    except CanaryError as e:
        log(f"[canaries] WARNING: {e}; this bundle cannot be published to the fleet")
        return []


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m models.toolkit.canaries", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("bundles", nargs="+", type=Path)
    a = p.parse_args(argv)
    for b in a.bundles:
        try:
            entries = write(b)
        except CanaryError as e:
            print(f"canaries: {e}", file=sys.stderr)
            return 1
        print(f"{b}: {len(entries)} canary inputs written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
