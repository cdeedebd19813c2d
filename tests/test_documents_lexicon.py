"""Post-OCR repair of a bill's vendor and address (edge/documents/lexicon.py): known words read
with a confusable letter, accents the recogniser added, full stops read for commas; and the
lexicon's learning from true labels and OCR text (models/toolkit/documents/lexicon.py)."""

from edge.documents.bills import BoxTyper, read_bill
from edge.documents.layout import Box
from edge.documents.lexicon import Lexicon, address_separators
from models.toolkit.documents.lexicon import learn

LEX = Lexicon({"PERINDUSTRIAN": 40, "TASIK": 3, "SELANGOR": 90, "JALAN": 200, "GARDENIA": 20,
               "TAMAN": 80, "TAMAR": 2, "PUDU": 2, "SDN": 150},
              frozenset({("L", "I"), ("I", "L"), ("O", "D"), ("U", "D"), ("Á", "A")}))


def test_a_known_word_read_with_a_confusable_letter_is_repaired():
    assert LEX.correct("KAWASAN PERINDUSTRLAN TAMPOI") == "KAWASAN PERINDUSTRIAN TAMPOI"
    assert LEX.correct("OFF JALAN PUOU") == "OFF JALAN PUDU"
    assert LEX.correct("GARDENLA BAKERIES (KL) SDN BHD") == "GARDENIA BAKERIES (KL) SDN BHD"


def test_an_accent_the_recogniser_added_to_a_known_word_is_dropped():
    assert LEX.correct("JALAN TASÍK UTAMA") == "JALAN TASIK UTAMA"


def test_words_the_lexicon_cannot_explain_are_left_alone():
    # an unknown word, a word two letters away, a non-confusable letter, a German street
    assert LEX.correct("MÜNCHEN HAUPTSTRASSE") == "MÜNCHEN HAUPTSTRASSE"
    assert LEX.correct("PERINDUSTRLOH") == "PERINDUSTRLOH"
    assert LEX.correct("SELANGOX") == "SELANGOX"
    assert Lexicon({"NO": 50}, frozenset({("M", "N")})).correct("MO 12") == "MO 12"  # 2 letters
    assert Lexicon().correct("PERINDUSTRLAN") == "PERINDUSTRLAN"  # no lexicon shipped: as read


def test_two_known_words_that_fit_about_as_well_leave_the_word_as_read():
    lex = Lexicon({"TAMAN": 3, "TAMAI": 2}, frozenset({("L", "N"), ("L", "I")}))
    assert lex.correct("TAMAL") == "TAMAL"
    assert Lexicon({"TAMAN": 9, "TAMAI": 2}, lex.confusions).correct("TAMAL") == "TAMAN"


def test_full_stops_between_address_parts_become_commas_but_abbreviations_keep_theirs():
    assert address_separators("TAMAN AIR BIRU. 81700 PASIR GUDANG, JOHOR.") == \
        "TAMAN AIR BIRU, 81700 PASIR GUDANG, JOHOR."
    assert address_separators("NO. 47. JALAN MERANTI 1A. BANDAR BARU") == \
        "NO. 47, JALAN MERANTI 1A, BANDAR BARU"
    assert address_separators("LOT P.T. 2811, JALAN ANGSA") == "LOT P.T. 2811, JALAN ANGSA"
    assert address_separators("52100 KL..") == "52100 KL."


def test_the_shipped_bill_reader_repairs_the_address_and_drops_a_registration_number():
    typer = BoxTyper.load()
    assert typer.lexicon.words and typer.lexicon.confusions   # the shipped lexicon is loaded
    boxes = [Box(100, 40, 500, 70, "DION REALTIES SDN BHD (CO, NO:20154-T)"),
             Box(100, 80, 520, 105, "12, JALAN TAMPOI 7/4,KAWASAN PERINDUSTRLAN"),
             Box(100, 110, 520, 135, "TAMPOI. 81200 JOHOR BAHRU,JOHOR"),
             Box(100, 160, 300, 185, "TEL: 07-2345678"),
             Box(100, 200, 300, 225, "DATE: 12/03/2018"),
             Box(100, 400, 250, 425, "TOTAL"), Box(400, 400, 500, 425, "53.55")]
    got, _ = read_bill(boxes, typer)
    assert got["vendor"].value == "DION REALTIES SDN BHD"
    assert got["address"].value == \
        "12, JALAN TAMPOI 7/4,KAWASAN PERINDUSTRIAN TAMPOI, 81200 JOHOR BAHRU,JOHOR"


def test_the_lexicon_learns_words_met_twice_and_confusions_seen_twice():
    truth = {"company": "GARDENIA BAKERIES SDN BHD", "address": "KAWASAN PERINDUSTRIAN"}
    read = [Box(0, 0, 100, 20, "GARDENLA BAKERIES SDN BHD"),
            Box(0, 30, 100, 50, "KAWASAN PERINDUSTRIAN")]
    once = learn([(truth, read)])
    assert once.words == {} and once.confusions == frozenset()
    twice = learn([(truth, read), (truth, read)])
    assert twice.words["GARDENIA"] == 2 and "BHD" in twice.words
    assert twice.confusions == {("L", "I")}


def test_a_document_bundle_whose_lexicon_was_changed_is_refused(tmp_path):
    import shutil

    import pytest

    from edge.bundle import BundleError
    from edge.documents.bills import MODEL_DIR
    from edge.modelref import read_ref
    bundle = tmp_path / "document-classifier"
    shutil.copytree(MODEL_DIR, bundle)
    assert read_ref(bundle).kind == "document"
    lexicon = bundle / "bill_lexicon.json"
    lexicon.write_text(lexicon.read_text().replace('"SELANGOR"', '"SELANGOX"'))
    with pytest.raises(BundleError, match=r"bill_lexicon"):
        read_ref(bundle)
