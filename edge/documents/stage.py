"""The OCR + documents pipeline stage: OCR on photos that carry text, document type by fusion,
key fields (identity documents or template-free bills), per-photo completeness.

Photos without text pay nothing: the trigger is checked before anything is loaded, and the OCR
engine and the models are loaded on the first photo that needs them."""

from __future__ import annotations

import logging
import time

import cv2
import numpy as np

from ..config import OcrConfig, Profile
from ..ocr.rapid import REC_BATCH
from ..result import FieldValue, HeadResult, TextLine
from .layout import Box
from .page import cache_settings

log = logging.getLogger(__name__)

BILL_TYPES = ("receipt_invoice", "repair_estimate")
# part of the OCR cache key: a new engine, or new recogniser batches (lines are padded to the
# widest of their batch), rereads
OCR_ENGINE = f"rapidocr-3.10-ppocrv6-det-small-rec-b{REC_BATCH}"
DOUBTFUL_BELOW = 0.6    # the claim checklist's threshold for "doubtful"
CROP_MARGIN = 0.25


def completeness(doc_type: str, fields: dict[str, FieldValue], profile: Profile) -> dict:
    """The per-photo check against the fields the profile requires for this document type."""
    required = list(profile.documents.required_fields.get(doc_type, []))
    missing = [f for f in required if f not in fields]
    invalid = [f for f in required if f in fields and not fields[f].valid]
    doubtful = [f for f in required if f in fields and fields[f].valid
                and fields[f].confidence < DOUBTFUL_BELOW]
    out = {"document_type": doc_type, "required": required, "missing": missing,
           "invalid": invalid, "doubtful": doubtful,
           "complete": not (missing or invalid or doubtful)}
    exp = fields.get("expiry_date")
    if exp is not None and not exp.valid and exp.reason.startswith("expired"):
        out["expired"] = True
    return out


