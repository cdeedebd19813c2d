"""Text boxes on a page: attributes (position, size, font-size proxy, character classes, text
and visual features) and relations to their neighbours (same line, right of, below, distance).

Shared by the document-type classifier and the template-free bill reader."""

from __future__ import annotations

import re
import unicodedata
import zlib
from dataclasses import dataclass

import cv2
import numpy as np

TEXT_DIM = 128     # hashed character n-grams, signed, L2-normalised
VISUAL_DIM = 24
POSITION_DIM = 10


@dataclass(frozen=True)
class Box:
    """An axis-aligned text box: x0, y0, x1, y1 in page pixels, and its text."""
    x0: float
    y0: float
    x1: float
    y1: float
    text: str
    score: float = 1.0

    @property
    def w(self) -> float:
        return max(1.0, self.x1 - self.x0)

    @property
    def h(self) -> float:
        return max(1.0, self.y1 - self.y0)

    @property
    def cx(self) -> float:
        return (self.x0 + self.x1) / 2

    @property
    def cy(self) -> float:
        return (self.y0 + self.y1) / 2

    @classmethod
    def from_quad(cls, quad, text: str, score: float = 1.0) -> "Box":
        q = np.asarray(quad, np.float32).reshape(-1, 2)
        return cls(float(q[:, 0].min()), float(q[:, 1].min()), float(q[:, 0].max()),
                   float(q[:, 1].max()), text, score)


def reading_order(boxes: list[Box]) -> list[Box]:
    """Top to bottom, left to right, with boxes on one line kept together."""
    if not boxes:
        return []
    med_h = float(np.median([b.h for b in boxes]))
    return sorted(boxes, key=lambda b: (round(b.cy / max(med_h * 0.6, 1.0)), b.x0))


# --- relations ----------------------------------------------------------------------------------

def same_line(a: Box, b: Box) -> bool:
    """Vertical overlap of at least half the smaller box's height."""
    ov = min(a.y1, b.y1) - max(a.y0, b.y0)
    return ov >= 0.5 * min(a.h, b.h)


@dataclass(frozen=True)
class Relations:
    """Index of the nearest neighbour in each direction (-1: none) and the gaps to them."""
    left: int
    right: int
    above: int
    below: int
    left_gap: float     # in units of the box's height
    right_gap: float
    above_gap: float
    below_gap: float
    same_line: tuple[int, ...]


def relations(boxes: list[Box]) -> list[Relations]:
    out = []
    for i, a in enumerate(boxes):
        line = tuple(j for j, b in enumerate(boxes) if j != i and same_line(a, b))
        left = [(a.x0 - b.x1, j) for j in line for b in [boxes[j]] if b.cx < a.cx]
        right = [(b.x0 - a.x1, j) for j in line for b in [boxes[j]] if b.cx > a.cx]
        above, below = [], []
        for j, b in enumerate(boxes):
            if j == i or j in line:
                continue
            hov = min(a.x1, b.x1) - max(a.x0, b.x0)
            if hov < -a.h * 2:  # not in the same column band
                continue
            if b.cy < a.cy:
                above.append((a.y0 - b.y1, j))
            else:
                below.append((b.y0 - a.y1, j))
        pick = lambda c: min(c) if c else (np.inf, -1)  # noqa: E731
        (lg, li), (rg, ri), (ag, ai), (bg, bi) = pick(left), pick(right), pick(above), pick(below)
        h = a.h
        out.append(Relations(li, ri, ai, bi, lg / h, rg / h, ag / h, bg / h, line))
    return out


# --- per-box features ---------------------------------------------------------------------------

def _ngrams(text: str, n_max: int = 3):
    t = f" {text.lower()} "
    for n in range(1, n_max + 1):
        for i in range(len(t) - n + 1):
            yield t[i:i + n]
    for w in re.findall(r"[a-z]+", text.lower()):
        yield "w:" + w


def text_feature(text: str, dim: int = TEXT_DIM) -> np.ndarray:
    """Hashed character 1-3-grams and words, signed (a fixed random projection of the n-gram
    counts), L2-normalised. No vocabulary to download; stable across runs (crc32)."""
    v = np.zeros(dim, np.float32)
    for g in _ngrams(text):
        h = zlib.crc32(g.encode("utf-8"))
        v[h % dim] += 1.0 if (h >> 16) & 1 else -1.0
    n = float(np.linalg.norm(v))
    return v / n if n else v


