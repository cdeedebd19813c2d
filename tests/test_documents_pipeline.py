"""A document photo through `claim-edge analyze --json` (real OCR), the trigger that keeps
photos without text free, identity documents' retention and the purge."""

import datetime as dt
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.config import load_profile_file
from edge.decode import decode_bytes
from edge.documents.stage import DocumentStage
from edge.pipeline import PhotoContext
from edge.result import FieldValue, HeadResult, PhotoResult, TextLine, Verification
from edge.routing import route
from edge.samples import jpeg_bytes
from models.toolkit.documents.synth import generate, photograph


def _ocr_profile(profile_path: Path, tmp_path: Path, always: bool = True) -> Path:
    src = profile_path.read_text()
    src = src.replace("always = false", f"always = {str(always).lower()}")
    src = src.replace('cache_dir = ""', f'cache_dir = "{tmp_path / "ocr"}"')
    profile_path.write_text(src)
    return profile_path


@pytest.mark.ocr
def test_document_photo_through_analyze_json(tmp_path, cli, profile_path):
    prof = _ocr_profile(profile_path, tmp_path)
    doc = photograph(generate("receipt_invoice", 0, 7), 7, table=True)
    lic = photograph(generate("driver_license", 0, 3), 3)
    paths = []
    for name, d in (("receipt.jpg", doc), ("license.jpg", lic)):
        p = tmp_path / name
        p.write_bytes(jpeg_bytes(d.image))
        paths.append(str(p))
    r = cli("analyze", "--json", "--profile", str(prof), *paths)
    assert r.returncode == 0, r.stderr
    rec, dl = [json.loads(x) for x in r.stdout.splitlines()]

    assert rec["document"]["type"] == "receipt_invoice" and 0 < rec["document"]["score"] <= 1
    assert len(rec["text"]) >= 10
    assert all(len(t["box"]) == 4 and t["text"] and 0 < t["score"] <= 1 for t in rec["text"])
    fields = rec["fields"]
    assert fields["date"]["valid"] and dt.date.fromisoformat(fields["date"]["value"])
    # OCR of a drawn font may misread a digit; what is checked here is the wiring
    assert fields["date"]["value"] == doc.fields["date"] or \
        fields["total"]["value"] == doc.fields["total"], (fields, doc.fields)
    c = rec["completeness"]
    assert c["document_type"] == "receipt_invoice" and c["required"] == ["vendor", "date", "total"]
    assert c["missing"] == []
    assert rec["timings_ms"]["ocr"] > 0

    assert dl["document"]["type"] == "driver_license"
    assert dl["fields"]["license_number"]["value"].replace("O", "0") == \
        lic.fields["license_number"].replace("O", "0")
    assert dl["fields"]["date_of_birth"]["value"] == lic.fields["date_of_birth"]
    assert set(dl["completeness"]["required"]) == {"name", "license_number", "date_of_birth",
                                                   "expiry_date"}
    # the synthetic licence's expiry may lie in the past: then it is flagged
    exp = dl["fields"]["expiry_date"]
    assert exp["value"] == lic.fields["expiry_date"]
    assert exp["valid"] == (dt.date.fromisoformat(exp["value"]) >= dt.date.today())
    assert ("expiry_date" in dl["completeness"]["invalid"]) == (not exp["valid"])



def test_a_missing_ocr_model_files_the_photo_and_says_why(tmp_path, cli, profile_path):
    prof = _ocr_profile(profile_path, tmp_path)
    prof.write_text(prof.read_text().replace('rec_model = "text-recognizer"',
                                             f'rec_model = "{tmp_path / "gone.onnx"}"'))
    p = tmp_path / "receipt.jpg"
    p.write_bytes(jpeg_bytes(photograph(generate("receipt_invoice", 0, 7), 7).image))
    r = cli("ingest", "--profile", str(prof), "--claim", "C-1", str(p))
    assert r.returncode == 0, r.stderr
    assert "OCR off" in r.stderr and "gone.onnx is missing" in r.stderr
    r = cli("claims", "show", "C-1", "--profile", str(prof))
    assert r.returncode == 0 and "receipt.jpg" in r.stdout, r.stdout + r.stderr


def test_photos_without_text_never_load_the_ocr(tmp_path, profile_path):
    profile = load_profile_file(_ocr_profile(profile_path, tmp_path, always=False))
    stage = DocumentStage(profile)
    img = np.full((400, 600, 3), 120, np.uint8)
    decoded = decode_bytes(jpeg_bytes(img), "x.jpg", max_pixels=10**8, classify_side=640)
    for cat in ("vehicle", "damage", "other"):
        r = PhotoResult(image="x.jpg", category=HeadResult(cat, 0.9))
        stage.run(PhotoContext(decoded=decoded, profile=profile, result=r))
        assert r.text == [] and r.document is None and r.completeness is None
    assert stage._engine is None and stage._doctype is None
    assert stage.wants(PhotoResult(image="x", category=HeadResult("document", 0.9))) == (True,
                                                                                          True)
    assert stage.wants(PhotoResult(image="x", category=HeadResult("vin", 0.9)))[0]
    assert not stage.wants(PhotoResult(image="x", category=HeadResult("plate", 0.9)))[0]


