"""Malformed records never stop central (issue 25): each is dead-lettered in
``rejected_message``, acked ``rejected`` with a reason a person can read, PUBACKed, and the
valid records behind it, from the same device and from others, commit. Real mosquitto, real
PostgreSQL and SQLite, real central and worker processes."""

import copy
import json
import subprocess
import sys
import threading
import time
import uuid as uuidlib

import paho.mqtt.client as mqtt

from edge.store import Store
from sync.central import db as cdb
from sync.protocol import canonical_json, chunk_count, t_ack, t_record
from sync.device.record import build_record
from sync_fixtures import *  # noqa: F401,F403
from sync_helpers import (PASSWORDS, ROOT, CentralProc, assert_invariant, central_counts,
                          device_snapshot, finish_worker, make_device, run_worker,
                          start_worker, wait_for)

PYTHON_ERRORS = ("object is not subscriptable", "Traceback", "KeyError", "NoneType",
                 "has no attribute", "invalid literal for int")


def _valid_record(store) -> dict:
    s = Store.open(store)
    try:
        from edge.store.schema import Photo
        u = str(Photo.select().first().uuid)
        return build_record(u, s.images)[0]
    finally:
        s.close()


def _with(rec: dict, change) -> dict:
    r = copy.deepcopy(rec)
    r["uuid"] = str(uuidlib.uuid4())
    change(r)
    return r


def _msg(rec: dict, ask: bool = False, v: int = 1) -> bytes:
    return canonical_json({"v": v, "ask": ask, "record": rec})


def malformed(base: dict) -> list[tuple[str, bytes, str, str | None]]:
    """(case, payload, words the reason must hold, record uuid the ack names or None)."""
    cases = []

    def add(name, rec, words, ask=False, v=1):
        u = rec.get("uuid") if isinstance(rec, dict) else None
        cases.append((name, _msg(rec, ask, v), words,
                      u if isinstance(u, str) and len(u) == 36 else None))

    add("field without confidence", _with(base, lambda r: r["fields"][0].pop("confidence")),
        "record.fields[0]: missing required field `confidence`")
    add("no claim", _with(base, lambda r: r.pop("claim")), "missing required field `claim`")
    add("labels [1]", _with(base, lambda r: r.__setitem__("labels", [1])),
        "record.labels[0]: expected `object`")
    add("gps 5", _with(base, lambda r: r.__setitem__("gps", 5)), "record.gps: expected `array`")
    add("rev abc", _with(base, lambda r: r.__setitem__("rev", "abc")),
        "record.rev: expected `int`")
    add("quality x", _with(base, lambda r: r.__setitem__("quality", "x")),
        "record.quality: expected `object`")
    add("uuid not-a-uuid", _with(base, lambda r: r.__setitem__("uuid", "not-a-uuid")),
        "record.uuid: expected a lower-case UUID")
    add("protocol 99", _with(base, lambda r: None), "protocol version 99 is not supported",
        v=99)
    add("1.9 MB field value", _with(base, lambda r: r["fields"][0].__setitem__(
        "value", "V" * 1_900_000)), "record.fields[0].value: expected `str` of length <= 4096")

    def huge(r):
        r["images"][0].update(size=10**15, chunks=chunk_count(10**15))
    add("image of 10^15 bytes, ask", _with(base, huge), "record.images[0].chunks: expected `int` "
        "<= 4096", ask=True)
    add("a head twice", _with(base, lambda r: r["labels"].append(dict(r["labels"][0]))),
        "a head appears twice")
    cases.append(("not JSON", b"{not json", "not valid JSON", None))
    return cases


class Listener:
    """A client of device ``device`` that collects central's acks."""

    def __init__(self, broker, device: str = "dev-a"):
        self.acks: dict[str, dict] = {}
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{device}-probe",
                             protocol=mqtt.MQTTv5)
        self.c.username_pw_set(device, PASSWORDS[device])
        self.c.on_message = lambda cl, u, m: self.acks.__setitem__(
            json.loads(m.payload)["record_uuid"], json.loads(m.payload))
        ready = threading.Event()
        self.c.on_subscribe = lambda *a: ready.set()
        self.c.on_connect = lambda cl, *a: cl.subscribe(t_ack(device), 1)
        self.c.connect("127.0.0.1", broker.port)
        self.c.loop_start()
        assert ready.wait(10)
        self.device = device

    def publish(self, payload: bytes, topic: str | None = None) -> None:
        info = self.c.publish(topic or t_record(self.device), payload, qos=1)
        info.wait_for_publish(10)
        assert info.is_published()

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


def _rejected(db_url: str) -> list:
    d = cdb.open_database(db_url, create=False)
    try:
        return list(cdb.RejectedMessage.select().order_by(cdb.RejectedMessage.id))
    finally:
        d.close()


