"""Generated documents in the styles real ones have (layout ``INTL`` of documents/synth.py):
EU licences with their numbered fields (1. 2. 3. 4a. 4b. 5.) and US licences with AAMVA's
(4d DLN, 3 DOB, 4b EXP), ID cards and passport pages with a machine-readable zone (TD1, TD3,
check digits right), health and motor insurance cards, European registrations, invoices,
estimates and accident statements in German, French, Italian, Spanish and Dutch with European
number formats, and forms and prose pages as other documents.

Training code only: never imported by the runtime."""

from __future__ import annotations

import datetime as dt
import random
import string

from edge.documents.mrz import check_digit

from .synth import (CITIES, COMPANIES, FIRST, LAST, MAKES, PARTS, STREETS, Canvas,
                    GenDoc, _fmt_date, _ident, _plate, _rand_date, _vin)

LANGS = ("en", "de", "fr", "it", "es", "nl")
COUNTRY = {"en": ("UNITED KINGDOM", "GBR"), "de": ("BUNDESREPUBLIK DEUTSCHLAND", "D"),
           "fr": ("RÉPUBLIQUE FRANÇAISE", "FRA"), "it": ("REPUBBLICA ITALIANA", "I"),
           "es": ("REINO DE ESPAÑA", "E"), "nl": ("KONINKRIJK DER NEDERLANDEN", "NL")}
ISO3 = {"en": "GBR", "de": "D<<", "fr": "FRA", "it": "ITA", "es": "ESP", "nl": "NLD"}
LICENCE = {"en": "DRIVING LICENCE", "de": "FÜHRERSCHEIN", "fr": "PERMIS DE CONDUIRE",
           "it": "PATENTE DI GUIDA", "es": "PERMISO DE CONDUCCIÓN", "nl": "RIJBEWIJS"}
IDCARD = {"en": "IDENTITY CARD", "de": "PERSONALAUSWEIS", "fr": "CARTE NATIONALE D'IDENTITÉ",
          "it": "CARTA D'IDENTITÀ", "es": "DOCUMENTO NACIONAL DE IDENTIDAD",
          "nl": "IDENTITEITSKAART"}
PASSPORT = {"en": "PASSPORT", "de": "REISEPASS", "fr": "PASSEPORT", "it": "PASSAPORTO",
            "es": "PASAPORTE", "nl": "PASPOORT"}
ID_LABELS = {  # surname, given names, date of birth, expiry, document number, nationality
    "en": ("Surname", "Given names", "Date of birth", "Date of expiry", "Document No.",
           "Nationality"),
    "de": ("Name", "Vornamen", "Geburtsdatum", "Gültig bis", "Ausweisnummer",
           "Staatsangehörigkeit"),
    "fr": ("Nom", "Prénoms", "Né(e) le", "Date d'expiration", "N° du document", "Nationalité"),
    "it": ("Cognome", "Nome", "Data di nascita", "Scadenza", "Numero documento", "Cittadinanza"),
    "es": ("Apellidos", "Nombre", "Fecha de nacimiento", "Válido hasta", "Núm. soporte",
           "Nacionalidad"),
    "nl": ("Naam", "Voornamen", "Geboortedatum", "Geldig tot", "Documentnummer",
           "Nationaliteit")}
BILL = {  # title, invoice no, date, subtotal, tax, total, qty, description, price, thanks
    "en": ("INVOICE", "Invoice No.", "Date", "Subtotal", "VAT 20%", "TOTAL", "Qty",
           "Description", "Amount", "Thank you"),
    "de": ("RECHNUNG", "Rechnungsnr.", "Datum", "Zwischensumme", "MwSt. 19%", "Gesamtbetrag",
           "Menge", "Beschreibung", "Betrag", "Vielen Dank für Ihren Einkauf"),
    "fr": ("FACTURE", "Facture N°", "Date", "Total HT", "TVA 20%", "MONTANT TTC", "Qté",
           "Désignation", "Montant", "Merci de votre visite"),
    "it": ("FATTURA", "Fattura N.", "Data", "Imponibile", "IVA 22%", "TOTALE", "Q.tà",
           "Descrizione", "Importo", "Grazie e arrivederci"),
    "es": ("FACTURA", "Factura N°", "Fecha", "Base imponible", "IVA 21%", "TOTAL A PAGAR",
           "Cant.", "Descripción", "Importe", "Gracias por su visita"),
    "nl": ("FACTUUR", "Factuurnr.", "Datum", "Subtotaal", "BTW 21%", "TOTAAL", "Aantal",
           "Omschrijving", "Bedrag", "Bedankt voor uw bezoek")}
