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
refiner (edge/refine.py), on the reduced decode the first pass saw.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import cv2
import numpy as np

from .bundle import Bundle, BundleError, load_bundle
from .config import DetectConfig
from .result import Detection

if TYPE_CHECKING:
    from .refine import BoxRefiner

log = logging.getLogger(__name__)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -40, 40)))


# ------------------------------------------------------------------------------ decode and NMS

def decode_level(cls_logits: np.ndarray, box: np.ndarray, stride: int, score_threshold: float,
                 max_candidates: int = 300) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One level's raw outputs -> (boxes [N,4] x,y,w,h in input px, scores [N], class ids [N]).

    ``cls_logits`` [H, W, C] (or [1, H, W, C]), ``box`` [H, W, 4] (dx, dy, log w, log h)."""
    cls_logits = np.asarray(cls_logits, np.float32).reshape(cls_logits.shape[-3:])
    box = np.asarray(box, np.float32).reshape(box.shape[-3:])
    scores = sigmoid(cls_logits)
    ii, jj, cc = np.nonzero(scores >= score_threshold)
    if len(ii) == 0:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64)
    s = scores[ii, jj, cc]
    if len(s) > max_candidates:
        keep = np.argsort(-s)[:max_candidates]
        ii, jj, cc, s = ii[keep], jj[keep], cc[keep], s[keep]
    p = box[ii, jj]
    cx = (jj + 0.5 + p[:, 0]) * stride
    cy = (ii + 0.5 + p[:, 1]) * stride
    w = np.exp(np.clip(p[:, 2], -6, 8)) * stride
    h = np.exp(np.clip(p[:, 3], -6, 8)) * stride
    boxes = np.stack([cx - w / 2, cy - h / 2, w, h], axis=1).astype(np.float32)
    return boxes, s.astype(np.float32), cc.astype(np.int64)


def nms(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, iou: float = 0.5,
        max_out: int = 100) -> np.ndarray:
    """Per-class NMS (OpenCV); indices of kept boxes, best score first."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    if len(boxes) == 0:
        return np.zeros(0, np.int64)
    keep: list[int] = []
    for c in np.unique(classes):
        idx = np.nonzero(classes == c)[0]
        got = cv2.dnn.NMSBoxes([list(map(float, b)) for b in boxes[idx]],
                               [float(x) for x in scores[idx]], 0.0, float(iou))
        keep.extend(int(idx[k]) for k in np.asarray(got).reshape(-1))
    keep.sort(key=lambda k: -float(scores[k]))
    return np.asarray(keep[:max_out], np.int64)


def iou_xywh(a, b) -> float:
    ax0, ay0, aw, ah = a
    bx0, by0, bw, bh = b
    ix = max(0.0, min(ax0 + aw, bx0 + bw) - max(ax0, bx0))
    iy = max(0.0, min(ay0 + ah, by0 + bh) - max(ay0, by0))
    inter = ix * iy
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def to_original(boxes: np.ndarray, in_w: int, in_h: int, region: tuple[float, float, float, float]):
    """Input-pixel boxes of a stretched ``region`` (x, y, w, h in original px) -> original px."""
    rx, ry, rw, rh = region
    sx, sy = rw / in_w, rh / in_h
    out = np.asarray(boxes, np.float32).copy().reshape(-1, 4)
    out[:, 0] = out[:, 0] * sx + rx
    out[:, 1] = out[:, 1] * sy + ry
    out[:, 2] *= sx
    out[:, 3] *= sy
    return out


def clip_box(box, width: float, height: float) -> tuple[float, float, float, float]:
    x, y, w, h = (float(v) for v in box)
    x0, y0 = max(0.0, x), max(0.0, y)
    x1, y1 = min(float(width), x + w), min(float(height), y + h)
    return x0, y0, max(0.0, x1 - x0), max(0.0, y1 - y0)


# ------------------------------------------------------------------------------ zoom rules

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
    fx, fy, fw, fh = first_box
    best = None
    for d in candidates:
        x, y, w, h = d.box
        cx, cy = x + w / 2, y + h / 2
        inside = fx <= cx <= fx + fw and fy <= cy <= fy + fh
        if (inside or iou_xywh(first_box, d.box) >= min_overlap) and \
                (best is None or d.score > best.score):
            best = d
    return best


# ------------------------------------------------------------------------------ the detector

