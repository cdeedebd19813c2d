"""The scenario store: content-addressed files, links, durability, audit log, crash recovery."""

import errno
import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time

import peewee
import pytest

from edge import samples
from edge.config import load_profile_file
from edge.ingest import ingest
from edge.pipeline import Pipeline
from edge.store import Store, files
from edge.store.schema import AuditLog, Image, Outbox, Photo, ScenarioAssignment

from conftest import ROOT


@pytest.fixture
def setup(tmp_path, profile_path):
    profile = load_profile_file(profile_path)
    store = Store.open(profile.store.resolved)
    yield profile, Pipeline(profile), store
    store.close()


def write_photos(folder, n, size=(640, 480)):
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        p = folder / f"photo_{i:03d}.jpg"
        p.write_bytes(samples.jpeg_bytes(samples.street_scene(*size, seed=i)))
        paths.append(str(p))
    return paths


def test_same_photo_stored_once_linked_per_claim(tmp_path, setup):
    profile, pipe, store = setup
    paths = write_photos(tmp_path / "in", 2)
    ingest(paths, "CLAIM-A", pipe, store)
    ingest(paths, "CLAIM-A", pipe, store)            # re-run: nothing new
    ingest(paths[:1], "CLAIM-B", pipe, store)        # same bytes, another claim
    assert Photo.select().where(Photo.claim == "CLAIM-A").count() == 2
    assert Photo.select().where(Photo.claim == "CLAIM-B").count() == 1
    assert Image.select().count() == 2
    stored = list((store.root / "images").rglob("*.jpg"))
    assert len(stored) == 2
    for f in stored:
        assert f.stem == hashlib.sha256(f.read_bytes()).hexdigest()
    # every photo is in the outbox once and filed in at least one scenario zone
    assert Outbox.select().count() == 3
    assert all(ScenarioAssignment.select().where(ScenarioAssignment.photo == p).count() >= 1
               for p in Photo.select())


def test_audit_log_is_append_only(tmp_path, setup):
    _, pipe, store = setup
    ingest(write_photos(tmp_path / "in", 1), "C", pipe, store)
    assert AuditLog.select().count() >= 2
    with pytest.raises(peewee.IntegrityError, match="append-only"):
        AuditLog.update(action="tampered").execute()
    with pytest.raises(peewee.IntegrityError, match="append-only"):
        AuditLog.delete().execute()


def test_store_uses_wal_and_full_sync(setup):
    _, _, store = setup
    assert store.db.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute_sql("PRAGMA synchronous").fetchone()[0] == 2
    assert store.db.execute_sql("PRAGMA user_version").fetchone()[0] >= 1


def test_disk_full_while_writing_loses_nothing(tmp_path, setup, monkeypatch):
    profile, pipe, store = setup
    paths = write_photos(tmp_path / "in", 3)
    real_fsync = os.fsync
    calls = {"n": 0}

    def full_on_second_photo(fd):
        calls["n"] += 1
        if calls["n"] == 3:  # file fsync of the 2nd photo (1st photo: file + dir)
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_fsync(fd)

    monkeypatch.setattr(files.os, "fsync", full_on_second_photo)
    summary = ingest(paths, "C", pipe, store)
    assert summary.new == 2
    assert summary.failed == [(paths[1], "store_write_failed")]
    assert not list((store.root / "images").rglob(".tmp-*")), "temp file left behind"
    assert Photo.select().count() == 2 and Outbox.select().count() == 2
    monkeypatch.setattr(files.os, "fsync", real_fsync)
    assert ingest(paths, "C", pipe, store).new == 1   # space is back: the re-run files it


def test_reserve_space_is_kept(tmp_path, profile_path, cli):
    src = profile_path.read_text().replace("min_free_mb = 200", "min_free_mb = 999999999")
    profile_path.write_text(src)
    paths = write_photos(tmp_path / "in", 1)
    r = cli("ingest", "--profile", str(profile_path), "--claim", "C", *paths)
    assert r.returncode == 1
    assert "store_write_failed" in r.stderr and "reserve" in r.stderr