RATES = {"en": 0.20, "de": 0.19, "fr": 0.20, "it": 0.22, "es": 0.21, "nl": 0.21}
ESTIMATE = {"en": "REPAIR ESTIMATE", "de": "KOSTENVORANSCHLAG", "fr": "DEVIS DE RÉPARATION",
            "it": "PREVENTIVO DI RIPARAZIONE", "es": "PRESUPUESTO DE REPARACIÓN",
            "nl": "OFFERTE REPARATIE"}
ACCIDENT = {"en": "JOINT REPORT OF A ROAD ACCIDENT", "de": "EUROPÄISCHER UNFALLBERICHT",
            "fr": "CONSTAT AMIABLE D'ACCIDENT AUTOMOBILE",
            "it": "CONSTATAZIONE AMICHEVOLE DI INCIDENTE", "es": "DECLARACIÓN AMISTOSA DE ACCIDENTE",
            "nl": "EUROPEES AANRIJDINGSFORMULIER"}
VEH = {"en": "VEHICLE", "de": "FAHRZEUG", "fr": "VÉHICULE", "it": "VEICOLO", "es": "VEHÍCULO",
       "nl": "VOERTUIG"}
REG = {"de": "ZULASSUNGSBESCHEINIGUNG TEIL I", "fr": "CERTIFICAT D'IMMATRICULATION",
       "it": "CARTA DI CIRCOLAZIONE", "es": "PERMISO DE CIRCULACIÓN", "nl": "KENTEKENBEWIJS",
       "en": "VEHICLE REGISTRATION CERTIFICATE"}
US_STATES = ["CALIFORNIA", "TEXAS", "FLORIDA", "NEW YORK", "OHIO", "MICHIGAN", "ARIZONA",
             "GEORGIA", "COLORADO", "OREGON", "IOWA", "NEVADA", "UTAH", "ALABAMA", "MAINE"]
PAYERS = ["BLUE SHIELD", "UNITED HEALTH", "AETNA", "CIGNA", "HUMANA", "KAISER"]
PROSE = {
    "en": "the of and to in is for that with as this are be by on we our your please any all "
          "may will from have not which date section form information tax income total",
    "de": "der die das und zu den von mit ist für auf nicht sich des dem ein eine wir Sie bitte "
          "Vertrag Angaben gemäß Versicherung Kunde",
    "fr": "le la les de des et en un une pour dans que qui sur avec par vous nous est au aux "
          "contrat informations selon assurance client",
    "it": "il la le di del della e in un una per che con non sono si al dei delle contratto "
          "informazioni ai sensi assicurazione cliente",
    "es": "el la los las de del y en un una para que con por se su al es contrato información "
          "según seguro cliente"}


def _eu_date(d: dt.date, rng) -> str:
    return rng.choice([f"{d:%d.%m.%Y}", f"{d:%d/%m/%Y}", f"{d:%d.%m.%y}", f"{d:%d-%m-%Y}"])


def _eu_money(v: float, rng) -> str:
    s = f"{v:,.2f}".replace(",", "X").replace(".", ",").replace("X", ".")
    return rng.choice([f"{s} €", f"€ {s}", f"{s} EUR", s, f"{s}€"])


def _mrz_td3(code: str, sur: str, given: str, num: str, nat: str, dob: dt.date,
             exp: dt.date, sex: str) -> list[str]:
    l1 = f"P<{code}{sur.replace(' ', '<')}<<{given.replace(' ', '<')}".ljust(44, "<")[:44]
    n = num.ljust(9, "<")[:9]
    b, e = f"{dob:%y%m%d}", f"{exp:%y%m%d}"
    pers = "<" * 14
    l2 = f"{n}{check_digit(n)}{nat}{b}{check_digit(b)}{sex}{e}{check_digit(e)}{pers}<"
    comp = l2[0:10] + l2[13:20] + l2[21:43]
    return [l1, l2 + check_digit(comp)]


