"""Scenarios 6-9: 5,000 records queued while central is offline (device memory flat), a corrupted
chunk, an oversized message, the same uuid with different content."""

import hashlib
import os
import signal
import subprocess
import sys
import time
import uuid as uuidlib

import paho.mqtt.client as mqtt

from edge.store import Store
from edge.store.schema import Label, Outbox, Photo
from sync.central import db as cdb
from sync.harness.devicedata import add_photos, add_photos_bulk
from sync.harness.broker import Broker
from sync.protocol import CHUNK_SIZE, chunk_count, pack_chunk, t_chunk
from sync_fixtures import *  # noqa: F401,F403
from sync_helpers import (PASSWORDS, ROOT, CentralProc, assert_invariant, central_counts,
                          device_snapshot, finish_worker, kill_process, run_worker,
                          start_worker, wait_for)



def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_5000_records_queued_while_central_offline(tmp_path, broker, pg_db):
    central = CentralProc(pg_db, broker.port, tmp_path / "blobs").start()
    central.stop()                      # its persistent session stays in the broker
    store_path = tmp_path / "dev-a" / "store.db"
    s = Store.open(store_path)
    add_photos_bulk(s, "dev-a", 5000, size=300, seed=21)
    s.close()
    w = start_worker(store_path, broker.port, tmp_path / "w.log", timeout=540)
    samples = []
    try:
        time.sleep(3)                   # the device sends its window; central is down
        assert central_counts(pg_db)["record"] == 0
        central.start()
        while w.poll() is None:
            n = central_counts(pg_db)["record"]
            samples.append((n, _rss_kb(w.pid)))
            time.sleep(0.5)
        stats = finish_worker(w)
    finally:
        kill_process(w, signal.SIGKILL)
        central.stop()
    assert stats["ack_committed"] + stats.get("ack_duplicate", 0) >= 5000
    assert_invariant(store_path, pg_db, tmp_path / "blobs")
    # memory flat while the 5,000 drain: from 10% done to the end RSS grows < 8 MB
    later = [rss for n, rss in samples if n >= 500 and rss]
    assert len(later) >= 3, samples
    print(f"\n5000-record drain: device RSS {later[0] / 1024:.1f} MB at 10% done, max "
          f"{max(later) / 1024:.1f} MB, last {later[-1] / 1024:.1f} MB over {len(samples)} samples; "
          f"worker {stats['seconds']} s")
    assert max(later) - later[0] < 8 * 1024, samples


def _forger(broker, device="dev-a"):
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"forger-{uuidlib.uuid4().hex[:6]}",
                    protocol=mqtt.MQTTv5)
    c.username_pw_set(device, PASSWORDS[device])
    c.connect("127.0.0.1", broker.port)
    c.loop_start()
    return c


