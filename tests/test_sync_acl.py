"""Scenario 10: device A tries to publish as device B and to read B's subtree, with the shipped
ACL file (by username, never by client id). Denied; nothing reaches central."""

import threading
import time
import uuid as uuidlib

import paho.mqtt.client as mqtt

from edge.store import Store
from sync.harness.devicedata import add_photos
from sync.protocol import canonical_json
from sync_fixtures import *  # noqa: F401,F403
from sync_helpers import PASSWORDS, CentralProc, assert_invariant, central_counts, run_worker



def _client(broker, user, client_id, password=None):
    got, subacks, events = [], [], {}
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    c.username_pw_set(user, password or PASSWORDS[user])
    c.on_message = lambda cl, u, m: got.append(m.topic)
    c.on_subscribe = lambda cl, u, mid, rcs, p: subacks.append([r.value for r in rcs])
    c.on_publish = lambda cl, u, mid, rc, p: events.setdefault("puback", {}).__setitem__(mid, rc.value)
    connected = threading.Event()

    def on_connect(cl, u, flags, rc, props):
        events["connect"] = rc.value
        connected.set()
    c.on_connect = on_connect
    c.connect("127.0.0.1", broker.port)
    c.loop_start()
    connected.wait(10)
    return c, got, subacks, events


def _publish_once(broker, user, client_id, topic, payload) -> int:
    c, _seen, _subacks, ev = _client(broker, user, client_id=client_id)
    try:
        c.publish(topic, payload, qos=1)
        deadline = time.monotonic() + 5
        while "puback" not in ev and time.monotonic() < deadline:
            time.sleep(0.02)
        return next(iter(ev.get("puback", {0: None}).values()))
    finally:
        c.disconnect()
        c.loop_stop()


def test_device_cannot_publish_as_or_read_for_another_device(tmp_path, broker, pg_db):
    central = CentralProc(pg_db, broker.port, tmp_path / "blobs").start()
    # device B syncs a record normally
    store_b = tmp_path / "dev-b" / "store.db"
    s = Store.open(store_b)
    add_photos(s, "dev-b", 2, size=100_000, seed=61)
    s.close()
    # device A, even with client id "dev-b-sync", listens on B's and everybody's subtree
    spy, seen, subacks, ev = _client(broker, "dev-a", client_id="dev-a-spy")
    assert ev["connect"] == 0
    spy.subscribe([("claims/dev-b/down/#", 1), ("claims/dev-b/up/#", 1)])
    spy.subscribe("claims/#", 1)
    time.sleep(0.5)
    # mosquitto 2.0 grants the SUBACK but delivers nothing the ACL does not allow (below)
    try:
        run_worker(store_b, broker.port, tmp_path / "wb.log", device="dev-b",
                   extra=["--client-id", "dev-b-real"])
        # A publishes a forged record and chunk into B's subtree, and tries to answer for
        # central on B's down topic (one connection each: paho drops the link after a
        # refused PUBACK)
        forged_uuid = str(uuidlib.uuid4())
        rec = {"uuid": forged_uuid, "claim": "CLM-FORGED", "device": "dev-b",
               "images": [{"sha256": "ab" * 32, "size": 10, "chunks": 1}]}
        codes = [_publish_once(broker, "dev-a", "dev-b-sync", topic, payload) for topic, payload in (
            ("claims/dev-b/up/record", canonical_json({"v": 1, "ask": False, "record": rec})),
            (f"claims/dev-b/up/chunk/{'ab' * 32}/0", b"x" * 10),
            ("claims/dev-b/down/ack", b'{"record_uuid":"x","status":"committed"}'))]
        time.sleep(1.0)
    finally:
        spy.disconnect()
        spy.loop_stop()
        central.stop()
    # MQTT 5: the broker answers the denied publishes with "not authorized" (0x87)
    assert codes == [0x87] * 3, codes
    assert not any(t.startswith("claims/dev-b/") for t in seen), seen
    counts = central_counts(pg_db)
    assert counts["record"] == 2 and counts["staged_record"] == 0 and counts["chunk"] == 0
    assert counts["rejected_message"] == 0                   # nothing forged even reached central
    assert_invariant(store_b, pg_db, tmp_path / "blobs", device="dev-b")


def test_wrong_password_is_refused(broker):
    c, seen, _, ev = _client(broker, "dev-a", client_id="x", password="wrong")
    c.loop_stop()
    assert ev.get("connect") in (0x86, 0x87, 134, 135)   # bad user name or password / not authorized