def _mrz_td1(code: str, sur: str, given: str, num: str, nat: str, dob: dt.date,
             exp: dt.date, sex: str) -> list[str]:
    n = num.ljust(9, "<")[:9]
    l1 = f"I<{code}{n}{check_digit(n)}".ljust(30, "<")
    b, e = f"{dob:%y%m%d}", f"{exp:%y%m%d}"
    l2 = f"{b}{check_digit(b)}{sex}{e}{check_digit(e)}{nat}".ljust(29, "<")
    l2 += check_digit(l1[5:30] + l2[0:7] + l2[8:15] + l2[18:29])
    l3 = f"{sur.replace(' ', '<')}<<{given.replace(' ', '<')}".ljust(30, "<")[:30]
    return [l1, l2, l3]


def _card(rng, bg=None):
    w = rng.randint(860, 1000)
    h = int(w / 1.586)
    bg = bg or tuple(int(v) for v in rng.choice([(205, 200, 235), (215, 235, 240), (230, 230, 230),
                                                 (200, 225, 245), (235, 220, 215)]))
    return Canvas(w, h, bg, rng), w, h, w / 1000


def driver_license(rng) -> GenDoc:
    c, w, h, s = _card(rng)
    sur, given = rng.choice(LAST), rng.choice(FIRST)
    dob, exp = _rand_date(rng, 1950, 2004), _rand_date(rng, 2024, 2035)
    iss = exp.replace(year=exp.year - rng.choice([5, 10, 15]))
    f = {"name": f"{given} {sur}", "date_of_birth": dob.isoformat(),
         "expiry_date": exp.isoformat()}
    if rng.random() < 0.55:   # EU model: numbered fields
        lang = rng.choice(LANGS)
        num = rng.choice([_ident(rng, "", 9), _ident(rng, rng.choice(["B", "D", "U"]), 8),
                          f"{rng.randint(10, 99)}AA{rng.randint(10000, 99999)}"])
        f["license_number"] = num
        c.text(LICENCE[lang], int(200 * s), int(55 * s), 1.0 * s, 2)
        c.text(COUNTRY[lang][0], int(200 * s), int(95 * s), 0.55 * s, 1)
        c.photo(int(30 * s), int(130 * s), int(250 * s), int(420 * s))
        rows = [f"1. {sur}", f"2. {given}", f"3. {_eu_date(dob, rng)} {rng.choice(CITIES)}",
                f"4a. {_eu_date(iss, rng)}", f"4b. {_eu_date(exp, rng)}",
                f"4c. {rng.choice(['PREFECTURE', 'STADT', 'DVLA', 'MCTC', 'DGT', 'RDW'])}",
                f"5. {num}", f"9. {rng.choice(['AM/A1/B', 'B', 'B/BE', 'A/B/C1'])}"]
        y = int(150 * s)
        for r in rows:
            c.text(r, int(280 * s), y, 0.62 * s, 1)
            y += int(44 * s)
        if rng.random() < 0.35:
            head = f"D1{ISO3[lang][:3].replace('<', '')}".ljust(5, "<")[:5]
            body = head + num[:9].ljust(9, "<")
            line = body + check_digit(body) + f"{exp:%y%m%d}" + sur[:8].ljust(8, "<")
            c.text(line + check_digit(line), int(40 * s), h - int(30 * s), 0.62 * s, 1)
    else:                      # US model: AAMVA numbered labels
        state = rng.choice(US_STATES)
        num = rng.choice([_ident(rng, rng.choice("ABDFGSW"), rng.randint(7, 8)),
                          _ident(rng, "", rng.randint(8, 12)),
                          f"{rng.randint(100, 999)}-{rng.randint(100, 999)}-{rng.randint(100, 999)}"])
        f["license_number"] = num.replace("-", "")
        c.text(state, int(30 * s), int(55 * s), 1.1 * s, 2)
        c.text(rng.choice(["DRIVER LICENSE", "DRIVER'S LICENSE", "USA DRIVER LICENSE",
                           "CLASS C DRIVER LICENSE"]), int(w * 0.5), int(55 * s), 0.7 * s, 2)
        c.photo(int(30 * s), int(110 * s), int(250 * s), int(400 * s))
        md = lambda d: f"{d:%m/%d/%Y}"  # noqa: E731
        rows = [(rng.choice(["4d DLN", "4d LIC#", "DL", "4d NO."]), num),
                ("3 DOB", md(dob)), ("4b EXP", md(exp)), ("4a ISS", md(iss)),
                ("1", sur), ("2", given),
                ("8", f"{rng.randint(1, 9999)} {rng.choice(STREETS)}"),
                ("15 SEX", rng.choice("MF")), ("16 HGT", f"5'-{rng.randint(0, 11):02d}\""),
                ("18 EYES", rng.choice(["BRO", "BLU", "GRN"])), ("9 CLASS", "C"),
                ("5 DD", _ident(rng, "", 12))]
        y = int(130 * s)
        inline = rng.random() < 0.6
        for k, v in rows:
            if inline:
                c.text(f"{k} {v}" if rng.random() < 0.5 else k, int(280 * s), y, 0.55 * s)
                if not c.boxes[-1].text.endswith(v):
                    c.text(v, int(280 * s + 140 * s), y, 0.6 * s, 2)
                y += int(36 * s)
            else:
                c.text(k, int(280 * s), y, 0.4 * s)
                c.text(v, int(280 * s), y + int(24 * s), 0.6 * s, 2)
                y += int(52 * s)
            if y > h - 20:
                break
    return GenDoc("driver_license", INTL, c.img, c.boxes, f)


