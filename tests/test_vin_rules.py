"""VIN rules: 17 characters, I/O/Q -> 1/0/0, ISO 3779 check digit (North America), WMI."""

import pytest

from edge.documents.normalize import vin_check_digit
from edge.vin import checked_vin, decode_wmi, find_vins, read_vin, vin_field

VALID_NA = ["1HGCM82633A004352", "1M8GDM9AXKP042788", "5YJSA1E27HF000337", "11111111111111111"]


@pytest.mark.parametrize("vin", VALID_NA)
def test_valid_north_american_vins(vin):
    r = read_vin(vin)
    assert r.valid and r.north_american and r.check_digit_ok and r.reason == ""


def test_check_digit_weights():
    assert vin_check_digit("1M8GDM9AXKP042788") == "X"
    assert vin_check_digit("1HGCM82633A004352") == "3"


def test_invalid_check_digit_has_reason():
    r = read_vin("1HGCM82643A004352")
    assert not r.valid and r.check_digit_ok is False
    assert "check digit" in r.reason and "expected 3" in r.reason


def test_i_o_q_become_digits():
    r = read_vin("1HGCM82633AOO4352")          # O read for 0 twice
    assert r.value == "1HGCM82633A004352" and r.valid and r.corrected == 2
    r = read_vin("1HGCM82633A0Q4352")
    assert r.value == "1HGCM82633A004352" and r.corrected == 1
    assert read_vin("IHGCM82633A004352").value == "1HGCM82633A004352"


def test_length_and_separators():
    assert read_vin("1HG CM826-33A.004352").valid
    r = read_vin("1HGCM82633A00435")
    assert not r.valid and "16" in r.reason
    assert not read_vin("1HGCM82633A0043522").valid


def test_outside_north_america_check_digit_is_optional():
    r = read_vin("WVWZZZ1JZXW000001")
    assert r.valid and not r.north_american and r.check_digit_ok is False
    assert (r.region, r.country, r.manufacturer) == ("Europe", "Germany", "Volkswagen")


def test_model_year_position():
    r = read_vin("WVWZZZ1JZUW000001")
    assert not r.valid and "position 10" in r.reason


@pytest.mark.parametrize("vin,expect", [
    ("JHMCM56557C404453", ("Asia", "Japan", "Honda")),
    ("9BWZZZ377VT004251", ("South America", "Brazil", "Volkswagen")),
    ("5YJSA1E27HF000337", ("North America", "United States", "Tesla")),
    ("KMHXX00XXXX000000", ("Asia", "South Korea", "Hyundai")),
    ("X9ZZZZZZZZZZZZZZZ", ("Europe", "Russia/Netherlands", "")),
])
def test_wmi(vin, expect):
    assert decode_wmi(vin) == expect


def test_find_in_ocr_text_and_field():
    got = find_vins("VIN: 1HGCM 82633 A004352  MADE IN USA")
    assert got[0].value == "1HGCM82633A004352" and got[0].valid
    fv = vin_field("CHASSIS NO 1HGCM82633AOO4352", confidence=0.9)
    assert fv.value == "1HGCM82633A004352" and fv.valid and fv.confidence < 0.9
    assert vin_field("no vin here") is None
    bad = vin_field("1HGCM82643A004352")
    assert not bad.valid and "check digit" in bad.reason


def test_an_unlabelled_vin_must_be_a_whole_token_with_its_check_digit():
    assert checked_vin("VIN:1HGCM82633A004352 MADE IN USA") == "1HGCM82633A004352"
    assert checked_vin("1HGCM-82633-A004352") == "1HGCM82633A004352"
    assert checked_vin("1HGCM82643A004352") is None            # check digit fails
    # words joined across a label are 17 characters too, but not a VIN
    assert find_vins("LICENSE NO: D1234567") and checked_vin("LICENSE NO: D1234567") is None