class DocumentStage:
    """Fills ``result.text``, ``result.document``, ``result.fields`` and
    ``result.completeness``; timings of its parts go to ``ctx.notes['documents']``."""

    name = "ocr"

    def __init__(self, profile: Profile, engine=None, registry=None):
        self.profile = profile
        self.registry = registry
        self._doc_ref = None
        self.cfg: OcrConfig = profile.ocr
        self._engine = engine
        self._doctype = None
        self._typer = None
        self._models_failed = False
        self._ocr_off = ""   # why OCR cannot run on this machine (warned once)
        self._cache = None
        self._cache_made = not self.cfg.cache

    def cache(self):
        """OCR output on disk by image sha256, keyed by the settings and the exact model files
        (a fleet release of a recogniser must not reuse the old one's reads)."""
        if not self._cache_made:
            self._cache_made = True
            from ..ocr import OcrCache, settings_key
            folder = self.cfg.cache_dir or str(self.profile.store.resolved.parent / "ocr-cache")
            eng = self.engine()
            models = {f.used[0]: f.used[3][:16]
                      for f in (getattr(eng, "det_files", None), getattr(eng, "rec_files", None))
                      if f is not None and f.bundle and f.used}
            self._cache = OcrCache(folder, settings_key(
                engine=OCR_ENGINE, max_side=self.cfg.max_side,
                word_boxes=self.cfg.word_boxes, use_cls=False, rec_model=self.cfg.rec_model,
                **cache_settings(self.cfg.find_page),
                **({"det_max_side": self.cfg.det_max_side} if self.cfg.det_max_side else {}),
                **({"models": models} if models else {})))
        return self._cache

    # --- what triggers OCR ----------------------------------------------------------------
    def wants(self, result) -> tuple[bool, bool]:
        """(read the text, treat it as a document page)."""
        cfg = self.cfg
        if not cfg.enabled or self._ocr_off:
            return False, False
        cat = result.category.label if result.category is not None else None
        if cfg.always:
            return True, cat not in ("vin", "plate")
        if cat in cfg.categories:
            return True, cat == "document"
        if any(d.label in cfg.detections for d in result.detections):
            return True, False
        return False, False

    # --- lazily loaded parts --------------------------------------------------------------
    def engine(self):
        if self._engine is None:
            from ..ocr import open_engine
            threads = self.cfg.threads or self.profile.runtime.threads
            self._engine = open_engine(threads=threads, max_side=max(self.cfg.max_side, 64),
                                       use_cls=False, word_boxes=self.cfg.word_boxes,
                                       det_max_side=self.cfg.det_max_side,
                                       rec_model=self.cfg.rec_model, rec_keys=self.cfg.rec_keys,
                                       det_model=self.cfg.det_model, registry=self.registry)
        return self._engine

    def models(self):
        if self._doctype is None and not self._models_failed:
            try:
                from ..bundle import BundleError
                from ..registry import resolve_ref
                from .bills import BoxTyper
                from .doctype import DocTypeModel
                self._doc_ref = resolve_ref("document", self.cfg.document_model, self.registry)
                self._doctype = DocTypeModel.load(self._doc_ref.path)
                self._typer = BoxTyper.load(self._doc_ref.path)
            except (OSError, KeyError, ValueError, BundleError) as e:
                self._models_failed = True
                log.warning("document type and bill reading off: model %r cannot be used (%s)",
                            self.cfg.document_model, e)
        return self._doctype, self._typer

    # --- OCR ------------------------------------------------------------------------------
    def _read(self, image: np.ndarray, key: str | None, page: bool = False):
        from ..ocr import lines_from_raw
        from ..ocr.models import space_gap
        cache = self.cache()
        raw = cache.get(key) if (cache and key) else None
        if raw is None:
            if page:
                from .page import read_document
                raw = read_document(self.engine(), image, self.cfg.det_max_side,
                                    self.cfg.find_page)
            else:
                raw = self.engine().read_raw(image)
            if cache and key:
                cache.put(key, raw)
        return lines_from_raw(raw, self.cfg.min_score, gap_ratio=space_gap(self.cfg.rec_model))

    def read_page(self, decoded) -> tuple[list[TextLine], np.ndarray, float]:
        """Text lines in original-image pixels, the grey image OCR saw, and its scale."""
        w, h = decoded.width, decoded.height
        scale = min(1.0, self.cfg.max_side / max(h, w))
        # the cheapest decode that still has the pixels OCR sees: a 12 MP JPEG's half-size one
        src = decoded.detail(scale)
        img = cv2.resize(src, (round(w * scale), round(h * scale)),
                         interpolation=cv2.INTER_AREA) if src.shape[1] != round(w * scale) else src
        lines = self._read(img, decoded.sha256, page=True)
        inv = 1.0 / scale
        out = [TextLine(tuple((x * inv, y * inv) for x, y in ln.box), ln.text, ln.score)
               for ln in lines]
        return out, cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), scale

    def read_regions(self, decoded, detections) -> list[TextLine]:
        out: list[TextLine] = []
        for i, d in enumerate(detections):
            x, y, w, h = d.box
            mx, my = w * CROP_MARGIN, h * CROP_MARGIN
            x0, y0 = max(0.0, x - mx), max(0.0, y - my)
            crop = decoded.crop(x0, y0, w + 2 * mx, h + 2 * my)
            if crop is None or crop.size == 0:
                continue
            ch, cw = crop.shape[:2]
            up = 1.0
            if max(ch, cw) < 320:  # the detector finds little on tight small crops: upsample
                up = 320 / max(ch, cw)
                crop = cv2.resize(crop, None, fx=up, fy=up, interpolation=cv2.INTER_CUBIC)
            key = f"{decoded.sha256}-r{int(x0)}-{int(y0)}-{int(w)}-{int(h)}"
            for ln in self._read(crop, key):
                out.append(TextLine(tuple((x0 + px / up, y0 + py / up) for px, py in ln.box),
                                    ln.text, ln.score))
        return out

    # --- the stage ------------------------------------------------------------------------
    def run(self, ctx) -> None:
        r = ctx.result
        read, is_page = self.wants(r)
        if not read:
            return
        notes: dict[str, float] = {}
        t = time.perf_counter()
        regions = [d for d in r.detections if d.label in self.cfg.detections]
        gray, scale = None, 1.0
        from ..ocr.models import OcrModelMissing
        try:
            if is_page or not regions:
                lines, gray, scale = self.read_page(ctx.decoded)
            else:
                lines = self.read_regions(ctx.decoded, regions)
        except (ImportError, OcrModelMissing) as e:
            self._ocr_off = str(e)
            log.warning("OCR off, documents and VINs will not be read: %s", e)
            return
        notes["ocr"] = (time.perf_counter() - t) * 1000
        r.text = lines
        for m in getattr(self.engine(), "models", ()):
            r.touched(m)
        t = time.perf_counter()
        self.extract(r, lines, gray, scale, is_page)
        notes["fields"] = (time.perf_counter() - t) * 1000
        ctx.notes["documents"] = notes

    def extract(self, r, lines: list[TextLine], gray, scale: float, is_page: bool) -> None:
        from .mrz import find_mrz
        from ..vin import unlabelled_vin
        boxes = [Box.from_quad([(x * scale, y * scale) for x, y in ln.box], ln.text, ln.score)
                 for ln in lines]
        fields: dict[str, FieldValue] = {}
        doc_type = None
        if is_page:
            doctype, typer = self.models()
            mrz = find_mrz(boxes)
            if doctype is not None:
                head = document_type(doctype, boxes, gray, mrz)
                r.document = head
                r.touched(self._doc_ref.identity)
                doc_type = head.label
            if doc_type in BILL_TYPES and typer is not None:
                from .bills import read_bill
                got, _ = read_bill(boxes, typer, self.cfg.day_first)
                fields.update({k: e.as_field() for k, e in got.items()})
            else:
                required = self.profile.documents.required_fields.get(doc_type, []) \
                    if doc_type else []
                fields.update(identity_fields(boxes, doc_type, required, mrz,
                                              self.cfg.day_first))
        if "vin" not in fields:
            for b in boxes:  # a VIN plate, sticker or a VIN printed on a page, unlabelled
                got = unlabelled_vin(b.text)
                if got:
                    fields["vin"] = FieldValue(got.value, round(0.95 * b.score, 4) if
                                               got.check_digit_ok else round(0.8 * b.score, 4),
                                               True, "ocr", got.reason)
                    break
        for k, v in fields.items():
            r.fields.setdefault(k, v)   # a field another stage read (the plate reader) stays
        if doc_type:
            r.completeness = completeness(doc_type, r.fields, self.profile)


