"""End-to-end sync through a real mosquitto (ACLs on) into central on PostgreSQL and SQLite."""

import json
import subprocess
import sys

from edge.store import Store
from sync.central import db as cdb
from sync_fixtures import *  # noqa: F401,F403
from sync_helpers import (ROOT, CentralProc, assert_invariant, finish_worker, make_device,
                          run_worker, start_worker)


def test_records_arrive_once_with_identical_images(tmp_path, broker, central_db):
    store, uuids = make_device(tmp_path, 12, size=700_000)
    central = CentralProc(central_db, broker.port, tmp_path / "blobs").start()
    try:
        stats = run_worker(store, broker.port, tmp_path / "w.log")
        assert stats["ack_committed"] == 12 and stats.get("quarantined", 0) == 0
        # a second run has nothing to send
        again = run_worker(store, broker.port, tmp_path / "w.log")
        assert again.get("records_sent", 0) == 0
    finally:
        cstats = central.stop()
    assert cstats["records_committed"] == 12
    assert_invariant(store, central_db, tmp_path / "blobs")
    # the insurer can query by claim and by scenario
    d = cdb.open_database(central_db, create=False)
    try:
        by_claim = cdb.Record.select().where(cdb.Record.claim == "CLM-1").count()
        by_scenario = (cdb.ScenarioZone.select()
                       .where((cdb.ScenarioZone.scenario == "vehicle_identification")
                              & (cdb.ScenarioZone.claim == "CLM-1")).count())
        plate = cdb.KeyField.get(cdb.KeyField.name == "plate").value
    finally:
        d.close()
    assert by_claim == 12 and by_scenario == 12 and plate == "ABC1234"
    # sync status shows the outbox
    out = subprocess.run([sys.executable, "-m", "sync", "sync", "status", "--store", str(store),
                          "--json"], capture_output=True, text=True, cwd=ROOT, check=True)
    st = json.loads(out.stdout)
    assert (st["acked"], st["pending"], st["inflight"], st["quarantined"]) == (12, 0, 0, 0)
    assert st["oldest_pending_age_s"] is None