def test_each_malformed_record_is_dead_lettered_and_the_next_commits(tmp_path, broker, central_db):
    store, uuids = make_device(tmp_path, 4, size=300_000, seed=71)
    cases = malformed(_valid_record(store))
    central = CentralProc(central_db, broker.port, tmp_path / "blobs").start()
    probe = Listener(broker)
    try:
        for _name, payload, _words, _u in cases:
            probe.publish(payload)
        # the valid records behind them commit
        stats = run_worker(store, broker.port, tmp_path / "w.log", timeout=90)
        assert stats["ack_committed"] == 4
        acked = [u for *_x, u in cases if u]
        wait_for(lambda: all(u in probe.acks for u in acked), 20, what="the rejected acks")
    finally:
        probe.close()
        cstats = central.stop()
    assert_invariant(store, central_db, tmp_path / "blobs")
    rows = _rejected(central_db)
    assert len(rows) == len(cases), [r.reason for r in rows]
    for (name, payload, words, u), row in zip(cases, rows):
        assert words in row.reason, (name, row.reason)
        assert not any(p in row.reason for p in PYTHON_ERRORS), (name, row.reason)
        assert row.device == "dev-a" and row.topic == "claims/dev-a/up/record"
        assert row.payload_bytes == len(payload) and len(row.payload_sha256) == 64
        assert row.record_uuid == u
        if u:
            assert probe.acks[u]["status"] == "rejected" and words in probe.acks[u]["reason"]
    assert cstats["rejected"] == len(cases) and cstats["records_committed"] == 4
    log = (tmp_path / "central-t1.log").read_text()
    assert log.count("committed record ") == 4                 # each commit logged at INFO
    listed = subprocess.run([sys.executable, "-m", "sync", "central", "rejected", "--db",
                             central_db], capture_output=True, text=True, cwd=ROOT, check=True)
    assert "record.fields[0]: missing required field `confidence`" in listed.stdout
    # every message was PUBACKed: a restarted central gets none of them again
    again = CentralProc(central_db, broker.port, tmp_path / "blobs").start()
    time.sleep(2)
    st = again.stop()        # (the worker's last telemetry may arrive after the first stopped)
    assert st.get("messages", 0) == st.get("telemetry", 0) and "rejected" not in st, st
    assert len(_rejected(central_db)) == len(cases)


def test_valid_records_commit_while_invalid_ones_arrive_in_between(tmp_path, broker, central_db):
    """Two devices sync while bad records, theirs and each other's kind, keep arriving."""
    store_a, _ = make_device(tmp_path, 10, size=200_000, seed=81, device="dev-a")
    store_b, _ = make_device(tmp_path, 10, size=200_000, seed=82, device="dev-b", claim="CLM-B")
    bad = {"dev-a": malformed(_valid_record(store_a)), "dev-b": malformed(_valid_record(store_b))}
    central = CentralProc(central_db, broker.port, tmp_path / "blobs").start()
    probes = {d: Listener(broker, d) for d in bad}
    stop = threading.Event()
    sent = {d: 0 for d in bad}

    def inject():
        i = 0
        while not stop.is_set():
            for d, cases in bad.items():
                if sent[d] < len(cases):
                    probes[d].publish(cases[sent[d]][1])
                    sent[d] += 1
            i += 1
            time.sleep(0.15)

    t = threading.Thread(target=inject, daemon=True)
    try:
        t.start()
        wa = start_worker(store_a, broker.port, tmp_path / "wa.log", device="dev-a", timeout=120)
        wb = start_worker(store_b, broker.port, tmp_path / "wb.log", device="dev-b", timeout=120)
        sa, sb = finish_worker(wa), finish_worker(wb)
        wait_for(lambda: all(sent[d] == len(c) for d, c in bad.items()), 30, what="injection")
        n_bad = sum(len(c) for c in bad.values())
        wait_for(lambda: central_counts(central_db)["rejected_message"] == n_bad, 30,
                 what="every bad record dead-lettered")
    finally:
        stop.set()
        t.join(5)
        for p in probes.values():
            p.close()
        central.stop()
    assert sa["ack_committed"] == 10 and sb["ack_committed"] == 10
    assert_invariant(store_a, central_db, tmp_path / "blobs", device="dev-a")
    assert_invariant(store_b, central_db, tmp_path / "blobs", device="dev-b")
    rows = _rejected(central_db)
    assert {r.device for r in rows} == {"dev-a", "dev-b"}
    assert sum(r.device == "dev-a" for r in rows) == len(bad["dev-a"])


