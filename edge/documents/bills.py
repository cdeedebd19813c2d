"""Template-free bills (receipts, invoices, repair estimates).

Each text box gets an attribute set (text, position, size, font-size proxy, character classes,
keyword classes, amounts and dates it carries, visual feature) and a relation set with its
neighbours (the nearest box left, right, above and below on the page, same line or not, and the
gaps). A small model (``BoxTyper``, numpy; trained by ``models/toolkit/documents/bills.py``)
types every box: other, header, a key (date/total/tax/invoice) or a value (vendor, address,
date, total, tax, invoice_number). Each value is then linked to its key (the label in the same
box, left of it on its line, or above it) and the best-scoring linked pairs give the bill. No
per-vendor template anywhere."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np

from .fields import Extracted
from .layout import (Box, Relations, char_classes, page_extent, reading_order, relations,
                     text_feature)
from .lexicon import Lexicon, address_separators
from .normalize import compact, find_amounts, find_dates, normalize_id, validate_id

MODEL_DIR = Path(__file__).resolve().parents[2] / "models" / "document-classifier"
BOX_TYPES = ("other", "header", "key_date", "key_total", "key_tax", "key_invoice", "vendor",
             "address", "date", "total", "tax", "invoice_number")
BILL_FIELDS = ("vendor", "address", "date", "total", "tax", "invoice_number")
# the bill reader's manifest entries (typer weights, lexicon): kept when the classifier retrains
BILL_READER_PARTS = ("bill_typer", "bill_lexicon")


def bill_reader_entries(manifest: dict) -> dict:
    """The bill reader's entries of a document-classifier manifest (for the retrained one)."""
    return {k: manifest[k] for k in BILL_READER_PARTS if k in manifest}

