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

import re
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from ..documents.normalize import normalize_plate as _clean
from ..result import FieldValue
from .ctc import ShapePrior
from .layouts import EU_COUNTRY, PATTERNS, REGIONS, TO_DIGIT, TO_LETTER
from .noise import strip_plate_noise


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


def plates_agree(values: Iterable[str]) -> tuple[bool, list[str]]:
    """Cross-check of plates read in one claim (vehicle photo, close-up, registration): they
    agree when their normalised forms are equal; returns (agree, distinct values)."""
    distinct = sorted({_clean(v) for v in values if _clean(v)})
    return len(distinct) <= 1, distinct