def _rx(*words: str) -> re.Pattern:
    return re.compile("|".join(words), re.I)


# What a box's words say, in the languages of the documents met: the classifier sees the concept
# ("a licence's title"), so a FÜHRERSCHEIN and a DRIVER LICENSE light the same input. Matched on
# the accent-folded text with spaces removed (OCR drops and adds them).
CONCEPTS: tuple[tuple[str, re.Pattern], ...] = (
    ("licence", _rx(r"DRIV(ER|ING)'?S?LICEN[CS]E", r"PERMISDECONDUIRE", r"F(UE|U)HRERSCHEIN",
                    r"PATENTEDIGUIDA", r"CARNETDECONDUCIR", r"PERMISODECONDUCIR",
                    r"LICENCIADECONDUC", r"RIJBEWIJS", r"CARTADECONDUCAO", r"PRAWOJAZDY",
                    r"LESENMEMANDU", r"KORKORT", r"VODICSK", r"RIDICSK", r"DRIVERLICEN",
                    r"^DL$", r"OPERATORLICEN", r"CLASSD?LICEN")),
    ("identity", _rx(r"IDENTITY", r"IDENTITE", r"IDENTITA", r"IDENTIDAD", r"IDENTITEIT",
                     r"PERSONALAUSWEIS", r"AUSWEIS", r"NATIONALID", r"IDCARD", r"CEDULA",
                     r"CARTENATIONALE", r"DOCUMENTONACIONAL", r"DNI", r"MYKAD", r"PENGENALAN",
                     r"OBCIANSK", r"DOWOD", r"BULETIN", r"RESIDENCEPERMIT", r"AUFENTHALT",
                     r"TITREDESEJOUR", r"REPUBLI[CK]", r"REPUBBLICA", r"BUNDESREPUBLIK",
                     r"KINGDOM", r"REINO", r"ROYAUME", r"UNITEDSTATESOFAMERICA")),
    ("passport", _rx(r"PASSPORT", r"PASSEPORT", r"REISEPASS", r"PASSAPORTO", r"PASAPORTE",
                     r"PASPOORT", r"PASZPORT", r"PASSAPORTE", r"^P<")),
    ("mrz", _rx(r"<<", r"^(?=(?:.*\d){5})[A-Z0-9<]{28,44}$")),
    ("insurance", _rx(r"INSURANCE", r"INSURED", r"INSURER", r"ASSURANCE", r"ASSICURA",
                      r"VERSICHER", r"SEGURO", r"VERZEKER", r"POLICY", r"POLIZZA", r"POLIZA",
                      r"MEMBER", r"SUBSCRIBER", r"GROUP(NO|#|NUMBER)?", r"PLAN", r"RXBIN",
                      r"RXGRP", r"RXPCN", r"COPAY", r"PAYER", r"HEALTH", r"DENTAL", r"MEDIC",
                      r"CARTEVERTE", r"GREENCARD", r"COVERAGE", r"BENEFIT", r"PPO", r"HMO")),
    ("registration", _rx(r"REGISTRATION", r"ZULASSUNG", r"FAHRZEUGSCHEIN", r"FAHRZEUGBRIEF",
                         r"IMMATRICULATION", r"CARTEGRISE", r"LIBRETTO", r"PERMISODECIRC",
                         r"KENTEKENBEWIJS", r"GERAN", r"CERTIFICATEOFTITLE", r"HALTER")),
    ("invoice", _rx(r"INVOICE", r"RECEIPT", r"RECHNUNG", r"QUITTUNG", r"FACTURE", r"FACTURA",
                    r"FATTURA", r"RICEVUTA", r"SCONTRINO", r"RECIBO", r"FACTUUR", r"BILL",
                    r"TICKET", r"KASSENBON", r"KASSABON", r"CASHIER", r"KASSE", r"CAISSE",
                    r"THANKYOU", r"MERCI", r"DANKE", r"GRAZIE", r"GRACIAS", r"SUBTOTAL",
                    r"CHANGE", r"CASH", r"VISA", r"MASTERCARD")),
    ("total", _rx(r"TOTAL", r"SUMME", r"GESAMT", r"MONTANT", r"IMPORTO", r"IMPORTE", r"TOTAAL",
                  r"AMOUNT", r"BETRAG", r"TTC", r"JUMLAH", r"BALANCE", r"DUE", r"APAYER",
                  r"APAGAR", r"DAPAGARE")),
    ("tax", _rx(r"TAX", r"VAT", r"GST", r"MWST", r"TVA", r"IVA", r"BTW", r"USTID", r"STEUER",
                r"SIRET", r"PIVA")),
    ("estimate", _rx(r"ESTIMATE", r"QUOTATION", r"QUOTE", r"KOSTENVORANSCHLAG", r"DEVIS",
                     r"PREVENTIVO", r"PRESUPUESTO", r"OFFERTE", r"REPAIR", r"REPARATUR",
                     r"REPARATION", r"RIPARAZION", r"REPARACION", r"LABOU?R", r"ARBEITSLOHN",
                     r"MAINDOEUVRE", r"MANODOPERA", r"PARTS", r"ERSATZTEIL", r"PIECES")),
    ("accident", _rx(r"ACCIDENT", r"UNFALL", r"CONSTAT", r"CONSTATAZIONE", r"AMICHEVOLE",
                     r"SINISTRO", r"AMISTOSO", r"COLLISION", r"KEMALANGAN", r"SKETCH", r"CROQUIS",
                     r"SCHIZZO", r"WITNESS", r"TEMOIN", r"TESTIMON", r"ZEUGE", r"NEHOD",
                     r"VEHICLEA", r"VEHICULEA", r"FAHRZEUGA", r"VEICOLOA", r"VEHICULOA",
                     r"CIRCUMSTANCES", r"CIRCONSTANCES", r"CIRCOSTANZE", r"UMSTANDE",
                     r"DAMAGE", r"DEGATS", r"DANNI", r"SCHADEN", r"DANOS", r"INJUR", r"BLESS",
                     r"FERIT", r"VERLETZ", r"HERIDO")),
    ("vehicle", _rx(r"VIN", r"CHASSIS", r"MAKE", r"MODEL", r"PLATE", r"KENNZEICHEN", r"MARQUE",
                    r"TARGA", r"MATRICULA", r"KENTEKEN", r"VEHICLE", r"VEHICULE", r"FAHRZEUG",
                    r"VEICOLO", r"VEHICULO", r"TELAIO", r"BASTIDOR", r"ODOMETER", r"MILEAGE")),
    ("person", _rx(r"DOB", r"BIRTH", r"NAISSANCE", r"GEBURT", r"NASCITA", r"NACIMIENTO",
                   r"NASCIMENTO", r"GEBOORTE", r"^SEX", r"SEXE", r"GESCHLECHT", r"SESSO",
                   r"HE?I?GH?T", r"EYES", r"HAIR", r"WGT", r"WEIGHT", r"NATIONALIT", r"NAZIONAL",
                   r"NACIONAL", r"STAATSANG", r"SIGNATURE", r"UNTERSCHRIFT", r"FIRMA",
                   r"SURNAME", r"GIVENNAME", r"PRENOM", r"VORNAME", r"COGNOME", r"APELLIDO",
                   r"DONOR", r"VETERAN", r"HOLDER", r"TITULAIRE", r"INHABER")),
    ("validity", _rx(r"^EXP", r"EXPIR", r"VALID", r"GULTIG", r"GUELTIG", r"VALABLE",
                     r"SCADENZA", r"CADUCIDAD", r"VALIDADE", r"GELDIG", r"^ISS", r"ISSUED",
                     r"DELIVR", r"AUSGESTELLT", r"RILASCI", r"EXPEDICION", r"EMISSION")),
    ("numbered", _rx(r"^(4[A-D]|[1-9]|1[0-9])[.,:]", r"^(4[A-D])")),
    ("prose", _rx(r"^[A-Z][a-z]+[a-z ,;]{20,}$")),
)
CONCEPT_DIM = len(CONCEPTS)