def id_card(rng) -> GenDoc:
    lang = rng.choice(LANGS)
    passport = rng.random() < 0.5
    sur, given = rng.choice(LAST), rng.choice(FIRST).split()[0]
    dob, exp = _rand_date(rng, 1945, 2006), _rand_date(rng, 2024, 2036)
    num = rng.choice(["", "C", "X"]) + "".join(rng.choices(string.ascii_uppercase +
                                                           string.digits, k=8))
    num = num[:9]
    nat = ISO3[lang]
    sex = rng.choice("MF")
    lab = ID_LABELS[lang]
    if passport:
        w = rng.randint(900, 1000)
        h = int(w * 0.7)
        c = Canvas(w, h, tuple(int(v) for v in rng.choice([(225, 235, 240), (240, 230, 225)])),
                   rng)
        s = w / 1000
        c.text(f"{PASSPORT[lang]} / PASSPORT" if lang != "en" else "PASSPORT", int(280 * s),
               int(50 * s), 0.8 * s, 2)
        c.text(COUNTRY[lang][0], int(280 * s), int(85 * s), 0.55 * s)
        c.photo(int(30 * s), int(110 * s), int(250 * s), int(420 * s))
        mrz = _mrz_td3(nat.replace("<", "") .ljust(3, "<"), sur, given, num, nat, dob, exp, sex)
    else:
        c, w, h, s = _card(rng)
        c.text(IDCARD[lang], int(260 * s), int(55 * s), 0.9 * s, 2)
        c.text(COUNTRY[lang][0], int(260 * s), int(90 * s), 0.5 * s)
        c.photo(int(30 * s), int(110 * s), int(240 * s), int(380 * s))
        mrz = _mrz_td1(nat.replace("<", "").ljust(3, "<"), sur, given, num, nat, dob, exp, sex)
    pairs = [(lab[0], sur), (lab[1], given), (lab[2], _eu_date(dob, rng)),
             (lab[5], nat.replace("<", "")), (lab[4], num), (lab[3], _eu_date(exp, rng))]
    y = int(130 * s)
    for k, v in pairs:
        c.text(k, int(280 * s), y, 0.42 * s)
        c.text(v, int(280 * s), y + int(26 * s), 0.62 * s, 2)
        y += int(50 * s)
    f = {"name": f"{given} {sur}", "date_of_birth": dob.isoformat(),
         "expiry_date": exp.isoformat(), "document_number": num}
    if rng.random() < 0.8:
        my = h - int((len(mrz) * 34 + 10) * s)
        for ln in mrz:
            c.text(ln, int(30 * s), my, 0.62 * s, 1, (20, 20, 20))
            my += int(34 * s)
    return GenDoc("id_card", INTL, c.img, c.boxes, f)