def test_killed_mid_ingest_then_rerun_finishes_without_duplicates(tmp_path, profile_path):
    paths = write_photos(tmp_path / "in", 40, size=(1280, 960))
    cmd = [sys.executable, "-m", "edge.cli", "ingest", "--profile", str(profile_path),
           "--claim", "KILL", str(tmp_path / "in")]
    proc = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    seen = 0
    for line in proc.stderr:
        if line.startswith("["):
            seen += 1
        if seen == 5:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL

    db_path = tmp_path / "store" / "store.db"
    con = sqlite3.connect(db_path)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    photos = con.execute("SELECT uuid, sha256 FROM photo").fetchall()
    assert 5 <= len(photos) < 40
    for _, sha in photos:  # every committed row points at a complete file
        rel = con.execute("SELECT path FROM image WHERE sha256=?", (sha,)).fetchone()[0]
        data = (tmp_path / "store" / "images" / rel).read_bytes()
        assert hashlib.sha256(data).hexdigest() == sha
    assert con.execute("SELECT count(*) FROM outbox").fetchone()[0] == len(photos)
    con.close()

    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert f"{40 - len(photos)} new, {len(photos)} already filed" in r.stderr
    con = sqlite3.connect(db_path)
    assert con.execute("SELECT count(*) FROM photo").fetchone()[0] == 40
    assert con.execute("SELECT count(DISTINCT sha256) FROM photo").fetchone()[0] == 40
    assert con.execute("SELECT count(*) FROM outbox").fetchone()[0] == 40


def test_exif_time_and_gps_are_filed(tmp_path, setup):
    import io

    from PIL import Image as PILImage
    _, pipe, store = setup
    img = PILImage.fromarray(samples.street_scene(640, 480)[:, :, ::-1])
    exif = PILImage.Exif()
    exif.get_ifd(0x8769)[0x9003] = "2026:11:20 02:13:00"
    exif.get_ifd(0x8825).update({1: "N", 2: (48.0, 51.0, 30.0), 3: "W", 4: (2.0, 17.0, 42.0)})
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif.tobytes())
    p = tmp_path / "scene.jpg"
    p.write_bytes(buf.getvalue())
    ingest([str(p)], "GPS", pipe, store)
    photo = Photo.get()
    assert str(photo.exif_time) == "2026-11-20 02:13:00"
    assert round(photo.gps_lat, 4) == 48.8583 and round(photo.gps_lon, 3) == -2.295
    assert photo.model_sha256 == pipe.bundle.sha256


def test_claim_checklist_cross_checks_the_plate(tmp_path, setup):
    from edge.checklist import claim_checklist
    from edge.store.schema import KeyField
    profile, pipe, store = setup
    ingest(write_photos(tmp_path / "in", 3), "X", pipe, store)
    photos = list(Photo.select().where(Photo.claim == "X"))
    KeyField.delete().where(KeyField.name == "plate").execute()
    for p, value in zip(photos, ("ABC1234", "ABC-1234", "ABC1284")):
        KeyField.create(photo=p, name="plate", value=value, confidence=0.9, valid=True,
                        source="plate_reader")
    item = [i for i in claim_checklist("X", profile) if i.item == "cross-check: plate"][0]
    assert item.status == "invalid" and "ABC1284" in item.detail
    KeyField.update(value="ABC1234").where(KeyField.value == "ABC1284").execute()
    item = [i for i in claim_checklist("X", profile) if i.item == "cross-check: plate"][0]
    assert item.status == "present" and "on 3 photos" in item.detail


def test_a_plate_read_on_a_vehicle_photo_counts_as_the_plate_photo(tmp_path, setup):
    from edge.checklist import claim_checklist
    from edge.store.schema import KeyField
    profile, pipe, store = setup
    ingest(write_photos(tmp_path / "in", 2), "P", pipe, store)
    photos = list(Photo.select().where(Photo.claim == "P"))
    assert all(p.category != "plate" for p in photos)   # street scenes: no plate close-up
    KeyField.delete().where(KeyField.name == "plate").execute()

    def plate_item():
        return [i for i in claim_checklist("P", profile) if i.item == "photo: license plate"][0]

    assert plate_item().status == "missing"
    KeyField.create(photo=photos[0], name="plate", value="7ABC123", confidence=0.4, valid=True,
                    source="plate")                     # doubtful read: not enough
    assert plate_item().status == "missing"
    KeyField.create(photo=photos[0], name="plate", value="ABC12345678", confidence=0.9,
                    valid=False, source="plate")        # invalid read: not enough
    assert plate_item().status == "missing"
    KeyField.create(photo=photos[1], name="plate", value="7ABC123", confidence=0.9, valid=True,
                    source="plate")
    item = plate_item()
    assert item.status == "present" and item.photo_uuid == str(photos[1].uuid)
    assert "7ABC123 read on a" in item.detail