def concepts(text: str) -> np.ndarray:
    """One 0/1 input per concept the box's text names (``CONCEPTS``)."""
    folded = "".join(c for c in unicodedata.normalize("NFKD", text)
                     if not unicodedata.combining(c))
    squeezed = re.sub(r"[\s\-_'’]", "", folded).upper()
    v = np.zeros(CONCEPT_DIM, np.float32)
    for i, (name, pat) in enumerate(CONCEPTS):
        src = folded.strip() if name == "prose" else squeezed
        if pat.search(src):
            v[i] = 1.0
    return v


def char_classes(text: str) -> np.ndarray:
    n = max(1, len(text))
    return np.array([
        sum(c.isdigit() for c in text) / n,
        sum(c.isalpha() and c.isupper() for c in text) / n,
        sum(c.isalpha() and c.islower() for c in text) / n,
        sum(c in ".,:/-" for c in text) / n,
        text.count(" ") / n,
        min(len(text), 60) / 60.0,
    ], np.float32)


def visual_feature(gray: np.ndarray, box: Box) -> np.ndarray:
    """Pooled from the box's image region: ink density, contrast, stroke/edge statistics, and
    the region's intensity profile (4 x 4 average pool)."""
    H, W = gray.shape[:2]
    x0, y0 = max(0, int(box.x0)), max(0, int(box.y0))
    x1, y1 = min(W, int(np.ceil(box.x1))), min(H, int(np.ceil(box.y1)))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return np.zeros(VISUAL_DIM, np.float32)
    reg = gray[y0:y1, x0:x1].astype(np.float32) / 255.0
    small = cv2.resize(reg, (16, 8), interpolation=cv2.INTER_AREA)
    mean, std = float(small.mean()), float(small.std())
    ink = float((reg < mean - 0.15).mean())
    gx = np.abs(np.diff(small, axis=1)).mean()
    gy = np.abs(np.diff(small, axis=0)).mean()
    pool = cv2.resize(small, (4, 4), interpolation=cv2.INTER_AREA).ravel() - mean
    return np.concatenate([[mean, std, ink, gx, gy, float(reg.min()), float(reg.max()),
                            (y1 - y0) / max(H, 1)], pool]).astype(np.float32)