def test_a_record_the_database_refuses_is_dead_lettered_not_retried_forever(tmp_path, broker,
                                                                           pg_db):
    """Schema-valid but refused by the database (an insurer's CHECK constraint): dead-lettered
    with the database's reason at once, its device told ``rejected``; the others commit."""
    store, _ = make_device(tmp_path, 3, size=100_000, seed=91)
    refused_store, refused = make_device(tmp_path, 1, size=100_000, seed=92, device="dev-b",
                                         claim="REFUSED")
    central = CentralProc(pg_db, broker.port, tmp_path / "blobs").start()
    _pg_exec(pg_db, "ALTER TABLE record ADD CONSTRAINT no_refused CHECK (claim <> 'REFUSED')")
    try:
        sb = run_worker(refused_store, broker.port, tmp_path / "wb.log", device="dev-b",
                        timeout=60)
        sa = run_worker(store, broker.port, tmp_path / "wa.log", timeout=60)
    finally:
        cstats = central.stop()
    assert sa["ack_committed"] == 3 and sb.get("ack_rejected") == 1
    (row,) = _rejected(pg_db)
    assert row.record_uuid == refused[0] and row.device == "dev-b"
    # at once when its images were complete on arrival, else after 3 tries of the chunk that
    # completed them
    assert ('(the database refused it: new row for relation "record" violates check constraint '
            '"no_refused"') in row.reason, row.reason
    st, reason = device_snapshot(refused_store)["outbox"][refused[0]]
    assert st == "quarantined" and "violates check constraint" in reason
    assert_invariant(store, pg_db, tmp_path / "blobs")
    assert cstats["rejected"] == 1


def _pg_exec(url: str, sql: str) -> None:
    d = cdb.make_database(url)
    d.connect()
    try:
        d.execute_sql(sql)
    finally:
        d.close()


def test_transient_errors_are_retried_and_a_message_failing_every_time_is_dead_lettered(
        tmp_path, broker, pg_db):
    """A trigger makes PostgreSQL raise serialization_failure (SQLSTATE 40001, the transient
    error) twice for claim FLAKY and every time for claim POISON: FLAKY commits after the
    retries, POISON is dead-lettered after 3 identical failures, the others commit."""
    ok_store, ok_uuids = make_device(tmp_path / "ok", 3, size=100_000, seed=95)
    flaky_store, flaky = make_device(tmp_path / "flaky", 1, size=100_000, seed=96, claim="FLAKY")
    poison_store, poison = make_device(tmp_path / "poison", 1, size=100_000, seed=97,
                                       claim="POISON")
    central = CentralProc(pg_db, broker.port, tmp_path / "blobs").start()
    _pg_exec(pg_db, """
        CREATE SEQUENCE flaky_seq;
        CREATE FUNCTION fail_some() RETURNS trigger AS $$
        BEGIN
          IF NEW.claim = 'POISON' OR (NEW.claim = 'FLAKY' AND nextval('flaky_seq') <= 2) THEN
            RAISE EXCEPTION 'could not serialize access (test trigger)' USING ERRCODE = '40001';
          END IF;
          RETURN NEW;
        END $$ LANGUAGE plpgsql;
        CREATE TRIGGER fail_some BEFORE INSERT ON record FOR EACH ROW EXECUTE FUNCTION fail_some();
    """)
    try:
        s_flaky = run_worker(flaky_store, broker.port, tmp_path / "wf.log", timeout=90)
        s_poison = run_worker(poison_store, broker.port, tmp_path / "wp.log", timeout=90)
        s_ok = run_worker(ok_store, broker.port, tmp_path / "wo.log", timeout=90)
    finally:
        cstats = central.stop()
    assert s_flaky["ack_committed"] == 1 and s_ok["ack_committed"] == 3
    assert s_poison.get("ack_rejected") == 1
    (row,) = _rejected(pg_db)
    assert row.record_uuid == poison[0]
    assert row.reason.startswith("central failed to store this message 3 times (the database "
                                 "refused it: could not serialize access"), row.reason
    log = (tmp_path / "central-t1.log").read_text()
    assert log.count("database error, batch of") >= 4        # 2 for FLAKY, >= 2 for POISON
    assert cstats["records_committed"] == 4


def test_a_locked_sqlite_database_is_waited_for_never_blamed_on_the_message(tmp_path):
    """Repeated "database is locked" (another writer) is not a message's fault: the probe that
    decides whether to dead-letter says the database cannot take a write now."""
    import sqlite3

    from sync.central import Central
    from sync.settings import BrokerSettings
    c = Central(f"sqlite:///{tmp_path / 'c.db'}", BrokerSettings(), tmp_path / "blobs")
    try:
        assert c._db_alive()
        other = sqlite3.connect(tmp_path / "c.db", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        c.db.execute_sql("PRAGMA busy_timeout = 200")
        assert not c._db_alive()
        other.execute("ROLLBACK")
        other.close()
        assert c._db_alive()
    finally:
        c.db.close()
