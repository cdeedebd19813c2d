"""Driving-licence fields from the visual zone, where there is no machine-readable zone.

Both EU licences (Directive 2006/126/EC) and US licences (AAMVA DL/ID card design) number
their fields, whatever the language:

| field | EU | US |
|---|---|---|
| surname / family name | 1. | 1 |
| given names | 2. | 2 |
| date of birth | 3. (and place) | 3 DOB |
| issue date | 4a. | 4a ISS |
| expiry date | 4b. | 4b EXP |
| licence number | 5. | 4d DLN / LIC# / Customer Identifier |
| document discriminator | - | 5 DD |
| address | 8. | 8 |

So "5." is the licence number on an EU licence and the discriminator on a US one ("5 DD"),
and "4d" is an optional personal number on an EU licence but the licence number on a US one
(always with a word: DLN, LIC#, NO, Customer Identifier). Where the labels are lost (OCR often
misses the small print), the dates left on a licence are told apart by what they can be: the
date of birth lies at least 14 years back, the expiry is the latest."""

from __future__ import annotations

import datetime as dt
import re

from .fields import Extracted, normalise
from .layout import Box, Relations, reading_order, relations
from .normalize import find_dates, normalize_id

# a numbered label at the start of a box: "4b.", "4b EXP:", "3 DOB", "5.", "1 "
_NUM = re.compile(r"^\s*(4\s*[a-dA-D]|[1-9]|1[0-9])(?![0-9])\s*([.,:;)]?)\s*(.*)$")
_US_WORD = {
    "4d": re.compile(r"^(DLN|DL\s*N[O0]|LIC\s*#?|LIC\s*N[O0]|N[O0]\.?|CUSTOMER\s*IDENTIFIER|"
                     r"CUSTOM\s*ER\s*IDENTIFIER|ID\s*N[O0]|DL)\b\s*[:#.]?\s*", re.I),
    "4b": re.compile(r"^(EXP(IRES)?|EXPIRATION)\b\s*[:.]?\s*", re.I),
    "4a": re.compile(r"^(ISS(UED)?)\b\s*[:.]?\s*", re.I),
    "3": re.compile(r"^(DOB|DATE\s*OF\s*BIRTH)\b\s*[:.]?\s*", re.I),
    "5": re.compile(r"^(DD)\b\s*[:.]?\s*", re.I),
}
_ID_TOKEN = re.compile(r"(?<![A-Z0-9])(?=[A-Z0-9\-]*\d)[A-Z0-9][A-Z0-9\-]{5,17}[A-Z0-9]"
                       r"(?![A-Z0-9])")


def _numbered(boxes: list[Box]) -> list[tuple[str, int, str, bool]]:
    """(field number, box index, text after the label, US-style word label) per box."""
    out = []
    for i, b in enumerate(boxes):
        m = _NUM.match(b.text)
        if not m:
            continue
        num = re.sub(r"\s", "", m.group(1)).lower()
        rest, word = m.group(3), False
        w = _US_WORD.get(num)
        if w is not None:
            wm = w.match(rest)
            if wm:
                rest, word = rest[wm.end():], True
        if not m.group(2) and not word and not rest:
            continue   # a bare number on its own: a category, a height
        out.append((num, i, rest.strip(), word))
    return out


def _value(i: int, rest: str, boxes: list[Box], rels: list[Relations]):
    """Candidate value texts for a label box: after it, right of it, below it."""
    if rest:
        yield i, rest
    r = rels[i]
    if r.right >= 0 and r.right_gap < 8:
        yield r.right, boxes[r.right].text
    if r.below >= 0 and r.below_gap < 2.0:
        yield r.below, boxes[r.below].text


def _licence_number(text: str, min_digits: int = 3, min_len: int = 6) -> str | None:
    """The first identifier in a labelled value (at least ``min_len`` characters besides dashes,
    ``min_digits`` of them digits: Washington's WDLBCKN489FB has three). The value often shares
    its box with the next field ("9999999993 DOB 03/05/1960"): dates are cut out, not a reason
    to give up; digit groups set apart by spaced dashes ("01 - 47 - 87441") are one number."""
    t = re.sub(r"\s*-\s*", "-", text.upper())
    for d in find_dates(t):
        t = t.replace(d.raw.upper(), " ")
    for tok in _ID_TOKEN.findall(t):
        v = normalize_id(tok)
        if sum(c.isdigit() for c in v) >= min_digits and len(v.replace("-", "")) >= min_len:
            return v
    return None


# A licence-number label without its field number, as many US licences print it (and as the
# OCR leaves "4d LIC#" when it drops the small "4d"): DLN, DL, DL NO, LIC#, LICENSE NO, NUMBER,
# NO. The value is in the same box (a bare "DL" or "NO" is also a header or a word) or, for the
# unambiguous labels, right of it or below it.
_NUMBER_LABEL = re.compile(
    r"(?:^|(?<=[^A-Z]))(?P<label>DLN|DL\s*(?:N[O0]\.?|#)|LIC(?:EN[CS]E)?\s*(?:N[O0]\.?|#|=|NUMBER)|"
    r"LIC\b|(?:LICEN[CS]E\s*)?NUMBER|^DL|^N[O0]\.)\s*[:#.=]?\s*(?P<rest>.*)$", re.I)
_BARE_LABELS = {"DL", "NO.", "N0."}


