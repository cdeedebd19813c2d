"""Machine-readable zones (ICAO 9303) read from OCR text, with their check digits.

Formats: TD3 (passports, 2 x 44), TD2 (2 x 36), TD1 (ID cards, 3 x 30), the one-line
driving-licence zone of ISO/IEC 18013-1 (EU licences, ``D1FRA...``, 30 characters: licence
number and its check digit, surname, and a check digit over the whole line), and the French
national identity card of 1988-2021 (``IDFRA...``, 2 x 36, not ICAO: card number, given names
and birth date on line 2, each with a 7-3-1 check digit, and one over both lines).

OCR reads a zone imperfectly: the filler ``<`` comes out as ``«``, ``(`` or is dropped, digits
and letters swap (0/O, 1/I, 5/S, 8/B). Each field is repaired by what it may hold (digits in
dates and check digits, letters in codes and names), a line one or two fillers short or long is
fitted to its length at its longest filler run, and the check digits then say whether the
reading holds. Nothing is guessed past them: a field whose check digit fails is returned with
``valid`` false and the reason.

Written here rather than taken from a library: the MRZ packages on PyPI are either unmaintained,
pull an OCR engine of their own (Tesseract, PaddleOCR), or come from repositories the project
keeps for independent evaluation."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field

from ..result import FieldValue
from .layout import Box, same_line

WEIGHTS = (7, 3, 1)
_TO_DIGIT = str.maketrans({"O": "0", "D": "0", "Q": "0", "U": "0", "I": "1", "L": "1",
                           "Z": "2", "S": "5", "B": "8", "G": "6", "T": "7", "A": "4"})
_TO_ALPHA = str.maketrans({"0": "O", "1": "I", "5": "S", "8": "B", "6": "G", "2": "Z", "4": "A",
                           "7": "T"})
_FILLERS = str.maketrans({"«": "<", "‹": "<", "(": "<", "[": "<", "{": "<", "〈": "<",
                          "＜": "<", "≤": "<", "C": "C"})
# characters a document number may hold where OCR confuses them: tried when its check digit fails
_AMBIGUOUS = {"0": "O", "O": "0", "1": "I", "I": "1", "5": "S", "S": "5", "8": "B", "B": "8",
              "2": "Z", "Z": "2"}


def char_value(c: str) -> int:
    if c.isdigit():
        return int(c)
    if "A" <= c <= "Z":
        return ord(c) - 55
    return 0  # the filler '<'


def check_digit(s: str) -> str:
    """ICAO 9303 check digit: values weighted 7, 3, 1 repeating, sum modulo 10."""
    return str(sum(char_value(c) * WEIGHTS[i % 3] for i, c in enumerate(s)) % 10)


def _digit_ok(data: str, digit: str) -> bool:
    # an all-filler optional field may carry '<' as its check digit
    return digit == check_digit(data) or (digit == "<" and set(data) <= {"<"})


@dataclass(frozen=True)
class Mrz:
    """One parsed zone. ``checks`` names each check digit and whether it held."""
    format: str                      # TD1, TD2, TD3, DL, FR
    lines: tuple[str, ...]
    doc_code: str
    issuer: str
    number: str
    surname: str
    given_names: str
    nationality: str = ""
    birth: str = ""                  # YYMMDD as read ("" where the format has none)
    expiry: str = ""
    sex: str = ""
    checks: dict[str, bool] = field(default_factory=dict)
    corrected: tuple[str, ...] = ()  # what was repaired to make a check digit hold

    @property
    def valid(self) -> bool:
        return bool(self.checks) and all(self.checks.values())

    @property
    def trusted(self) -> bool:
        """Enough of it checks to say what the document is: every check digit, or three of
        an ICAO zone's four or five (one of ten readings passes a check digit by chance)."""
        return self.valid or self.format != "DL" and sum(self.checks.values()) >= 3

    @property
    def name(self) -> str:
        return " ".join(f"{self.given_names} {self.surname}".split())

    @property
    def is_driving_licence(self) -> bool:
        return self.format == "DL" or self.doc_code.startswith("D") and self.format == "TD1" \
            and self.doc_code not in ("ID",)

    def fields(self, today: dt.date | None = None) -> dict[str, FieldValue]:
        """The DESIGN fields this zone carries, each ``valid`` by its check digit (and, for
        dates, by being a date that can be)."""
        today = today or dt.date.today()
        out: dict[str, FieldValue] = {}
        src = "mrz"
        why_fix = f"; repaired: {', '.join(self.corrected)}" if self.corrected else ""
        if self.name:
            ok = self.checks.get("line", True)
            out["name"] = FieldValue(self.name, 0.95, ok, src,
                                     "" if ok else "line check digit fails")
        num_ok = self.checks.get("number", False)
        key = "license_number" if self.is_driving_licence else "document_number"
        if self.number:
            out[key] = FieldValue(self.number, 0.97 if num_ok else 0.5, num_ok, src,
                                  ("" if num_ok else "document number check digit fails")
                                  + why_fix)
        if self.nationality:
            ok = bool(re.fullmatch(r"[A-Z]{3}|[A-Z]{1,2}<{1,2}", self.nationality))
            out["nationality"] = FieldValue(self.nationality.replace("<", ""), 0.95, ok, src,
                                            "" if ok else "not a 3-letter code")
        if self.birth:
            d = _date(self.birth, birth=True, today=today)
            ok = self.checks.get("birth", False) and d is not None
            out["date_of_birth"] = FieldValue(
                d.isoformat() if d else self.birth, 0.97 if ok else 0.5, ok, src,
                "" if ok else ("not a date" if d is None else "date of birth check digit fails"))
        if self.expiry:
            d = _date(self.expiry, birth=False, today=today)
            ok = self.checks.get("expiry", False) and d is not None
            reason = "" if ok else ("not a date" if d is None else "expiry check digit fails")
            if ok and d < today:
                ok, reason = False, f"expired on {d.isoformat()}; check digit holds"
            out["expiry_date"] = FieldValue(d.isoformat() if d else self.expiry,
                                            0.97 if reason.startswith(("", "expired")) else 0.5,
                                            ok, src, reason)
        return out