# Keyword classes in the languages of the bills met (English, Malay, German, French, Italian,
# Spanish, Portuguese, Dutch): the typer sees the class, not the word, so "GESAMTBETRAG" and
# "MONTANT TTC" fire the same feature as "TOTAL".
KW = {
    "total": re.compile(r"(GRAND\s*TOTAL|TOTAL|AMOUNT\s*DUE|JUMLAH|NETT?\s*AMOUNT|BALANCE\s*DUE|"
                        r"ROUND(ED|ING)?|AMOUNT|PAYABLE|GESAMT|SUMME|ENDBETRAG|BETRAG|ZU\s*ZAHLEN|"
                        r"MONTANT|NET\s*A\s*PAYER|NET\s*À\s*PAYER|A\s*PAYER|À\s*PAYER|TTC|"
                        r"IMPORTO|TOTALE|DA\s*PAGARE|IMPORTE|A\s*PAGAR|TOTAAL|TE\s*BETALEN)",
                        re.I),
    "subtotal": re.compile(r"(SUB\s*-?\s*TOTAL|TOTAL\s*EXCL|EXCL|BEFORE|ZWISCHENSUMME|NETTO|"
                           r"SOUS\s*-?\s*TOTAL|\bHT\b|HORS\s*TAXES?|IMPONIBILE|BASE\s*"
                           r"IMPONIBLE|SUBTOTAAL|SUBTOTALE)", re.I),
    "tax": re.compile(r"\b(GST|SST|VAT|TAX|MWST|MW\.?\s*ST|UST|TVA|IVA|BTW|MOMS|STEUER|"
                      r"IMPOSTA|IMPUESTO)\b", re.I),
    "date": re.compile(r"(DATE|TARIKH|DATED|DATUM|FECHA|\bDATA\b)", re.I),
    "invoice": re.compile(r"(INVOICE|INV|RECEIPT|BILL|DOC|TRANS|SLIP|CHIT|RCPT|REF|RECHNUNGS?|"
                          r"BELEG|FACTURE|FACTURA|FATTURA|FACTUUR|QUITTUNG|RICEVUTA|RECIBO|BON)"
                          r"\s*(NO|NUM|NR|NUMMER|N°|N\.|#|:)", re.I),
    "cash": re.compile(r"(CASH|CHANGE|TENDER|PAID|VISA|MASTER|CARD|RECEIVED|BAR\s*(GEGEBEN|BEZAHLT)|BARGELD|"
                       r"R[ÜU]CKGELD|GEGEBEN|ESP[ÈE]CES|RENDU|MONNAIE|EFECTIVO|CAMBIO|"
                       r"CONTANTI|RESTO|KARTE|CARTE|TARJETA|ENTREGADO)", re.I),
    "phone": re.compile(r"(TEL|PHONE|FAX|H/?P|MOBILE|T[ÉE]L[ÉE]FONO|TELEFON)", re.I),
    "reg": re.compile(r"(GST\s*(REG|ID|NO)|CO\.?\s*REG|ROC|SST\s*(REG|ID|NO)|\(\d{5,}-[A-Z]\)|"
                      r"UST-?\s*ID|STEUER-?\s*NR|SIRET|SIREN|P\.?\s*IVA|PARTITA\s*IVA|"
                      r"\bCIF\b|\bNIF\b|BTW-?\s*NR)", re.I),
    "company": re.compile(r"(SDN\.?\s*BHD|BHD|ENTERPRISE|TRADING|LTD|GMBH|INC\b|\bCO\b|STORE|"
                          r"RESTAURANT|MART|SHOP|HARDWARE|MARKETING|SERVICES?|GARAGE|AUTO|"
                          r"MOTORS?|WORKS|CENTRE|CENTER|\bPLT\b|\bAG\b|\bKG\b|\bSARL\b|"
                          r"\bSAS\b|\bS\.A\.|\bSRL\b|\bS\.P\.A\.|\bS\.L\.|\bB\.V\.|\bLLC\b|RISTORANTE|TRATTORIA|BOULANGERIE|BÄCKEREI|"
                          r"SUPERMERCADO|SUPERMARCH[ÉE]|MARKT|APOTHEKE|PHARMACIE|FARMACIA)", re.I),
    "address": re.compile(r"(JALAN|JLN|TAMAN|TMN|LORONG|NO\.|LOT|STREET|ROAD|AVENUE|"
                          r"BLOCK|BLK|KAWASAN|SELANGOR|JOHOR|KUALA|PETALING|BAHRU|PUCHONG|"
                          r"\b\d{5}\b|STRASSE|STRAßE|STR\.|PLATZ|RUE|VIA|LANE|FLOOR|UNIT|BANDAR|"
                          r"PERSIARAN|SHAH ALAM|CHERAS|KLANG|KEPONG|SEKSYEN|SECTION|"
                          r"\b(PIAZZA|CORSO|VIALE|CALLE|AVENIDA|PLAZA|CARRER|STRAAT|PLEIN|CEDEX|"
                          r"BD|BOULEVARD|CHEMIN|WEG|GASSE|ALLEE|RUA)\b|[A-Z](STRAAT|STRASSE|"
                          r"GASSE|WEG|PLEIN)\b)", re.I),
    "header": re.compile(r"^\W*((SIMPLIFIED|FULL|TAX|INVOICE|RECEIPT|CASH|BILL|OFFICIAL|SALES?|"
                         r"ESTIMATE|QUOTATION|COPY|ORDER|DELIVERY|RECHNUNG|QUITTUNG|KASSENBON|"
                         r"FACTURE|FACTURA|FATTURA|RICEVUTA|SCONTRINO|TICKET|RECIBO|FACTUUR|"
                         r"KASSABON|KOSTENVORANSCHLAG|DEVIS|PREVENTIVO|PRESUPUESTO)\s*)+\W*$",
                         re.I),
    "item": re.compile(r"(QTY|PRICE|DESCRIPTION|ITEM|AMOUNT|UNIT|DISC|MENGE|PREIS|ARTIKEL|"
                       r"BESCHREIBUNG|QT[ÉE]|PRIX|D[ÉE]SIGNATION|QUANTIT|PREZZO|DESCRIZIONE|"
                       r"CANTIDAD|PRECIO|DESCRIPCI[ÓO]N|ANZAHL)", re.I),
}
KEYS = tuple(KW)


@dataclass
class BoxAttrs:
    box: Box
    amounts: list       # ParsedAmount
    dates: list         # ParsedDate
    kw: np.ndarray      # keyword classes


def _kw(text: str) -> np.ndarray:
    return np.array([1.0 if KW[k].search(text) else 0.0 for k in KEYS], np.float32)


def attributes(boxes: list[Box]) -> list[BoxAttrs]:
    out = []
    for b in boxes:
        amts = [a for a in find_amounts(b.text) if a.decimal_sep]
        out.append(BoxAttrs(b, amts, find_dates(b.text), _kw(b.text)))
    return out


N_KW = len(KEYS)
REL_DIRS = ("left", "right", "above", "below")


