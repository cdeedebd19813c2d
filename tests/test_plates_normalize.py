"""Plate normalisation per region (US, EU, BR) and candidate scoring."""

import numpy as np
import pytest

from edge.plates import best_candidate, normalize_plate, plates_agree


@pytest.mark.parametrize("raw,value,pattern", [
    ("ABC-1234", "ABC1234", "BR old"),
    ("abc 1d23", "ABC1D23", "BR Mercosul"),
    ("A8C-1234", "ABC1234", "BR old"),        # 8 in a letter slot -> B
    ("ABC-I234", "ABC1234", "BR old"),        # I in a digit slot -> 1
    ("AB0 1234", "ABO1234", "BR old"),
])
def test_br(raw, value, pattern):
    p = normalize_plate(raw, "br")
    assert (p.value, p.valid, p.pattern) == (value, True, pattern)


def test_br_invalid_has_reason():
    p = normalize_plate("AB12", "br")
    assert not p.valid and "LLLDDDD" in p.reason


@pytest.mark.parametrize("raw,value", [
    ("RK 755-AJ", "RK755AJ"), ("AB-123-CD", "AB123CD"), ("1234 BCD", "1234BCD"),
    ("LM298AI", "LM298AI"), ("WA 56660", "WA56660"), ("RK-099AN", "RK099AN"),
])
def test_eu_valid_without_spaces_or_dashes(raw, value):
    p = normalize_plate(raw, "eu")
    assert p.valid and p.value == value and " " not in p.value and "-" not in p.value


def test_eu_corrects_only_when_no_layout_fits():
    assert normalize_plate("AB12CDE", "eu").corrections == 0         # UK layout as read
    p = normalize_plate("RK7S5AJ", "eu")            # fits the generic EU shape as read: kept
    assert p.value == "RK7S5AJ" and p.valid and p.corrections == 0 and p.pattern == "EU generic"
    p = normalize_plate("RKOSSAJ", "eu")            # letters only: one layout within 2 changes?
    assert not p.valid or p.corrections <= 2
    bad = normalize_plate("GWAGEN", "eu")                             # letters only
    assert not bad.valid and "European" in bad.reason


@pytest.mark.parametrize("raw", ["6A5730A", "FUW 999", "UNI", "NOX-218", "7ABC123"])
def test_us_vanity_and_numbers_kept_as_read(raw):
    p = normalize_plate(raw, "us")
    assert p.valid and p.value == raw.replace(" ", "").replace("-", "") and p.corrections == 0


def test_us_too_long():
    p = normalize_plate("ABCDEFGHJ", "us")
    assert not p.valid and "2 to 8" in p.reason


def test_no_region_keeps_the_read_as_is():
    assert normalize_plate("A8C1234").value == "A8C1234"
    assert normalize_plate("ABC1234").region == "br"
    with pytest.raises(ValueError):
        normalize_plate("ABC1234", "mars")


def test_best_candidate_prefers_pattern_valid_reads():
    fv = best_candidate([("ABC12", 0.99), ("ABC1234", 0.8), ("A8C1234", 0.85)], "br")
    assert fv.value == "ABC1234" and fv.valid
    fv = best_candidate([("A8C1234", 0.95)], "br")
    assert fv.value == "ABC1234" and fv.confidence == pytest.approx(0.855)
    assert best_candidate([], "br") is None
    assert best_candidate([("--", 0.9)], "eu") is None


def test_plates_agree_across_a_claim():
    assert plates_agree(["ABC-1234", "abc 1234", "ABC1234"]) == (True, ["ABC1234"])
    ok, vals = plates_agree(["ABC1234", "ABC1284"])
    assert not ok and vals == ["ABC1234", "ABC1284"]


def test_ctc_greedy_collapses_repeats_and_blanks():
    from edge.plates.ctc import CTC_ALPHABET, ctc_greedy
    seq = [0, 11, 11, 0, 0, 12, 0, 12, 1, 1, 0]   # blank A A - - B - B 0 0 -
    logits = np.full((len(seq), len(CTC_ALPHABET) + 1), -5.0, np.float32)
    for t, k in enumerate(seq):
        logits[t, k] = 5.0
    text, conf = ctc_greedy(logits)
    assert text == "ABB0" and 0.99 < conf <= 1.0
    assert ctc_greedy(np.zeros((4, 37), np.float32) + np.eye(37)[0] * 9) == ("", 0.0)


def _logits(steps):
    """[T, 37] logits from per-step {character or '_' (blank): probability}."""
    from edge.plates.ctc import CTC_ALPHABET
    p = np.full((len(steps), len(CTC_ALPHABET) + 1), 1e-6)
    for t, step in enumerate(steps):
        for c, q in step.items():
            p[t, 0 if c == "_" else CTC_ALPHABET.index(c) + 1] = q
    return np.log(p / p.sum(-1, keepdims=True))


def test_layout_prior_settles_a_letter_digit_confusion():
    from edge.plates.ctc import ShapePrior, ctc_decode
    # the recogniser is fairly sure of a zero where US plates of this shape carry the letter O
    lg = _logits([{"N": 1}, {"_": 1}, {"0": 0.9, "O": 0.1}, {"_": 1}, {"X": 1}, {"2": 1},
                  {"_": 1}, {"1": 1}, {"8": 1}])
    prior = ShapePrior({"us": {"LLLDDD": 80, "DDDLLL": 90}, "br": {"LLLDDDD": 50}},
                       weight=1.5, floor=1e-3)
    assert ctc_decode(lg)[0] == "N0X218"
    text, conf = ctc_decode(lg, prior=prior, region="us")
    assert text == "NOX218" and 0 < conf < ctc_decode(lg)[1]
    # a clear read of a rare layout stands: the prior only settles what the model leaves open
    sure = _logits([{"N": 1}, {"0": 0.9999, "O": 0.0001}, {"X": 1}, {"2": 1}, {"1": 1},
                    {"8": 1}])
    assert ctc_decode(sure, prior=ShapePrior(prior.counts, 0.5, 1e-4), region="us")[0] == "N0X218"
    # the counts are per region: Brazil's layouts have no LLLDDD, so the read is left as it is
    assert ctc_decode(lg, prior=prior, region="br")[0] == "N0X218"


