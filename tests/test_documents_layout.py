"""Box attributes and neighbour relations on constructed layouts; the template-free bill reader
and the document-type model on generated documents (no OCR needed: their boxes are known)."""


import cv2
import numpy as np

from edge.documents.bills import (BOX_TYPES, FEATURE_DIM, BoxTyper, bill_features, field_match,
                                  read_bill)
from edge.documents.doctype import DocTypeModel
from edge.documents.layout import (CONCEPT_DIM, Box, box_features, reading_order, relations,
                                   same_line)
from models.toolkit.documents.synth import DOC_TYPES, HELD_OUT, generate, photograph


def test_relations_on_a_two_column_layout():
    b = [Box(10, 10, 60, 30, "TOTAL"), Box(200, 12, 260, 30, "33.90"),
         Box(10, 40, 60, 60, "TAX"), Box(200, 42, 260, 60, "1.92"),
         Box(10, 100, 120, 120, "THANK YOU")]
    r = relations(b)
    assert same_line(b[0], b[1]) and not same_line(b[0], b[2])
    assert (r[0].right, r[0].left, r[0].below, r[0].above) == (1, -1, 2, -1)
    assert (r[1].left, r[1].below) == (0, 3)
    assert r[3].above == 1 and r[3].left == 2 and r[4].above == 2
    assert r[0].same_line == (1,) and r[4].same_line == ()
    assert abs(r[0].right_gap - (200 - 60) / 20) < 1e-6       # in units of the box height
    assert [x.text for x in reading_order(list(reversed(b)))] == [
        "TOTAL", "33.90", "TAX", "1.92", "THANK YOU"]


def test_box_features_have_fixed_sizes_and_positions_relative_to_the_text_area():
    b = [Box(100, 100, 200, 120, "A"), Box(100, 300, 400, 320, "B")]
    f = box_features(b, np.full((500, 500), 255, np.uint8))
    assert f["text"].shape == (2, 128 + 6 + CONCEPT_DIM) and f["visual"].shape == (2, 24)
    assert f["position"].shape == (2, 10)
    assert f["position"][0, 0] == 0 and f["position"][1, 3] == 1  # x0 of first, y1 of last
    x, attrs, rels = bill_features(b)
    assert x.shape == (2, FEATURE_DIM) and np.isfinite(x).all()


def test_bill_reader_links_total_and_date_on_generated_invoices():
    typer = BoxTyper.load()
    assert len(typer.proba(np.zeros((1, FEATURE_DIM), np.float32))[0]) == len(BOX_TYPES)
    ok = {"total": 0, "date": 0, "vendor": 0}
    n = 8
    for s in range(n):
        doc = generate("receipt_invoice" if s % 2 else "repair_estimate", s % 3, 500 + s)
        got, _ = read_bill(doc.boxes, typer)
        ok["total"] += got.get("total") is not None and got["total"].value == doc.fields["total"]
        ok["date"] += got.get("date") is not None and got["date"].value == doc.fields["date"]
        ok["vendor"] += got.get("vendor") is not None and field_match(
            "vendor", got["vendor"].value, doc.fields["vendor"])
    assert ok["total"] >= n - 1 and ok["date"] >= n - 1 and ok["vendor"] >= n - 2, ok


def test_document_type_on_held_out_layouts():
    model = DocTypeModel.load()
    assert model.labels == list(DOC_TYPES) and model.modalities == ("text", "visual", "position")
    right = 0
    for i, t in enumerate(DOC_TYPES):
        doc = photograph(generate(t, HELD_OUT, 900 + i), i)
        head = model.classify(doc.boxes, cv2.cvtColor(doc.image, cv2.COLOR_BGR2GRAY),
                              from_ocr=False)
        right += head.label == t
        assert abs(sum(head.probs) - 1) < 1e-4
    assert right >= len(DOC_TYPES) - 1
    assert model.classify([], None).label == "other_document"


def test_eval_documents_reports_the_held_out_layout(capsys):
    from models.toolkit.documents.evaluate import main_documents
    assert main_documents(["--n", "2"]) == 0
    out = capsys.readouterr().out
    assert "document type on 16 documents (generated, held-out layout" in out
    acc = float(out.split("accuracy ")[1].split()[0])
    assert acc >= 0.9, out
    line = next(ln for ln in out.splitlines() if ln.startswith("training-time comparison"))
    assert "leave one source out" in line and " fusion 0." in line and "text_only" in line