def _own(a: BoxAttrs, page, med_h: float, rank: int, n: int, max_amt: Decimal | None,
         amt_rank: int) -> np.ndarray:
    x0, y0, w, h = page
    b = a.box
    has_amt = 1.0 if a.amounts else 0.0
    is_max = 1.0 if a.amounts and max_amt is not None and a.amounts[-1].decimal == max_amt else 0.0
    return np.concatenate([
        [(b.x0 - x0) / w, (b.y0 - y0) / h, (b.x1 - x0) / w, (b.y1 - y0) / h, b.w / w,
         b.h / max(med_h, 1), rank / max(n - 1, 1), min(rank, 10) / 10.0,
         1.0 if rank == 0 else 0.0, has_amt, is_max, min(amt_rank, 5) / 5.0,
         1.0 if a.dates else 0.0, 1.0 if re.search(r"\d{1,2}:\d{2}", b.text) else 0.0,
         1.0 if re.fullmatch(r"\W*[A-Z0-9\-/]*\d[A-Z0-9\-/]*\W*", b.text.strip()) else 0.0],
        char_classes(b.text), a.kw]).astype(np.float32)


OWN_DIM = 15 + 6 + N_KW
NEIGH_DIM = N_KW + 4   # keyword classes, has amount, has date, gap, exists


def _neigh(attrs: list[BoxAttrs], j: int, gap: float) -> np.ndarray:
    if j < 0:
        return np.zeros(NEIGH_DIM, np.float32)
    a = attrs[j]
    return np.concatenate([a.kw, [1.0 if a.amounts else 0.0, 1.0 if a.dates else 0.0,
                                  min(gap, 30.0) / 30.0, 1.0]]).astype(np.float32)


TEXT_DIM_BILL = 64
FEATURE_DIM = OWN_DIM + 4 * NEIGH_DIM + TEXT_DIM_BILL


def bill_features(boxes: list[Box]) -> tuple[np.ndarray, list[BoxAttrs], list[Relations]]:
    """One row per box (in the given order): own attributes, the four neighbours' attributes
    and the relation gaps, and a hashed text feature."""
    attrs = attributes(boxes)
    rels = relations(boxes)
    page = page_extent(boxes)
    med_h = float(np.median([b.h for b in boxes])) if boxes else 1.0
    order = reading_order(boxes)
    rank = {id(b): i for i, b in enumerate(order)}
    amts = sorted({a.amounts[-1].decimal for a in attrs if a.amounts}, reverse=True)
    max_amt = amts[0] if amts else None
    rows = []
    n = len(boxes)
    # amounts counted from the bottom: the total is usually one of the last amounts
    by_y = sorted([i for i, a in enumerate(attrs) if a.amounts], key=lambda i: -boxes[i].cy)
    amt_rank = {i: r for r, i in enumerate(by_y)}
    for i, a in enumerate(attrs):
        r = rels[i]
        rows.append(np.concatenate([
            _own(a, page, med_h, rank[id(a.box)], n, max_amt, amt_rank.get(i, 5)),
            _neigh(attrs, r.left, r.left_gap), _neigh(attrs, r.right, r.right_gap),
            _neigh(attrs, r.above, r.above_gap), _neigh(attrs, r.below, r.below_gap),
            text_feature(a.box.text, TEXT_DIM_BILL)]))
    x = np.stack(rows) if rows else np.zeros((0, FEATURE_DIM), np.float32)
    return x.astype(np.float32), attrs, rels


class BoxTyper:
    """Per-box softmax over BOX_TYPES: one hidden layer, numpy."""

    def __init__(self, weights: dict[str, np.ndarray], manifest: dict | None = None,
                 lexicon: Lexicon | None = None):
        self.w = weights
        self.manifest = manifest or {}
        self.lexicon = lexicon or Lexicon()   # repairs the vendor's and address's words

    @classmethod
    def load(cls, folder: str | Path = MODEL_DIR) -> "BoxTyper":
        folder = Path(folder)
        man = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        bill = man.get("bill_typer", {})
        with np.load(folder / bill.get("weights", "bill_typer.npz")) as z:
            w = {k: z[k].astype(np.float32) for k in z.files}
        return cls(w, bill, Lexicon.load(folder, man.get("bill_lexicon")))

    def proba(self, x: np.ndarray) -> np.ndarray:
        if len(x) == 0:
            return np.zeros((0, len(BOX_TYPES)), np.float32)
        z = (x - self.w["mu"]) / self.w["sigma"]
        h = np.maximum(z @ self.w["W1"] + self.w["b1"], 0)
        lo = h @ self.w["W2"] + self.w["b2"]
        lo -= lo.max(1, keepdims=True)
        e = np.exp(lo)
        return e / e.sum(1, keepdims=True)