def _date(yymmdd: str, birth: bool, today: dt.date) -> dt.date | None:
    if not re.fullmatch(r"\d{6}", yymmdd):
        return None
    yy, mm, dd = int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:])
    if birth:
        year = 2000 + yy if 2000 + yy <= today.year else 1900 + yy
    else:
        year = 2000 + yy if yy < 70 else 1900 + yy
    try:
        return dt.date(year, mm, dd)
    except ValueError:
        return None


# --- cleaning and fitting ----------------------------------------------------------------------

def clean(text: str) -> str:
    """OCR text of a zone line: upper case, fillers unified, spaces and anything that is not
    A-Z, 0-9 or '<' dropped."""
    t = unicodedata.normalize("NFKC", text).upper().translate(_FILLERS)
    return re.sub(r"[^A-Z0-9<]", "", t)


def fit(line: str, n: int) -> str | None:
    """``line`` at length ``n``: fillers added to or taken from its longest filler run (OCR
    drops and doubles them), or at its end. None when more than 3 off."""
    d = n - len(line)
    if d == 0:
        return line
    if 0 < d <= 15 and line.endswith("<<"):
        return line + "<" * d     # a name line's trailing fillers, however many were lost
    if abs(d) > 3:
        return None
    runs = [(m.end() - m.start(), m.start(), m.end()) for m in re.finditer(r"<+", line)]
    if not runs:
        return line + "<" * d if d > 0 else None
    _, s, e = max(runs)
    if d > 0:
        return line[:e] + "<" * d + line[e:]
    if e - s < -d:
        return None
    return line[:s] + line[s - d:]


def _digits(s: str) -> str:
    return s.translate(_TO_DIGIT)


def _alpha(s: str) -> str:
    return s.translate(_TO_ALPHA)


def _number(raw: str, digit: str, confirm=None, prefix: str = ""
            ) -> tuple[str, bool, tuple[str, ...]]:
    """A document number and whether its check digit holds. When it does not, one letter/digit
    confusion of OCR (0/O, 1/I, 5/S, 8/B, 2/Z) is tried where the neighbours are of the other
    class (an O between digits), and kept when the check digit and ``confirm`` (the composite,
    the line's digit) hold with it. The composite is no independent witness of the number (both
    sums move by the same amount): the neighbour rule is what keeps the one-in-ten chance
    reading out when a digit was misread as another digit."""
    if _digit_ok(prefix + raw, digit):
        return raw, True, ()
    if confirm is None:
        return raw, False, ()
    for i, c in enumerate(raw):
        alt = _AMBIGUOUS.get(c)
        near = [raw[j] for j in (i - 1, i + 1) if 0 <= j < len(raw) and raw[j] != "<"]
        # only where the neighbours say the other class: an O between digits, a 0 among letters
        if alt is None or not near or any(n.isdigit() != alt.isdigit() for n in near):
            continue
        cand = raw[:i] + alt + raw[i + 1:]
        if _digit_ok(prefix + cand, digit) and confirm(cand):
            return cand, True, (f"document number {raw} read as {cand}",)
    return raw, False, ()