def test_identity_document_retention_and_purge(tmp_path, profile_path):
    from edge.checklist import claim_checklist, record_checklist
    from edge.purge import purge_expired
    from edge.store import Store
    from edge.store.schema import CompletenessCheck, Image, KeyField, Outbox, TextLine as TL

    profile = load_profile_file(profile_path)
    store = Store.open(tmp_path / "s" / "store.db")
    data = jpeg_bytes(photograph(generate("driver_license", 0, 1), 1).image)
    decoded = decode_bytes(data, "dl.jpg", max_pixels=10**8, classify_side=640)
    r = PhotoResult(image="dl.jpg", sha256=decoded.sha256, width=decoded.width,
                    height=decoded.height, category=HeadResult("document", 0.95),
                    verification=Verification(True, 0.9),
                    document=HeadResult("driver_license", 0.97),
                    text=[TextLine(((0, 0), (10, 0), (10, 5), (0, 5)), "NAME: ANNA KIM", 0.9)],
                    fields={"name": FieldValue("ANNA KIM", 0.9, True),
                            "license_number": FieldValue("D123456", 0.9, True),
                            "date_of_birth": FieldValue("1980-03-05", 0.9, True),
                            "expiry_date": FieldValue("2021-01-02", 0.9, False,
                                                      reason="expired on 2021-01-02")})
    r.routing = route(profile.routing, "document", True, None, "driver_license")
    assert "identity_verification" in r.scenarios
    out = store.add_photo("CLM-9", decoded, r, profile)
    path = store.image_path(decoded.sha256)
    assert path.is_file()

    items = claim_checklist("CLM-9", profile)
    by = {it.item: it for it in items}
    assert by["field: driver_license.name"].status == "present"
    assert by["field: driver_license.expiry_date"].status == "invalid"
    assert by["document: driver_license valid"].status == "invalid"
    assert by["photo: driver's license"].status != "missing"   # found (quality not measured here)
    record_checklist("CLM-9", items)
    assert CompletenessCheck.select().where(CompletenessCheck.photo == out.photo_uuid).count() \
        == 5

    days = profile.retention_days["identity_verification"]
    assert days > 0
    soon = dt.datetime.utcnow() + dt.timedelta(days=days - 1)
    later = dt.datetime.utcnow() + dt.timedelta(days=days + 1)
    assert purge_expired(store, now=soon).purged == []
    rep = purge_expired(store, now=later)               # not synced yet: kept
    assert rep.purged == [] and rep.kept_unsynced == [decoded.sha256]
    Outbox.update(state="acked").execute()
    assert purge_expired(store, now=later, dry_run=True).purged == [decoded.sha256]
    assert path.is_file()
    rep = purge_expired(store, now=later)
    assert rep.purged == [decoded.sha256] and rep.freed_bytes == len(data)
    assert not path.exists()
    img = Image.get_by_id(decoded.sha256)
    assert img.purged_at is not None and img.sha256 == decoded.sha256
    assert KeyField.select().count() == 4 and TL.select().count() == 1   # what was read stays
    assert purge_expired(store, now=later).purged == []                 # idempotent
    store.close()


def test_purge_command(tmp_path, cli, profile_path):
    r = cli("purge", "--dry-run", "--profile", str(profile_path))
    assert r.returncode == 0, r.stderr
    assert "would remove 0 expired original(s)" in r.stderr


class CountingEngine:
    """The real RapidOCR engine, counting the images it is given."""

    def __init__(self, engine):
        self.engine, self.name, self.calls = engine, engine.name, 0

    def read_raw(self, image):
        self.calls += 1
        return self.engine.read_raw(image)


@pytest.mark.ocr
def test_ocr_results_are_cached_by_sha256(tmp_path, profile_path):
    from edge.ocr import open_engine
    profile = load_profile_file(_ocr_profile(profile_path, tmp_path, always=True))
    img = np.full((300, 900, 3), 250, np.uint8)
    cv2.putText(img, "VIN 1HGCM82633A004352", (30, 160), cv2.FONT_HERSHEY_DUPLEX, 1.3,
                (20, 20, 20), 2, cv2.LINE_AA)
    decoded = decode_bytes(jpeg_bytes(img), "vin.jpg", max_pixels=10**8, classify_side=640)
    eng = CountingEngine(open_engine(threads=2))
    results = []
    for _ in range(2):
        stage = DocumentStage(profile, engine=eng)     # a new stage: only the disk cache is shared
        r = PhotoResult(image="vin.jpg", category=HeadResult("vin", 0.9))
        stage.run(PhotoContext(decoded=decoded, profile=profile, result=r))
        results.append(r)
    assert eng.calls == 1
    assert [t.text for t in results[0].text] == [t.text for t in results[1].text]
    assert results[0].text and results[0].document is None      # a VIN photo is not a page
    vin = results[1].fields.get("vin")
    assert vin is not None and vin.value == "1HGCM82633A004352" and vin.valid
    assert list((tmp_path / "ocr").rglob("*.json"))
