"""The text detector's int8 quantization (models/toolkit/documents/text_detector.py) on a generated page:
the detector's own inputs captured from a real read, the DB head kept in float, and a
probability map that agrees with the float network's."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from edge.ocr.models import detector_file
from models.toolkit.documents.synth import generate, photograph
from models.toolkit.documents.text_detector import capture_inputs, head_nodes, quantize


@pytest.mark.slow
def test_int8_detector_keeps_its_head_float_and_agrees_with_the_float_one(tmp_path):
    pages = [photograph(generate("receipt_invoice", i, 70 + i), 70 + i, table=True).image
             for i in range(2)]
    inputs = capture_inputs(pages, 1280, True)
    assert len(inputs) == 2 and inputs[0].shape[:2] == (1, 3)
    dst = tmp_path / "int8.onnx"
    quantize(detector_file(), dst, inputs[:1])
    model = onnx.load(dst)
    ops = {n.op_type for n in model.graph.node}
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops
    head = {n.name for n in model.graph.node if n.op_type == "ConvTranspose"}
    assert head and head <= set(head_nodes(model))
    for n in model.graph.node:   # nothing in the head reads a dequantized weight
        if n.name in head:
            assert not any("DequantizeLinear" in i or "_quantized" in i for i in n.input[1:])

    def prob(path):
        s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return s.run(None, {s.get_inputs()[0].name: inputs[1]})[0]
    a, b = prob(detector_file()), prob(dst)      # the second page: not calibrated on
    assert a.shape == b.shape
    text_a, text_b = a > 0.3, b > 0.3            # RapidOCR's DB threshold
    iou = (text_a & text_b).sum() / max(1, (text_a | text_b).sum())
    assert iou > 0.85, iou
