"""Key fields from text boxes: label -> value linking on the page layout (same line, right of,
below), validation and normalisation, and the per-photo completeness check.

Identity and vehicle documents (driver's license, registration, ID card, insurance card,
accident report) are read here; receipts, invoices and estimates go through the template-free
bill reader (``bills.py``), which uses the same relations."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass

from ..result import FieldValue
from .layout import Box, Relations, reading_order, relations
from ..vin import find_vins, read_vin, unlabelled_vin
from .normalize import (find_dates, normalize_id, normalize_name, normalize_plate, validate_id,
                        validate_plate)


def _lab(*phrases: str) -> re.Pattern:
    """A label that OCR may have run together: each space becomes optional."""
    alts = []
    tolerant = {"O": "[O0]", "I": "[I1L]", "L": "[L1I]", "S": "[S5]", "B": "[B8]"}
    for p in phrases:
        alts.append(r"\s*".join("".join(tolerant.get(ch.upper(), re.escape(ch)) for ch in w)
                                for w in p.split()))
    return re.compile(r"^\W*(?:" + "|".join(alts) + r")(?!\w)\.?\s*[:#.\-]*\s*", re.I)


# Most specific first: a line is claimed by the first field whose label it starts with. Labels
# in the languages of the documents met (English, French, German, Italian, Spanish, Portuguese,
# Dutch, Malay); accents are folded before matching (``fold``).
LABELS: list[tuple[str, re.Pattern]] = [
    ("date_of_birth", _lab("DATE OF BIRTH", "DOB", "D.O.B", "BIRTH DATE", "BORN", "BIRTH",
                           "TARIKH LAHIR", "GEBURTSDATUM", "GEBURTSTAG", "GEB", "DATE DE NAISSANCE",
                           "NE LE", "NEE LE", "DATA DI NASCITA", "NATO IL", "NATA IL",
                           "FECHA DE NACIMIENTO", "FECHA NACIMIENTO", "DATA DE NASCIMENTO",
                           "GEBOORTEDATUM", "DATUM NARODENIA", "DATA URODZENIA")),
    ("expiry_date", _lab("EXPIRY DATE", "EXPIRATION DATE", "DATE OF EXPIRY", "EXPIRES",
                         "EXPIRY", "EXP DATE", "EXP", "VALID UNTIL", "VALID TO", "VALID THRU",
                         "TAMAT TEMPOH", "GUELTIG BIS", "GULTIG BIS", "GILTIG BIS", "ABLAUFDATUM",
                         "DATE D'EXPIRATION", "DATE D EXPIRATION", "DATE DEXPIRATION",
                         "VALABLE JUSQU'AU", "VALABLE JUSQU AU", "EXPIRE LE", "SCADENZA",
                         "DATA DI SCADENZA", "VALIDO FINO AL", "FECHA DE CADUCIDAD",
                         "CADUCIDAD", "VALIDO HASTA", "VALIDADE", "GELDIG TOT",
                         "PERIOD OF INSURANCE TO")),
    ("license_number", _lab("DRIVER LICENSE NO", "DRIVER LICENSE NUMBER", "DRIVER LICENSE #",
                            "LICENSE #", "LICENCE #", "DL #", "DL#", "LICENSE NO",
                            "LICENCE NO", "LICENSE NUMBER", "LICENCE NUMBER", "DL NO", "DLN",
                            "LIC NO", "LIC #", "LIC", "NO. LESEN", "NO LESEN",
                            "FUHRERSCHEINNUMMER", "FUEHRERSCHEINNUMMER", "NUMERO DE PERMIS",
                            "N° DE PERMIS", "NO DE PERMIS", "NUMERO PATENTE",
                            "NUMERO DI PATENTE", "NUMERO DE LICENCIA", "RIJBEWIJSNUMMER")),
    ("document_number", _lab("DOCUMENT NO", "DOCUMENT NUMBER", "DOC NO", "PASSPORT NO",
                             "PASSPORT NUMBER", "PASSPORT N°", "CARD NO", "CARD NUMBER",
                             "ID NO", "ID NUMBER", "IDENTITY NO", "N° DU DOCUMENT",
                             "NO DU DOCUMENT", "NUMERO DU DOCUMENT", "N° DE PASSEPORT",
                             "PASSEPORT N°", "DOKUMENTENNUMMER", "AUSWEISNUMMER", "PASSNUMMER",
                             "NUMERO DOCUMENTO", "NUMERO DI DOCUMENTO", "NUMERO DE DOCUMENTO",
                             "NUM SOPORTE", "NUM. SOPORTE", "NUMERO DE PASAPORTE",
                             "DOCUMENTNUMMER", "NO. KP", "NO KP")),
    ("policy_number", _lab("POLICY NUMBER", "POLICY NO", "POLICY #", "POL. NO", "POL NO",
                           "CERT NO", "CERTIFICATE NO", "COVER NOTE NO", "POLICY",
                           "MEMBER ID", "MEMBER NO", "ID #", "POLIZZA N", "NUMERO POLIZZA",
                           "POLICE N°", "NUMERO DE POLICE", "VERSICHERUNGSNUMMER",
                           "POLIZA N", "NUMERO DE POLIZA")),
    ("vin", _lab("VIN/CHASSIS", "VEHICLE ID NO", "VIN", "CHASSIS NO", "CHASSIS", "NO. CASIS",
                 "FRAME NO", "FAHRZEUG-IDENTIFIZIERUNGSNUMMER", "FAHRGESTELLNUMMER", "FIN",
                 "NUMERO DE CHASSIS", "NUMERO DI TELAIO", "TELAIO", "NUMERO DE BASTIDOR",
                 "BASTIDOR")),
    ("plate", _lab("REGISTRATION NO", "REG. MARK", "REG MARK", "REG NO", "REG. NO",
                   "PLATE NO", "PLATE", "NO. PENDAFTARAN", "LICENSE PLATE", "VEHICLE A REG NO",
                   "VEHICLE A PLATE", "VEHICLE A PLATE NO", "VEHICLE A REGISTRATION NO",
                   "VEHICLE A REG. MARK", "VEHICLE A NO. PENDAFTARAN", "KENNZEICHEN",
                   "AMTLICHES KENNZEICHEN", "IMMATRICULATION", "N° D'IMMATRICULATION",
                   "TARGA", "MATRICULA", "KENTEKEN")),
    ("nationality", _lab("NATIONALITY", "NATIONALITE", "STAATSANGEHORIGKEIT",
                         "STAATSANGEHOERIGKEIT", "NAZIONALITA", "CITTADINANZA",
                         "NACIONALIDAD", "NACIONALIDADE", "NATIONALITEIT", "CITIZENSHIP",
                         "WARGANEGARA")),
    ("name", _lab("SURNAME / GIVEN NAMES", "FULL NAME", "NAME OF INSURED", "INSURED", "HOLDER",
                  "OWNER", "NAME", "NAMA", "NOM", "NOM / PRENOMS", "NACHNAME", "NAME / VORNAME",
                  "COGNOME", "APELLIDOS", "NOMBRE", "SUBSCRIBER", "MEMBER", "MEMBER NAME",
                  "TITULAIRE", "INHABER")),
    ("date", _lab("DATE OF ACCIDENT", "INVOICE DATE", "DATE OF ISSUE", "DATE", "DATED",
                  "TARIKH", "DATUM", "RECHNUNGSDATUM", "DATE DE FACTURE", "FECHA", "DATA",
                  "DATA FATTURA", "FECHA DE EMISION")),
    ("other", _lab("ADDRESS", "ALAMAT", "CLASS", "SEX", "MAKE", "YEAR", "COLOUR",
                   "EFFECTIVE", "VEHICLE", "TIME", "LOCATION", "DRIVER", "WEATHER",
                   "INJURIES", "REPORT NO", "VEHICLE B", "ADRESSE", "INDIRIZZO", "DIRECCION",
                   "SEXE", "GESCHLECHT", "SESSO", "SEXO", "GIVEN NAMES", "PRENOMS", "PRENOM",
                   "VORNAME", "VORNAMEN", "NOME", "NOMBRES", "LIEU DE NAISSANCE",
                   "GEBURTSORT", "PLACE OF BIRTH", "LUOGO DI NASCITA")),
]
IDENTITY_FIELDS = ("name", "license_number", "document_number", "nationality", "date_of_birth",
                   "expiry_date", "policy_number", "plate", "vin")


def fold(text: str) -> str:
    """Accents off (É -> E, Ü -> U), the length kept for the letters that have one."""
    return "".join(c for c in unicodedata.normalize("NFKD", text)
                   if not unicodedata.combining(c))


@dataclass(frozen=True)
class Extracted:
    name: str
    value: str
    raw: str
    confidence: float
    valid: bool
    reason: str = ""
    box: int = -1        # index of the value box
    key_box: int = -1    # index of the label box it was linked to (-1: found by pattern)

    def as_field(self, source: str = "ocr") -> FieldValue:
        return FieldValue(self.value, self.confidence, self.valid, source, self.reason)


def label_of(text: str) -> tuple[str, str] | None:
    """(field, rest of the text after the label) when the text starts with a known label."""
    folded = fold(text)
    for name, pat in LABELS:
        m = pat.match(folded)
        if m:
            rest = text[m.end():] if len(folded) == len(text) else folded[m.end():]
            return name, rest.strip()
    return None


def _before_next_label(text: str) -> str:
    """The value before the next field's label where both share a box ("123456789 DOB 1/2/74")."""
    for m in re.finditer(r"\s+", text):
        if label_of(text[m.end():]):
            return text[:m.start()]
    return text


