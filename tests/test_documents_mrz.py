"""Machine-readable zones (ICAO 9303 TD1/TD2/TD3, ISO 18013 licence line) with check digits,
as OCR gives them; and the identity fields they file."""

import datetime as dt
import random

import pytest

from edge.documents.layout import Box
from edge.documents.mrz import check_digit, find_mrz, parse_lines

TODAY = dt.date(2026, 1, 1)

# the specimen zones printed in ICAO Doc 9303 (fictitious state Utopia)
TD3 = ["P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
       "L898902C36UTO7408122F1204159ZE184226B<<<<<10"]
TD2 = ["I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<",
       "D231458907UTO7408122F1204159<<<<<<<6"]
TD1 = ["I<UTOD231458907<<<<<<<<<<<<<<<",
       "7408122F1204159UTO<<<<<<<<<<<6",
       "ERIKSSON<<ANNA<MARIA<<<<<<<<<<"]


def test_check_digit_weights_7_3_1_with_letters_and_fillers():
    assert check_digit("L898902C3") == "6"
    assert check_digit("740812") == "2"
    assert check_digit("<<<<<<") == "0"


@pytest.mark.parametrize("lines,fmt,number", [(TD3, "TD3", "L898902C3"),
                                              (TD2, "TD2", "D23145890"),
                                              (TD1, "TD1", "D23145890")])
def test_valid_zones_give_the_identity_fields(lines, fmt, number):
    m = parse_lines(lines)
    assert m.format == fmt and m.valid and all(m.checks.values())
    f = m.fields(TODAY)
    assert f["name"].value == "ANNA MARIA ERIKSSON"
    assert f["document_number"].value == number and f["document_number"].valid
    assert f["date_of_birth"].value == "1974-08-12" and f["date_of_birth"].valid
    assert f["nationality"].value == "UTO" and f["nationality"].valid
    # 2012: the check digit holds, but the document has expired; said so, as the visual zone
    assert f["expiry_date"].value == "2012-04-15" and not f["expiry_date"].valid
    assert f["expiry_date"].reason.startswith("expired") and "check digit holds" in \
        f["expiry_date"].reason


def _set(line: str, i: int, c: str) -> str:
    return line[:i] + c + line[i + 1:]


@pytest.mark.parametrize("lines,fmt,row,pos,field,check", [
    (TD3, "TD3", 1, 13, "date_of_birth", "birth"),      # a birth date digit changed
    (TD3, "TD3", 1, 27, "expiry_date", "expiry"),       # the expiry's check digit changed
    (TD2, "TD2", 1, 3, "document_number", "number"),    # a number digit changed
    (TD1, "TD1", 1, 14, "expiry_date", "expiry"),      # the expiry's check digit changed
    (TD1, "TD1", 0, 14, "document_number", "number"),
])
def test_a_corrupted_check_digit_makes_its_field_invalid_with_the_reason(lines, fmt, row, pos,
                                                                        field, check):
    bad = list(lines)
    old = bad[row][pos]
    bad[row] = _set(bad[row], pos, "7" if old != "7" else "3")
    m = parse_lines(bad)
    assert m is not None and m.format == fmt
    assert m.checks[check] is False and not m.valid
    f = m.fields(TODAY)[field]
    assert not f.valid and "check digit fails" in f.reason
    assert m.checks.get("composite") is False   # the composite digit covers it too


def test_ocr_noise_is_repaired_only_where_a_check_digit_confirms_it():
    noisy = ["P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<",            # fillers dropped
             "L8989O2C36UTO74O8122F12O4159ZE184226B«<<<<10"]          # O for 0, « for <
    m = parse_lines(noisy)
    assert m.valid and m.number == "L898902C3" and m.birth == "740812"
    assert m.corrected   # says what it changed
    # a wrong digit that no confusion explains stays wrong
    m2 = parse_lines([TD3[0], _set(TD3[1], 2, "4")])
    assert not m2.checks["number"] and m2.number == "L848902C3"


def test_random_zones_round_trip_and_any_single_digit_change_is_caught():
    from models.toolkit.documents.intl import _mrz_td1, _mrz_td3
    rng = random.Random(4)
    for k in range(30):
        dob, exp = dt.date(1960 + k, 1 + k % 12, 1 + k % 28), dt.date(2030, 1 + k % 12, 3)
        num = "".join(rng.choices("ABCDEFGHJKLMNPRSTUVWXYZ0123456789", k=9))
        make = _mrz_td3 if k % 2 else _mrz_td1
        lines = make("D<<", "MUSTERMANN", "ERIKA", num, "D<<", dob, exp, "F")
        m = parse_lines(lines)
        assert m.valid and m.number == num and m.fields(TODAY)["date_of_birth"].value == \
            dob.isoformat()
        # change one digit of the birth date: its check digit (and the composite) must fail
        row, pos = (1, 13) if make is _mrz_td3 else (1, 0)
        d = lines[row][pos]
        bad = list(lines)
        bad[row] = _set(bad[row], pos, str((int(d) + 1) % 10))
        assert not parse_lines(bad).checks["birth"]


