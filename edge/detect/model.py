"""A ``kind: detector`` bundle behind the runtime's interpreter wrapper: one pass over an image
of a region of the photo."""
from __future__ import annotations

import cv2
import numpy as np

from ..bundle import Bundle, BundleError, load_bundle
from ..result import Detection
from .boxes import decode_level, nms, to_original


class Detector:
    """A ``kind: detector`` bundle behind the runtime's interpreter wrapper."""

    def __init__(self, bundle: Bundle, threads: int = 2):
        from ..inference import TFLiteModel
        if bundle.kind != "detector":
            raise BundleError(f"{bundle.path}: kind is {bundle.kind!r}, a detector is needed")
        self.bundle = bundle
        self.model = TFLiteModel(bundle.model_file, bundle.signature, threads)
        self.labels = list(bundle.raw.get("labels") or
                           next(o.labels for n, o in bundle.outputs.items() if n.startswith("cls_")))
        self.levels = []
        for name, spec in bundle.outputs.items():
            if name.startswith("cls_"):
                s = int(bundle.raw["outputs"][name].get("stride", name.split("_s")[-1]))
                self.levels.append((s, name, "box_" + name[4:]))
        self.levels.sort()
        self.size = (bundle.input.width, bundle.input.height)

    def run_bgr(self, bgr: np.ndarray, region: tuple[float, float, float, float],
                score_threshold: float, nms_iou: float, max_out: int = 50) -> list[Detection]:
        """Detect in ``bgr`` (an image of ``region`` in original pixels, any scale)."""
        w_in, h_in = self.size
        h0, w0 = bgr.shape[:2]
        interp = cv2.INTER_AREA if w0 > w_in and h0 > h_in else cv2.INTER_LINEAR
        x = cv2.resize(bgr, (w_in, h_in), interpolation=interp)
        x = cv2.cvtColor(x, cv2.COLOR_BGR2RGB).astype(np.float32)
        out = self.model.run(**{self.bundle.input.name: x[None]})
        B, S, C = [], [], []
        for stride, cname, bname in self.levels:
            b, s, c = decode_level(out[cname], out[bname], stride, score_threshold)
            B.append(b); S.append(s); C.append(c)
        boxes, scores, classes = np.concatenate(B), np.concatenate(S), np.concatenate(C)
        keep = nms(boxes, scores, classes, nms_iou, max_out)
        orig = to_original(boxes[keep], w_in, h_in, region)
        return [Detection(self.labels[int(classes[k])], tuple(float(v) for v in b),
                          float(scores[k])) for k, b in zip(keep, orig)]


def open_detector(name_or_path: str, threads: int = 2, registry=None) -> Detector:
    """The detector bundle through the device's registry (edge/registry.py) when given."""
    from ..registry import resolve_ref
    return Detector(load_bundle(resolve_ref("detector", name_or_path, registry).path,
                                verify_hash=False), threads)
