"""Every model kind over the fleet channel, through a real Mosquitto (the project's ACL): a new
plate-reader release is installed, passes its canaries and reads the next photo's plate (seen in
the result and at central); a mislabelled detector released together with its refiner is rolled
back as one, with a report."""

import json
import shutil
import time

import cv2

from conftest import ROOT
from edge.config import load_profile_file
from edge.ingest import ingest
from edge.modelref import read_ref
from edge.pipeline import Pipeline
from edge.registry import ModelRegistry
from edge.samples import jpeg_bytes, plate_closeup
from edge.store import Store
from models.toolkit.canaries import write as write_canaries
from sync.central import db as cdb
from sync.fleet.publisher import Publisher
from sync.fleet.updater import Updater
from sync.harness.broker import Broker
from sync.settings import BrokerSettings
from sync_fixtures import sqlite_db  # noqa: F401
from sync_helpers import PASSWORDS, CentralProc, run_worker

DEVICE = "dev-a"
PUB_PW = "pub-secret"


def release_of(name: str, version: str, dest, mutate=None):
    """A copy of the shipped bundle ``name`` as a new release ``version``, with its canaries."""
    d = dest / f"{name}-{version}"
    shutil.copytree(ROOT / "models" / name, d, ignore=shutil.ignore_patterns("canary"))
    m = json.loads((d / "manifest.json").read_text())
    m["version"] = version
    m.pop("canary", None)
    (d / "manifest.json").write_text(json.dumps(m))
    write_canaries(d)
    if mutate:
        m = json.loads((d / "manifest.json").read_text())
        mutate(m)
        (d / "manifest.json").write_text(json.dumps(m))
    return d


def swap_plate_and_vin(m):
    """A mislabelled export: the detector's plate and vin classes change places."""
    def swap(labels):
        return [{"plate": "vin", "vin": "plate"}.get(x, x) for x in labels]
    m["labels"] = swap(m["labels"])
    for out in m["outputs"].values():
        if out.get("labels"):
            out["labels"] = swap(out["labels"])


def profile_for(tmp_path, port, pinned, channel="stable"):
    src = (ROOT / "firmware_config" / "kiosk-x86.toml").read_text()
    src = src.replace("port = 1883", f"port = {port}")
    src = src.replace('path = "~/.claim-edge/store.db"', f'path = "{tmp_path / "dev" / "store.db"}"')
    src = src.replace('id = "kiosk-0001"', f'id = "{DEVICE}"')
    src = src.replace('username = "kiosk-0001"', f'username = "{DEVICE}"')
    src = src.replace('channel = "stable"', f'channel = "{channel}"')
    src = src.replace("public_keys = []", f"public_keys = {json.dumps(pinned)}")
    src = src.replace("max_classify_ms = 100.0", "max_classify_ms = 5000.0")
    p = tmp_path / "dev.toml"
    p.write_text(src)
    return load_profile_file(p)


def follow_once(profile, port):
    up = Updater(profile, BrokerSettings(port=port, username=DEVICE, password=PASSWORDS[DEVICE]))
    up.start()
    assert up.done.wait(120), "no release handled"
    time.sleep(0.3)
    up.stop()
    return up.outcomes[-1]


def retained_report(port) -> dict:
    got = {}
    from sync.fleet.mqtt import connect
    c = connect(BrokerSettings(port=port, username="fleet-publisher", password=PUB_PW),
                f"reader-{time.time_ns()}",
                on_message=lambda c, u, msg: got.update(json.loads(msg.payload)),
                on_connect=lambda c: c.subscribe(f"fleet/{DEVICE}/model", qos=1))
    for _ in range(50):
        if got:
            break
        time.sleep(0.1)
    c.disconnect()
    c.loop_stop()
    return got


