"""Quantize RapidOCR's text detector (PP-OCRv6 small, the copy in the rapidocr wheel) to int8 and
write it as the ``ocr_detector`` bundle models/text-detector.

    python -m models.toolkit.documents.text_detector ../shared/data/receipts [--out models/text-detector]

The detector is half of a page's OCR time; int8 (static, QDQ, weights per channel) runs it about
3x faster on x86-64 with AVX2. Calibration: the detector's own inputs, captured while the
device's OCR (the profile's settings, the page finder) reads the receipts' train split and
generated document photos: never an image any evaluation reads. The network, its licence
(Apache-2.0) and its authors stay PaddleOCR's; the bundle's card says what changed and what it
costs (``claim-edge eval receipts``, the documents' leave one source out and fields).
Training code only: needs the ``train`` extra (onnx)."""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np

from edge.ocr.models import MODELS_DIR, detector_file

NAME = "text-detector"
MODEL_FILE = "model.onnx"
OPSET = 13          # per-channel DequantizeLinear needs 13; the wheel's file is opset 11


class _Recorder:
    """An inference session that keeps a copy of every input it runs."""

    def __init__(self, inner):
        self.inner, self.inputs = inner, []

    def __call__(self, x):
        self.inputs.append(np.array(x, copy=True))
        return self.inner(x)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def calibration_images(receipts_dir: str, n_receipts: int, n_generated: int):
    """The receipts' train split (scans) and generated documents photographed on a table."""
    from .receipts import load_receipts, split_of
    from .synth import DOC_TYPES, generate, photograph
    recs = sorted((r for r in load_receipts(receipts_dir) if split_of(r.name) == "train"),
                  key=lambda r: r.name)
    step = max(1, len(recs) // max(1, n_receipts))
    for r in recs[::step][:n_receipts]:
        yield cv2.imread(str(r.image), cv2.IMREAD_COLOR)
    for i in range(n_generated):
        doc = generate(DOC_TYPES[i % len(DOC_TYPES)], i % 3, 9000 + i)
        yield photograph(doc, 9000 + i, table=bool(i % 2)).image


def capture_inputs(images, det_max_side: int, find_page: bool) -> list[np.ndarray]:
    from edge.documents.page import read_document
    from edge.ocr import open_engine
    engine = open_engine(threads=2, det_max_side=det_max_side)
    ocr = engine._engine()
    recorder = None
    for img in images:
        if recorder is None:        # RapidOCR builds its detector on the first read
            read_document(engine, img, det_max_side, find_page)
            if ocr.text_det is None:
                continue
            recorder = ocr.text_det.session = _Recorder(ocr.text_det.session)
        read_document(engine, img, det_max_side, find_page)
    if recorder is None:
        raise RuntimeError("the text detector never ran on the calibration images")
    return recorder.inputs


def quantize(src: str, dst: Path | str, inputs: list[np.ndarray], float_head: bool = True) -> None:
    import onnx
    from onnx import version_converter
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process
    name = onnx.load(src, load_external_data=False).graph.input[0].name

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(inputs)

        def get_next(self):
            x = next(self.it, None)
            return None if x is None else {name: x}

    dst = Path(dst).resolve()
    with tempfile.TemporaryDirectory() as tmp, _inside(tmp):   # its temporary files land in cwd
        up = Path(tmp) / "opset13.onnx"
        onnx.save(version_converter.convert_version(onnx.load(src), OPSET), up)
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(up), str(pre), skip_symbolic_shape=True)
        quantize_static(str(pre), str(dst), Reader(), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8,
                        nodes_to_exclude=head_nodes(onnx.load(pre)) if float_head else [])


@contextlib.contextmanager
def _inside(folder: str):
    before = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def head_nodes(model) -> list[str]:
    """The DB head: every node after the neck's last Concat (a conv, two transposed convs up
    to the probability map, its sigmoid)."""
    nodes = list(model.graph.node)
    last = max(i for i, n in enumerate(nodes) if n.op_type == "Concat")
    return [n.name for n in nodes[last + 1:]]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("receipts_dir", help="the receipts folder (its train split calibrates)")
    ap.add_argument("--out", default=str(MODELS_DIR / NAME))
    ap.add_argument("--receipts", type=int, default=40, help="train receipts to calibrate on")
    ap.add_argument("--generated", type=int, default=24, help="generated document photos")
    ap.add_argument("--version", default="1.0.0")
    a = ap.parse_args(argv)
    from edge.config import load_profile
    ocr = load_profile().ocr
    t0 = time.time()
    inputs = capture_inputs(calibration_images(a.receipts_dir, a.receipts, a.generated),
                            ocr.det_max_side, ocr.find_page)
    print(f"{len(inputs)} detector inputs captured in {time.time() - t0:.0f}s "
          f"(det_max_side {ocr.det_max_side}, find_page {ocr.find_page})", flush=True)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    src = detector_file()
    quantize(src, out / MODEL_FILE, inputs)
    shutil.copyfile(MODELS_DIR / "text-recognizer" / "LICENSE", out / "LICENSE")
    sha = hashlib.sha256((out / MODEL_FILE).read_bytes()).hexdigest()
    manifest = {
        "format": 1, "name": NAME, "version": a.version, "kind": "ocr_detector",
        "provenance": "third_party, quantized by the project",
        "description": "PP-OCRv6 small text detector (PaddleOCR, DB) from the rapidocr 3.10 "
                       "wheel, quantized to int8 (static QDQ, weights per channel, activations "
                       "uint8) on the project's calibration images; run by RapidOCR's ONNX "
                       "Runtime engine.",
        "model_file": MODEL_FILE, "sha256": sha,
        "licence": "Apache-2.0", "licence_file": "LICENSE",
        "source": {"model": "PaddlePaddle PaddleOCR PP-OCRv6_small_det (Apache-2.0)",
                   "files": f"{Path(src).name} of the PyPI wheel rapidocr 3.10 (sha256 "
                            f"{hashlib.sha256(Path(src).read_bytes()).hexdigest()})"},
        "calibration": {"receipts_train_split": a.receipts, "generated_document_photos":
                        a.generated, "detector_inputs": len(inputs),
                        "det_max_side": ocr.det_max_side, "find_page": ocr.find_page},
        "created_by": "python -m models.toolkit.documents.text_detector ../shared/data/receipts",
        "created_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    from ..canaries import write_or_warn
    write_or_warn(out)
    print(f"wrote {out} ({(out / MODEL_FILE).stat().st_size / 1e6:.1f} MB) in "
          f"{time.time() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
