"""Where a second pass looks: which boxes are small enough to zoom, the crop around one, the
tiles of a wide photo, and which second-pass box answers the first."""
from __future__ import annotations

from ..config import DetectConfig
from ..result import Detection
from .boxes import centre_inside, iou_xywh


ZOOM_MAX_CROP_FRACTION = 0.8
# A weak candidate's zoom only confirms that a plate is there (the plate stage reads it from a
# sharper decode): its region may be up-sampled this much, which keeps a 12 MP photo's weak zooms
# on the reduced decode already made instead of a half-size or full one. Wide shots (`claim-edge
# eval plates --wide 3 --split all`): plate recall mean 0.901 at 2x, 0.903 at 4x, 0.905 at 8x.
WEAK_ZOOM_UPSAMPLE = 4.0


def needs_zoom(box, image_w: int, image_h: int, label: str, cfg: DetectConfig) -> bool:
    """A detection is zoomed when its label is one the profile zooms and its box is small: short
    side under ``zoom_min_side_px`` (original pixels) or area under ``zoom_max_fraction`` of the
    image; and the zoom crop is under 80% of the photo (else it would repeat the first
    pass: a VIN sticker in a 256 px photo is small but its crop is the whole photo)."""
    if label not in cfg.zoom_labels:
        return False
    _, _, w, h = box
    if not (min(w, h) < cfg.zoom_min_side_px or w * h < cfg.zoom_max_fraction * image_w * image_h):
        return False
    # a crop that is most of the photo anyway (a small photo) would only repeat the first pass
    _, _, cw, ch = zoom_crop(box, image_w, image_h, cfg.zoom_margin)
    return cw * ch < ZOOM_MAX_CROP_FRACTION * image_w * image_h


def zoom_crop(box, image_w: int, image_h: int, margin: float) -> tuple[float, float, float, float]:
    """The square region (x, y, w, h) cut around ``box`` for the second pass: the box's longest
    side plus ``margin`` of it on each side, shifted to stay inside the image (clipped where the
    image is smaller). Same maths as the training views (models/toolkit/detector.zoom_crop_box)."""
    x, y, w, h = (float(v) for v in box)
    side = max(w, h) * (1 + 2 * margin)
    side = min(side, float(max(image_w, image_h)))
    cx, cy = x + w / 2, y + h / 2
    x0 = min(max(0.0, cx - side / 2), max(0.0, image_w - side))
    y0 = min(max(0.0, cy - side / 2), max(0.0, image_h - side))
    return x0, y0, min(side, image_w - x0), min(side, image_h - y0)


def tiles(image_w: int, image_h: int, n: int = 2, overlap: float = 0.2):
    """n x n overlapping tiles (x, y, w, h) covering the image."""
    tw = image_w / (n - (n - 1) * overlap)
    th = image_h / (n - (n - 1) * overlap)
    out = []
    for i in range(n):
        for j in range(n):
            x0 = min(image_w - tw, j * tw * (1 - overlap))
            y0 = min(image_h - th, i * th * (1 - overlap))
            out.append((max(0.0, x0), max(0.0, y0), tw, th))
    return out


def pick_second_pass(first_box, candidates: list[Detection], min_overlap: float = 0.1):
    """The second pass's detection that replaces ``first_box``: the best-scoring one that overlaps
    it (IoU >= min_overlap or its centre inside the first box); None when there is none."""
    best = None
    for d in candidates:
        if (centre_inside(d.box, first_box) or iou_xywh(first_box, d.box) >= min_overlap) and \
                (best is None or d.score > best.score):
            best = d
    return best