def _names(s: str) -> tuple[str, str]:
    s = _alpha(s).strip("<")
    # a filler misread as K inside a name run ("SMITHKKJOHN"): only when it is doubled
    s = re.sub(r"(?<=[A-Z])K{2,}(?=[A-Z<]|$)", lambda m: "<" * len(m.group(0)), s)
    sur, _, given = s.partition("<<")
    return " ".join(sur.split("<")).strip(), " ".join(given.replace("<", " ").split())


# --- the formats ---------------------------------------------------------------------------------

def parse_td3(l1: str, l2: str) -> Mrz:
    code, issuer, nm = l1[0:2], _alpha(l1[2:5]), l1[5:44]
    number, nd = l2[0:9], _digits(l2[9])
    nat, birth, bd = _alpha(l2[10:13]), _digits(l2[13:19]), _digits(l2[19])
    sex, exp, ed = l2[20], _digits(l2[21:27]), _digits(l2[27])
    personal, pd, cd = l2[28:42], l2[42] if l2[42] == "<" else _digits(l2[42]), _digits(l2[43])
    number, ok, fix = _number(number, nd, lambda n: _digit_ok(
        n + nd + birth + bd + exp + ed + personal + pd, cd))
    line2 = number + nd + nat + birth + bd + sex + exp + ed + personal + pd + cd
    checks = {"number": ok, "birth": _digit_ok(birth, bd), "expiry": _digit_ok(exp, ed),
              "personal": _digit_ok(personal, pd),
              "composite": _digit_ok(line2[0:10] + line2[13:20] + line2[21:43], cd)}
    sur, given = _names(nm)
    return Mrz("TD3", (l1, line2), code.replace("<", ""), issuer, number.replace("<", ""), sur,
               given, nat, birth, exp, sex, checks, fix)


def parse_td2(l1: str, l2: str) -> Mrz:
    code, issuer, nm = l1[0:2], _alpha(l1[2:5]), l1[5:36]
    number, nd = l2[0:9], _digits(l2[9])
    nat, birth, bd = _alpha(l2[10:13]), _digits(l2[13:19]), _digits(l2[19])
    sex, exp, ed = l2[20], _digits(l2[21:27]), _digits(l2[27])
    opt, cd = l2[28:35], _digits(l2[35])
    number, ok, fix = _number(number, nd, lambda n: _digit_ok(
        n + nd + birth + bd + exp + ed + opt, cd))
    line2 = number + nd + nat + birth + bd + sex + exp + ed + opt + cd
    checks = {"number": ok, "birth": _digit_ok(birth, bd), "expiry": _digit_ok(exp, ed),
              "composite": _digit_ok(line2[0:10] + line2[13:20] + line2[21:35], cd)}
    sur, given = _names(nm)
    return Mrz("TD2", (l1, line2), code.replace("<", ""), issuer, number.replace("<", ""), sur,
               given, nat, birth, exp, sex, checks, fix)


def parse_td1(l1: str, l2: str, l3: str) -> Mrz:
    code, issuer = l1[0:2], _alpha(l1[2:5])
    number, nd, opt1 = l1[5:14], l1[14], l1[15:30]
    birth, bd, sex = _digits(l2[0:6]), _digits(l2[6]), l2[7]
    exp, ed, nat = _digits(l2[8:14]), _digits(l2[14]), _alpha(l2[15:18])
    opt2, cd = l2[18:29], _digits(l2[29])
    tail = birth + bd + exp + ed + opt2
    fix: tuple[str, ...] = ()
    if nd == "<" and opt1.strip("<"):
        # a number longer than 9: it runs on into the optional field, its check digit after it
        run = opt1.split("<", 1)[0]
        ok = False
        if len(run) >= 2:
            rest = opt1[len(run):]
            number, ok, fix = _number(number + run[:-1], _digits(run[-1]), lambda n: _digit_ok(
                n[:9] + "<" + n[9:] + run[-1] + rest + tail, cd))
        line1 = l1[:30]
    else:
        nd = _digits(nd)
        number, ok, fix = _number(number, nd, lambda n: _digit_ok(n + nd + opt1 + tail, cd))
        line1 = l1[:5] + number + nd + opt1
    line2 = birth + bd + sex + exp + ed + nat + opt2 + cd
    checks = {"number": ok, "birth": _digit_ok(birth, bd), "expiry": _digit_ok(exp, ed),
              "composite": _digit_ok(line1[5:30] + line2[0:7] + line2[8:15] + line2[18:29], cd)}
    sur, given = _names(l3)
    return Mrz("TD1", (line1, line2, l3), code.replace("<", ""), issuer,
               number.replace("<", ""), sur, given, nat, birth, exp, sex, checks, fix)


