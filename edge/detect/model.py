"""A ``kind: detector`` bundle behind the runtime's interpreter wrapper: one pass over an image
of a region of the photo."""
from __future__ import annotations

import numpy as np

from ..bundle import Bundle, BundleError, load_bundle
from ..result import Detection
from .boxes import detections, detector_input


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
        x = detector_input(bgr, self.size)
        out = self.model.run(**{self.bundle.input.name: x[None]})
        return detections([(s, out[c], out[b]) for s, c, b in self.levels], self.labels,
                          self.size, region, score_threshold, nms_iou, max_out)


def open_detector(name_or_path: str, threads: int = 2, registry=None) -> Detector:
    """The detector bundle through the device's registry (edge/registry.py) when given."""
    from ..registry import resolve_ref
    return Detector(load_bundle(resolve_ref("detector", name_or_path, registry).path,
                                verify_hash=False), threads)