def visual_features_batch(gray: np.ndarray, boxes: list[Box]) -> np.ndarray:
    if not boxes:
        return np.zeros((0, VISUAL_DIM), np.float32)
    return np.stack([visual_feature(gray, b) for b in boxes])


def position_feature(box: Box, page_w: float, page_h: float, med_h: float, n_boxes: int,
                     rank: int) -> np.ndarray:
    return np.array([box.x0 / page_w, box.y0 / page_h, box.x1 / page_w, box.y1 / page_h,
                     box.w / page_w, box.h / page_h, box.h / max(med_h, 1.0),
                     box.cx / page_w - 0.5, rank / max(n_boxes - 1, 1),
                     page_w / max(page_h, 1.0)], np.float32)


def page_extent(boxes: list[Box], width: float = 0, height: float = 0) -> tuple[float, float,
                                                                                float, float]:
    """The text area (x0, y0, w, h): positions are normalised to it, so a document photographed
    on a table reads like a scan."""
    if not boxes:
        return 0.0, 0.0, max(width, 1.0), max(height, 1.0)
    x0 = min(b.x0 for b in boxes)
    y0 = min(b.y0 for b in boxes)
    x1 = max(b.x1 for b in boxes)
    y1 = max(b.y1 for b in boxes)
    return x0, y0, max(x1 - x0, 1.0), max(y1 - y0, 1.0)


def box_features(boxes: list[Box], gray: np.ndarray | None) -> dict[str, np.ndarray]:
    """Per-box text, visual and position features (positions relative to the text area)."""
    n = len(boxes)
    x0, y0, w, h = page_extent(boxes)
    med_h = float(np.median([b.h for b in boxes])) if boxes else 1.0
    order = reading_order(boxes)
    rank = {id(b): i for i, b in enumerate(order)}
    text = np.stack([np.concatenate([text_feature(b.text), concepts(b.text)]) for b in boxes]) \
        if n else np.zeros((0, TEXT_DIM + CONCEPT_DIM))
    pos = np.stack([position_feature(Box(b.x0 - x0, b.y0 - y0, b.x1 - x0, b.y1 - y0, b.text), w,
                                     h, med_h, n, rank[id(b)]) for b in boxes]) if n else \
        np.zeros((0, POSITION_DIM))
    cls = np.stack([char_classes(b.text) for b in boxes]) if n else np.zeros((0, 6))
    vis = visual_features_batch(gray, boxes) if gray is not None else \
        np.zeros((n, VISUAL_DIM), np.float32)
    return {"text": np.concatenate([text, cls], 1).astype(np.float32),
            "visual": vis.astype(np.float32), "position": pos.astype(np.float32)}
