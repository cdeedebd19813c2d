"""Finding the sheet in a document photo and reading only it (edge/documents/page.py)."""

import cv2
import numpy as np
import pytest

from edge.documents.page import find_page, read_document
from edge.ocr import open_engine
from models.toolkit.documents.synth import generate, photograph


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_the_sheet_on_a_table_is_found_with_all_its_text(seed):
    doc = photograph(generate("receipt_invoice", seed % 3, seed), seed, table=True)
    h, w = doc.image.shape[:2]
    x0, y0, x1, y1 = find_page(doc.image)
    assert (x1 - x0) * (y1 - y0) < 0.85 * w * h
    for b in doc.boxes:
        assert x0 <= b.x0 and y0 <= b.y0 and b.x1 <= x1 and b.y1 <= y1, (b, (x0, y0, x1, y1))


def test_no_crop_when_the_page_fills_the_frame_or_does_not_stand_out():
    doc = photograph(generate("receipt_invoice", 0, 5), 5)          # a scan: the page is the frame
    assert find_page(doc.image) is None
    white = np.full((1200, 900, 3), 235, np.uint8)                  # a white page on a white table
    white[200:1000, 150:750] = 245
    off = photograph(generate("receipt_invoice", 0, 5), 5, table=True).image
    assert find_page(off[:, off.shape[1] // 3:]) is None            # the sheet runs off the frame
    cv2.putText(white, "TOTAL 12.00", (200, 400), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (20, 20, 20), 2)
    assert find_page(white) is None
    assert find_page(np.zeros((10, 10), np.uint8)) is None


def test_a_scan_on_its_light_border_is_read_whole_not_cut_to_its_photo():
    # a passport page scanned with a light margin: the holder's photo is the largest blob that
    # differs from the border, but the fields and the zone beside it are print too
    card = np.full((700, 1000, 3), 232, np.uint8)
    card[150:520, 40:330] = (90, 110, 140)
    for i, y in enumerate(range(160, 500, 48)):
        cv2.putText(card, f"FIELD {i} SPECIMEN 0{i}.01.1980", (380, y), cv2.FONT_HERSHEY_SIMPLEX,
                    0.9, (40, 40, 40), 2)
    for y in (600, 660):
        cv2.putText(card, "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", (30, y),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.85, (30, 30, 30), 2)
    assert find_page(card) is None


@pytest.mark.ocr
def test_reading_the_sheet_gives_the_lines_where_they_are_in_the_photo():
    doc = photograph(generate("receipt_invoice", 0, 7), 7, table=True)
    engine = open_engine(threads=2, max_side=2000, det_max_side=1280)
    page = read_document(engine, doc.image, 1280)
    whole = read_document(engine, doc.image, 1280, find=False)
    x0, y0, x1, y1 = find_page(doc.image)
    assert len(page) >= 10
    for r in page:
        xs, ys = [p[0] for p in r.box], [p[1] for p in r.box]
        assert x0 - 1 <= min(xs) and max(xs) <= x1 + 1 and y0 - 1 <= min(ys) and max(ys) <= y1 + 1
        assert all(x0 - 1 <= c[0] and c[2] <= x1 + 1 for c in r.char_boxes)
    # the same text at the same place, whether the sheet was cut out or not
    tol = 0.01 * max(doc.image.shape[:2])
    near = [r for r in page
            if any(w.text == r.text and np.abs(np.array(w.box) - np.array(r.box)).max() < tol
                   for w in whole)]
    assert len(near) >= 0.7 * len(page), ([r.text for r in page], [r.text for r in whole])
