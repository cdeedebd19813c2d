"""Field normalisers and validators, identity-document fields, per-photo completeness."""

import datetime as dt

import pytest

from edge.config import load_profile
from edge.documents.fields import extract_identity, label_of, normalise
from edge.documents.layout import Box
from edge.documents.normalize import (find_dates, parse_amount, parse_date, validate_plate,
                                      vin_check_digit)
from edge.documents.stage import completeness
from edge.result import FieldValue


@pytest.mark.parametrize("text,iso,order,ambiguous", [
    ("25/12/2018", "2018-12-25", "DMY", False),
    ("12-01-19", "2019-01-12", "DMY", True),
    ("02/13/2019", "2019-02-13", "MDY", False),
    ("2018-03-05", "2018-03-05", "YMD", False),
    ("DATE: 15.07.2020 10:22", "2020-07-15", "DMY", False),
    ("05MAR201818:24", "2018-03-05", "D-MON-Y", False),      # OCR ran date and time together
    ("12/01/201918:24", "2019-01-12", "DMY", True),
    ("Mar 5, 2018", "2018-03-05", "MON-D-Y", False),
    ("5 Jan 2019", "2019-01-05", "D-MON-Y", False),
])
def test_dates_in_several_formats_with_the_order_recorded(text, iso, order, ambiguous):
    d = parse_date(text)
    assert d is not None and (d.iso, d.order, d.ambiguous) == (iso, order, ambiguous)


def test_month_first_when_the_profile_says_so_and_no_date_in_plain_numbers():
    assert parse_date("03/04/2019", day_first=False).iso == "2019-03-04"
    assert parse_date("03/04/2019").iso == "2019-04-03"
    assert parse_date("31/02/2019") is None
    assert find_dates("TOTAL 33.90 QTY 2") == []


@pytest.mark.parametrize("text,value,currency,sep", [
    ("RM 33.90", "33.90", "RM", "."),
    ("$1,234.50", "1234.50", "$", "."),
    ("1.234,50 €", "1234.50", "€", ","),
    ("33,90", "33.90", "", ","),
    ("TOTAL 327.00", "327.00", "", "."),
    ("GST 6% 1.92", "1.92", "", "."),
    ("-5.00", "-5.00", "", "."),
    ("EUR 12", "12.00", "EUR", ""),
])
def test_amounts_with_currency_symbols_and_separators(text, value, currency, sep):
    a = parse_amount(text)
    assert (a.value, a.currency, a.decimal_sep) == (value, currency, sep)


def test_vin_check_digit_and_plate_rules():
    assert vin_check_digit("1HGCM82633A004352") == "3"
    # a labelled VIN goes through the VIN rules (edge/vin.py): O read for 0 is mapped back,
    # a North American VIN's check digit is enforced, and a short read is kept but invalid
    assert normalise("vin", "1HGCM8263 3A00 4352") == ("1HGCM82633A004352", True, "")
    assert normalise("vin", "1HGCM82633AOO4352")[:2] == ("1HGCM82633A004352", True)
    value, ok, why = normalise("vin", "1HGCM82643A004352")
    assert value == "1HGCM82643A004352" and not ok and "check digit" in why
    value, ok, why = normalise("vin", "1HGCM8263OA00435")
    assert not ok and "17 characters" in why
    assert validate_plate("ABC1234")[0] and not validate_plate("ABCDEFG")[0]


def test_labels_survive_ocr_that_runs_words_together_and_misreads_o():
    assert label_of("DATE 0FBIRTH: 28/07/55") == ("date_of_birth", "28/07/55")
    assert label_of("LICENSENO: DL64121676") == ("license_number", "DL64121676")
    assert label_of("Expirydate: 02/01/21")[0] == "expiry_date"


def test_expired_documents_are_flagged_and_two_digit_birth_years_are_last_century():
    today = dt.date(2024, 6, 1)
    v, ok, why = normalise("expiry_date", "02/01/21", today)
    assert v == "2021-01-02" and not ok and why.startswith("expired")
    v, ok, why = normalise("date_of_birth", "28/07/55", today)
    assert v == "1955-07-28" and ok
    assert normalise("expiry_date", "01/02/2030", today)[1]


def test_identity_fields_linked_right_of_below_and_inside_the_label_box():
    boxes = [Box(20, 10, 400, 40, "DRIVER LICENSE"),
             Box(20, 60, 90, 80, "NAME:"), Box(110, 60, 300, 80, "ANNA KIM"),       # right of
             Box(20, 100, 300, 120, "LICENSE NO: D1234567"),                        # same box
             Box(20, 140, 120, 155, "DATE OF BIRTH"), Box(20, 160, 140, 180, "05/03/1980"),  # below
             Box(20, 200, 100, 220, "EXPIRES"), Box(120, 200, 260, 220, "01 JAN 2031")]
    got = extract_identity(boxes, today=dt.date(2024, 1, 1))
    assert {k: v.value for k, v in got.items()} == {
        "name": "ANNA KIM", "license_number": "D1234567", "date_of_birth": "1980-03-05",
        "expiry_date": "2031-01-01"}
    assert all(v.valid for v in got.values())
    assert got["name"].key_box == 1 and got["name"].box == 2


def test_completeness_against_the_profiles_required_fields():
    profile = load_profile("kiosk-x86")
    req = profile.documents.required_fields["driver_license"]
    fields = {"name": FieldValue("ANNA KIM", 0.95, True),
              "license_number": FieldValue("D1", 0.4, True),
              "expiry_date": FieldValue("2020-01-01", 0.9, False, reason="expired on 2020-01-01")}
    c = completeness("driver_license", fields, profile)
    assert c["document_type"] == "driver_license" and c["required"] == req
    assert c["missing"] == ["date_of_birth"] and c["invalid"] == ["expiry_date"]
    assert c["doubtful"] == ["license_number"] and c["expired"] and not c["complete"]
    full = {n: FieldValue("x", 0.9, True) for n in profile.documents.required_fields["receipt_invoice"]}
    assert completeness("receipt_invoice", full, profile)["complete"]
    assert completeness("other_document", {}, profile) == {
        "document_type": "other_document", "required": [], "missing": [], "invalid": [],
        "doubtful": [], "complete": True}