def test_corrupted_chunks_are_never_committed(tmp_path, broker, pg_db):
    store_path = tmp_path / "dev-a" / "store.db"
    s = Store.open(store_path)
    uuids = add_photos(s, "dev-a", 4, size=700_000, seed=31)
    photos = {str(p.uuid): (p.__data__["image"], s.image_path(p.__data__["image"]))
              for p in Photo.select()}
    s.close()
    central = CentralProc(pg_db, broker.port, tmp_path / "blobs").start()
    (sha0, path0), (sha1, path1), (sha2, path2) = (photos[u] for u in uuids[:3])
    size0 = path0.stat().st_size
    n0 = chunk_count(size0)
    forged = os.urandom(CHUNK_SIZE)
    c = _forger(broker)
    try:
        # (a) a chunk whose bytes do not match its own SHA-256: refused outright
        c.publish(t_chunk("dev-a", sha0, 1),
                  pack_chunk(os.urandom(CHUNK_SIZE), n0, size0, uuids[0], bytes(32)),
                  qos=1).wait_for_publish(5)
        #     and a chunk message without its header: unreadable, dropped
        c.publish(t_chunk("dev-a", sha0, 2), os.urandom(CHUNK_SIZE), qos=1).wait_for_publish(5)
        # (b) a self-consistent chunk with the wrong bytes for image 1: stored as a chunk,
        #     caught by the whole-file check, dropped, and the device asked for all again
        size1 = path1.stat().st_size
        c.publish(t_chunk("dev-a", sha1, 0), pack_chunk(forged, chunk_count(size1), size1,
                                                        uuids[1]), qos=1).wait_for_publish(5)
        # (d) an in-order chunk whose bytes do not match the SHA-256 it names: taken on the
        #     whole-file check, which then finds that chunk and asks for it alone again
        sha3, path3 = photos[uuids[3]]
        size3 = path3.stat().st_size
        real0 = path3.read_bytes()[:CHUNK_SIZE]
        c.publish(t_chunk("dev-a", sha3, 0),
                  pack_chunk(bytes(b ^ 0x5A for b in real0), chunk_count(size3), size3, uuids[3],
                             hashlib.sha256(real0).digest()), qos=1).wait_for_publish(5)
        wait_for(lambda: central_counts(pg_db)["chunk"] >= 2, 30, what="the forged chunks")
    finally:
        c.disconnect()
        c.loop_stop()
    # (c) the device's own copy of image 2 rots on disk: it can never be sent
    data = bytearray(path2.read_bytes())
    data[len(data) // 2] ^= 0xFF
    os.chmod(path2, 0o644)
    path2.write_bytes(bytes(data))
    try:
        stats = run_worker(store_path, broker.port, tmp_path / "w.log")
    finally:
        cstats = central.stop()
    assert cstats.get("bad_chunks", 0) >= 2 and cstats.get("hash_mismatch", 0) >= 3, cstats
    assert f"image {sha3}: chunks [0] do not match their SHA-256" in \
        (tmp_path / "central-t1.log").read_text()
    assert stats.get("quarantined", 0) == 1
    snap = device_snapshot(store_path)
    st, reason = snap["outbox"][uuids[2]]
    assert st == "quarantined" and "no longer matches its SHA-256" in reason
    assert_invariant(store_path, pg_db, tmp_path / "blobs", quarantined={uuids[2]})
    d = cdb.open_database(pg_db, create=False)
    try:
        assert cdb.Blob.get_or_none(cdb.Blob.sha256 == sha2) is None
    finally:
        d.close()


def test_oversized_messages_are_quarantined_and_the_rest_flows(tmp_path, sqlite_db):
    broker = Broker(tmp_path / "broker", PASSWORDS, max_packet_size=1024 * 1024).start()
    store_path = tmp_path / "dev-a" / "store.db"
    s = Store.open(store_path)
    ok = add_photos(s, "dev-a", 3, size=300_000, seed=41)
    big_text = add_photos(s, "dev-a", 1, size=50_000, seed=42, text_bytes=1_500_000)[0]
    big_image = add_photos(s, "dev-a", 1, size=3_000_000, seed=43)[0]
    s.close()
    central = CentralProc(sqlite_db, broker.port, tmp_path / "blobs").start()
    try:
        stats = run_worker(store_path, broker.port, tmp_path / "w.log",
                           extra=["--max-image-mb", "2"])
    finally:
        central.stop()
        broker.stop()
    assert stats["ack_committed"] == 3 and stats["quarantined"] == 2
    assert_invariant(store_path, sqlite_db, tmp_path / "blobs", quarantined={big_text, big_image})
    out = subprocess.run([sys.executable, "-m", "sync", "sync", "status", "--store",
                          str(store_path)], capture_output=True, text=True, cwd=ROOT, check=True)
    assert "acked 3  quarantined 2" in out.stdout
    assert f"{big_text}: record message is" in out.stdout and "maximum packet size 1048576" in out.stdout
    assert f"{big_image}: image" in out.stdout and "above the 2097152-byte limit" in out.stdout
    assert len(ok) == 3


def test_same_uuid_different_content_is_rejected_never_overwritten(tmp_path, broker, pg_db):
    store_path = tmp_path / "dev-a" / "store.db"
    s = Store.open(store_path)
    uuids = add_photos(s, "dev-a", 3, size=100_000, seed=51)
    s.close()
    central = CentralProc(pg_db, broker.port, tmp_path / "blobs").start()
    try:
        run_worker(store_path, broker.port, tmp_path / "w.log")
        first = device_snapshot(store_path)["records"][uuids[0]]["content"]
        # the record's fixed part (here a label score: not an operator correction, which would
        # be a new revision) changes on the device after central committed it, and is queued again
        s = Store.open(store_path)
        Label.update(score=0.11).where(Label.photo == uuidlib.UUID(uuids[0])).execute()
        Outbox.update(state="pending").where(Outbox.record_uuid == uuidlib.UUID(uuids[0])).execute()
        s.close()
        stats = run_worker(store_path, broker.port, tmp_path / "w.log")
    finally:
        cstats = central.stop()
    assert stats.get("ack_rejected") == 1 and cstats.get("rejected") == 1
    snap = device_snapshot(store_path)
    st, reason = snap["outbox"][uuids[0]]
    assert st == "quarantined" and "different content" in reason
    assert all(snap["outbox"][u][0] == "acked" for u in uuids[1:])
    d = cdb.open_database(pg_db, create=False)
    try:
        rec = cdb.Record.get_by_id(uuids[0])
        assert rec.content_sha256 == first                         # never overwritten
        assert cdb.Label.select().where(cdb.Label.score == 0.11).count() == 0
        rej = list(cdb.RejectedMessage.select())
        assert [r.record_uuid for r in rej] == [uuids[0]] and rej[0].device == "dev-a"
        assert cdb.Record.select().count() == 3
    finally:
        d.close()
    assert "dead-lettered a message on claims/dev-a/up/record" in (tmp_path / "central-t1.log").read_text()
