"""Generated documents for the document-type classifier and the field extractors: driver's
licenses, registrations, ID cards, insurance cards, invoices, repair estimates, accident reports
and other letters, each in several layouts (``LAYOUTS`` per type). A document comes with its
text boxes and its true field values, so no OCR is needed to train on it.

Training code only: never imported by the runtime."""

from __future__ import annotations

import datetime as dt
import random
import string
import zlib
from dataclasses import dataclass, field

import cv2
import numpy as np

from edge.documents.layout import Box
from edge.documents.normalize import vin_check_digit

DOC_TYPES = ("driver_license", "vehicle_registration", "id_card", "insurance_card",
             "receipt_invoice", "repair_estimate", "accident_report", "other_document")
LAYOUTS = 5          # layouts 0..4 per type; HELD_OUT is never trained on; 4 is international
HELD_OUT = 3         # (intl.py: numbered licence fields, MRZ, six languages)
FONTS = [cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX,
         cv2.FONT_HERSHEY_TRIPLEX, cv2.FONT_HERSHEY_PLAIN]

FIRST = ["JOHN", "MARIA", "AHMAD", "SITI", "WEI", "ANNA", "PETER", "LUCIA", "DAVID", "NUR",
         "JAMES", "ELENA", "OMAR", "SARAH", "KARL", "MEI LING", "RAJ", "SOFIA", "TAN", "LEE"]
LAST = ["SMITH", "TAN", "RAHMAN", "MUELLER", "GARCIA", "WONG", "KUMAR", "ROSSI", "NOVAK", "LIM",
        "BROWN", "ABDULLAH", "SILVA", "CHEN", "MARTIN", "OKAFOR", "IVANOV", "NG", "DUBOIS", "KIM"]
STREETS = ["JALAN MERDEKA", "MAIN STREET", "HAUPTSTRASSE", "RUE DE LA PAIX", "OAK AVENUE",
           "JALAN BUKIT BINTANG", "HIGH ROAD", "VIA ROMA", "PARK LANE", "JALAN AMPANG"]
CITIES = ["KUALA LUMPUR", "JOHOR BAHRU", "SPRINGFIELD", "BERLIN", "LYON", "MILANO", "LEEDS",
          "PETALING JAYA", "AUSTIN", "PENANG"]
COMPANIES = ["QUICK FIX AUTO", "SPEEDY MOTOR WORKS", "BODY SHOP PRO", "AUTO CARE CENTRE",
             "PRIME PANEL BEATERS", "CITY GARAGE", "METRO TOWING", "STAR PARTS TRADING",
             "GOLDEN WHEEL SERVICE", "KL TYRE & BATTERY"]
SUFFIX = ["SDN BHD", "LTD", "GMBH", "INC", "ENTERPRISE", "& SONS", "CO", ""]
INSURERS = ["SAFEGUARD INSURANCE", "ALLIED MUTUAL", "ROADSURE", "ETIQA GENERAL", "NORTHSTAR "
            "ASSURANCE", "PACIFIC CASUALTY"]
MAKES = ["TOYOTA", "HONDA", "PERODUA", "PROTON", "BMW", "FORD", "VOLKSWAGEN", "NISSAN"]
PARTS = ["FRONT BUMPER", "HEADLAMP LH", "BONNET", "RADIATOR", "DOOR PANEL RH", "WINDSCREEN",
         "SIDE MIRROR", "BRAKE PADS", "ENGINE OIL 4L", "TYRE 195/65R15", "PAINT WORK",
         "LABOUR", "TOWING", "AIR FILTER", "WIPER BLADE"]


@dataclass
class GenDoc:
    doc_type: str
    layout: int
    image: np.ndarray
    boxes: list[Box]
    fields: dict[str, str] = field(default_factory=dict)   # normalised true values


def _rand_date(rng: random.Random, y0: int, y1: int) -> dt.date:
    return dt.date(rng.randint(y0, y1), rng.randint(1, 12), rng.randint(1, 28))


def _fmt_date(d: dt.date, style: int) -> str:
    mon = d.strftime("%b").upper()
    return [f"{d:%d/%m/%Y}", f"{d:%d-%m-%Y}", f"{d:%d.%m.%Y}", f"{d.day:02d} {mon} {d.year}",
            f"{d:%Y-%m-%d}", f"{d:%d/%m/%y}"][style % 6]