def normalise(name: str, raw: str, today: dt.date | None = None,
              day_first: bool = True) -> tuple[str, bool, str] | None:
    """(value, valid, reason) for one field from a candidate text; None if it cannot be the
    field at all (so the next candidate is tried)."""
    raw = raw.strip()
    if not raw:
        return None
    if name in ("date_of_birth", "expiry_date", "date"):
        got = find_dates(raw, day_first)
        if not got:
            return None
        d = got[0]
        today = today or dt.date.today()
        if name == "date_of_birth" and d.date > today and len(d.raw) and d.date.year >= 2000:
            d = type(d)(d.date.replace(year=d.date.year - 100).isoformat(), d.raw, d.order,
                        d.ambiguous)  # a 2-digit birth year is in the last century
        why = f"read '{d.raw}' as {d.order}" + (" (day/month order assumed)" if d.ambiguous
                                                else "")
        if name == "date_of_birth" and not (today.year - 120 <= d.date.year and d.date < today):
            return d.iso, False, f"implausible date of birth; {why}"
        if name == "expiry_date" and d.date < today:
            return d.iso, False, f"expired on {d.iso}; {why}"
        return d.iso, True, why
    if name == "vin":
        got = find_vins(raw)
        if got:
            return got[0].value, got[0].valid, got[0].reason
        r = read_vin(raw)
        return (r.value, r.valid, r.reason) if len(r.value) >= 11 else None
    if name == "plate":
        p = normalize_plate(raw)
        if not p:
            return None
        ok, why = validate_plate(p)
        return p, ok, why
    if name == "nationality":
        v = re.sub(r"[^A-Z ]", "", fold(raw).upper()).strip()
        if not 2 <= len(v) <= 30:
            return None
        return v, True, ""
    if name in ("license_number", "document_number", "policy_number", "invoice_number"):
        v = normalize_id(_before_next_label(raw.split("  ")[0]))
        if not re.search(r"\d", v):
            return None
        ok, why = validate_id(v)
        return v, ok, why
    if name == "name":
        if sum(c.isdigit() for c in raw) > 1 or label_of(raw):
            return None
        v = normalize_name(raw)
        if len(v.replace(" ", "")) < 3:
            return None
        return v, True, "" if " " in v else "one word: first and last name run together?"
    return None