def parse_fr(l1: str, l2: str) -> Mrz:
    """French identity card (1988-2021): line 1 ``IDFRA``, surname (25), issuing office (6);
    line 2 card number (12: year and month of issue, department, office, sequence), its check
    digit, given names (14), birth date and its check digit, sex, a check digit over both
    lines. The card states no expiry in its zone."""
    number, nd, names = _digits(l2[0:12]), _digits(l2[12]), _alpha(l2[13:27])
    given = " ".join(names.replace("<", " ").split())
    birth, bd, sex, last = _digits(l2[27:33]), _digits(l2[33]), l2[34], _digits(l2[35])
    office = _digits(l1[30:36])
    line1 = "IDFRA" + _alpha(l1[5:30]) + office
    line2 = number + nd + names + birth + bd + sex
    checks = {"number": _digit_ok(number, nd), "birth": _digit_ok(birth, bd),
              "line": _digit_ok(line1 + line2, last)}
    return Mrz("FR", (line1, line2 + last), "ID", "FRA", number, _names(l1[5:30])[0], given,
               "FRA", birth, sex=sex, checks=checks)


def parse_dl(line: str) -> Mrz:
    """ISO/IEC 18013-1 licence zone: D, configuration digit, issuing country (3), licence
    number (9), its check digit over everything before it, 6 characters the issuer uses,
    surname (8), and a check digit over the whole line before it."""
    number, nd = line[5:14], _digits(line[14])
    head = line[0:5]
    last = _digits(line[29])
    fixed, ok, fix = _number(number, nd, lambda n: _digit_ok(head + n + nd + line[15:29], last),
                             prefix=head)
    whole = head + fixed + nd + line[15:29]
    checks = {"number": ok, "line": _digit_ok(whole, _digits(line[29]))}
    sur = " ".join(_alpha(line[21:29]).strip("<").split("<"))
    return Mrz("DL", (whole + line[29],), "D", _alpha(line[2:5]), fixed.replace("<", ""), sur,
               "", checks=checks, corrected=fix)


# --- finding a zone in OCR lines -----------------------------------------------------------------

def _text_lines(boxes: list[Box]) -> list[str]:
    """Box texts joined into page lines (boxes on one line, left to right), top to bottom."""
    rows: list[list[Box]] = []
    for b in sorted(boxes, key=lambda b: b.cy):
        for row in rows:
            if same_line(row[0], b):
                row.append(b)
                break
        else:
            rows.append([b])
    rows.sort(key=lambda r: min(b.cy for b in r))
    return ["".join(b.text for b in sorted(r, key=lambda b: b.x0)) for r in rows]


def _zone_like(s: str) -> bool:
    return len(s) >= 26 and (s.count("<") >= 2 or
                             bool(re.fullmatch(r"[A-Z0-9<]{28,46}", s))
                             and sum(c.isdigit() for c in s) >= 8)


FORMATS = (("TD3", 2, 44, parse_td3), ("TD2", 2, 36, parse_td2), ("TD1", 3, 30, parse_td1),
           ("FR", 2, 36, parse_fr))


def structured(m: Mrz) -> bool:
    """Laid out as an ICAO zone whatever its check digits say (a specimen printed with wrong
    ones, a digit OCR lost): issuer and nationality the same three letters, both dates dates,
    the sex a sex. Random text lines do not fall into that by chance."""
    today = dt.date.today()
    return (m.format in ("TD1", "TD2", "TD3") and bool(re.fullmatch(r"[A-Z][A-Z<]{2}", m.issuer))
            and m.issuer == m.nationality and m.sex in ("M", "F", "X", "<")
            and _date(m.birth, True, today) is not None
            and _date(m.expiry, False, today) is not None)


