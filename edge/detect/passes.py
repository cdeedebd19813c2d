"""Detection with a small-region zoom (DESIGN method 3).

A lightweight anchor-free detector (``kind: detector`` bundle, see models/toolkit/detector/train.py)
gives, per stride level, class logits ``cls_sN`` [1, H, W, C] and box parameters ``box_sN``
[1, H, W, 4] = (dx, dy, log w, log h): centre = (cell + 0.5 + d) * stride, size = exp(.) * stride,
in input pixels. Decoding and NMS are numpy / OpenCV; boxes come back in original-image pixels.

Zoom: a detection whose box is small (short side under ``zoom_min_side_px`` original pixels, or
area under ``zoom_max_fraction`` of the photo) is cropped with a margin from the full-resolution
image, up-sampled to the detector's input and detected again; the second pass decides the final
label and box (``zoomed: true``), or drops the candidate when it finds nothing there. Small boxes
of ``zoom_labels`` scoring from ``zoom_min_score`` (under the threshold: a plate far away is a
few pixels in the first pass) are zoomed too, after the confident ones and away from what they
found, and kept only when the second pass finds the object at the threshold. When the
first pass finds nothing in a large photo whose category says a plate or VIN should be there, the
photo is tiled and each tile goes through the detector. A profile may also tile a large photo
of ``wide_tile_categories`` when something was found, for the distant plates of a wide shot;
off in every shipped profile: on held-out Chinese parking photos a 3x3 grid finds 9 more of 319
plates for about three times the detection time (models/detector/MODEL_CARD.md).

Refinement: boxes of ``refine_labels`` (VINs) are then moved onto the object's edges by the box
refiner (edge/detect/refine.py), on the reduced decode the first pass saw.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from ..config import DetectConfig
from ..result import Detection
from .boxes import centre_inside, clip_box, iou_xywh, nms
from .model import Detector
from .zoom import WEAK_ZOOM_UPSAMPLE, needs_zoom, pick_second_pass, tiles, zoom_crop

if TYPE_CHECKING:
    from .refine import BoxRefiner

log = logging.getLogger(__name__)


@dataclass
class DetectTimings:
    first_ms: float = 0.0
    zoom_ms: float = 0.0
    zooms: int = 0
    tiles: int = 0
    refine_ms: float = 0.0
    refined: int = 0


def detect_photo(detector: Detector, small: np.ndarray, full, width: int, height: int,
                 cfg: DetectConfig, category: str | None = None, zoom: bool = True,
                 timings: DetectTimings | None = None,
                 refiner: BoxRefiner | None = None, crop=None) -> list[Detection]:
    """First pass on the reduced decode ``small`` (the whole photo), zoom second passes on crops
    of the full-resolution image (``full()`` gives it, decoded on first use), tiles when
    nothing was found where the category says there should be a plate or VIN, and the box
    ``refiner`` (an edge.detect.refine.BoxRefiner, or None) on ``cfg.refine_labels``.

    ``crop(x, y, w, h, min_width)`` (``DecodedImage.crop``), when given, cuts the second
    passes' regions from the cheapest decode that still gives the detector its input's
    resolution (a 12 MP JPEG's half-size decode instead of the full one); a weak candidate's,
    1/``WEAK_ZOOM_UPSAMPLE`` of it."""
    need = float(detector.size[0])

    def cut(region, weak=False):
        if crop is None:
            return _crop(full(), region)
        return crop(*region, min_width=need / WEAK_ZOOM_UPSAMPLE if weak else need)

    t = time.perf_counter()
    # the refiner also gets its labels' weaker boxes: moved onto the object they often pass;
    # the zoom gets its labels' weaker small boxes (a distant plate): kept if it confirms them
    low = min(cfg.score_threshold, cfg.refine_min_score) if refiner is not None \
        else cfg.score_threshold
    if zoom:
        low = min(low, cfg.zoom_min_score)
    first = [d for d in detector.run_bgr(small, (0.0, 0.0, float(width), float(height)), low,
                                         cfg.nms_iou, cfg.max_detections)
             if d.score >= cfg.score_threshold or d.label in cfg.refine_labels
             or (zoom and d.label in cfg.zoom_labels and d.score >= cfg.zoom_min_score)]
    # confident boxes first: weak ones take the zoom passes that are left
    first.sort(key=lambda d: (d.score < cfg.score_threshold, -d.score))
    if timings is not None:
        timings.first_ms = (time.perf_counter() - t) * 1000
    t = time.perf_counter()
    final: list[Detection] = []
    zoomed = 0
    for d in first:
        box = clip_box(d.box, width, height)
        if box[2] < 1 or box[3] < 1:
            continue
        weak = d.score < cfg.score_threshold and d.label not in cfg.refine_labels
        if weak and (zoomed >= cfg.zoom_max_boxes or
                     not needs_zoom(box, width, height, d.label, cfg) or
                     _near(box, d.label, final)):
            # a weak box is a search for an object the confident ones missed (a distant
            # plate, a second car's): it stays only where a zoom pass confirms it, away from
            # the objects already found (not a part of one of them)
            continue
        if zoom and zoomed < cfg.zoom_max_boxes and needs_zoom(box, width, height, d.label, cfg):
            zoomed += 1
            region = zoom_crop(box, width, height, cfg.zoom_margin)
            second = detector.run_bgr(cut(region, weak), region, cfg.score_threshold,
                                      cfg.nms_iou)
            best = pick_second_pass(box, second)
            if best is not None and weak and _near(best.box, best.label, final):
                continue
            if best is not None:
                final.append(Detection(best.label, clip_box(best.box, width, height), best.score,
                                       zoomed=True))
            continue
        final.append(Detection(d.label, box, d.score))
    n_tiles = 0
    side = max(width, height)
    before = list(final)
    found = bool(before)
    wide = category in cfg.wide_tile_categories and side >= cfg.wide_tile_min_side_px
    if zoom and (wide or (not found and category in cfg.tile_categories and
                          side >= cfg.tile_min_side_px)):
        for region in tiles(width, height, n=cfg.wide_tile_grid if wide else 2):
            n_tiles += 1
            for d in detector.run_bgr(cut(region), region, cfg.score_threshold, cfg.nms_iou):
                box = clip_box(d.box, width, height)
                # a wide shot's tiles look for the distant objects of zoom_labels the first pass
                # missed; what it found (whole, not a tile's cut of it) stays as it was
                if found and (d.label not in cfg.zoom_labels or _near(box, d.label, before)):
                    continue
                final.append(Detection(d.label, box, d.score, zoomed=True))
        if final:
            final = _nms(final, detector.labels, cfg.nms_iou)
    if timings is not None:
        timings.zoom_ms = (time.perf_counter() - t) * 1000
        timings.zooms, timings.tiles = zoomed, n_tiles
    if refiner is not None:
        t = time.perf_counter()
        final = refine_detections(refiner, small, width, height, final, cfg.refine_labels,
                                  keep_below=cfg.score_threshold,
                                  min_quality=cfg.refine_min_quality)
        if timings is not None:
            timings.refine_ms = (time.perf_counter() - t) * 1000
            timings.refined = sum(d.label in cfg.refine_labels for d in final)
    # overlapping second passes can land on the same object: NMS once more, best first
    if len(final) > 1:
        final = _nms(final, detector.labels, cfg.nms_iou, cfg.max_detections)
    return final


def _nms(dets: list[Detection], labels: list[str], iou: float, max_out: int = 100):
    """Per-class NMS over detections already in original pixels, best first."""
    keep = nms(np.array([d.box for d in dets], np.float32),
               np.array([d.score for d in dets], np.float32),
               np.array([labels.index(d.label) for d in dets]), iou, max_out)
    return [dets[k] for k in keep]


def _near(box, label: str, found: list[Detection]) -> bool:
    """``box`` overlaps (IoU > 0.05, or its centre inside) a ``found`` box of ``label``."""
    return any(f.label == label and (iou_xywh(f.box, box) > 0.05 or centre_inside(box, f.box))
               for f in found)


def refine_detections(refiner: BoxRefiner, small: np.ndarray, width: int, height: int,
                      dets: list[Detection], labels, keep_below: float = 0.0,
                      min_quality: float = 0.0) -> list[Detection]:
    """``dets`` with the boxes of ``labels`` moved by ``refiner`` on ``small`` (the reduced
    decode of a width x height photo); a box the refiner collapses is kept as it was. A box
    scoring under ``keep_below`` is kept only when the refiner's quality for it reaches
    ``min_quality``."""
    sx, sy = small.shape[1] / width, small.shape[0] / height
    out = []
    for d in dets:
        if d.label in labels:
            x, y, w, h = d.box
            r = refiner.refine_bgr(small, (x * sx, y * sy, w * sx, h * sy))
            if d.score < keep_below and r.quality < min_quality:
                continue
            x, y, w, h = r.box
            box = clip_box((x / sx, y / sy, w / sx, h / sy), width, height)
            if box[2] >= 1 and box[3] >= 1:
                d = replace(d, box=box)
            elif d.score < keep_below:
                continue
        out.append(d)
    return out


def _crop(img: np.ndarray, region) -> np.ndarray:
    x, y, w, h = region
    H, W = img.shape[:2]
    x0, y0 = max(0, int(math.floor(x))), max(0, int(math.floor(y)))
    x1, y1 = min(W, int(math.ceil(x + w))), min(H, int(math.ceil(y + h)))
    return img[y0:max(y1, y0 + 1), x0:max(x1, x0 + 1)]
