"""Field normalisers and validators: dates, amounts, VINs, plates, identifiers.

Every parser returns the normalised value and what it assumed (day/month order, currency,
separators) so the assumption can be recorded beside the value."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal

MONTHS = {m: i + 1 for i, m in enumerate(
    ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"])}
MONTHS.update({"SEPT": 9, "JUNE": 6, "JULY": 7, "MAC": 3, "MEI": 5, "OGO": 8, "OKT": 10,
               "DIS": 12, "AGO": 8, "DEZ": 12, "MRZ": 3, "MAI": 5, "OKTOBER": 10,
               # French, German, Spanish, Italian, Portuguese, Dutch abbreviations
               "JANV": 1, "FEV": 2, "FÉV": 2, "MARS": 3, "AVR": 4, "JUIN": 6, "JUIL": 7,
               "AOU": 8, "AOÛ": 8, "DÉC": 12, "MÄR": 3, "MAR": 3, "ENE": 1, "ABR": 4, "DIC": 12,
               "GEN": 1, "MAG": 5, "GIU": 6, "LUG": 7, "SET": 9, "OTT": 10, "FEV": 2,
               "MRT": 3, "MEI": 5})


@dataclass(frozen=True)
class ParsedDate:
    iso: str          # YYYY-MM-DD
    raw: str          # the text it was read from
    order: str        # DMY, MDY, YMD, or D-MON-Y / MON-D-Y for month names
    ambiguous: bool   # day and month could be swapped (both <= 12)

    @property
    def date(self) -> dt.date:
        return dt.date.fromisoformat(self.iso)


def _year(y: str) -> int | None:
    v = int(y)
    if len(y) == 2:
        return 2000 + v if v < 70 else 1900 + v
    return v if 1900 <= v <= 2099 else None


def _mk(y: int | None, m: int, d: int) -> str | None:
    if y is None:
        return None
    try:
        return dt.date(y, m, d).isoformat()
    except ValueError:
        return None


_SEP = r"[\/\-\.\s]"
_NUM_YMD = re.compile(r"(?<!\d)(\d{4})\s?([\/\-\.])\s?(\d{1,2})\s?\2\s?(\d{1,2})(?!\d)")
_NUM_XXY = re.compile(r"(?<!\d)(\d{1,2})\s?([\/\-\.])\s?(\d{1,2})\s?\2\s?(\d{4}|\d{2})")
_MON = "|".join(sorted(MONTHS, key=len, reverse=True))
_D_MON_Y = re.compile(rf"(?<!\d)(\d{{1,2}})\s*[\-\/\.\s]?\s*({_MON})[A-Z]*\.?\s*[\-\/\.,\s]?\s*"
                      rf"(\d{{4}}|\d{{2}})", re.I)
_MON_D_Y = re.compile(rf"\b({_MON})[A-Z]*\.?\s*(\d{{1,2}})(?:ST|ND|RD|TH)?\s*,?\s*(\d{{4}})", re.I)


def find_dates(text: str, day_first: bool = True) -> list[ParsedDate]:
    """All dates in a text, in order of appearance. Numeric dates with both parts <= 12 follow
    ``day_first`` and are marked ambiguous."""
    found: list[tuple[int, ParsedDate]] = []
    taken: list[tuple[int, int]] = []

    def free(s: int, e: int) -> bool:
        return all(e <= a or s >= b for a, b in taken)

    for m in _NUM_YMD.finditer(text):
        iso = _mk(_year(m.group(1)), int(m.group(3)), int(m.group(4)))
        if iso:
            found.append((m.start(), ParsedDate(iso, m.group(0), "YMD", False)))
            taken.append(m.span())
    for m in _NUM_XXY.finditer(text):
        if not free(*m.span()):
            continue
        a, b, ys = int(m.group(1)), int(m.group(3)), m.group(4)
        end = m.end()
        # "12/01/201918:24": a 4-digit year glued to a time; "12-01-1918" -> year 2019? prefer
        # a plausible 4-digit year, else the 2-digit one.
        y = _year(ys)
        if y is None and len(ys) == 4:
            ys, end = ys[:2], m.start(4) + 2
            y = _year(ys)
        raw = text[m.start():end]
        options = []
        if day_first:
            options = [(a, b, "DMY"), (b, a, "MDY")]
        else:
            options = [(b, a, "MDY"), (a, b, "DMY")]
        for d, mo, order in options:
            iso = _mk(y, mo, d)
            if iso:
                found.append((m.start(), ParsedDate(iso, raw, order, a <= 12 and b <= 12
                                                    and a != b)))
                taken.append((m.start(), end))
                break
    for m in _D_MON_Y.finditer(text):
        if not free(*m.span()):
            continue
        iso = _mk(_year(m.group(3)), MONTHS[m.group(2).upper()[:3] if m.group(2).upper()[:3]
                                            in MONTHS else m.group(2).upper()], int(m.group(1)))
        if iso:
            found.append((m.start(), ParsedDate(iso, m.group(0).strip(), "D-MON-Y", False)))
            taken.append(m.span())
    for m in _MON_D_Y.finditer(text):
        if not free(*m.span()):
            continue
        key = m.group(1).upper()
        iso = _mk(_year(m.group(3)), MONTHS.get(key[:3], MONTHS.get(key, 0)) or 1,
                  int(m.group(2))) if MONTHS.get(key[:3], MONTHS.get(key)) else None
        if iso:
            found.append((m.start(), ParsedDate(iso, m.group(0).strip(), "MON-D-Y", False)))
            taken.append(m.span())
    return [p for _, p in sorted(found, key=lambda t: t[0])]


def parse_date(text: str, day_first: bool = True) -> ParsedDate | None:
    got = find_dates(text, day_first)
    return got[0] if got else None


@dataclass(frozen=True)
class ParsedAmount:
    value: str          # plain decimal, "." as separator, no thousands: "1234.50"
    raw: str
    currency: str       # "RM", "$", "EUR", ... or ""
    decimal_sep: str    # "." or "," or "" (integer)

    @property
    def decimal(self) -> Decimal:
        return Decimal(self.value)


_CURRENCY = r"(?:RM|MYR|USD|EUR|GBP|SGD|CHF|\$|€|£|¥)"
_AMOUNT = re.compile(rf"(?P<cur1>{_CURRENCY})?\s?(?P<neg>-)?\s?(?P<num>\d{{1,3}}(?:[,.]\d{{3}})+"
                     rf"(?:[.,]\d{{1,2}})?|\d+(?:[.,]\d{{1,2}})?)(?!\d)\s?(?P<cur2>{_CURRENCY})?",
                     re.I)


def _clean_number(num: str) -> tuple[str, str] | None:
    num = re.sub(r"\s", "", num)
    if "," in num and "." in num:
        dec = "," if num.rfind(",") > num.rfind(".") else "."
    elif "," in num or "." in num:
        sep = "," if "," in num else "."
        tail = num.rsplit(sep, 1)[1]
        dec = sep if len(tail) in (1, 2) or num.count(sep) == 1 and len(tail) != 3 else ""
        if num.count(sep) > 1:
            dec = ""
            if len(tail) in (1, 2):
                dec = sep
    else:
        dec = ""
    if dec:
        ip, fp = num.rsplit(dec, 1)
        ip = re.sub(r"[.,]", "", ip)
        out = f"{int(ip or 0)}.{fp.ljust(2, '0')}"
    else:
        out = f"{int(re.sub(r'[.,]', '', num))}.00"
    return out, dec


def find_amounts(text: str) -> list[ParsedAmount]:
    out = []
    for m in _AMOUNT.finditer(text):
        got = _clean_number(m.group("num"))
        if got is None:
            continue
        value, dec = got
        if m.group("neg"):
            value = "-" + value
        cur = (m.group("cur1") or m.group("cur2") or "").upper()
        out.append(ParsedAmount(value, m.group(0).strip(), cur, dec))
    return out


def parse_amount(text: str) -> ParsedAmount | None:
    """The last amount in a text (the value usually follows its label)."""
    got = [a for a in find_amounts(text) if a.decimal_sep or a.currency]
    if not got:
        got = find_amounts(text)
    return got[-1] if got else None


# --- VIN, plate, identifiers --------------------------------------------------------------------

_VIN_MAP = {**{str(d): d for d in range(10)},
            **dict(zip("ABCDEFGH", range(1, 9))), **dict(zip("JKLMN", range(1, 6))), "P": 7,
            "R": 9, **dict(zip("STUVWXYZ", range(2, 10)))}
_VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)
VIN_RE = re.compile(r"\b[A-HJ-NPR-Z0-9]{17}\b")


def vin_check_digit(vin: str) -> str:
    total = sum(_VIN_MAP[c] * w for c, w in zip(vin, _VIN_WEIGHTS))
    r = total % 11
    return "X" if r == 10 else str(r)


def normalize_plate(text: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", text.upper())


def validate_plate(plate: str) -> tuple[bool, str]:
    if not 4 <= len(plate) <= 8:
        return False, f"a plate has 4 to 8 letters and digits, this has {len(plate)}"
    if not (re.search(r"\d", plate) and re.search(r"[A-Z]", plate)):
        return False, "a plate has both letters and digits"
    return True, ""


def normalize_id(text: str) -> str:
    """Licence, policy, invoice numbers: upper case, inner spaces removed, edge punctuation off."""
    return re.sub(r"\s+", "", text.upper()).strip(".:;,#-")


def validate_id(value: str) -> tuple[bool, str]:
    if len(value) < 3:
        return False, "too short for an identifier"
    if not re.search(r"\d", value):
        return False, "an identifier has at least one digit"
    return True, ""


def normalize_name(text: str) -> str:
    t = re.sub(r"[^A-Za-zÀ-ÿ' ,.\-]", " ", text)
    return " ".join(t.split()).strip(" ,.-").upper()


def compact(text: str) -> str:
    """Case- and whitespace-insensitive form used to compare texts."""
    return re.sub(r"\s+", "", text).upper()
