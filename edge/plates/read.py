"""Licence plate reading: crop -> rectify -> recognise (up-sampled) -> normalise per region
(normalize.py). The recognisers (the project's CTC reader, RapidOCR's recogniser, the two
combined) sit behind one small interface and are chosen by the profile."""
from __future__ import annotations

import logging
from dataclasses import replace
from typing import Protocol

import cv2
import numpy as np

from ..result import Detection, FieldValue
from .ctc import CtcPlateRecognizer, ShapePrior
from .normalize import best_candidate, fits_named_layout
from .rectify import rectify

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------ recognisers

class PlateRecognizer(Protocol):
    name: str
    rectify: bool  # read the rectified, up-sampled views (else the crop as it is)
    prior: ShapePrior | None  # layout prior that settles letter/digit confusions, if any

    def read(self, plate_bgr: np.ndarray, region: str = "") -> list[tuple[str, float]]: ...


class RapidPlateRecognizer:
    """The OCR text recogniser alone (no text detector: on tight plate crops it often finds
    nothing) on the rectified, up-sampled plate. It is the documents' recogniser (the default
    bundle, ``edge.ocr.models``) and shares its loaded model when the threads agree."""

    name = "rapidocr-rec"
    rectify = True
    prior = None

    def __init__(self, threads: int = 2):
        self.threads = threads
        self._ocr = None

    def _engine(self):
        if self._ocr is None:
            from ..ocr import open_engine
            self._ocr = open_engine(threads=self.threads, word_boxes=False)
        return self._ocr

    def read(self, plate_bgr: np.ndarray, region: str = "") -> list[tuple[str, float]]:
        return self._engine().read_line(plate_bgr)


# On a free-form (US) plate the later readers are asked only when the first one's best read is
# less sure than this; their reads then compete on confidence. Held out (ucsd-us read by a reader
# and detector trained without it), exact end to end 0.413 -> 0.669, from the labelled box 0.686
# -> 0.860; same-source (the shipped reader saw San Diego) ucsd-us test 0.963 -> 0.926 (1 of 27)
US_UNSURE = 0.9


class CombinedPlateRecognizer:
    """Recognisers in order of trust on the same crop, each on its own views. The first one's
    reads always count; a later one's where they fit a layout of the region (BR, or a named EU
    layout): there the pattern arbitrates. A free-form (US) plate has no layout: the later
    readers are asked only when the first is unsure (``US_UNSURE``), and all reads compete on
    confidence. On the val split this kept the dedicated reader's US crops (117/127) and gained
    RapidOCR's EU/BR photos (33/35)."""

    rectify = False

    def __init__(self, members: list[PlateRecognizer], settled: float = 0.0):
        self.members = members
        self.name = "+".join(m.name for m in members)
        self.settled = settled   # see settles()
        self.prior = next((m.prior for m in members if m.prior is not None), None)

    def settles(self, candidates: list[tuple[str, float]], region: str) -> bool:
        """Whether the first reader's reads end the search: its best fits a layout of the region
        (not a generic one) with at least ``settled`` confidence. A later reader could then win
        only with a read of a layout too, scored higher."""
        if self.settled <= 0:
            return False
        fv = best_candidate(candidates, region)
        if fv is None or not fv.valid or fv.confidence < self.settled:
            return False
        return fits_named_layout(fv.value, region)

    def read(self, plate_bgr: np.ndarray, region: str = "") -> list[tuple[str, float]]:
        return _candidates(self, plate_bgr, region)


def open_recognizer(name: str = "plate-reader", threads: int = 2,
                    strict: bool = False, registry=None, settled: float = 0.0) -> PlateRecognizer:
    """"rapidocr" for RapidOCR's recogniser, else a plate_reader bundle (name or path); falls
    back to RapidOCR when the bundle is missing (``strict``: raises ValueError instead, for
    measurements that must be the named reader's). "a+b" combines recognisers; ``settled``:
    ``CombinedPlateRecognizer.settles``."""
    if "+" in name:
        members = {}
        for part in name.split("+"):
            rec = open_recognizer(part.strip(), threads, strict, registry)
            members.setdefault(rec.name, rec)  # a missing bundle must not read twice by RapidOCR
        return CombinedPlateRecognizer(list(members.values()), settled)
    if name and name != "rapidocr":
        from ..bundle import load_bundle
        from ..registry import resolve_ref
        try:
            b = load_bundle(resolve_ref("plate_reader", name, registry).path, verify_hash=False)
            return CtcPlateRecognizer(b, threads)
        except Exception as e:  # noqa: BLE001 - fall back, never stop the photo
            if strict:
                raise ValueError(f"plate reader {name!r} cannot be used: {e}") from e
            log.warning("plate reader %r cannot be used (%s); using RapidOCR", name, e)
    return RapidPlateRecognizer(threads)