T = {t: i for i, t in enumerate(BOX_TYPES)}
LINK_WEIGHT = 0.5   # how much a value's link to its key adds to the typer's value score


def _link(i: int, key: str, P: np.ndarray, attrs: list[BoxAttrs], rels: list[Relations]
          ) -> tuple[int, float]:
    """The key box a value box is linked to and the link's strength: the key in the box itself,
    the box left of it on its line, or the box above it."""
    kt = T[f"key_{key}"]
    kwname = {"invoice": "invoice"}.get(key, key)
    own = attrs[i].kw[KEYS.index(kwname)]
    best = (i, float(own) * 0.9) if own else (-1, 0.0)
    r = rels[i]
    for j, gap, w in ((r.left, r.left_gap, 1.0), (r.above, r.above_gap, 0.7)):
        if j >= 0 and gap < 40:
            s = w * float(P[j, kt])
            if s > best[1]:
                best = (j, s)
    return best


# a registration number in brackets ("(CO, NO:20154-T)" as OCR punctuates it) and, once its
# bracket closes, what the line adds after it ("(306295-X) FKA BISON STORES SB")
_REGNO = re.compile(r"\s*[\(（]\s*(?:(?:CO[.,]?|COMPANY)\s*(?:REG[.,]?)?\s*(?:NO[.,]?)?\s*[:.]?\s*)?"
                    r"[A-Z]{0,3}\d{3,}[\w\- ]*"
                    r"(?:[\)）].*)?$", re.I)
_SUFFIX = re.compile(r"^\W*((CO\.?\s*)?(\(M\)\s*)?(SDN\.?\s*BHD|BHD|S/B|PLT|LTD|ENTERPRISE|"
                     r"RESTAURANT|TRADING|HARDWARE)[\s.]*)+\W*$", re.I)


def _suffix_only(text: str) -> bool:
    t = _REGNO.sub("", text)
    return bool(_SUFFIX.match(t)) or len(t.split()) <= 2 and bool(KW["company"].search(t)) \
        and len(re.sub(r"\W", "", t)) <= 12