class Detector:
    """A ``kind: detector`` bundle behind the runtime's interpreter wrapper."""

    def __init__(self, bundle: Bundle, threads: int = 2):
        from .inference import TFLiteModel
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
    from .registry import resolve_ref
    return Detector(load_bundle(resolve_ref("detector", name_or_path, registry).path,
                                verify_hash=False), threads)


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
    ``refiner`` (an edge.refine.BoxRefiner, or None) on ``cfg.refine_labels``.

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
            b = np.array([d.box for d in final], np.float32)
            keep = nms(b, np.array([d.score for d in final], np.float32),
                       np.array([detector.labels.index(d.label) for d in final]), cfg.nms_iou)
            final = [final[k] for k in keep]
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
        b = np.array([d.box for d in final], np.float32)
        keep = nms(b, np.array([d.score for d in final], np.float32),
                   np.array([detector.labels.index(d.label) for d in final]), cfg.nms_iou,
                   cfg.max_detections)
        final = [final[k] for k in keep]
    return final


def _near(box, label: str, found: list[Detection]) -> bool:
    """``box`` overlaps (IoU > 0.05, or its centre inside) a ``found`` box of ``label``."""
    x, y, w, h = box
    cx, cy = x + w / 2, y + h / 2
    return any(f.label == label and (iou_xywh(f.box, box) > 0.05 or
                                     f.box[0] <= cx <= f.box[0] + f.box[2] and
                                     f.box[1] <= cy <= f.box[1] + f.box[3]) for f in found)


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


# ------------------------------------------------------------------------------ pipeline stage

def model_identity(bundle: Bundle) -> dict[str, str]:
    return {"kind": bundle.kind, **bundle.identity}


class DetectStage:
    """Pipeline stage: fills ``ctx.result.detections`` (PlateStage reads the plates). Fails soft: without a detector bundle the pipeline runs on, logged once, and
    no detection is invented."""

    name = "detect"

    def __init__(self, cfg: DetectConfig, threads: int = 2, detector: Detector | None = None,
                 registry=None):
        self.cfg = cfg
        self.threads = threads
        self.registry = registry
        self._detector = detector
        self._failed = detector is None and not cfg.detector
        self._refiner = None
        self._refiner_tried = not cfg.box_refiner
        self.last = DetectTimings()

    def _get(self) -> Detector | None:
        if self._detector is None and not self._failed:
            try:
                self._detector = open_detector(self.cfg.detector, self.threads, self.registry)
            except Exception as e:  # noqa: BLE001 - a missing/broken bundle must not stop photos
                self._failed = True
                log.warning("detection off: detector bundle %r cannot be used (%s)",
                            self.cfg.detector, e)
        return self._detector

    def _get_refiner(self) -> BoxRefiner | None:
        if not self._refiner_tried:
            self._refiner_tried = True
            try:
                from .refine import open_refiner
                self._refiner = open_refiner(self.cfg.box_refiner, self.threads, self.registry)
            except Exception as e:  # noqa: BLE001 - boxes stay as detected without it
                log.warning("box refinement off: bundle %r cannot be used (%s)",
                            self.cfg.box_refiner, e)
        return self._refiner

    def run(self, ctx) -> None:
        det = self._get()
        if det is None:
            return
        r = ctx.result
        self.last = DetectTimings()
        cat = r.category.label if r.category is not None else None
        refiner = self._get_refiner()
        r.detections = detect_photo(det, ctx.decoded.small, ctx.decoded.full, r.width, r.height,
                                    self.cfg, category=cat, timings=self.last, refiner=refiner,
                                    crop=getattr(ctx.decoded, "crop", None))
        r.touched(model_identity(det.bundle))
        if refiner is not None and self.last.refined:
            r.touched(model_identity(refiner.bundle))
        ctx.notes["detect"] = self.last


class PlateStage:
    """Pipeline stage after detection: ``fields.plate`` read from the photo's plate detections
    (edge/plates.py: crop -> rectify -> recognise -> normalise). Its own stage so that its time
    is not counted as detection."""

    name = "plates"

    def __init__(self, cfg: DetectConfig, threads: int = 2, recognizer=None, registry=None):
        self.cfg = cfg
        self.threads = threads
        self._rec = recognizer
        self.registry = registry

    def run(self, ctx) -> None:
        r = ctx.result
        if not self.cfg.read_plates or "plate" in r.fields:
            return
        plates = [d for d in r.detections if d.label == "plate"]
        if not plates:
            return
        from .plates import open_recognizer, read_plate_field
        if self._rec is None:
            self._rec = open_recognizer(self.cfg.plate_reader, self.threads,
                                        registry=self.registry, settled=self.cfg.plate_settled)
        fv = read_plate_field(ctx.decoded, plates, self.cfg.plate_region, self._rec)
        if fv is not None:
            r.fields["plate"] = fv
            for m in getattr(self._rec, "members", [self._rec]):
                if getattr(m, "bundle", None) is not None:
                    r.touched(model_identity(m.bundle))