def test_status_reports_pending_and_oldest_age(tmp_path):
    store, _ = make_device(tmp_path, 3, size=2_000)
    out = subprocess.run([sys.executable, "-m", "sync", "sync", "status", "--store", str(store)],
                         capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.startswith("pending 3  in-flight 0  acked 0  quarantined 0  oldest pending")


def test_two_centrals_share_the_load(tmp_path, broker, pg_db):
    store_a, _ = make_device(tmp_path, 40, size=300_000, device="dev-a", claim="CLM-A")
    store_b, _ = make_device(tmp_path, 40, size=300_000, seed=1, device="dev-b", claim="CLM-B")
    c1 = CentralProc(pg_db, broker.port, tmp_path / "blobs", client_id="central-t1").start()
    c2 = CentralProc(pg_db, broker.port, tmp_path / "blobs", client_id="central-t2").start()
    try:
        wa = start_worker(store_a, broker.port, tmp_path / "wa.log", device="dev-a")
        wb = start_worker(store_b, broker.port, tmp_path / "wb.log", device="dev-b")
        sa, sb = finish_worker(wa), finish_worker(wb)
    finally:
        s1, s2 = c1.stop(), c2.stop()
    # each record is committed once (a re-ask under load may add "duplicate" acks)
    assert sa["ack_committed"] <= 40 and sa["ack_committed"] + sa.get("ack_duplicate", 0) >= 40
    assert sb["ack_committed"] <= 40 and sb["ack_committed"] + sb.get("ack_duplicate", 0) >= 40
    assert s1.get("messages", 0) > 20 and s2.get("messages", 0) > 20, (s1, s2)
    assert_invariant(store_a, pg_db, tmp_path / "blobs")
    assert_invariant(store_b, pg_db, tmp_path / "blobs", device="dev-b")


def _correct(store_path, u, name, value):
    from edge.corrections import correct_field
    s = Store.open(store_path)
    try:
        return correct_field(s, u, name, value).value
    finally:
        s.close()


def _central_fields(db_url, u):
    d = cdb.open_database(db_url, create=False)
    try:
        rec = cdb.Record.get_by_id(u)
        fields = [(f.name, f.value, f.source) for f in
                  cdb.KeyField.select().where(cdb.KeyField.record == u).order_by(cdb.KeyField.idx)]
        history = [r.rev for r in cdb.RecordRevision.select()
                   .where(cdb.RecordRevision.record == u).order_by(cdb.RecordRevision.rev)]
        return rec.rev, fields, history
    finally:
        d.close()


def test_correction_after_commit_reaches_central_as_a_new_revision(tmp_path, broker, sqlite_db):
    store, uuids = make_device(tmp_path, 3, size=200_000)
    central = CentralProc(sqlite_db, broker.port, tmp_path / "blobs").start()
    try:
        assert run_worker(store, broker.port, tmp_path / "w.log")["ack_committed"] == 3
        # the operator fixes a plate on a photo central already holds, and another one twice
        fixed = _correct(store, uuids[0], "plate", "XYZ 9876")
        _correct(store, uuids[1], "plate", "ABC 1235")
        twice = _correct(store, uuids[1], "plate", "ABC 1236")
        stats = run_worker(store, broker.port, tmp_path / "w.log")
        # committed as revisions, without a single image byte sent again
        assert stats["ack_committed"] == 2 and stats.get("ack_rejected", 0) == 0, stats
        assert stats.get("quarantined", 0) == 0 and stats.get("chunk_payload_bytes", 0) == 0
        assert run_worker(store, broker.port, tmp_path / "w.log").get("records_sent", 0) == 0
    finally:
        cstats = central.stop()
    assert cstats.get("records_revised") == 2 and cstats.get("rejected", 0) == 0, cstats
    rev, fields, history = _central_fields(sqlite_db, uuids[0])
    # the model's value is kept next to the operator's, and the superseded revision is history
    assert rev == 1 and history == [0]
    assert ("plate", "ABC1234", "ocr") in fields and ("plate", fixed, "operator") in fields
    rev, fields, history = _central_fields(sqlite_db, uuids[1])
    assert rev == 2 and history == [0] and ("plate", twice, "operator") in fields
    rev, _, history = _central_fields(sqlite_db, uuids[2])
    assert rev == 0 and history == []
    assert_invariant(store, sqlite_db, tmp_path / "blobs")


def test_correction_while_central_is_down_commits_the_newest_revision(tmp_path, broker, pg_db):
    """Sent while central is offline (its session keeps the messages), corrected before it comes
    back: central commits the first copy, then the revision; the device ends acked on the new
    one (an ack for the older revision does not mark it synced)."""
    store, uuids = make_device(tmp_path, 4, size=300_000)
    central = CentralProc(pg_db, broker.port, tmp_path / "blobs").start()
    central.stop()                                  # its persistent session now queues for it
    w = start_worker(store, broker.port, tmp_path / "w.log", until_empty=False, timeout=4)
    out, _ = w.communicate(timeout=60)
    assert w.returncode == 3                        # gave up waiting, as told
    stats = json.loads(out.decode().strip().splitlines()[-1])["sync"]
    assert stats["records_sent"] == 4 and stats.get("ack_committed", 0) == 0
    fixed = _correct(store, uuids[3], "plate", "QRS 4321")
    central.start()
    try:
        stats = run_worker(store, broker.port, tmp_path / "w.log")
        assert stats.get("quarantined", 0) == 0 and stats.get("ack_rejected", 0) == 0, stats
    finally:
        central.stop()
    rev, fields, _ = _central_fields(pg_db, uuids[3])
    assert rev == 1 and ("plate", fixed, "operator") in fields
    assert_invariant(store, pg_db, tmp_path / "blobs")
