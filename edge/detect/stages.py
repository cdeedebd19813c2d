"""The pipeline stages of detection: DetectStage fills the photo's detections (first pass, zoom,
tiles, refinement), PlateStage reads ``fields.plate`` from its plate boxes."""
from __future__ import annotations

import logging

from ..bundle import Bundle
from ..config import DetectConfig
from .model import Detector, open_detector
from .passes import DetectTimings, detect_photo
from .refine import BoxRefiner, open_refiner

log = logging.getLogger(__name__)


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
    (edge/plates/: crop -> rectify -> recognise -> normalise). Its own stage so that its time
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
        from ..plates import open_recognizer, read_plate_field
        if self._rec is None:
            self._rec = open_recognizer(self.cfg.plate_reader, self.threads,
                                        registry=self.registry, settled=self.cfg.plate_settled)
        fv = read_plate_field(ctx.decoded, plates, self.cfg.plate_region, self._rec)
        if fv is not None:
            r.fields["plate"] = fv
            for m in getattr(self._rec, "members", [self._rec]):
                if getattr(m, "bundle", None) is not None:
                    r.touched(model_identity(m.bundle))