def test_plate_reader_release_reads_the_next_plate_and_a_broken_detector_rolls_back(
        tmp_path, sqlite_db):
    broker = Broker(tmp_path / "broker", {**PASSWORDS, "fleet-publisher": PUB_PW}).start()
    central = CentralProc(sqlite_db, broker.port, tmp_path / "blobs").start()
    try:
        pub = Publisher(tmp_path / "fleet", BrokerSettings(port=broker.port,
                                                           username="fleet-publisher",
                                                           password=PUB_PW))
        pub.keys.generate()
        profile = profile_for(tmp_path, broker.port, pub.keys.pinned())
        registry = ModelRegistry(profile.fleet.resolved_models_dir(profile.store))

        # 1. a new plate-reader release: installed, its canaries pass, it is active
        reader = release_of("plate-reader", "1.2.1-fleet", tmp_path)
        pub.publish_bundle(reader, "stable")
        out = follow_once(profile, broker.port)
        assert out["status"] == "active", out
        assert "plate_reader plate-reader 1.2.1-fleet" in out["reason"]
        assert "canary plates read as expected" in out["reason"]
        assert read_ref(registry.active_path("plate-reader")).version == "1.2.1-fleet"

        # 2. the next photo's plate is read by the new version, in the result and at central
        photo = tmp_path / "plate.jpg"
        photo.write_bytes(jpeg_bytes(plate_closeup("KLM4821", seed=3)))
        store = Store.open(profile.store.resolved)
        results = []
        try:
            ingest([str(photo)], "CLM-F1", Pipeline(profile), store, on_result=results.append)
        finally:
            store.close()
        doc = results[0].to_contract()
        assert doc["fields"]["plate"]["value"] == "KLM4821"
        readers = [m for m in doc["models"] if m["kind"] == "plate_reader"]
        assert readers == [dict(kind="plate_reader", name="plate-reader", version="1.2.1-fleet",
                                sha256=read_ref(reader).sha256)]
        assert doc["model"]["name"] == "claim-classifier"   # the contract's key is unchanged
        assert {m["kind"] for m in doc["models"]} >= {"classifier", "detector", "plate_reader"}
        stats = run_worker(profile.store.resolved, broker.port, tmp_path / "w.log",
                           device=DEVICE)
        assert stats["ack_committed"] == 1
        d = cdb.open_database(sqlite_db, create=False)
        try:
            rec = cdb.Record.get()
            plate = cdb.KeyField.get((cdb.KeyField.record == rec.uuid)
                                     & (cdb.KeyField.name == "plate")).value
            at_central = {(m.kind, m.name, m.version) for m in
                          cdb.RecordModel.select().where(cdb.RecordModel.record == rec.uuid)}
        finally:
            d.close()
        assert plate == "KLM4821"
        assert ("plate_reader", "plate-reader", "1.2.1-fleet") in at_central

        # 3. a mislabelled detector, released with its refiner: both rolled back, reported
        broken = release_of("detector", "1.1.1-broken", tmp_path, mutate=swap_plate_and_vin)
        refiner = release_of("box-refiner", "1.2.1-fleet", tmp_path)
        pub.publish_bundle([broken, refiner], "stable")
        out = follow_once(profile, broker.port)
        assert out["status"] == "rolled_back", out
        assert "detector detector 1.1.1-broken failed" in out["reason"]
        assert "no plate box" in out["reason"]
        assert registry.active_path("detector") is None       # the shipped detector again
        assert registry.active_path("box-refiner") is None    # and its refiner with it
        assert read_ref(registry.active_path("plate-reader")).version == "1.2.1-fleet"
        report = retained_report(broker.port)
        assert report["status"] == "rolled_back"
        assert {m["name"] for m in report["models"]} == {"detector", "box-refiner"}
        # the photos still get the shipped detector
        again = Pipeline(profile).analyze(str(photo))[0].to_contract()
        det = [m for m in again["models"] if m["kind"] == "detector"][0]
        assert det["version"] == read_ref(ROOT / "models" / "detector").version
        assert again["fields"]["plate"]["value"] == "KLM4821"
    finally:
        central.stop()
        broker.stop()


def test_release_without_canaries_is_refused_at_publish(tmp_path):
    d = tmp_path / "plate-reader"
    shutil.copytree(ROOT / "models" / "plate-reader", d, ignore=shutil.ignore_patterns("canary"))
    m = json.loads((d / "manifest.json").read_text())
    m.pop("canary", None)
    (d / "manifest.json").write_text(json.dumps(m))
    from sync.fleet import release as rel
    try:
        rel.pack(d)
    except rel.ReleaseError as e:
        assert "no canary inputs" in str(e) and "models.toolkit.canaries" in str(e)
    else:
        raise AssertionError("a bundle without canaries was packed")


def test_plate_reader_canary_catches_a_reader_that_misreads(tmp_path):
    from edge.health import check_bundle
    d = release_of("plate-reader", "9.9.9", tmp_path)
    assert check_bundle(d, 2, 5000).ok
    m = json.loads((d / "manifest.json").read_text())
    m["alphabet"] = m["alphabet"][::-1]          # a mislabelled export reads other characters
    (d / "manifest.json").write_text(json.dumps(m))
    h = check_bundle(d, 2, 5000)
    assert not h.ok and "manifest expects" in h.reason


def test_canary_images_are_generated_not_copied(tmp_path):
    d = release_of("detector", "9.9.9", tmp_path)
    entries = json.loads((d / "manifest.json").read_text())["canary"]
    assert entries and all(e["file"].startswith("canary/") for e in entries)
    img = cv2.imread(str(d / entries[0]["file"]))
    assert img is not None and img.shape[:2] == (360, 640)
