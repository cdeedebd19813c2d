"""Operators' corrections and reviewers' decisions go back as training data: a device's
corrections sync to central (PostgreSQL and SQLite), central exports them in the data folder's
formats, and the toolkit's loaders read the export and count the corrected samples."""

import csv
import hashlib
import json
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT
from edge.config import load_profile_file
from edge.corrections import correct_field
from edge.ingest import ingest
from edge.pipeline import Pipeline
from edge.samples import document_page, jpeg_bytes, plate_closeup, street_scene
from edge.store import Store
from sync.central import db as cdb
from sync_fixtures import *  # noqa: F401,F403
from sync_helpers import CentralProc, env_with_passwords, run_worker


@pytest.fixture(scope="module")
def device_store(tmp_path_factory):
    """A device store with three photos analysed by the shipped models, two of them corrected
    by the operator (a plate and a total)."""
    tmp = tmp_path_factory.mktemp("device")
    src = (ROOT / "firmware_config" / "kiosk-x86.toml").read_text()
    src = src.replace('path = "~/.claim-edge/store.db"', f'path = "{tmp / "store.db"}"')
    src = src.replace('id = "kiosk-0001"', 'id = "dev-a"')
    (tmp / "p.toml").write_text(src)
    profile = load_profile_file(tmp / "p.toml")
    photos = {"plate": plate_closeup("KLM4821", seed=5), "scene": street_scene(),
              "invoice": document_page()}
    paths = []
    for name, img in photos.items():
        (tmp / f"{name}.jpg").write_bytes(jpeg_bytes(img))
        paths.append(str(tmp / f"{name}.jpg"))
    store = Store.open(profile.store.resolved)
    results = []
    try:
        ingest(paths, "CLM-C1", Pipeline(profile), store, on_result=results.append)
        from edge.store.schema import Photo
        uuids = {Photo.get(Photo.source_path == p).source_path.rsplit("/", 1)[-1][:-4]:
                 str(Photo.get(Photo.source_path == p).uuid) for p in paths}
        correct_field(store, uuids["plate"], "plate", "KLM4827")
        correct_field(store, uuids["invoice"], "total", "160.00")
    finally:
        store.close()
    return tmp, uuids, {r.image.rsplit("/", 1)[-1][:-4]: r.to_contract() for r in results}


def central_cli(*args):
    return subprocess.run([sys.executable, "-m", "sync", "central", *args], cwd=ROOT,
                          env=env_with_passwords(), capture_output=True, text=True, timeout=120)


def test_corrections_exported_and_read_by_the_toolkit(tmp_path, broker, central_db,
                                                      device_store):
    src, uuids, results = device_store
    shutil.copytree(src, tmp_path / "dev")
    store = tmp_path / "dev" / "store.db"
    central = CentralProc(central_db, broker.port, tmp_path / "blobs").start()
    try:
        stats = run_worker(store, broker.port, tmp_path / "w.log")
    finally:
        central.stop()
    assert stats["ack_committed"] == 3

    r = central_cli("review", uuids["invoice"], "--head", "document", "--label",
                    "repair_estimate", "--by", "ana", "--db", central_db)
    assert r.returncode == 0, r.stderr
    r = central_cli("review", uuids["scene"], "--head", "category", "--label", "other",
                    "--db", central_db)
    assert r.returncode == 0, r.stderr
    bad = central_cli("review", uuids["scene"], "--head", "category", "--label", "cat",
                      "--db", central_db)
    assert bad.returncode == 1 and "not a category label" in bad.stderr

    out = tmp_path / "export"
    r = central_cli("export-labels", "--db", central_db, "--blobs", str(tmp_path / "blobs"),
                    "--since", "7d", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "exported 2 corrections and 2 review decisions" in r.stdout

    with open(out / "corrections.csv", newline="") as f:
        corr = {row["field"]: row for row in csv.DictReader(f)}
    assert corr["plate"]["operator_value"] == "KLM4827"
    assert corr["plate"]["model_value"] == results["plate"]["fields"]["plate"]["value"]
    assert corr["total"]["operator_value"] == "160.00"
    kinds = {m["kind"]: m for m in json.loads(corr["plate"]["models"])}
    assert kinds["plate_reader"]["name"] == "plate-reader" and kinds["plate_reader"]["sha256"]
    # the plate set in plate_photos' format, the image byte-identical to the device's
    with open(out / "plate_photos" / "labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0])[:7] == ["image", "region", "x", "y", "w", "h", "plate"]
    assert rows[0]["plate"] == "KLM4827" and int(rows[0]["w"]) > 100
    img = (out / "plate_photos" / rows[0]["image"]).read_bytes()
    assert hashlib.sha256(img).hexdigest() == results["plate"]["sha256"]
    with open(out / "documents" / "labels.csv", newline="") as f:
        docs = list(csv.DictReader(f))
    assert [(d["doc_type"], d["source_path"]) for d in docs] == [("repair_estimate",
                                                                 uuids["invoice"])]
    assert (out / "not_claim" / "labels.csv").is_file()

    # a second export into the same folder is refused, the first is kept
    again = central_cli("export-labels", "--db", central_db, "--blobs",
                        str(tmp_path / "blobs"), "--out", str(out))
    assert again.returncode == 1 and "not empty" in again.stderr

    # the toolkit reads the export with its own loaders and counts the corrected samples
    from models.toolkit import corrections
    from models.toolkit.plates import data as plate_data
    from models.toolkit.classifier.data import build_samples
    plates = plate_data.real_samples(tmp_path / "no-data", [out])
    assert corrections.count(plates) == 1 and plates[0]["text"] == "KLM4827"
    assert plates[0]["split"] == "train"
    crop = plate_data.real_image(plates[0])
    assert crop is not None and crop.shape[1] > crop.shape[0] > 10
    samples = build_samples(tmp_path / "no-data", n_docs=0, n_other=0, n_ood=0,
                            corrections=[out])
    assert corrections.count(samples) == 3     # the plate photo and crop, and the 'other' photo
    assert {s["category"] for s in samples if s["source"] == "corrections/not_claim"} == {"other"}
    assert corrections.summary(samples, [out])["corrected_samples"] == 3
    from models.toolkit.classifier.card import write_card
    bundle = tmp_path / "card-bundle"
    shutil.copytree(ROOT / "models" / "claim-classifier", bundle)
    card = write_card(bundle, tmp_path / "no-data", samples).read_text()
    assert "3 corrected samples" in card


def test_export_since_in_the_future_is_empty_and_bad_since_is_refused(tmp_path, sqlite_db):
    cdb.open_database(sqlite_db).close()
    r = central_cli("export-labels", "--db", sqlite_db, "--since", "2999-01-01",
                    "--out", str(tmp_path / "e"))
    assert r.returncode == 0 and "exported 0 corrections and 0 review decisions" in r.stdout
    r = central_cli("export-labels", "--db", sqlite_db, "--since", "last week",
                    "--out", str(tmp_path / "f"))
    assert r.returncode == 1 and "--since 'last week'" in r.stderr
