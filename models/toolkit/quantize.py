"""int8 PT2E export through litert-torch, with the fixes recorded in DESIGN.md "Runtime choices".

- ReLU6 (aten.hardtanh) is fused into the conv annotation (the stock annotator only matches relu),
  so activations are quantized after the clamp.
- constant_pad_nd (EfficientNet-Lite's static SAME zero padding) gets an NHWC rewriter in the
  layout pass: it is layout agnostic, so no TRANSPOSE pairs are inserted around it.
- batch 1, one calibration image at a time; model built at the export size; adaptive avg pool.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
import torch

LITERT_TORCH_VERSION = "0.10.0"

_PATCHED = False


def _conv_relu_like_annotator():
    from torch.fx import Node
    from torchao.quantization.pt2e.quantizer import QuantizationAnnotation
    from litert_torch.quantize import pt2e_quantizer_utils as qu

    conv_targets = [torch.ops.aten.conv1d.default, torch.ops.aten.conv2d.default,
                    torch.ops.aten.convolution.default]
    act_targets = [torch.ops.aten.relu.default, torch.ops.aten.relu_.default,
                   torch.ops.aten.hardtanh.default, torch.ops.aten.hardtanh_.default,
                   torch.ops.aten.clamp.default]

    def annotate(gm, quantization_config, filter_fn=None):
        annotated = []
        for n in gm.graph.nodes:
            if n.op != "call_function" or n.target not in act_targets:
                continue
            act = n
            conv = n.args[0]
            if not isinstance(conv, Node) or conv.op != "call_function" or conv.target not in conv_targets:
                continue
            if len(conv.users) != 1:
                continue
            input_qspec_map = {conv.args[0]: qu.get_input_act_qspec(quantization_config),
                               conv.args[1]: qu.get_weight_qspec(quantization_config)}
            partition = [act, conv, conv.args[1]]
            bias = conv.args[2] if len(conv.args) > 2 else None
            if isinstance(bias, Node):
                input_qspec_map[bias] = qu.get_bias_qspec(quantization_config)
                partition.append(bias)
            if qu._is_annotated(partition):
                continue
            if filter_fn and any(not filter_fn(p) for p in partition):
                continue
            conv.meta["quantization_annotation"] = QuantizationAnnotation(
                input_qspec_map=input_qspec_map, _annotated=True)
            act.meta["quantization_annotation"] = QuantizationAnnotation(
                output_qspec=qu.get_output_act_qspec(quantization_config), _annotated=True)
            qu._mark_nodes_as_annotated(partition)
            annotated.append(partition)
        return annotated

    return annotate


def apply_litert_fixes() -> None:
    """Patch the litert-torch quantizer and layout pass (idempotent)."""
    global _PATCHED
    if _PATCHED:
        return
    import litert_torch
    from litert_torch.quantize import pt2e_quantizer_utils as qu
    from litert_torch._convert.fx_passes.optimize_layout_transposes_pass import layout_rewrite

    if litert_torch.__version__ != LITERT_TORCH_VERSION:
        raise RuntimeError(f"litert-torch {litert_torch.__version__} installed; the export fixes "
                           f"are written and measured for {LITERT_TORCH_VERSION} (pin it)")
    qu.OP_TO_ANNOTATOR["conv_relu"] = _conv_relu_like_annotator()

    aten = torch.ops.aten

    def _pad_nhwc(node):
        x, pad = node.args[0], list(node.args[1])
        rest = node.args[2:]
        # pad pairs apply from the last NCHW dim backwards: W, H, C, N
        pairs = [pad[i:i + 2] for i in range(0, len(pad), 2)]
        while len(pairs) < 4:
            pairs.append([0, 0])
        pw, ph, pc, pn = pairs
        # NHWC: last dim C, then W, then H, then N
        new = pc + pw + ph + pn
        while len(new) > 2 and new[-2:] == [0, 0]:
            new = new[:-2]
        node.args = (x, new, *rest)

    layout_rewrite.rewriters[aten.constant_pad_nd.default] = _pad_nhwc
    _PATCHED = True


def make_quantizer():
    from litert_torch.quantize.pt2e_quantizer import PT2EQuantizer, get_symmetric_quantization_config
    return PT2EQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))


def convert_int8(module: torch.nn.Module, sample: torch.Tensor,
                 calibration: Iterable[np.ndarray], out_path: str, input_name: str = "image"):
    """Quantize ``module`` (NHWC float input, batch 1) with PT2E, calibrating one image at a
    time, convert with litert-torch and write a .tflite to ``out_path``. Returns the count of
    calibration images used."""
    import litert_torch
    from litert_torch.quantize.quant_config import QuantConfig
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    apply_litert_fixes()
    module = module.eval()
    quantizer = make_quantizer()
    with torch.no_grad():
        exported = torch.export.export(module, (sample,)).module()
        prepared = prepare_pt2e(exported, quantizer)
        n = 0
        for img in calibration:
            prepared(torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32))[None])
            n += 1
        quantized = convert_pt2e(prepared, fold_quantize=False)
        try:
            from torchao.quantization.pt2e import move_exported_model_to_eval
            quantized = move_exported_model_to_eval(quantized)
        except ImportError:  # pragma: no cover
            pass
    if n == 0:
        raise ValueError("no calibration images")
    edge = litert_torch.convert(quantized, sample_kwargs={input_name: sample},
                                quant_config=QuantConfig(pt2e_quantizer=quantizer))
    edge.export(out_path)
    return n


def convert_float(module: torch.nn.Module, sample: torch.Tensor, out_path: str) -> None:
    import litert_torch
    edge = litert_torch.convert(module.eval(), (sample,))
    edge.export(out_path)


def op_histogram(tflite_path: str) -> dict[str, int]:
    """Count operator types in a .tflite (via the LiteRT analyzer-free interpreter API)."""
    from ai_edge_litert.interpreter import Interpreter
    it = Interpreter(model_path=tflite_path)
    counts: dict[str, int] = {}
    for op in it._get_ops_details():
        counts[op["op_name"]] = counts.get(op["op_name"], 0) + 1
    return counts
