"""VIN reading rules (ISO 3779 / 49 CFR 565): 17 characters, never I, O or Q.

- Read text is upper-cased and stripped of spaces, dashes and dots; I, O and Q become 1, 0 and 0
  (a VIN never contains them, so wherever they appear they are misread digits).
- The check digit (position 9, ISO 3779 weights, ``documents.normalize.vin_check_digit``) is
  mandatory for North American VINs (WMI first character 1-5): ``valid`` false with the reason
  when it fails. Elsewhere it is optional and only reported.
- The WMI (first 3 characters) is decoded to a region, a country and, for common WMIs, the
  manufacturer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .documents.normalize import vin_check_digit
from .result import FieldValue

VIN_CHARS = re.compile(r"^[A-HJ-NPR-Z0-9]{17}$")
_MISREAD = str.maketrans({"I": "1", "O": "0", "Q": "0"})

REGIONS = [("ABCDEFGH", "Africa"), ("JKLMNPR", "Asia"), ("STUVWXYZ", "Europe"),
           ("12345", "North America"), ("67", "Oceania"), ("89", "South America")]
COUNTRIES = {"1": "United States", "4": "United States", "5": "United States", "2": "Canada",
             "3": "Mexico", "J": "Japan", "K": "South Korea", "L": "China", "S": "United Kingdom",
             "W": "Germany", "Z": "Italy", "Y": "Sweden/Finland", "V": "France/Spain",
             "T": "Switzerland/Czechia/Hungary", "9": "Brazil", "6": "Australia",
             "M": "India/Thailand/Indonesia", "N": "Turkey/Iran", "R": "Taiwan/UAE",
             "X": "Russia/Netherlands", "U": "Romania/Denmark", "8": "Argentina/Chile/Venezuela",
             "7": "New Zealand", "A": "South Africa"}
WMI = {
    "1FA": "Ford", "1FM": "Ford", "1FT": "Ford", "1FD": "Ford", "1FV": "Freightliner",
    "1G1": "Chevrolet", "1GC": "Chevrolet", "1GN": "Chevrolet", "1G6": "Cadillac",
    "1GT": "GMC", "1GK": "GMC", "1GY": "Cadillac", "1C3": "Chrysler", "1C4": "Chrysler/Jeep",
    "1C6": "Ram", "1D7": "Dodge", "1J4": "Jeep", "1HG": "Honda", "1HD": "Harley-Davidson",
    "1N4": "Nissan", "1N6": "Nissan", "1VW": "Volkswagen", "1YV": "Mazda", "1ZV": "Ford",
    "19U": "Acura", "19X": "Honda", "2C3": "Chrysler", "2FA": "Ford", "2FM": "Ford",
    "2G1": "Chevrolet", "2HG": "Honda", "2HK": "Honda", "2T1": "Toyota", "2T2": "Lexus",
    "3FA": "Ford", "3G1": "Chevrolet", "3GN": "Chevrolet", "3HG": "Honda", "3N1": "Nissan",
    "3VW": "Volkswagen", "4S3": "Subaru", "4S4": "Subaru", "4T1": "Toyota", "4T3": "Toyota",
    "4US": "BMW", "5FN": "Honda", "5J6": "Honda", "5N1": "Nissan", "5NP": "Hyundai",
    "5TD": "Toyota", "5TF": "Toyota", "5UX": "BMW", "5XY": "Kia", "5YJ": "Tesla",
    "7SA": "Tesla", "JA3": "Mitsubishi", "JF1": "Subaru", "JF2": "Subaru", "JHM": "Honda",
    "JHL": "Honda", "JM1": "Mazda", "JMZ": "Mazda", "JN1": "Nissan", "JN8": "Nissan",
    "JS1": "Suzuki", "JT2": "Toyota", "JTD": "Toyota", "JTE": "Toyota", "JTH": "Lexus",
    "JTJ": "Lexus", "JTM": "Toyota", "JTN": "Toyota", "KL1": "Chevrolet (GM Korea)",
    "KMH": "Hyundai", "KNA": "Kia", "KND": "Kia", "KNM": "Renault Samsung", "LFV": "FAW-Volkswagen",
    "LSV": "SAIC Volkswagen", "LVS": "Ford (Changan)", "LRW": "Tesla", "MA1": "Mahindra",
    "MAL": "Hyundai", "MR0": "Toyota", "NMT": "Toyota", "SAJ": "Jaguar", "SAL": "Land Rover",
    "SCC": "Lotus", "SCF": "Aston Martin", "SHH": "Honda", "SJN": "Nissan", "TMB": "Skoda",
    "TRU": "Audi", "VF1": "Renault", "VF3": "Peugeot", "VF7": "Citroen", "VF8": "Matra",
    "VNK": "Toyota", "VSS": "SEAT", "VWV": "Volkswagen", "W0L": "Opel", "W0V": "Opel",
    "WAU": "Audi", "WA1": "Audi", "WBA": "BMW", "WBS": "BMW M", "WBY": "BMW i",
    "WDB": "Mercedes-Benz", "WDC": "Mercedes-Benz", "WDD": "Mercedes-Benz",
    "W1K": "Mercedes-Benz", "W1N": "Mercedes-Benz", "WF0": "Ford", "WME": "smart",
    "WMW": "MINI", "WP0": "Porsche", "WP1": "Porsche", "WVW": "Volkswagen",
    "WVG": "Volkswagen", "WV1": "Volkswagen", "WV2": "Volkswagen", "XTA": "Lada",
    "YS3": "Saab", "YV1": "Volvo", "YV4": "Volvo", "ZAR": "Alfa Romeo", "ZFA": "Fiat",
    "ZFF": "Ferrari", "ZHW": "Lamborghini", "ZAM": "Maserati", "93H": "Honda",
    "93Y": "Renault", "94D": "Nissan", "935": "Citroen", "936": "Peugeot", "9BD": "Fiat",
    "9BF": "Ford", "9BG": "Chevrolet", "9BH": "Hyundai", "9BM": "Mercedes-Benz",
    "9BR": "Toyota", "9BW": "Volkswagen", "9C2": "Honda", "8AP": "Fiat", "8AF": "Ford",
    "8AG": "Chevrolet", "8AJ": "Toyota", "8AW": "Volkswagen", "6T1": "Toyota", "6FP": "Ford",
    "6G1": "Holden",
}


@dataclass(frozen=True)
class VinRead:
    value: str
    valid: bool
    reason: str = ""
    north_american: bool = False
    check_digit_ok: bool | None = None   # None: not checkable (malformed)
    region: str = ""
    country: str = ""
    manufacturer: str = ""
    corrected: int = 0                   # I/O/Q characters mapped to 1/0/0


def clean_vin(text: str) -> tuple[str, int]:
    """Upper case, separators out, I/O/Q -> 1/0/0. Returns (vin, characters mapped)."""
    v = re.sub(r"[^A-Z0-9]", "", text.upper())
    n = sum(v.count(c) for c in "IOQ")
    return v.translate(_MISREAD), n


def decode_wmi(vin: str) -> tuple[str, str, str]:
    """(region, country, manufacturer) of a VIN's WMI; "" where unknown."""
    if not vin:
        return "", "", ""
    c = vin[0]
    region = next((name for chars, name in REGIONS if c in chars), "")
    return region, COUNTRIES.get(c, ""), WMI.get(vin[:3], "")