def _labelled_number(boxes: list[Box], rels: list[Relations], out, used) -> None:
    """The licence number after an unnumbered label (``_NUMBER_LABEL``)."""
    for i, b in enumerate(boxes):
        m = _NUMBER_LABEL.search(b.text.strip())
        if not m:
            continue
        bare = re.sub(r"\s", "", m.group("label").upper()) in _BARE_LABELS
        cands = [(i, m.group("rest"))] if m.group("rest") else []
        if not bare:
            cands += [(j, t) for j, t in _value(i, "", boxes, rels)]
        for j, text in cands:
            v = _licence_number(text)
            if v:
                out["license_number"] = Extracted("license_number", v.replace("-", ""), text,
                                                  0.75 * boxes[j].score, True,
                                                  f"labelled {m.group('label').strip()!r}", j, i)
                used.add(j)
                return


def licence_fields(boxes: list[Box], today: dt.date | None = None,
                   day_first: bool = True) -> dict[str, Extracted]:
    """name, date_of_birth, expiry_date, license_number from a licence's numbered fields, then
    from what the dates and identifiers left on it can be."""
    today = today or dt.date.today()
    boxes = reading_order(boxes)
    rels = relations(boxes)
    us = any(word for *_, word in _numbered(boxes)) or any(
        re.search(r"\b(DRIVER'?S?\s*LICEN[CS]E|DL\b|DOB|EXP)\b", b.text, re.I) for b in boxes)
    if us:
        day_first = False   # a US licence writes month first
    out: dict[str, Extracted] = {}
    used: set[int] = set()
    surname = given = None
    for num, i, rest, word in _numbered(boxes):
        target = {"3": "date_of_birth", "4b": "expiry_date"}.get(num)
        if num == "5" and not word and not us:
            target = "license_number"
        if num == "4d" and (word or us):
            target = "license_number"
        if num in ("1", "2") and not word:
            for j, text in _value(i, rest, boxes, rels):
                if re.search(r"\d", text) or len(text.strip()) < 2:
                    continue
                if num == "1" and surname is None:
                    surname = (j, text)
                elif num == "2" and given is None:
                    given = (j, text)
                break
            continue
        if target is None or target in out:
            continue
        for j, text in _value(i, rest, boxes, rels):
            if target == "license_number":
                v = _licence_number(text)
                if v:
                    out[target] = Extracted(target, v, text, 0.85 * boxes[j].score, True, "",
                                            j, i)
                    used.add(j)
                    break
                continue
            got = normalise(target, text, today, day_first)
            if got:
                out[target] = Extracted(target, got[0], text, 0.85 * boxes[j].score, got[1],
                                        got[2], j, i)
                used.add(j)
                break
    if surname or given:
        parts = [t for t in ((given or (0, ""))[1], (surname or (0, ""))[1]) if t]
        got = normalise("name", " ".join(parts))
        if got:
            j = (surname or given)[0]
            out["name"] = Extracted("name", got[0], " ".join(parts), 0.8 * boxes[j].score,
                                    got[1], got[2], j)
    _unlabelled_dates(boxes, out, used, today, day_first)
    if "license_number" not in out:
        _labelled_number(boxes, rels, out, used)
    if "license_number" not in out:
        _unlabelled_number(boxes, out, used)
    return out


def _unlabelled_dates(boxes, out, used, today, day_first) -> None:
    """Dates no label claimed: the earliest at least 14 years back is the date of birth, the
    latest (after the birth date) the expiry."""
    if "date_of_birth" in out and "expiry_date" in out:
        return
    found = []
    for j, b in enumerate(boxes):
        if j in used:
            continue
        for d in find_dates(b.text, day_first):
            found.append((d.date, j, b))
    if not found:
        return
    found.sort(key=lambda t: t[0])
    if "date_of_birth" not in out:
        d, j, b = found[0]
        if d.year <= today.year - 14:
            got = normalise("date_of_birth", b.text, today, day_first)
            if got:
                out["date_of_birth"] = Extracted("date_of_birth", got[0], b.text,
                                                 0.55 * b.score, got[1],
                                                 got[2] + "; unlabelled: the earliest date", j)
    if "expiry_date" not in out and len(found) >= 2:
        d, j, b = found[-1]
        dob = out.get("date_of_birth")
        if dob is None or d.isoformat() > dob.value:
            text = next(x.raw for x in find_dates(b.text, day_first) if x.date == d)
            got = normalise("expiry_date", text, today, day_first)
            if got:
                out["expiry_date"] = Extracted("expiry_date", got[0], b.text, 0.55 * b.score,
                                               got[1], got[2] + "; unlabelled: the latest date",
                                               j)


def _unlabelled_number(boxes, out, used) -> None:
    """A box that is a lone identifier (letters and at least 6 digits, no date, not a ZIP
    code or a phone number) is taken as the licence number: the first one in reading order."""
    for j, b in enumerate(boxes):
        if j in used:
            continue
        t = b.text.strip().upper()
        if not re.fullmatch(r"[A-Z0-9][A-Z0-9\s\-]{5,18}[A-Z0-9]", t) or " " in t.strip() \
                and not re.fullmatch(r"[\d\s]+", t):
            continue
        v = normalize_id(t)
        digits = sum(c.isdigit() for c in v)
        letters = len(v) - digits - v.count("-")
        if digits < 6 or letters > 4 or find_dates(t) or re.fullmatch(r"\d{5}(-\d{4})?", t):
            continue
        out["license_number"] = Extracted("license_number", v.replace("-", ""), b.text,
                                          0.5 * b.score, True, "unlabelled: a lone identifier",
                                          j)
        return
