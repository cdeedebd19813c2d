"""OCR with the real RapidOCR engine on generated text images: lines, word gaps, the cache."""

import json
import shutil

import cv2
import numpy as np
import pytest

from edge.ocr import OcrCache, RawLine, lines_from_raw, open_engine, recover_spaces
from edge.ocr.models import MODELS_DIR, OcrModelMissing, space_gap
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


@pytest.mark.ocr
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


@pytest.mark.ocr
def test_character_cells_put_the_word_gaps_back(page):
    _, raw = page
    name = next(r for r in raw if "KAF" in r.text.upper())
    assert name.chars and len(name.chars) == len(name.char_boxes)
    assert "JOHN OKAFOR" in recover_spaces(name).upper().replace("0", "O")
    # a line whose spaces the recogniser dropped, with a clear gap between the words' cells
    cells = [(10.0 + 20 * i + (30 if i >= 4 else 0), 0.0, 28.0 + 20 * i + (30 if i >= 4 else 0),
              30.0) for i in range(8)]
    glued = RawLine(((0, 0), (200, 0), (200, 30), (0, 30)), "JOHNDOE1", 0.9, tuple("JOHNDOE1"),
                    tuple(cells))
    assert recover_spaces(glued) == "JOHN DOE1"


@pytest.mark.ocr
def test_cache_round_trip_by_sha256(tmp_path, page):
    _, raw = page
    cache = OcrCache(tmp_path, "k1")
    assert cache.get("ab" * 32) is None
    cache.put("ab" * 32, raw)
    assert cache.get("ab" * 32) == raw
    assert OcrCache(tmp_path, "k2").get("ab" * 32) is None  # other engine settings


@pytest.mark.ocr
def test_a_smaller_detector_input_reads_the_same_lines_in_full_resolution_boxes(engine, page):
    """[ocr] det_max_side: the detector sees the page at most that large, the lines are still
    cut from (and boxed in) the image the engine was given."""
    img, _ = page
    big = cv2.resize(img, None, fx=1.6, fy=1.6, interpolation=cv2.INTER_CUBIC)  # 1760 px wide
    small_det = open_engine(threads=2, max_side=1800, word_boxes=True, det_max_side=800)
    got = small_det.read_raw(big)
    pre = small_det._engine().text_det.get_preprocess()
    assert (pre.limit_side_len, pre.limit_type) == (800, "max")
    assert pre.resize(big).shape[1] <= 800
    ref = engine.read_raw(big)
    fold = lambda s: s.upper().replace(" ", "").replace("O", "0")  # noqa: E731
    assert [fold(r.text) for r in got] == [fold(r.text) for r in ref]
    for a, b in zip(got, ref):  # the same places in the big image, not the detector's pixels
        assert np.abs(np.array(a.box) - np.array(b.box)).max() < 0.02 * big.shape[1]


@pytest.mark.ocr
@pytest.mark.parametrize("rec_model", ["rapidocr"])
def test_the_other_recognisers_read_the_same_page(rec_model, page):
    img, _ = page
    eng = open_engine(threads=2, max_side=1600, word_boxes=True, rec_model=rec_model)
    lines = lines_from_raw(eng.read_raw(img), gap_ratio=space_gap(rec_model))
    fold = lambda s: s.upper().replace(" ", "").replace("O", "0")  # noqa: E731
    texts = [fold(t.text) for t in lines]
    for want in ("INVOICENO:20391", "DATE:05/03/2018", "TOTAL159.00"):
        assert fold(want) in texts, (rec_model, texts)


def test_a_missing_recogniser_says_which_file(tmp_path):
    with pytest.raises(OcrModelMissing, match=r"rec\.onnx is missing"):
        open_engine(rec_model=str(tmp_path / "rec.onnx"))
    with pytest.raises(OcrModelMissing, match=r"'tesseract': no such bundle"):
        open_engine(rec_model="tesseract")