def read_vin(text: str) -> VinRead:
    """Apply the VIN rules to one read; see the module docstring."""
    v, mapped = clean_vin(text)
    region, country, maker = decode_wmi(v)
    na = bool(v) and v[0] in "12345"
    if len(v) != 17:
        return VinRead(v, False, f"a VIN has 17 characters, this has {len(v)}", na, None,
                       region, country, maker, mapped)
    if not VIN_CHARS.match(v):
        return VinRead(v, False, "a VIN has only letters (not I, O, Q) and digits", na, None,
                       region, country, maker, mapped)
    expected = vin_check_digit(v)
    ok = v[8] == expected
    if na and not ok:
        return VinRead(v, False, f"check digit (position 9) is {v[8]}, expected {expected} "
                       "(ISO 3779, mandatory in North America)", na, False, region, country,
                       maker, mapped)
    if v[9] in "UZ0":
        return VinRead(v, False, f"position 10 (model year) cannot be {v[9]}", na, ok, region,
                       country, maker, mapped)
    return VinRead(v, True, "", na, ok, region, country, maker, mapped)


_LABEL = re.compile(r"(?:VIN|V1N|CHASSIS\s*(?:NO)?|FRAME\s*(?:NO)?)\s*[:#.]?\s*")
_RUN = re.compile(r"[A-Z0-9][A-Z0-9 \-.:]{15,30}[A-Z0-9]")