def read_bill(boxes: list[Box], typer: BoxTyper, day_first: bool = True
              ) -> tuple[dict[str, Extracted], np.ndarray]:
    """The structured bill from text boxes (any order). Returns the fields and the per-box type
    probabilities (rows in reading order of ``reading_order(boxes)``)."""
    boxes = reading_order(boxes)
    if not boxes:
        return {}, np.zeros((0, len(BOX_TYPES)))
    x, attrs, rels = bill_features(boxes)
    P = typer.proba(x)
    out: dict[str, Extracted] = {}
    n = len(boxes)

    # vendor: the most vendor-like box, joined with a vendor-like line just above or below it
    # (names printed on two lines), without the registration number printed after it
    vi = int(np.argmax(P[:, T["vendor"]]))
    if P[vi, T["vendor"]] > 0.2:
        idx = [vi]
        if vi - 1 >= 0 and (P[vi - 1, T["vendor"]] > 0.25 or _suffix_only(boxes[vi].text)) \
                and not attrs[vi - 1].amounts and not KW["header"].search(boxes[vi - 1].text):
            idx.insert(0, vi - 1)
        if vi + 1 < n and P[vi + 1, T["vendor"]] > 0.5:
            idx.append(vi + 1)
        text = " ".join(boxes[k].text for k in idx)
        value = _REGNO.sub("", typer.lexicon.correct(" ".join(text.split()).upper())).strip()
        out["vendor"] = Extracted("vendor", value or text.upper(), text,
                                  float(P[vi, T["vendor"]]) * boxes[vi].score, True, "", vi)

    # address: the run of address-like boxes (reading order), seeded by the most likely one
    ai = int(np.argmax(P[:, T["address"]]))
    if P[ai, T["address"]] > 0.3:
        lo = hi = ai
        while lo - 1 >= 0 and P[lo - 1, T["address"]] > 0.35 and lo - 1 != vi:
            lo -= 1
        while hi + 1 < n and P[hi + 1, T["address"]] > 0.35:
            hi += 1
        text = " ".join(boxes[k].text for k in range(lo, hi + 1))
        conf = float(P[lo:hi + 1, T["address"]].mean())
        value = address_separators(typer.lexicon.correct(" ".join(text.split()).upper()))
        out["address"] = Extracted("address", value, text, conf, True, "", lo)

    # date: boxes that carry a date, scored by the typer and the link to a date key
    best = None
    for i, a in enumerate(attrs):
        if not a.dates:
            continue
        k, ls = _link(i, "date", P, attrs, rels)
        s = float(P[i, T["date"]]) + 0.3 * ls - 0.02 * i / n
        if best is None or s > best[0]:
            best = (s, i, k)
    if best:
        s, i, k = best
        d = find_dates(boxes[i].text, day_first)[0]
        why = f"read '{d.raw}' as {d.order}" + (" (day/month order assumed)" if d.ambiguous
                                                else "")
        out["date"] = Extracted("date", d.iso, d.raw, min(1.0, s) * boxes[i].score, True, why,
                                i, k)

    # amounts: total and tax, each linked to its key
    for field, key in (("total", "total"), ("tax", "tax")):
        best = None
        for i, a in enumerate(attrs):
            if not a.amounts:
                continue
            k, ls = _link(i, key, P, attrs, rels)
            s = float(P[i, T[field]]) + LINK_WEIGHT * ls
            if field == "total":
                left = rels[i].left
                own_bad = a.kw[KEYS.index("subtotal")] or a.kw[KEYS.index("cash")]
                left_bad = left >= 0 and (attrs[left].kw[KEYS.index("subtotal")]
                                          or attrs[left].kw[KEYS.index("cash")])
                if own_bad or left_bad:   # linked to a cash, change or subtotal key
                    s -= 0.5
            if best is None or s > best[0]:
                best = (s, i, k)
        if best and best[0] > (0.15 if field == "total" else 0.5):
            s, i, k = best
            amt = attrs[i].amounts[-1]
            why = f"'{amt.raw}'" + (f", currency {amt.currency}" if amt.currency else "") + \
                  (f", decimal separator '{amt.decimal_sep}'" if amt.decimal_sep else "")
            _, ls = _link(i, key, P, attrs, rels)
            conf = 1 - (1 - float(P[i, T[field]])) * (1 - ls)   # typed as the value, or linked
            out[field] = Extracted(field, amt.value, amt.raw, conf * boxes[i].score, True, why,
                                   i, k)

    if "total" not in out:
        got = _keyed_total(boxes, attrs, rels)
        if got is not None:
            out["total"] = got

    # invoice number: the value in (or right of) an invoice key
    best = None
    for i in range(n):
        s = float(P[i, T["invoice_number"]])
        if best is None or s > best[0]:
            best = (s, i)
    if best and best[0] > 0.4:
        s, i = best
        text = boxes[i].text
        m = KW["invoice"].search(text)
        raw = text[m.end():] if m else text
        raw = raw.strip(" :#.")
        toks = [t for t in re.split(r"\s+", raw) if re.search(r"\d", t)]
        if toks:
            v = normalize_id(toks[0])
            ok, why = validate_id(v)
            k, _ = _link(i, "invoice", P, attrs, rels)
            out["invoice_number"] = Extracted("invoice_number", v, toks[0], s * boxes[i].score,
                                              ok, why, i, k)
    return out, P


def _keyed_total(boxes: list[Box], attrs: list[BoxAttrs], rels: list[Relations]
                 ) -> Extracted | None:
    """When the typer types no box as the total: the amount a total key (any language, not a
    subtotal, cash or change key) carries itself or has right of it on its line; the largest
    if several keys do. The link, not the typer, found it: the confidence says so."""
    ki = {k: KEYS.index(k) for k in ("total", "subtotal", "cash")}
    best = None
    for i, a in enumerate(attrs):
        if not a.kw[ki["total"]] or a.kw[ki["subtotal"]] or a.kw[ki["cash"]]:
            continue
        j = i if a.amounts else rels[i].right
        if j < 0 or (j != i and rels[i].right_gap > 40) or not attrs[j].amounts:
            continue
        if j != i and (attrs[j].kw[ki["subtotal"]] or attrs[j].kw[ki["cash"]]):
            continue
        amt = attrs[j].amounts[-1]
        if best is None or amt.decimal > best[0].decimal:
            best = (amt, i, j)
    if best is None:
        return None
    amt, i, j = best
    return Extracted("total", amt.value, amt.raw, 0.5 * boxes[j].score, True,
                     f"'{amt.raw}' linked to the key '{boxes[i].text}'", j, i)


def field_match(name: str, got: str, truth: str) -> bool:
    """Exact match after case and whitespace normalisation (amounts compared as numbers)."""
    if name == "total":
        a, b = find_amounts(got), find_amounts(truth)
        if a and b:
            return a[-1].decimal == b[-1].decimal
    return compact(got) == compact(truth)