def _score(m: Mrz) -> tuple[int, bool]:
    return sum(m.checks.values()), structured(m)


def _variants(line: str, n: int) -> list[str]:
    """``line`` fitted to ``n``, then, when it is one character off, every single filler put in
    or taken out elsewhere (OCR drops a character anywhere, not only in a filler run); at the
    right length, a filler put in at each place and one taken from the longest filler run (a
    character dropped, a filler doubled)."""
    first = fit(line, n)
    out = [first] if first is not None else []
    if len(line) == n - 1:
        out += [line[:p] + "<" + line[p:] for p in range(len(line) + 1)]
    elif len(line) == n + 1:
        out += [line[:p] + line[p + 1:] for p in range(len(line)) if line[p] == "<"]
    elif len(line) == n:
        out += [v for p in range(n) if (v := fit(line[:p] + "<" + line[p:], n)) is not None]
    return out


def _best(group: list[str], n: int, parse) -> Mrz | None:
    base = [fit(s, n) for s in group]
    if any(b is None for b in base):
        return None
    best = parse(*base)
    for i, s in enumerate(group):
        # a line of the right length is shifted only where the zone is not laid out as one:
        # shifting a laid-out zone could only buy a check digit that holds by chance
        shifted = len(s) == n
        if shifted and structured(best):
            continue
        for v in _variants(s, n)[1:]:
            m = parse(*(base[:i] + [v] + base[i + 1:]))
            if _score(m) > _score(best) and (structured(m) or not shifted):
                best = m
    return best


def parse_lines(lines: list[str]) -> Mrz | None:
    """The best-checking zone in consecutive lines (cleaned here), or None. A passport's second
    line read without its first still gives the number, dates and nationality."""
    lines = [clean(s) for s in lines]
    best: Mrz | None = None
    for fmt, k, n, parse in FORMATS:
        for i in range(len(lines) - k + 1):
            if "<" not in lines[i]:
                continue   # a first line has fillers (the names, an optional field): not a heading
            french = lines[i].startswith(("IDFRA", "1DFRA", "IDFR4"))
            if fmt in ("FR", "TD2") and (fmt == "FR") != french:
                continue   # France issued no TD2 card: a 36-wide IDFRA zone is its own format
            m = _best(lines[i:i + k], n, parse)
            # a zone must hold two of its check digits to count as read, or be laid out as one
            # (one digit where the line opens with the French card's own IDFRA)
            if m is None or sum(m.checks.values()) < (1 if fmt == "FR" else 2) \
                    and not structured(m):
                continue
            if best is None or _score(m) > _score(best):
                best = m
    if best is None:
        for s in lines:   # a TD3/TD2 second line alone (the name line missed)
            for fmt, n, parse in (("TD3", 44, parse_td3), ("TD2", 36, parse_td2)):
                if abs(len(s) - n) > 1 or s.startswith(("P<", "I<", "V<")):
                    continue
                m = _best(["P<" + "<" * (n - 2), s], n, parse)
                if m is not None and sum(m.checks.values()) >= 3 and (
                        best is None or _score(m) > _score(best)):
                    best = m
    if best is None:
        for s in lines:
            if s.startswith("D") and abs(len(s) - 30) <= 2 and s[1:2].isdigit():
                f = fit(s, 30) if len(s) != 30 else s
                if f is None:
                    continue
                m = parse_dl(f)
                if any(m.checks.values()):
                    return m
    return best


def find_mrz(boxes: list[Box]) -> Mrz | None:
    """The machine-readable zone among a page's text boxes, or None when there is none or
    none of it reads with two check digits holding (one for a licence's one-line zone).
    Boxes are tried joined into page lines (a zone line read in pieces) and one by one, top to
    bottom: on a tilted card the boxes of two zone lines overlap in height, and joined they
    would make one line of both."""
    best = None
    for lines in (_text_lines(boxes), [b.text for b in sorted(boxes, key=lambda b: b.cy)]):
        cand = [s for s in map(clean, lines) if _zone_like(s)]
        m = parse_lines(cand) if cand else None
        if m is not None and (best is None or _score(m) > _score(best)):
            best = m
    return best