def insurance_card(rng) -> GenDoc:
    c, w, h, s = _card(rng, (250, 250, 250))
    name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    if rng.random() < 0.6:    # US health card
        mid = _ident(rng, rng.choice(["", "W", "XYZ"]), 9)
        c.text(rng.choice(PAYERS), int(30 * s), int(60 * s), 1.0 * s, 2)
        c.text(rng.choice(["PPO", "HMO", "EPO", "Medical"]), int(w * 0.75), int(60 * s),
               0.8 * s, 2)
        rows = [("Member Name", name), ("Member ID", mid), ("Group No", _ident(rng, "", 6)),
                ("RxBIN", _ident(rng, "", 6)), ("RxPCN", rng.choice(["ADV", "BCRX"])),
                ("RxGRP", _ident(rng, "RX", 4)), ("Copay", f"${rng.choice([10, 20, 30])}")]
        f = {"name": name, "policy_number": mid}
    else:                     # motor insurance (green card) certificate
        lang = rng.choice(LANGS)
        pol = _ident(rng, rng.choice(["", "POL"]), 9)
        c.text(rng.choice(["INTERNATIONAL MOTOR INSURANCE CARD", "CARTE VERTE",
                           "INSURANCE CERTIFICATE", "VERSICHERUNGSBESTÄTIGUNG",
                           "CERTIFICATO DI ASSICURAZIONE"]), int(30 * s), int(60 * s), 0.8 * s, 2)
        exp = _rand_date(rng, 2024, 2030)
        rows = [("1. Valid from", _eu_date(exp.replace(year=exp.year - 1), rng)),
                ("2. to", _eu_date(exp, rng)), ("4. Certificate No", pol),
                ("5. Registration", _plate(rng)), ("6. Vehicle", rng.choice(MAKES)),
                ("8. Policy holder", name), ("9. Insurer", rng.choice(COMPANIES))]
        f = {"name": name, "policy_number": pol, "expiry_date": exp.isoformat()}
    y = int(120 * s)
    for k, v in rows:
        c.text(k, int(40 * s), y, 0.55 * s)
        c.text(v, int(420 * s), y, 0.6 * s, 2)
        y += int(46 * s)
    return GenDoc("insurance_card", INTL, c.img, c.boxes, f)


def vehicle_registration(rng) -> GenDoc:
    lang = rng.choice(LANGS)
    w = rng.randint(900, 1100)
    h = int(w * rng.choice([0.62, 0.7, 1.3]))
    c = Canvas(w, h, tuple(int(v) for v in rng.choice([(215, 235, 215), (225, 225, 240),
                                                        (240, 240, 235)])), rng)
    s = w / 1000
    plate, vin = _plate(rng), _vin(rng)
    name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    c.text(REG[lang], int(30 * s), int(50 * s), 0.8 * s, 2)
    c.text(COUNTRY[lang][0], int(30 * s), int(85 * s), 0.5 * s)
    rows = [("A", plate), ("B", _eu_date(_rand_date(rng, 2005, 2024), rng)),
            ("C.1.1", rng.choice(LAST)), ("C.1.2", rng.choice(FIRST)),
            ("C.1.3", f"{rng.randint(1, 99)} {rng.choice(STREETS)} {rng.choice(CITIES)}"),
            ("D.1", rng.choice(MAKES)), ("D.3", rng.choice(["GOLF", "CLIO", "500", "COROLLA"])),
            ("E", vin), ("F.1", str(rng.randint(1200, 2500))), ("P.1", str(rng.randint(999, 2999))),
            ("P.3", rng.choice(["BENZIN", "DIESEL", "ESSENCE", "GASOLIO"])),
            ("J", rng.choice(["M1", "N1"])), ("K", _ident(rng, "e1*2007/46*", 4))]
    if rng.random() < 0.5:
        rng.shuffle(rows)
    y = int(130 * s)
    col = 0
    for k, v in rows:
        x = int((40 + col * 480) * s)
        c.text(k, x, y, 0.5 * s, 2)
        c.text(v, x + int(90 * s), y, 0.6 * s)
        y += int(44 * s)
        if y > h - 40:
            y, col = int(130 * s), col + 1
    return GenDoc("vehicle_registration", INTL, c.img, c.boxes,
                  {"plate": plate, "vin": vin, "name": name})