def find_vins(text: str) -> list[VinRead]:
    """Every 17-character VIN candidate in an OCR text (spaces/dashes inside allowed), valid
    ones first."""
    up = text.upper()
    seen, out = set(), []
    for m in _RUN.finditer(up):
        raw = re.sub(r"[^A-Z0-9]", "", m.group(0))   # I/O/Q still in: read_vin counts them
        for i in range(0, max(1, len(raw) - 16)):
            cand = raw[i:i + 17]
            if len(cand) == 17 and cand.translate(_MISREAD) not in seen:
                seen.add(cand.translate(_MISREAD))
                out.append(read_vin(cand))
    out.sort(key=lambda r: (not r.valid, not r.check_digit_ok, -len(r.manufacturer)))
    return out


def unlabelled_vin(text: str) -> VinRead | None:
    """A VIN in a text nothing labels as one: a whole 17-character token (dashes allowed) that
    :func:`read_vin` finds valid as it stands (no I, O or Q to map) with at least 4 digits. Stricter than
    :func:`find_vins`, which joins words: "LICENSE NO: D1234567" is 17 characters too.

    Outside North America the check digit is optional (a European VIN often fails it), so a
    token whose check digit does not hold is still a VIN when its last four characters are
    digits (the serial number of ISO 3779 for any maker of 500 or more vehicles a year) and
    its first character names a region; the read says so in ``reason``."""
    if "<<" in text:
        return None   # a machine-readable zone's line: its runs of 17 are no VIN
    up = _LABEL.sub(" ", text.upper()).replace("-", "")
    for tok in re.findall(r"(?<![A-Z0-9])[A-Z0-9]{17}(?![A-Z0-9])", up):
        r = read_vin(tok)
        if not r.valid or r.corrected or sum(c.isdigit() for c in r.value) < 4:
            continue   # I, O, Q never stand in a VIN: with nothing saying VIN, it is a word
        if r.check_digit_ok:
            return r
        if r.region and r.value[-4:].isdigit() and sum(c.isalpha() for c in r.value) >= 2:
            return VinRead(r.value, True, "check digit not verified (optional outside North "
                           "America)", r.north_american, False, r.region, r.country,
                           r.manufacturer, r.corrected)
    return None


def checked_vin(text: str) -> str | None:
    """The value of :func:`unlabelled_vin`, or None."""
    r = unlabelled_vin(text)
    return r.value if r else None


def vin_field(text: str, confidence: float = 1.0) -> FieldValue | None:
    """``fields.vin`` from a text: the best candidate, or None when there is no 17-character run."""
    got = find_vins(text)
    if not got:
        return None
    r = got[0]
    return FieldValue(r.value, round(confidence * (0.95 ** r.corrected), 4), r.valid,
                      source="vin", reason=r.reason)