def test_driving_licence_line_iso_18013():
    m = parse_lines(["D1FRA13AA000026181231MARTIN<<9"])
    assert m.format == "DL" and m.valid and m.is_driving_licence
    f = m.fields(TODAY)
    assert f["license_number"].value == "13AA00002" and f["license_number"].valid
    assert "document_number" not in f
    bad = parse_lines(["D1FRA13AA000036181231MARTIN<<9"])   # a digit of the number changed
    assert bad is None or not bad.valid


def test_the_zone_is_found_among_a_cards_text_boxes_split_and_out_of_order():
    boxes = [Box(40, 20, 400, 50, "IDENTITY CARD"), Box(40, 80, 300, 100, "ERIKSSON"),
             # OCR split the second line in two boxes and read the third before the first
             Box(20, 420, 620, 445, TD1[2]),
             Box(20, 360, 620, 385, TD1[0]),
             Box(20, 390, 300, 415, TD1[1][:14]), Box(310, 390, 620, 415, TD1[1][14:])]
    boxes[2], boxes[3] = boxes[3], boxes[2]
    boxes = [Box(b.x0, b.y0, b.x1, b.y1, b.text) for b in reversed(boxes)]
    m = find_mrz(boxes)
    assert m is not None and m.format == "TD1" and m.valid
    assert find_mrz([Box(0, 0, 100, 20, "TOTAL 12.50"), Box(0, 30, 100, 50, "<<<<")]) is None


def test_zone_lines_whose_boxes_overlap_in_height_are_not_joined():
    # a tilted card: each line's axis-aligned box is three lines tall
    boxes = [Box(20, 350 + 22 * i, 620, 419 + 22 * i, line) for i, line in enumerate(TD1)]
    m = find_mrz(boxes)
    assert m is not None and m.format == "TD1" and m.valid


def test_a_heading_with_a_long_number_is_not_a_zones_first_line():
    # a French national ID of 1994 (not ICAO): its heading and its first zone line once read as
    # a TD2 whose birth and expiry digits held by chance
    heading = "CARTE NATIONALE D'IDENTITÉ No: 940992310285"
    assert parse_lines([heading, "IDFRABERTHIER<<<<<<<<<<<<<<<<<<<<<<<"]) is None


# the French identity card of 1988-2021 (2 x 36, not ICAO), as printed on its public specimen
FR_ID = ["IDFRADOUEL<<<<<<<<<<<<<<<<<<<<932013",
         "0506932020438CHRISTIANE<<NI2906209F3"]


def test_french_identity_card_zone_with_its_three_check_digits():
    m = parse_lines(FR_ID)
    assert m.format == "FR" and m.valid and set(m.checks) == {"number", "birth", "line"}
    f = m.fields(TODAY)
    assert f["document_number"].value == "050693202043" and f["document_number"].valid
    assert f["date_of_birth"].value == "1929-06-20" and f["date_of_birth"].valid
    assert f["name"].value == "CHRISTIANE NI DOUEL" and f["name"].valid
    assert "expiry_date" not in f   # the zone states none: nothing is made up
    # OCR: '<' read as '«', an O for a 0 in the number; still parsed, and the check digits hold
    noisy = [FR_ID[0].replace("<<<<", "««<<", 1), "O5O6932020438CHRISTIANE<<NI2906209F3"]
    assert parse_lines(noisy).valid
    # a changed birth digit fails its own check digit and the one over both lines
    bad = parse_lines([FR_ID[0], _set(FR_ID[1], 28, "1")])
    assert bad.format == "FR" and not bad.checks["birth"] and not bad.checks["line"]
    assert not bad.fields(TODAY)["date_of_birth"].valid


def test_a_zone_printed_with_wrong_check_digits_is_read_and_marked_invalid():
    # a specimen card whose zone was printed with made-up check digits: every field is read
    # and every failing digit is said, not dropped
    zone = ["I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<", "D231458903UTO7408125F1204151<<<<<<<3"]
    m = parse_lines(zone)
    assert m is not None and m.format == "TD2" and not m.valid
    assert (m.number, m.birth, m.expiry, m.surname) == ("D23145890", "740812", "120415",
                                                        "ERIKSSON")
    f = m.fields(TODAY)
    assert not f["date_of_birth"].valid and "check digit fails" in f["date_of_birth"].reason
    # text that is not laid out as a zone is still not read as one
    assert parse_lines(["NO<<<<SMOKING<<<IN<<THIS<<AREA<<<<<<<",
                        "PLEASE ASK STAFF FOR HELP 0123456789"]) is None


def test_a_dropped_digit_with_a_doubled_filler_is_put_back_in_place():
    # OCR lost the expiry's check digit and read one filler too many: same length, fields
    # shifted; the zone is realigned so that nationality and dates are where they belong
    l2 = TD1[1][:14] + TD1[1][15:29] + "<" + TD1[1][29]
    assert len(l2) == 30
    m = parse_lines([TD1[0], l2, TD1[2]])
    assert m.format == "TD1" and m.nationality == "UTO" and m.expiry == "120415"
    assert m.checks["birth"] and not m.checks["expiry"] and not m.valid