def _page(rng, narrow: bool = False):
    if narrow:   # a till receipt
        w = rng.randint(420, 560)
        h = rng.randint(900, 1400)
    else:
        w = rng.randint(820, 900)
        h = int(w * 1.414)
    return Canvas(w, h, (rng.randint(236, 255),) * 3, rng), w, h, w / 850


def bill(rng, doc_type: str, lang: str | None = None) -> GenDoc:
    lang = lang or rng.choice(LANGS)
    narrow = doc_type == "receipt_invoice" and rng.random() < 0.5
    c, w, h, s = _page(rng, narrow)
    L = BILL[lang]
    sx = 1.0 if not narrow else 0.85
    company = f"{rng.choice(COMPANIES).title()} {rng.choice(['GmbH', 'SARL', 'S.r.l.', 'S.L.', 'B.V.', 'Ltd', 'AG', ''])}".strip()
    addr = f"{rng.choice(STREETS).title()} {rng.randint(1, 200)}, {rng.randint(10000, 99999)} " \
           f"{rng.choice(CITIES).title()}"
    d = _rand_date(rng, 2017, 2025)
    y = int(60 * s)
    x0 = int(40 * s)
    c.text(company, x0, y, 0.8 * s * sx, 2)
    y += int(34 * s)
    c.text(addr, x0, y, 0.45 * s * sx)
    y += int(30 * s)
    c.text(rng.choice(["Tel.", "Tél.", "Tel:"]) + f" +{rng.randint(30, 49)} {rng.randint(100, 999)} "
           f"{rng.randint(100000, 999999)}", x0, y, 0.45 * s * sx)
    y += int(50 * s)
    title = L[0] if doc_type == "receipt_invoice" else ESTIMATE[lang]
    c.text(title, x0, y, 0.8 * s * sx, 2)
    y += int(44 * s)
    inv = _ident(rng, rng.choice(["", "R-", "F", "2024-"]), rng.randint(4, 7))
    c.text(f"{L[1]} {inv}", x0, y, 0.5 * s * sx)
    y += int(32 * s)
    c.text(f"{L[2]}: {_eu_date(d, rng) if lang != 'en' else _fmt_date(d, rng.randint(0, 5))}",
           x0, y, 0.5 * s * sx)
    y += int(44 * s)
    cols = [x0, int(w * 0.55), int(w * 0.75)]
    for t, x in zip([L[7], L[6], L[8]], cols):
        c.text(t, x, y, 0.5 * s * sx, 2)
    y += int(36 * s)
    sub = 0.0
    for _ in range(rng.randint(2, 7)):
        q, p = rng.randint(1, 3), rng.randint(2, 400) + rng.choice([0, 0.5, 0.99, 0.25])
        sub += q * p
        for t, x in zip([rng.choice(PARTS).title(), str(q), _eu_money(q * p, rng) if lang != "en"
                         else f"{q * p:.2f}"], cols):
            c.text(t, x, y, 0.48 * s * sx)
        y += int(32 * s)
    rate = RATES[lang]
    tax = round(sub * rate, 2)
    total = round(sub + tax, 2)
    y += int(14 * s)
    money = (lambda v: _eu_money(v, rng)) if lang != "en" else (lambda v: f"£{v:.2f}")
    for k, v in ((L[3], sub), (L[4], tax), (L[5], total)):
        c.text(k, cols[0] if narrow else cols[1] - int(140 * s), y, 0.55 * s * sx,
               2 if v == total else 1)
        c.text(money(v), cols[2], y, 0.55 * s * sx, 2 if v == total else 1)
        y += int(36 * s)
    y += int(30 * s)
    c.text(L[9], x0, y, 0.5 * s * sx)
    f = {"vendor": company.upper(), "date": d.isoformat(), "total": f"{total:.2f}",
         "tax": f"{tax:.2f}", "invoice_number": inv.upper()}
    return GenDoc(doc_type, INTL, c.img, c.boxes, f)