def test_a_damaged_recogniser_bundle_is_refused_naming_file_and_key(tmp_path):
    """A partial copy (a fleet update cut short, a bad SD card) must not be run."""
    bundle = tmp_path / "text-recognizer"
    shutil.copytree(MODELS_DIR / "text-recognizer", bundle)
    with open(bundle / "dictionary.txt", "a", encoding="utf-8") as f:
        f.write("x\n")
    with pytest.raises(OcrModelMissing, match=r"dictionary\.txt: sha256 does not match .*"
                                              r"'dictionary_sha256'"):
        open_engine(rec_model=str(bundle))

    def manifest_with(**kw):
        m = json.loads((MODELS_DIR / "text-recognizer" / "manifest.json").read_text())
        (bundle / "manifest.json").write_text(json.dumps(dict(m, **kw)))
    shutil.copy(MODELS_DIR / "text-recognizer" / "dictionary.txt", bundle / "dictionary.txt")
    # the shipped bundle's network is the file the rapidocr wheel carries, hash-checked
    manifest_with()
    assert open_engine(rec_model=str(bundle)).rec_files.model.endswith(
        "rapidocr/models/PP-OCRv6_rec_small.onnx")
    manifest_with(sha256="0" * 64)   # another rapidocr build's file
    with pytest.raises(OcrModelMissing, match=r"PP-OCRv6_rec_small\.onnx: sha256 does not "
                                              r"match .*'sha256'"):
        open_engine(rec_model=str(bundle))
    manifest_with(model_file="package:rapidocr/models/gone.onnx")
    with pytest.raises(OcrModelMissing, match=r"gone\.onnx: file named by .* 'model_file'"):
        open_engine(rec_model=str(bundle))
    manifest_with(model_file="package:no_such_ocr_package/rec.onnx")
    with pytest.raises(OcrModelMissing, match=r"'no_such_ocr_package', which is not installed"):
        open_engine(rec_model=str(bundle))
    manifest_with(model_file="model.onnx")   # a bundle that carries its own file, missing
    with pytest.raises(OcrModelMissing, match=r"model\.onnx: file named by .* 'model_file'"):
        open_engine(rec_model=str(bundle))


@pytest.mark.ocr
def test_reads_with_the_network_unreachable(page, monkeypatch):
    """A device in the field is offline: opening the engine and reading a page must not try to
    fetch a model (RapidOCR downloads defaults it cannot find)."""
    import socket

    def no_network(*a, **k):
        raise OSError("network unreachable (test)")
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    from edge.ocr import rapid
    rapid.shared.cache_clear()  # a fresh RapidOCR object, nothing loaded yet
    img, _ = page
    eng = open_engine(threads=1, max_side=1600, word_boxes=True)
    assert "TOTAL" in " ".join(t.text.upper() for t in lines_from_raw(eng.read_raw(img)))


@pytest.mark.ocr
def test_the_int8_text_detector_finds_the_lines_the_wheels_detector_finds(page):
    img, raw = page
    eng = open_engine(threads=2, max_side=1600, word_boxes=True, det_model="text-detector")
    assert eng.models[0]["name"] == "text-detector"        # results name the bundle that read
    got, ref = lines_from_raw(eng.read_raw(img)), lines_from_raw(raw)
    assert [t.text for t in got] == [t.text for t in ref]
    for a, b in zip(got, ref):
        assert np.abs(np.array(a.box) - np.array(b.box)).max() < 6   # pixels, on a 1100 px page


def test_the_shipped_int8_text_detector_passes_its_canaries_and_a_changed_one_is_refused(
        tmp_path):
    from edge.health import check_bundle
    assert check_bundle(MODELS_DIR / "text-detector", 2, 1e9).ok
    bundle = tmp_path / "text-detector"
    shutil.copytree(MODELS_DIR / "text-detector", bundle)
    data = bytearray((bundle / "model.onnx").read_bytes())
    data[-100] ^= 0xFF
    (bundle / "model.onnx").write_bytes(bytes(data))
    health = check_bundle(bundle, 2, 1e9)
    assert not health.ok and "sha256" in health.reason