def plate_views(plate_bgr: np.ndarray, out_h: int = 48) -> list[np.ndarray]:
    """The plate as the recogniser sees it: rectified, and the plain crop up-sampled."""
    views = [rectify(plate_bgr, out_h)]
    h, w = plate_bgr.shape[:2]
    if h > 0 and w > 0:
        views.append(cv2.resize(plate_bgr, (max(1, int(round(w * out_h / h))), out_h),
                                interpolation=cv2.INTER_CUBIC))
    return views


def _candidates(recognizer: PlateRecognizer, plate_bgr: np.ndarray,
                region: str) -> list[tuple[str, float]]:
    return _read_cut(recognizer, plate_bgr, region)[0]


def _read_cut(recognizer: PlateRecognizer, plate_bgr: np.ndarray,
              region: str) -> tuple[list[tuple[str, float]], bool]:
    """One cut's reads, and whether the reader trusted first settled it: its US read is at least
    ``US_UNSURE`` sure, or its read fits a layout (``CombinedPlateRecognizer.settles``)."""
    if isinstance(recognizer, CombinedPlateRecognizer):
        first, *rest = recognizer.members
        out = _candidates(first, plate_bgr, region)
        if region == "us":  # no layout to arbitrate: a sure first read decides
            if _sure_us(out):
                return out, True
            return out + [c for m in rest for c in _candidates(m, plate_bgr, region)], False
        if recognizer.settles(out, region):
            return out, True  # the first reader's read settles it
        for m in rest:
            out += [c for c in _candidates(m, plate_bgr, region)
                    if fits_named_layout(c[0], region)]
        return out, False
    views = plate_views(plate_bgr) if recognizer.rectify else [plate_bgr]
    out = [c for v in views for c in recognizer.read(v, region)]
    return out, region == "us" and _sure_us(out)


def _sure_us(reads: list[tuple[str, float]]) -> bool:
    """Whether one of a reader's reads of a US plate is at least ``US_UNSURE`` sure."""
    return max((c for _, c in reads), default=0.0) >= US_UNSURE


def read_plate_image(plate_bgr: np.ndarray, recognizer: PlateRecognizer,
                     region: str = "") -> FieldValue | None:
    return best_candidate(_candidates(recognizer, plate_bgr, region), region, recognizer.prior)


# a plate crop at least this wide loses nothing for the readers (CTC input 128 px, RapidOCR's
# views 48 px high): cut from a reduced decode when that is wide enough
READ_MIN_WIDTH = 320


# A plate box is read as cut with the first margins (fraction of its width, of its height); unless
# that read is sure (``_sure``, or the reader trusted first settled it: ``_read_cut``), also with
# the wider ones, and the best read kept: a detector that never saw a country's plates boxes them
# short (held out, openalpr-eu's long plates came out 0.55-0.88 of their width, mostly cut on the
# left: the first letters and the EU band), and the wider cut reads them whole. On a US plate the
# wider cut squeezes the characters and its reads more often drop the first one ("4HAT861" ->
# "HAT861" at 0.995): it is read only when the first cut's read is unsure.
READ_PADS = ((0.08, 0.08), (0.3, 0.1))


def _sure(fv: FieldValue | None, region: str) -> bool:
    """A read that needs no second cut: it fits a named layout of the region."""
    return fv is not None and fv.valid and fits_named_layout(fv.value, region)


def plate_crop(decoded, det: Detection, pad: float = 0.08, pad_h: float | None = None) -> np.ndarray:
    x, y, w, h = det.box
    ph = pad if pad_h is None else pad_h
    box = (x - pad * w, y - ph * h, w * (1 + 2 * pad), h * (1 + 2 * ph))
    return decoded.crop(*box, min_width=READ_MIN_WIDTH)


_DEFAULT: list = []


def default_recognizer() -> PlateRecognizer:
    if not _DEFAULT:
        _DEFAULT.append(RapidPlateRecognizer())
    return _DEFAULT[0]


def read_plate_field(decoded, plates: list[Detection], region: str = "",
                     recognizer: PlateRecognizer | None = None,
                     max_plates: int = 2) -> FieldValue | None:
    """``fields.plate`` from the best-scoring plate detections of a photo; None when the
    recogniser is not available or reads nothing."""
    try:
        rec = recognizer or default_recognizer()
        best = None
        for d in sorted(plates, key=lambda d: -d.score)[:max_plates]:
            cands = []
            for pw, ph in READ_PADS:
                got, settled = _read_cut(rec, plate_crop(decoded, d, pw, ph), region)
                cands += got
                fv = best_candidate(cands, region, rec.prior)
                if settled or _sure(fv, region):
                    break
            if fv is None:
                continue
            fv = replace(fv, confidence=round(fv.confidence * d.score, 4))
            if best is None or (fv.valid, fv.confidence) > (best.valid, best.confidence):
                best = fv
        return best
    except ImportError as e:
        log.warning("plate reading off: %s", e)
        return None