def accident_report(rng) -> GenDoc:
    lang = rng.choice(LANGS)
    c, w, h, s = _page(rng)
    c.text(ACCIDENT[lang], int(40 * s), int(50 * s), 0.7 * s, 2)
    d = _rand_date(rng, 2018, 2025)
    rows = ["1. " + _eu_date(d, rng), "2. " + rng.choice(CITIES).title(),
            "3. " + rng.choice(["0", "X"]), "4. " + rng.choice(["0", "X"])]
    y = int(100 * s)
    for r in rows:
        c.text(r, int(40 * s), y, 0.5 * s)
        y += int(30 * s)
    plate_a, plate_b = _plate(rng), _plate(rng)
    for col, (side, plate) in enumerate((("A", plate_a), ("B", plate_b))):
        x = int((40 + col * 430) * s)
        yy = y + int(20 * s)
        c.text(f"{VEH[lang]} {side}", x, yy, 0.65 * s, 2)
        for k, v in (("6.", rng.choice(LAST)), ("7.", rng.choice(MAKES)), ("7.", plate),
                     ("8.", rng.choice(COMPANIES)), ("9.", rng.choice(FIRST))):
            yy += int(34 * s)
            c.text(f"{k} {v}", x, yy, 0.5 * s)
    y += int(260 * s)
    circ = {"en": "12. CIRCUMSTANCES", "de": "12. UMSTÄNDE", "fr": "12. CIRCONSTANCES",
            "it": "12. CIRCOSTANZE", "es": "12. CIRCUNSTANCIAS", "nl": "12. OMSTANDIGHEDEN"}
    c.text(circ[lang], int(330 * s), y, 0.55 * s, 2)
    for i in range(1, rng.randint(8, 17)):
        y += int(28 * s)
        c.text(f"{i}", int(330 * s), y, 0.45 * s)
    c.rect(int(40 * s), y + int(30 * s), int(800 * s), y + int(200 * s), (100, 100, 100), False)
    c.text({"en": "13. Sketch", "de": "13. Skizze", "fr": "13. Croquis", "it": "13. Schizzo",
            "es": "13. Croquis", "nl": "13. Schets"}[lang], int(50 * s), y + int(60 * s), 0.5 * s)
    return GenDoc("accident_report", INTL, c.img, c.boxes, {"date": d.isoformat(),
                                                             "plate": plate_a})


def other_document(rng) -> GenDoc:
    c, w, h, s = _page(rng)
    lang = rng.choice(list(PROSE))
    words = PROSE[lang].split()
    y = int(60 * s)
    if rng.random() < 0.5:    # a form: many small labelled fields and numbers
        c.text(rng.choice(["Form 1040", "W-2 Wage and Tax Statement", "Statement of Account",
                           "Pay Statement", "Modulo di adesione", "Formulaire", "Antrag",
                           "Bank Statement"]), int(40 * s), y, 0.8 * s, 2)
        for i in range(rng.randint(14, 26)):
            y += int(34 * s)
            if y > h - 40:
                break
            lab = " ".join(rng.choices(words, k=rng.randint(2, 5))).capitalize()
            c.text(f"{i + 1} {lab}", int(40 * s), y, 0.42 * s)
            if rng.random() < 0.6:
                c.text(rng.choice([f"{rng.randint(1, 99999):,}", f"{rng.randint(1, 9999)}.00",
                                   _ident(rng, "", 6), ""]) or "0", int(650 * s), y, 0.45 * s)
    else:                     # prose: a letter, a contract, an article
        c.text(" ".join(rng.choices(words, k=rng.randint(2, 5))).title(), int(40 * s), y,
               0.8 * s, 2)
        y += int(30 * s)
        for _ in range(rng.randint(14, 30)):
            y += int(30 * s)
            if y > h - 40:
                break
            c.text(" ".join(rng.choices(words, k=rng.randint(7, 12))).capitalize(), int(40 * s),
                   y, 0.5 * s)
    return GenDoc("other_document", INTL, c.img, c.boxes, {})


INTL = 4


def generate_intl(doc_type: str, rng: random.Random) -> GenDoc:
    if doc_type in ("receipt_invoice", "repair_estimate"):
        return bill(rng, doc_type)
    return {"driver_license": driver_license, "id_card": id_card,
            "insurance_card": insurance_card, "vehicle_registration": vehicle_registration,
            "accident_report": accident_report, "other_document": other_document}[doc_type](rng)