def test_networks_of_an_ensemble_vote_on_the_read_not_on_their_peaks():
    from edge.plates.ctc import ctc_vote
    # two networks read ABC1 with the peaks on different steps; a third reads A8C1 with more
    # confidence than either: the read the majority gives is kept, with the share of its votes
    a = _logits([{"A": 1}, {"_": 1}, {"B": 0.9, "8": 0.1}, {"_": 1}, {"C": 1}, {"1": 1}])
    b = _logits([{"_": 1}, {"A": 1}, {"_": 1}, {"B": 0.8, "8": 0.2}, {"C": 1}, {"1": 1}])
    c = _logits([{"A": 1}, {"8": 1}, {"_": 1}, {"_": 1}, {"C": 1}, {"1": 1}])
    text, conf = ctc_vote(np.stack([a, b, c]))
    assert text == "ABC1" and 0.5 < conf < 0.67
    # averaging those logits would not read ABC1 at all: the peaks fall apart
    assert ctc_vote(np.mean([a, b, c], 0))[0] != "ABC1"
    # no majority: the most confident read; one network: its own read
    assert ctc_vote(np.stack([a, c]))[0] == "A8C1"
    assert ctc_vote(a) == ctc_vote(a[None])


def test_shipped_plate_reader_carries_its_layout_prior():
    from edge.bundle import load_bundle, resolve_bundle
    from edge.plates.ctc import ShapePrior
    prior = ShapePrior.from_manifest(load_bundle(resolve_bundle("plate-reader")).raw)
    assert prior is not None and {"us", "eu", "br"} <= set(prior.counts)
    assert prior.log_prob("ABC1234", "br") > prior.log_prob("AB12345", "br")
    assert ShapePrior.from_manifest({}) is None


def test_missing_plate_reader_bundle_falls_back_to_rapidocr(tmp_path):
    from edge.plates import RapidPlateRecognizer, open_recognizer
    assert isinstance(open_recognizer(str(tmp_path / "none")), RapidPlateRecognizer)
    assert isinstance(open_recognizer("rapidocr"), RapidPlateRecognizer)


@pytest.mark.parametrize("raw,value", [
    ("CALIFORNIA 7ABC123", "7ABC123"),                # state name above the number
    ("7ABC123 dmv.ca.gov", "7ABC123"),               # the DMV address under it
    ("Sunshine State ABC D12", "ABCD12"),            # slogan; the number in two groups
    ("Land of Lincoln  X 12345", "X12345"),
    ("LAND OF ENCHANTMENT 7ABC123", "7ABC123"),      # a slogan word not in the list ("ENCHANTMENT" is)
    ("JAN 24 TEXAS 4KRH440", "4KRH440"),             # sticker month, state name
    ("CALIFORNIA7ABC123", "7ABC123"),                # the state name glued on in one read
    ("Toyota of Escondido 5GRD613", "5GRD613"),      # dealer frame: the registration is kept
])
def test_us_registration_without_state_slogan_or_frame(raw, value):
    p = normalize_plate(raw, "us")
    assert (p.value, p.valid, p.region) == (value, True, "us")


def test_a_vanity_plate_that_spells_a_noise_word_is_kept():
    assert normalize_plate("TEXAS", "us").value == "TEXAS"
    assert normalize_plate("FAMOUS", "us").value == "FAMOUS"


@pytest.mark.parametrize("raw,value,pattern", [
    ("A88731", "A88731", "CN"),
    ("KA88731", "A88731", "CN"),          # the province glyph read as a Latin letter: dropped
    ("AO8I31", "A08131", "CN"),           # no I or O is issued after the city letter
    ("AD12345", "AD12345", "CN new energy"),
])
def test_cn_registration_after_the_province(raw, value, pattern):
    p = normalize_plate(raw, "cn")
    assert (p.value, p.valid, p.pattern) == (value, True, pattern)
    assert not normalize_plate("A8873", "cn").valid


@pytest.mark.parametrize("read,region,want", [
    ("ABC1D23", "br", ("br", "BR Mercosul")),
    ("ABCD123", "eu", ("eu-de", "DE")),
    ("AB123CD", "eu", ("eu", "FR/IT/HR")),          # a layout several countries share
    ("1234BCD", "eu", ("eu-es", "ES")),
    ("4B04979", "eu", ("eu-cz", "CZ")),             # the leading digit beside the CZ band
    ("7ABC123", "us", ("us", "US")),
    ("A88731", "cn", ("cn", "CN")),
    ("7ABC123", "", ("", "")),                      # any region: no layout decides (BE or CA?)
])
def test_plate_field_names_the_region_its_layout_decides(read, region, want):
    fv = best_candidate([(read, 0.9)], region)
    assert (fv.region, fv.format) == want


def test_region_is_in_the_json_contract_only_when_decided():
    from edge.result import FieldValue, PhotoResult
    r = PhotoResult("x.jpg", fields={"plate": best_candidate([("ABC1D23", 0.9)], "br"),
                                     "vin": FieldValue("1HGCM82633A004352", 0.9, True)})
    out = r.to_contract()["fields"]
    assert out["plate"] == {"value": "ABC1D23", "confidence": 0.9, "valid": True,
                            "region": "br", "format": "BR Mercosul"}
    assert "region" not in out["vin"]