def identity_fields(boxes: list[Box], doc_type: str | None, required=(), mrz=None,
                    day_first: bool = True) -> dict[str, FieldValue]:
    """Fields of an identity or vehicle document: labelled fields (any of the languages of
    ``fields.LABELS``), a licence's numbered fields, and the machine-readable zone. A zone field
    whose check digit holds beats the visual zone's reading; one that fails gives way to it."""
    from .fields import IDENTITY_FIELDS, extract_identity
    wanted = set(IDENTITY_FIELDS) | set(required)
    got = extract_identity(boxes, tuple(wanted), day_first=day_first)
    if doc_type == "driver_license":
        from .licence import licence_fields
        for k, e in licence_fields(boxes, day_first=day_first).items():
            got.setdefault(k, e)
    fields = {k: e.as_field() for k, e in got.items() if k in wanted}
    if mrz is not None:
        for k, v in mrz.fields().items():
            if v.valid or v.reason.startswith("expired") or k not in fields:
                fields[k] = v
    return fields


def document_type(model, boxes: list[Box], gray, mrz=None, from_ocr: bool = True) -> HeadResult:
    """The fusion classifier's document type; a machine-readable zone whose check digits hold
    decides between an identity document and a driving licence (ICAO 9303 zones are printed
    on passports and ID cards, ISO 18013 zones on licences), whatever the layout says."""
    head = model.classify(boxes, gray, from_ocr)
    if mrz is not None and mrz.trusted:
        label = "driver_license" if mrz.is_driving_licence else "id_card"
        if label != head.label:
            return HeadResult(label, 0.99, head.probs)
    return HeadResult(head.label, head.score, head.probs)
