"""Licence plate reading: crop -> rectify -> recognise (up-sampled) -> normalise per region.

Normalisation removes spaces, dashes and dots and upper-cases (``documents.normalize``), then
checks the region's patterns:

- ``br``: old ``LLLDDDD`` (ABC1234) and Mercosul ``LLLDLDD`` (ABC1D23). Every position has a
  fixed kind, so letter/digit confusions (O/0, I/1, B/8, S/5, Z/2, G/6 ...) are corrected by
  position.
  (Corrections are made only when the region is named: with region "" a read is kept as is.)
- ``eu``: the common national layouts (``LLDDDLL`` FR/IT/HR, ``DDDDLLL`` ES, ``LLDDLLL`` UK,
  Czech ``DLADDDD``, German ``L{1,3}L{1,2}D{1,4}`` without the separator, ...) and, as the
  fallback, 4 to 8 letters and digits with at least one of each. EU layouts vary too much to
  rewrite a read that has that generic shape: corrections (at most 2) apply only to a read that
  fits neither.
- ``us``: 2 to 8 letters and digits (vanity plates exist: no correction, a plate of letters only
  is valid). The state name, slogan, dealer frame and sticker words a recogniser may read with
  the registration are dropped first (``strip_plate_noise``).
- ``cn``: the registration after the province character (``LAAAAA``, new-energy ``LAAAAAA``):
  the readers read no Chinese characters, so a province glyph read as one Latin character in
  front of a 6-character registration is dropped; letters I and O are not issued, read as 1, 0.

Several candidates (recogniser alternatives, rectified or not) are scored, and the best
pattern-valid one is kept; ``valid`` is false with a reason when none is.

The project's CTC recogniser also weighs its letter/digit confusions against how often each
layout occurs in the region (``ShapePrior``, counted on its training labels), before the
patterns above see the read: that is what settles O/0 and I/1 on US plates, which have no
fixed layout.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from typing import Iterable, Protocol

import cv2
import numpy as np

from .documents.normalize import normalize_plate as _clean
from .plate_ctc import CtcPlateRecognizer, ShapePrior
from .plate_layouts import EU_COUNTRY, PATTERNS, REGIONS, TO_DIGIT, TO_LETTER
from .plate_noise import strip_plate_noise
from .plate_rectify import rectify
from .result import Detection, FieldValue

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlateRead:
    value: str
    valid: bool
    region: str        # region whose pattern matched ("" when none)
    pattern: str       # layout name, or "" when none
    corrections: int   # characters changed to fit the layout
    reason: str = ""


def _fits(text: str, layout: str) -> bool:
    if len(text) != len(layout):
        return False
    for c, k in zip(text, layout):
        if k == "L" and not c.isalpha() or k == "D" and not c.isdigit():
            return False
        if k.islower() and c != k.upper():
            return False
    return True


def _coerce(text: str, layout: str) -> tuple[str, int] | None:
    """``text`` forced into ``layout`` by letter/digit confusions; None when it cannot be."""
    if len(text) != len(layout):
        return None
    out, n = [], 0
    for c, k in zip(text, layout):
        if k == "L" and c.isdigit():
            if c not in TO_LETTER:
                return None
            c, n = TO_LETTER[c], n + 1
        elif k == "D" and c.isalpha():
            if c not in TO_DIGIT:
                return None
            c, n = TO_DIGIT[c], n + 1
        out.append(c)
    return "".join(out), n


def _generic_eu(text: str) -> bool:
    return 4 <= len(text) <= 8 and bool(re.search(r"\d", text)) and bool(re.search(r"[A-Z]", text))


def _cn_registration(v: str) -> str:
    """A Chinese read without its province: a 7-character read that is not a new-energy
    registration but whose last 6 are a registration had the province glyph read as a Latin
    character."""
    if len(v) == 7 and not any(_fits(v, lay) for lay, name in PATTERNS["cn"] if len(lay) == 7) \
            and _fits(v[1:], "LAAAAA"):
        return v[1:]
    return v


def normalize_plate(text: str, region: str = "") -> PlateRead:
    """Normalise a read plate for ``region`` ("us", "eu", "br", "cn", or "" for any of them)."""
    if region and region not in REGIONS:
        raise ValueError(f"unknown plate region {region!r} (known: {', '.join(REGIONS)})")
    if region in ("", "us"):
        text = strip_plate_noise(text)
    v = _clean(text)
    regions = [region] if region else [r for r in REGIONS if r != "cn"]
    if region == "cn":
        v = _cn_registration(v)
        v = v[:1] + v[1:].replace("O", "0").replace("I", "1")
    if not v:
        return PlateRead("", False, "", "", 0, "no letters or digits read")
    # 1. exact layout match, most specific region first (BR layouts are strict)
    for r in sorted(regions, key=lambda r: ("br", "cn", "eu", "us").index(r)):
        for layout, name in PATTERNS[r]:
            if _fits(v, layout):
                return PlateRead(v, True, r, name, 0)
    # 2. one region's layout reached by confusions (strict regions only; fewest changes wins)
    best = None
    for r in ("br", "eu"):
        if r != region:  # only when the profile names the region: a guess must not rewrite
            continue
        for layout, name in PATTERNS[r]:
            got = _coerce(v, layout)
            if got and got[1] <= 2 and (best is None or got[1] < best.corrections):
                best = PlateRead(got[0], True, r, name, got[1])
        if best is not None and r == "br":
            break
    # 3. the loose shapes: EU generic, US 2-8 alnum
    if "eu" in regions and _generic_eu(v) and (best is None or region == "eu"):
        return PlateRead(v, True, "eu", "EU generic", 0)
    if best is not None:
        return best
    if "us" in regions and 2 <= len(v) <= 8:
        return PlateRead(v, True, "us", "US", 0)
    if region == "br":
        return PlateRead(v, False, "", "", 0, f"{v!r} fits neither LLLDDDD nor LLLDLDD")
    if region == "cn":
        return PlateRead(v, False, "", "", 0, f"{v!r} fits no Chinese registration (a letter "
                         "and 5 letters or digits after the province; new energy: 6)")
    if region == "eu":
        return PlateRead(v, False, "", "", 0, f"{v!r} fits no European layout "
                         "(4-8 letters and digits, both kinds)")
    return PlateRead(v, False, "", "", 0, f"{v!r}: a plate has 2 to 8 letters and digits, "
                     f"this has {len(v)}")


GENERIC = ("US", "EU generic")


def fits_named_layout(text: str, region: str = "") -> bool:
    """Whether ``text`` fits a named layout of the region, not only a loose shape."""
    return normalize_plate(text, region).pattern not in ("", *GENERIC)


def region_of(p: PlateRead, region: str = "") -> str:
    """The region ``fields.plate`` names, for a profile that names its ``region``: the country
    where a named layout decides it (``eu-de``; ``eu`` for a layout several countries share),
    else the region whose layout or loose shape the read fits (``br``, ``cn``, ``us``). With
    region "" (any) it names none: the common US layouts (``DLLLDDD``, ``LLLDDDD``) are also
    Belgian and old Brazilian ones, so no pattern decides."""
    if not p.valid or not region or p.region != region:
        return ""
    if p.region == "eu" and p.pattern not in GENERIC:
        return EU_COUNTRY.get(p.pattern, "eu")
    return p.region


def best_candidate(candidates: Iterable[tuple[str, float]], region: str = "",
                   prior: ShapePrior | None = None) -> FieldValue | None:
    """The best of several (text, confidence) reads: pattern-valid beats invalid, a named layout
    beats a loose shape, then the confidence discounted by 10% per corrected character.

    With the plate reader's layout ``prior``, reads the patterns rank equal that differ from the
    best one only where one has a letter and the other a digit are settled as ``ctc_decode``
    settles one reader's confusions: log confidence + weight x log prior(layout). The readers
    disagree there in kind: RapidOCR reads California's open-topped 4 as L and the O of
    ``5AOG200`` as 0, at higher confidence than the plate reader's right read. Only where the
    prior counted the region's own plates (``ShapePrior.knows``): other regions' layouts say
    nothing about it (held out, they turned 27 of 319 right Chinese reads wrong)."""
    reads = []
    for text, conf in candidates:
        p = normalize_plate(text, region)
        if not p.value:
            continue
        key = (p.valid, p.pattern != "" and p.pattern not in GENERIC,
               float(conf) * (0.9 ** p.corrections))
        reads.append((key, p))
    if not reads:
        return None
    key, p = max(reads, key=lambda r: r[0])  # the first of equals, as read
    if prior is not None and prior.knows(region):
        rivals = [(k, q) for k, q in reads
                  if k[:2] == key[:2] and _letter_digit_rival(q.value, p.value)]
        key, p = max(rivals, key=lambda r: np.log(max(r[0][2], 1e-9))
                     + prior.weight * prior.log_prob(r[1].value, region))
    reg = region_of(p, region)
    return FieldValue(p.value, round(key[2], 4), p.valid, source="plate", reason=p.reason,
                      region=reg, format=p.pattern if reg else "")


def _letter_digit_rival(a: str, b: str) -> bool:
    """Same length, and every differing character is a letter in one and a digit in the other."""
    return len(a) == len(b) and all(x == y or x.isdigit() != y.isdigit() for x, y in zip(a, b))


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
            from .ocr import open_engine
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
        from .bundle import load_bundle
        from .registry import resolve_ref
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


def plates_agree(values: Iterable[str]) -> tuple[bool, list[str]]:
    """Cross-check of plates read in one claim (vehicle photo, close-up, registration): they
    agree when their normalised forms are equal; returns (agree, distinct values)."""
    distinct = sorted({_clean(v) for v in values if _clean(v)})
    return len(distinct) <= 1, distinct