def _name(rng):
    return f"{rng.choice(FIRST)} {rng.choice(LAST)}"


def _address(rng):
    return f"{rng.randint(1, 299)} {rng.choice(STREETS)}, {rng.randint(10000, 99999)} " \
           f"{rng.choice(CITIES)}"


def _plate(rng):
    return "".join(rng.choices(string.ascii_uppercase, k=rng.randint(1, 3))) + \
        str(rng.randint(1, 9999)) + ("".join(rng.choices(string.ascii_uppercase, k=1))
                                     if rng.random() < 0.3 else "")


def _vin(rng):
    chars = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
    v = list("".join(rng.choices(chars, k=17)))
    v[8] = vin_check_digit("".join(v))
    return "".join(v)


def _ident(rng, prefix="", n=8):
    return prefix + "".join(rng.choices(string.digits, k=n))


class Canvas:
    def __init__(self, w: int, h: int, bg, rng: random.Random):
        self.img = np.empty((h, w, 3), np.uint8)
        self.img[:] = bg
        self.boxes: list[Box] = []
        self.rng = rng
        self.font = rng.choice(FONTS)
        self.ink = tuple(int(v) for v in rng.choice([(20, 20, 20), (60, 30, 10), (10, 10, 80),
                                                     (40, 40, 40)]))

    def text(self, s: str, x: int, y: int, scale: float, thick: int = 1, color=None,
             font=None) -> Box:
        font = self.font if font is None else font
        (tw, th), base = cv2.getTextSize(s, font, scale, thick)
        cv2.putText(self.img, s, (int(x), int(y)), font, scale, color or self.ink, thick,
                    cv2.LINE_AA)
        b = Box(float(x), float(y - th - 2), float(x + tw), float(y + base), s)
        self.boxes.append(b)
        return b

    def rect(self, x0, y0, x1, y1, color, fill=True):
        cv2.rectangle(self.img, (int(x0), int(y0)), (int(x1), int(y1)), color,
                      -1 if fill else 2)

    def photo(self, x0, y0, x1, y1):
        c = self.rng.randint(120, 200)
        self.rect(x0, y0, x1, y1, (c, c - 20, c - 40))
        cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
        cv2.ellipse(self.img, (cx, cy - (y1 - y0) // 8), ((x1 - x0) // 5, (y1 - y0) // 5), 0, 0,
                    360, (60, 80, 110), -1)
        cv2.ellipse(self.img, (cx, y1), ((x1 - x0) // 2 - 4, (y1 - y0) // 3), 0, 180, 360,
                    (50, 50, 70), -1)


def _kv(c: Canvas, pairs, x, y, scale, step, inline: bool, label_scale=None, colon=True,
        label_color=None):
    ls = label_scale or scale * 0.8
    for k, v in pairs:
        if inline:
            b = c.text(f"{k}{':' if colon else ''}", x, y, ls, 1, label_color)
            c.text(v, int(b.x1 + 12), y, scale, 1 + (scale > 0.8))
            y += step
        else:
            c.text(k, x, y, ls * 0.85, 1, label_color)
            c.text(v, x, y + int(step * 0.55), scale, 1 + (scale > 0.8))
            y += int(step * 1.5)
    return y


LABELS = {
    "name": ["NAME", "Name", "HOLDER", "FULL NAME", "SURNAME / GIVEN NAMES", "Nama"],
    "license_number": ["LICENSE NO", "DL NO", "Licence No.", "LIC #", "NO. LESEN", "DLN"],
    "date_of_birth": ["DOB", "DATE OF BIRTH", "Date of birth", "BORN", "Tarikh Lahir", "BIRTH"],
    "expiry_date": ["EXP", "EXPIRES", "VALID UNTIL", "Expiry date", "Tamat Tempoh", "EXPIRY"],
    "policy_number": ["POLICY NO", "Policy Number", "POLICY #", "Pol. No", "CERT NO", "POLICY"],
    "plate": ["REG NO", "PLATE", "Registration No.", "No. Pendaftaran", "REG. MARK", "PLATE NO"],
    "vin": ["VIN", "CHASSIS NO", "Vehicle ID No.", "No. Casis", "VIN/CHASSIS", "FRAME NO"],
    "address": ["ADDRESS", "Address", "ADDR", "Alamat", "RESIDENCE", "ADDRESS:"],
    "invoice_number": ["INVOICE NO", "Invoice #", "INV NO", "BILL NO", "Doc No", "RECEIPT NO"],
    "date": ["DATE", "Date", "Invoice Date", "Tarikh", "DATED", "Date of issue"],
    "total": ["TOTAL", "Grand Total", "TOTAL DUE", "AMOUNT DUE", "Jumlah", "TOTAL (RM)"],
    "tax": ["TAX", "GST 6%", "SST", "VAT", "Sales Tax", "TAX 10%"],
}


def _lab(rng, key, layout):
    opts = LABELS[key]
    # layouts 0-2 draw from the first four wordings, the held-out layout from all six
    return rng.choice(opts[:4] if layout != HELD_OUT else opts)


def make_card(doc_type: str, layout: int, rng: random.Random) -> GenDoc:
    w = rng.randint(860, 1000)
    h = int(w / 1.586)
    palettes = {"driver_license": [(200, 225, 240), (215, 240, 215), (235, 225, 200)],
                "id_card": [(240, 220, 230), (225, 235, 245), (215, 215, 215)],
                "insurance_card": [(250, 250, 250), (240, 230, 210), (245, 245, 225)],
                "vehicle_registration": [(230, 245, 250), (220, 220, 240), (235, 240, 230)]}
    bg = rng.choice(palettes[doc_type])
    c = Canvas(w, h, bg, rng)
    band = tuple(int(v * 0.55) for v in bg)
    titles = {"driver_license": ["DRIVER LICENSE", "DRIVING LICENCE", "LESEN MEMANDU",
                                 "FUEHRERSCHEIN", "PERMIS DE CONDUIRE"],
              "id_card": ["IDENTITY CARD", "NATIONAL ID", "MYKAD", "PERSONALAUSWEIS",
                          "CARTE D'IDENTITE"],
              "insurance_card": ["INSURANCE CARD", "CERTIFICATE OF INSURANCE", "MOTOR COVER NOTE",
                                 "PROOF OF INSURANCE", "CARTE VERTE"],
              "vehicle_registration": ["VEHICLE REGISTRATION", "REGISTRATION CERTIFICATE",
                                       "GERAN KENDERAAN", "ZULASSUNGSBESCHEINIGUNG",
                                       "CERTIFICAT D'IMMATRICULATION"]}
    title = rng.choice(titles[doc_type][:3] if layout != HELD_OUT else titles[doc_type])
    issuer = rng.choice(["REPUBLIC OF NOWHERE", "STATE OF EXAMPLE", "ROAD TRANSPORT DEPT",
                         "DEPT OF MOTOR VEHICLES", rng.choice(INSURERS)])
    name, dob = _name(rng), _rand_date(rng, 1950, 2004)
    exp = _rand_date(rng, 2020, 2032)
    f: dict[str, str] = {"name": name}
    pairs = []
    if doc_type == "driver_license":
        lic = _ident(rng, rng.choice(["D", "", "B", "DL"]), rng.randint(7, 10))
        f.update(license_number=lic, date_of_birth=dob.isoformat(), expiry_date=exp.isoformat())
        pairs = [("name", name), ("license_number", lic), ("date_of_birth", None),
                 ("expiry_date", None), ("address", _address(rng)),
                 ("CLASS", rng.choice(["B", "C", "D", "B2"]))]
    elif doc_type == "id_card":
        f.update(date_of_birth=dob.isoformat(), expiry_date=exp.isoformat())
        pairs = [("name", name), ("ID NO", _ident(rng, "", 12)), ("date_of_birth", None),
                 ("SEX", rng.choice(["M", "F"])), ("NATIONALITY", rng.choice(
                     ["CITIZEN", "MYS", "DEU", "FRA"])), ("expiry_date", None)]
    elif doc_type == "insurance_card":
        pol = _ident(rng, rng.choice(["P", "POL-", "MC", ""]), rng.randint(7, 10))
        plate = _plate(rng)
        f.update(policy_number=pol, expiry_date=exp.isoformat(), plate=plate)
        pairs = [("INSURED" if rng.random() < 0.5 else "name", name), ("policy_number", pol),
                 ("plate", plate), ("EFFECTIVE", _fmt_date(exp - dt.timedelta(days=365),
                                                           rng.randint(0, 5))),
                 ("expiry_date", None), ("VEHICLE", f"{rng.choice(MAKES)} {rng.randint(2005, 2024)}")]
    else:
        plate, vin = _plate(rng), _vin(rng)
        f.update(plate=plate, vin=vin)
        pairs = [("plate", plate), ("vin", vin), ("OWNER" if rng.random() < 0.5 else "name", name),
                 ("MAKE", rng.choice(MAKES)), ("YEAR", str(rng.randint(2000, 2024))),
                 ("COLOUR", rng.choice(["WHITE", "SILVER", "BLACK", "RED", "BLUE"]))]
        f["name"] = name
    dstyle = rng.randint(0, 5)
    out = []
    for k, v in pairs:
        if k == "date_of_birth":
            v = _fmt_date(dob, dstyle)
        if k == "expiry_date":
            v = _fmt_date(exp, dstyle)
        label = _lab(rng, k, layout) if k in LABELS else k
        out.append((label, v))
    if layout in (1, HELD_OUT):
        rng.shuffle(out)
    s = w / 1000
    # layouts: 0 band on top + photo left; 1 band on top + photo right; 2 title left, no band,
    # photo right, stacked labels; 3 (held out) band at the bottom, photo left, stacked labels
    if layout in (0, 1):
        c.rect(0, 0, w, int(90 * s), band)
        c.text(title, int(30 * s), int(60 * s), 1.3 * s, 2, (250, 250, 250))
        c.text(issuer, int(w * 0.55), int(60 * s), 0.6 * s, 1, (240, 240, 240))
        has_photo = doc_type in ("driver_license", "id_card") or rng.random() < 0.3
        if layout == 0 and has_photo:
            c.photo(int(30 * s), int(120 * s), int(250 * s), int(400 * s))
            x = int(290 * s)
        else:
            x = int(40 * s)
            if has_photo:
                c.photo(int(w - 260 * s), int(120 * s), int(w - 40 * s), int(400 * s))
        _kv(c, out, x, int(150 * s), 0.75 * s, int(62 * s), True)
    elif layout == 2:
        c.text(title, int(30 * s), int(55 * s), 1.1 * s, 2, band)
        c.text(issuer, int(30 * s), int(95 * s), 0.55 * s, 1)
        if doc_type in ("driver_license", "id_card"):
            c.photo(int(w - 250 * s), int(130 * s), int(w - 40 * s), int(400 * s))
        half = (len(out) + 1) // 2
        _kv(c, out[:half], int(30 * s), int(150 * s), 0.7 * s, int(60 * s), False)
        _kv(c, out[half:], int(340 * s), int(150 * s), 0.7 * s, int(60 * s), False)
    else:
        c.rect(0, h - int(80 * s), w, h, band)
        c.text(title, int(w * 0.3), h - int(28 * s), 1.2 * s, 2, (250, 250, 250))
        c.text(issuer, int(30 * s), int(45 * s), 0.6 * s, 1)
        if doc_type in ("driver_license", "id_card"):
            c.photo(int(30 * s), int(80 * s), int(230 * s), int(340 * s))
            x = int(270 * s)
        else:
            x = int(40 * s)
        _kv(c, out, x, int(95 * s), 0.68 * s, int(50 * s), False)
    return GenDoc(doc_type, layout, c.img, c.boxes, f)


def make_page(doc_type: str, layout: int, rng: random.Random) -> GenDoc:
    w = rng.randint(820, 900)
    h = int(w * 1.414)
    c = Canvas(w, h, (rng.randint(238, 255),) * 3, rng)
    s = w / 850
    company = f"{rng.choice(COMPANIES)} {rng.choice(SUFFIX)}".strip()
    addr = _address(rng)
    d = _rand_date(rng, 2017, 2025)
    dstyle = rng.randint(0, 5)
    f: dict[str, str] = {}
    titles = {"receipt_invoice": ["TAX INVOICE", "INVOICE", "RECEIPT", "CASH BILL",
                                  "OFFICIAL RECEIPT"],
              "repair_estimate": ["REPAIR ESTIMATE", "ESTIMATE OF REPAIR COSTS", "QUOTATION",
                                  "KOSTENVORANSCHLAG", "DEVIS DE REPARATION"],
              "accident_report": ["ACCIDENT REPORT", "MOTOR VEHICLE ACCIDENT REPORT",
                                  "POLICE REPORT", "EUROPEAN ACCIDENT STATEMENT",
                                  "LAPORAN KEMALANGAN"],
              "other_document": ["NOTICE", "LETTER", "MEMO", "TERMS AND CONDITIONS",
                                 "INFORMATION"]}
    title = rng.choice(titles[doc_type][:3] if layout != HELD_OUT else titles[doc_type])
    y = int(70 * s)
    centered = layout in (0, HELD_OUT)
    if doc_type == "accident_report":
        c.text(title, int(60 * s), y, 1.0 * s, 2)
        y += int(60 * s)
        plate, plate2 = _plate(rng), _plate(rng)
        f.update(date=d.isoformat(), plate=plate)
        rows = [("REPORT NO", _ident(rng, "RPT", 6)), ("date", _fmt_date(d, dstyle)),
                ("TIME", f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}"),
                ("LOCATION", addr), ("VEHICLE A " + _lab(rng, "plate", layout), plate),
                ("DRIVER A", _name(rng)), ("VEHICLE B " + _lab(rng, "plate", layout), plate2),
                ("DRIVER B", _name(rng)), ("WEATHER", rng.choice(["DRY", "RAIN", "FOG"])),
                ("INJURIES", rng.choice(["NONE", "MINOR", "YES"]))]
        rows = [(_lab(rng, k, layout) if k in LABELS else k, v) for k, v in rows]
        if layout == 2:
            rng.shuffle(rows)
        y = _kv(c, rows, int(60 * s), y, 0.65 * s, int(48 * s), layout != HELD_OUT)
        c.text("DESCRIPTION OF ACCIDENT", int(60 * s), y + int(20 * s), 0.7 * s, 2)
        y += int(60 * s)
        for _ in range(rng.randint(2, 4)):
            c.text(rng.choice(["Vehicle B failed to stop at the junction",
                               "Rear-ended while waiting at traffic light",
                               "Side swipe when changing lanes", "Reversed into parked car"]),
                   int(60 * s), y, 0.6 * s)
            y += int(40 * s)
        c.rect(int(500 * s), y + int(20 * s), int(780 * s), y + int(200 * s), (120, 120, 120),
               fill=False)
        c.text("SKETCH", int(520 * s), y + int(50 * s), 0.5 * s)
        c.text("SIGNATURE DRIVER A", int(60 * s), y + int(240 * s), 0.5 * s)
        return GenDoc(doc_type, layout, c.img, c.boxes, f)
    if doc_type == "other_document":
        c.text(title, int(60 * s), y, 1.0 * s, 2)
        y += int(70 * s)
        words = ("the of and to a in is you that it for on are with as this be at or have "
                 "from by we your not can all will please our more information if may").split()
        for _ in range(rng.randint(10, 18)):
            c.text(" ".join(rng.choices(words, k=rng.randint(6, 10))).capitalize(), int(60 * s),
                   y, 0.6 * s)
            y += int(38 * s)
        return GenDoc(doc_type, layout, c.img, c.boxes, f)

    # invoices and estimates: vendor block, meta, item table, totals
    inv = _ident(rng, rng.choice(["INV-", "", "CS", "E-", "QT"]), rng.randint(4, 8))
    x_head = int(w / 2) if centered else int(60 * s)

    def head(t, scale, th=1):
        (tw, _), _ = cv2.getTextSize(t, c.font, scale, th)
        c.text(t, int(x_head - tw / 2) if centered else x_head, y, scale, th)

    if layout == 2:
        c.rect(0, 0, w, int(110 * s), (rng.randint(90, 160), rng.randint(60, 120), 40))
        c.text(company, int(50 * s), int(55 * s), 0.9 * s, 2, (255, 255, 255))
        c.text(addr, int(50 * s), int(92 * s), 0.5 * s, 1, (255, 255, 255))
        y = int(160 * s)
        head(title, 0.9 * s, 2)
    else:
        head(company, 0.9 * s, 2)
        y += int(36 * s)
        head(addr, 0.5 * s)
        y += int(30 * s)
        head(f"TEL: 0{rng.randint(3, 9)}-{rng.randint(1000000, 9999999)}", 0.5 * s)
        y += int(50 * s)
        head(title, 0.85 * s, 2)
    y += int(50 * s)
    meta = [(_lab(rng, "invoice_number", layout), inv), (_lab(rng, "date", layout),
                                                         _fmt_date(d, dstyle))]
    if doc_type == "repair_estimate":
        meta += [("VEHICLE", f"{rng.choice(MAKES)} {_plate(rng)}"),
                 ("CLAIM NO", _ident(rng, "CLM", 6))]
    else:
        meta += [("CASHIER", rng.choice(FIRST))]
    y = _kv(c, meta, int(60 * s), y, 0.6 * s, int(36 * s), True)
    y += int(20 * s)
    hdr = ["DESCRIPTION", "QTY", "PRICE", "AMOUNT"] if doc_type == "receipt_invoice" else \
        ["PART / LABOUR", "HRS", "RATE", "COST"]
    cols = [int(60 * s), int(480 * s), int(580 * s), int(700 * s)]
    for t, x in zip(hdr, cols):
        c.text(t, x, y, 0.55 * s, 2)
    y += int(10 * s)
    cv2.line(c.img, (cols[0], y), (int(800 * s), y), (80, 80, 80), 1)
    y += int(35 * s)
    sub = 0.0
    for _ in range(rng.randint(3, 8)):
        q, p = rng.randint(1, 4), rng.randint(5, 900) + rng.choice([0, 0.5, 0.9, 0.25])
        amt = q * p
        sub += amt
        for t, x in zip([rng.choice(PARTS), str(q), f"{p:.2f}", f"{amt:.2f}"], cols):
            c.text(t, x, y, 0.55 * s)
        y += int(34 * s)
    rate = rng.choice([0.06, 0.1, 0.08])
    tax = round(sub * rate, 2)
    total = round(sub + tax, 2)
    cur = rng.choice(["", "RM ", "$", ""])
    f.update(vendor=company, address=addr, date=d.isoformat(), total=f"{total:.2f}",
             tax=f"{tax:.2f}", invoice_number=inv.upper())
    y += int(15 * s)
    for key, val in [("SUBTOTAL", sub), (_lab(rng, "tax", layout), tax),
                     (_lab(rng, "total", layout), total)]:
        c.text(key, cols[1] - int(120 * s) if layout != 1 else cols[0], y, 0.6 * s,
               2 if key.upper().startswith(("TOTAL", "GRAND", "AMOUNT")) else 1)
        c.text(f"{cur}{val:,.2f}" if rng.random() < 0.3 else f"{cur}{val:.2f}", cols[3], y,
               0.6 * s, 2 if key.upper().startswith(("TOTAL", "GRAND", "AMOUNT")) else 1)
        y += int(38 * s)
    y += int(30 * s)
    c.text(rng.choice(["THANK YOU", "Thank you for your business", "GOODS SOLD ARE NOT "
                       "RETURNABLE", "This estimate is valid for 30 days"]), int(60 * s), y,
           0.55 * s)
    return GenDoc(doc_type, layout, c.img, c.boxes, f)


def generate(doc_type: str, layout: int, seed: int) -> GenDoc:
    rng = random.Random(zlib.crc32(f"{doc_type}|{layout}|{seed}".encode()))
    if layout == 4:
        from .intl import generate_intl
        return generate_intl(doc_type, rng)
    if doc_type in ("driver_license", "id_card", "insurance_card", "vehicle_registration"):
        return make_card(doc_type, layout, rng)
    return make_page(doc_type, layout, rng)


def photograph(doc: GenDoc, seed: int, table: bool = False) -> GenDoc:
    """Scanner/photo look: blur, noise, a small rotation-free perspective, brightness; with
    ``table`` the page lies on a textured table (boxes moved with it)."""
    rng = np.random.default_rng(seed)
    img = doc.image.astype(np.float32)
    img = img * rng.uniform(0.8, 1.05) + rng.normal(0, rng.uniform(2, 8), img.shape)
    img = np.clip(img, 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        img = cv2.GaussianBlur(img, (3, 3), rng.uniform(0.3, 1.0))
    boxes = doc.boxes
    if table:
        h, w = img.shape[:2]
        pad = int(max(h, w) * rng.uniform(0.08, 0.2))
        bg = np.empty((h + 2 * pad, w + 2 * pad, 3), np.uint8)
        bg[:] = rng.integers(40, 140, 3)
        bg = np.clip(bg + rng.normal(0, 10, bg.shape), 0, 255).astype(np.uint8)
        bg[pad:pad + h, pad:pad + w] = img
        img = bg
        boxes = [Box(b.x0 + pad, b.y0 + pad, b.x1 + pad, b.y1 + pad, b.text) for b in boxes]
    return GenDoc(doc.doc_type, doc.layout, img, boxes, doc.fields)