def _candidates(i: int, rest: str, boxes: list[Box], rels: list[Relations]):
    """Where a label's value may be: after it in the same box, right of it, or below it."""
    if rest:
        yield i, rest, 0.95
    r = rels[i]
    if r.right >= 0 and r.right_gap < 25:
        yield r.right, boxes[r.right].text, 0.9
    if r.below >= 0 and r.below_gap < 2.5:
        b = boxes[r.below]
        if abs(b.x0 - boxes[i].x0) < 3 * boxes[i].h:
            yield r.below, b.text, 0.8


def extract_identity(boxes: list[Box], wanted=IDENTITY_FIELDS, today: dt.date | None = None,
                     day_first: bool = True) -> dict[str, Extracted]:
    boxes = reading_order(boxes)
    rels = relations(boxes)
    out: dict[str, Extracted] = {}
    value_boxes: set[int] = set()
    labelled = [(i, label_of(b.text)) for i, b in enumerate(boxes)]
    for i, lab in labelled:
        if lab is None:
            continue
        name, rest = lab
        if name not in wanted or name in out:
            continue
        for j, text, conf in _candidates(i, rest, boxes, rels):
            if j != i and (labelled[j][1] is not None and labelled[j][1][1] == ""):
                continue  # the neighbour is itself a bare label
            got = normalise(name, text, today, day_first)
            if got is None:
                continue
            value, valid, why = got
            out[name] = Extracted(name, value, text, conf * boxes[j].score, valid, why, j, i)
            value_boxes.add(j)
            break
    # patterns without labels: a VIN anywhere, dates in reading order
    if "vin" in wanted and "vin" not in out:
        for j, b in enumerate(boxes):
            r = unlabelled_vin(b.text)
            if r:  # unlabelled: a whole 17-character token that reads as a valid VIN
                out["vin"] = Extracted("vin", r.value, b.text,
                                       0.6 * b.score, True,
                                       r.reason, j)
                break
    return out
