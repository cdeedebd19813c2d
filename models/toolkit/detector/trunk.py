"""The detector's frozen trunk features read out of a shipped int8 detector graph.

The trunk (EfficientNet-Lite0, ImageNet weights) is frozen: every detector bundle carries the
same trunk, quantized. Its three level outputs are the inputs of the head's 1x1 lateral
convolutions, so LiteRT, keeping its intermediate tensors, gives them for a view in ~10 ms where
PyTorch's float trunk takes ~30-50x longer on a loaded 2-core CPU. They are the int8 values the
deployed model's head sees (correlation with the float trunk 0.994-0.996 on plate photos), so a
head trained on them learns what it will run on.

    python -m models.toolkit.detector train DATA --trunk int8   (features from models/detector)
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

LEVEL_CH = (40, 112, 320)   # same as models.toolkit.detector.net.LEVEL_CH
LATERAL_CH = 48


SHIPPED = Path(__file__).resolve().parents[2] / "detector"   # models/detector


def trunk_graph(trunk: str) -> Path | None:
    """The int8 graph ``detector train --trunk`` reads features out of: ``int8`` for the shipped
    detector's, else a bundle folder or .tflite path; None for ``float`` (PyTorch's trunk)."""
    if trunk == "float":
        return None
    src = SHIPPED if trunk == "int8" else Path(trunk)
    return src / "model.tflite" if src.is_dir() else src


def trunk_key(model_path) -> str:
    """The first 8 hex digits of the int8 graph's sha256: which trunk a head was trained on."""
    import hashlib
    with open(model_path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:8]


def trunk_record(head_path) -> Path:
    """Where ``detector train --trunk int8`` writes the trunk a head was trained on."""
    return Path(head_path).with_suffix(".trunk")


def record_trunk(head_path, trunk: "Int8Trunk | None") -> None:
    """Records beside ``head_path`` the int8 trunk it was trained on (``key path``); a head
    trained on the float trunk (``trunk`` None) has no record."""
    rec = trunk_record(head_path)
    if trunk is None:
        rec.unlink(missing_ok=True)
    else:
        rec.write_text(f"{trunk.key} {trunk.path}\n", encoding="utf-8")


def recorded_trunk(head_path) -> str | None:
    """The trunk key recorded beside ``head_path``; None for a head trained on the float trunk
    or before the record existed."""
    rec = trunk_record(head_path)
    return rec.read_text(encoding="utf-8").split()[0] if rec.is_file() else None


class Int8Trunk:
    """Callable on a float32 NHWC batch (RGB 0..255, the detector's input) -> the three level
    features as NCHW float32 arrays, dequantized."""

    def __init__(self, model_path: str, threads: int = 2):
        from ai_edge_litert.interpreter import Interpreter
        self.path = str(model_path)
        self.key = trunk_key(self.path)  # features of one graph are cached apart from another's
        self.it = Interpreter(model_path=self.path, experimental_preserve_all_tensors=True,
                              num_threads=threads)
        self.it.allocate_tensors()
        tensors = {d["index"]: d for d in self.it.get_tensor_details()}
        found = {}
        for op in self.it._get_ops_details():
            if op["op_name"] != "CONV_2D":
                continue
            src, dst = tensors[op["inputs"][0]], tensors[op["outputs"][0]]
            if dst["shape"][-1] == LATERAL_CH and src["shape"][-1] in LEVEL_CH:
                found[int(src["shape"][-1])] = src
        if set(found) != set(LEVEL_CH):
            raise ValueError(f"{model_path}: no head laterals on trunk outputs {LEVEL_CH} "
                             f"(found {sorted(found)}): not a detector graph of this recipe")
        self.levels = [found[c] for c in LEVEL_CH]
        self.input = self.it.get_input_details()[0]

    def __call__(self, x_nhwc: np.ndarray) -> list[np.ndarray]:
        out = [[], [], []]
        for x in x_nhwc:
            self.it.set_tensor(self.input["index"], x[None].astype(np.float32))
            self.it.invoke()
            for k, d in enumerate(self.levels):
                scale, zero = d["quantization"]
                q = self.it.get_tensor(d["index"]).astype(np.float32)
                out[k].append(np.transpose((q - zero) * scale, (0, 3, 1, 2))[0])
        return [np.stack(o) for o in out]


class HeadDetector:
    """A trained head (``detector train --no-export --head PATH``) on the int8 trunk of a shipped
    bundle, behind the runtime's Detector interface (``size``, ``labels``, ``run_bgr``), so that
    ``edge.detect.passes.detect_photo`` (zoom included) and the evaluation commands run it before any
    int8 export: the leave-one-source-out heads are measured this way. The head runs in float
    (the exported bundle's head is int8: its figures can differ slightly)."""

    def __init__(self, head_path: str, trunk_bundle: str, threads: int = 2):
        import torch

        from .net import SIZE, STRIDES, Head
        from .data import LABELS
        torch.set_num_threads(threads)
        self.trunk = Int8Trunk(str(trunk_bundle), threads)
        trained_on = recorded_trunk(head_path)
        if trained_on is not None and trained_on != self.trunk.key:
            # another export re-quantizes the frozen trunk: its features are not the ones the
            # head learned, and its figures would quietly be another model's
            raise ValueError(f"{head_path} was trained on the int8 trunk {trained_on}, "
                             f"{trunk_bundle} has {self.trunk.key}: pass the detector bundle "
                             f"it was trained on (--model) or train the head again")
        self.head = Head()
        self.head.load_state_dict(torch.load(head_path))
        self.head.eval()
        self.size = (SIZE, SIZE)
        self.labels = list(LABELS)
        self.strides = STRIDES
        self.name = f"head {head_path} on the int8 trunk of {trunk_bundle}"

    def run_bgr(self, bgr, region, score_threshold: float, nms_iou: float, max_out: int = 50):
        import torch

        from edge.detect.boxes import detections, detector_input
        x = detector_input(bgr, self.size)
        with torch.no_grad():
            outs = self.head([torch.from_numpy(f) for f in self.trunk(x[None])])
        levels = [(stride, c[0].permute(1, 2, 0).numpy(), b[0].permute(1, 2, 0).numpy())
                  for stride, (c, b) in zip(self.strides, outs)]
        return detections(levels, self.labels, self.size, region, score_threshold, nms_iou,
                          max_out)
