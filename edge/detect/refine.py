"""Second-stage box refiner (DESIGN method 3): moves a detection's box onto the object's edges.

The detector sees a whole photo at 320 px, so a VIN line 10-30 px high often gets a box on the
right line but a few pixels too tall, too low or too short, which is below IoU 0.5 for a box that
thin. The refiner (``kind: box_refiner`` bundle, made by models/toolkit/detector/refiner.py) looks at
a region cut around the box (``REGION_W`` x its width, ``REGION_H`` x its height, stretched to the
model's input) and predicts where the object's four edges lie in that region, plus a logit of how
well the box it was given overlaps the object (``quality``). Each refinement cuts a new region
around the box the previous one gave.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

from ..bundle import Bundle, BundleError, load_bundle

log = logging.getLogger(__name__)

REGION_W = 1.5   # region width / box width
REGION_H = 3.0   # region height / box height
REGION_PAD = 4.0  # pixels added to both, so that a tiny or degenerate box still has context


def region_around(box) -> tuple[float, float, float, float]:
    """The region (x, y, w, h) the refiner sees for ``box`` (x, y, w, h), centred on it."""
    x, y, w, h = (float(v) for v in box)
    rw, rh = w * REGION_W + REGION_PAD, h * REGION_H + REGION_PAD
    return x + w / 2 - rw / 2, y + h / 2 - rh / 2, rw, rh


def cut_region(img: np.ndarray, region, width: int, height: int) -> np.ndarray:
    """``region`` of ``img`` stretched to width x height; outside the image, the border repeats."""
    rx, ry, rw, rh = region
    sx, sy = width / rw, height / rh
    m = np.array([[sx, 0, -rx * sx], [0, sy, -ry * sy]], np.float32)
    return cv2.warpAffine(img, m, (width, height), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def edges_of(box, region) -> np.ndarray:
    """``box``'s (left, right, top, bottom) as fractions of ``region``: the model's target."""
    rx, ry, rw, rh = region
    x, y, w, h = box
    return np.array([(x - rx) / rw, (x + w - rx) / rw, (y - ry) / rh, (y + h - ry) / rh],
                    np.float32)


def box_of(edges, region) -> tuple[float, float, float, float]:
    """Inverse of ``edges_of``: (x, y, w, h) in the image's pixels."""
    rx, ry, rw, rh = region
    left, right, top, bottom = (float(v) for v in edges[:4])
    return (rx + left * rw, ry + top * rh, max(0.0, (right - left) * rw),
            max(0.0, (bottom - top) * rh))


@dataclass(frozen=True)
class RefinedBox:
    box: tuple[float, float, float, float]  # x, y, w, h in the image's pixels
    quality: float                          # 0..1: how well the last input box overlapped


class BoxRefiner:
    """A ``kind: box_refiner`` bundle behind the runtime's interpreter wrapper."""

    def __init__(self, bundle: Bundle, threads: int = 2):
        from ..inference import TFLiteModel
        if bundle.kind != "box_refiner":
            raise BundleError(f"{bundle.path}: kind is {bundle.kind!r}, a box refiner is needed")
        self.bundle = bundle
        self.model = TFLiteModel(bundle.model_file, bundle.signature, threads)
        self.labels = list(bundle.raw.get("labels") or [])
        self.iterations = int(bundle.raw.get("iterations", 2))
        missing = [n for n in dict.fromkeys(("edges", *bundle.outputs))
                   if n not in self.model.outputs]
        if missing:
            raise BundleError(f"{bundle.path}: the model has no output {', '.join(missing)} "
                              f"(has: {', '.join(self.model.outputs)})")

    def refine_bgr(self, bgr: np.ndarray, box, iterations: int | None = None) -> RefinedBox:
        """Refine ``box`` (x, y, w, h in ``bgr``'s pixels) ``iterations`` times."""
        spec = self.bundle.input
        quality = 0.0
        box = tuple(float(v) for v in box)
        for _ in range(self.iterations if iterations is None else iterations):
            region = region_around(box)
            x = cut_region(bgr, region, spec.width, spec.height)
            x = cv2.cvtColor(x, cv2.COLOR_BGR2RGB).astype(np.float32)
            outs = self.model.run(**{spec.name: x[None]})
            out = np.asarray(outs["edges"], np.float32).reshape(-1)
            # since 1.2.0 the quality logit is an output of its own; before, the edges' fifth
            logit = float(np.asarray(outs["quality"]).reshape(-1)[0]) if "quality" in outs \
                else float(out[4])
            quality = float(1.0 / (1.0 + np.exp(-np.clip(logit, -40, 40))))
            box = box_of(out, region)
        return RefinedBox(box, quality)


def open_refiner(name_or_path: str, threads: int = 2, registry=None) -> BoxRefiner:
    """The refiner bundle through the device's registry (edge/registry.py) when given."""
    from ..registry import resolve_ref
    return BoxRefiner(load_bundle(resolve_ref("box_refiner", name_or_path, registry).path,
                                  verify_hash=False),
                      threads)
