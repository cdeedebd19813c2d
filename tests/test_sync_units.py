"""Small, broker-free pieces of the sync protocol."""

import random

import pytest

from sync.backoff import Backoff
from sync.protocol import (CHUNK_SIZE, chunk_count, compare_revisions, content_sha256,
                           parse_up_topic, revision, t_chunk, t_record)
from sync.settings import BrokerSettings


def test_backoff_grows_caps_and_jitters():
    b = Backoff(base=0.5, cap=8.0, rng=random.Random(1))
    ceilings, delays = [], []
    for _ in range(10):
        ceilings.append(b.ceiling())
        delays.append(b.next())
    assert ceilings[:5] == [0.5, 1.0, 2.0, 4.0, 8.0] and set(ceilings[4:]) == {8.0}
    assert all(0 <= d <= c for d, c in zip(delays, ceilings))
    assert len(set(delays)) == len(delays)            # jittered: no two equal
    b.reset()
    assert b.ceiling() == 0.5
    # many devices reconnecting at once spread over the window instead of stampeding
    draws = [Backoff(1, 60, rng=random.Random(i)).next() for i in range(200)]
    assert min(draws) < 0.1 and max(draws) > 0.9
    with pytest.raises(ValueError):
        Backoff(base=0)


def test_topics_round_trip_and_reject_garbage():
    sha = "ab" * 32
    assert parse_up_topic(t_chunk("kiosk-1", sha, 7)) == ("kiosk-1", "chunk", sha, 7)
    assert parse_up_topic(t_record("kiosk-1")) == ("kiosk-1", "record", None, None)
    for bad in ("claims/x/down/ack", f"claims/x/up/chunk/{sha}", "claims/x/up/chunk/zz/1",
                f"claims/x/up/chunk/{sha}/-1", "other/x/up/record"):
        with pytest.raises(ValueError):
            parse_up_topic(bad)


def test_chunking_and_content_identity():
    assert chunk_count(0) == 1 and chunk_count(1) == 1
    assert chunk_count(CHUNK_SIZE) == 1 and chunk_count(CHUNK_SIZE + 1) == 2
    a = {"uuid": "u", "fields": [{"name": "plate", "value": "ABC"}]}
    b = {"fields": [{"value": "ABC", "name": "plate"}], "uuid": "u"}
    assert content_sha256(a) == content_sha256(b)            # key order does not matter
    assert content_sha256(a) != content_sha256({**a, "fields": []})


def test_broker_settings_password_sources(tmp_path, monkeypatch):
    f = tmp_path / "pw"
    f.write_text("from-file\n")
    assert BrokerSettings(password_file=str(f)).resolved_password() == "from-file"
    monkeypatch.setenv("X_PW", "from-env")
    assert BrokerSettings(password_env="X_PW", password_file=str(f)).resolved_password() == "from-env"
    s = BrokerSettings.from_mapping({"host": "h", "port": 8883, "tls": True, "unknown": 1})
    assert (s.host, s.port, s.tls) == ("h", 8883, True)


def _rec(fields, **kw):
    r = {"uuid": "u-1", "claim": "C", "labels": [{"head": "category", "label": "plate"}],
         "images": [{"sha256": "a" * 64}], "fields": fields, **kw}
    r["rev"] = revision(r)
    return r


def test_revisions_may_change_only_the_fields_and_only_upwards():
    model = {"name": "plate", "value": "A8C1234", "source": "ocr"}
    v0 = _rec([model])
    v1 = _rec([model, {"name": "plate", "value": "ABC1234", "source": "operator"}])
    v2 = _rec(v1["fields"] + [{"name": "vin", "value": "X", "source": "operator"}])
    assert (v0["rev"], v1["rev"], v2["rev"]) == (0, 1, 2)
    c = content_sha256
    assert compare_revisions(v0, c(v0), dict(v0), c(dict(v0))) == "same"
    assert compare_revisions(v0, c(v0), v1, c(v1)) == "newer"
    assert compare_revisions(v2, c(v2), v1, c(v1)) == "older"
    # a different correction under the same revision number is a conflict, not a newer copy
    v1b = _rec([model, {"name": "plate", "value": "ABC1235", "source": "operator"}])
    assert compare_revisions(v1, c(v1), v1b, c(v1b)) == "conflict"
    # a "revision" that changes anything but the fields (here the label) is refused
    relabelled = {**v1, "labels": [{"head": "category", "label": "damage"}]}
    assert compare_revisions(v0, c(v0), relabelled, c(relabelled)) == "conflict"


def test_an_ack_for_an_older_revision_leaves_the_correction_pending(tmp_path):
    from edge.corrections import correct_field
    from edge.store import Store
    from edge.store.schema import Outbox
    from sync.harness.devicedata import add_photos
    from sync.device.worker import SyncWorker

    path = tmp_path / "store.db"
    s = Store.open(path)
    u = add_photos(s, "dev-a", 1, size=2_000)[0]
    correct_field(s, u, "plate", "ABC 1235")     # made while revision 0 was on its way
    s.close()
    w = SyncWorker(path, BrokerSettings(username="dev-a"))
    try:
        w._handle_ack(u, {"record_uuid": u, "status": "committed", "rev": 0})
        w._flush(force=True)
        assert Outbox.get(Outbox.record_uuid == u).state == "pending"
        w._handle_ack(u, {"record_uuid": u, "status": "committed", "rev": 1})
        w._flush(force=True)
        assert Outbox.get(Outbox.record_uuid == u).state == "acked"
    finally:
        w.store.close()


def test_sync_worker_and_central_start_without_opencv_or_numpy():
    """The sync service on a Pi and the central consumers load neither (memory, start time)."""
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-c", "import sys, sync.device.worker, sync.central, "
                          "sync.device.record, sync.cli; print(sorted({'cv2', 'numpy'} & "
                          "set(sys.modules)))"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_rejection_of_a_message_this_device_did_not_send_quarantines_nothing(tmp_path):
    """Someone with the device's credentials sends a malformed copy of one of its uuids:
    central rejects that copy; the device's own record, in flight, stays in flight."""
    import hashlib
    import time

    from edge.store import Store
    from edge.store.schema import Outbox
    from sync.harness.devicedata import add_photos
    from sync.device.worker import SyncWorker, _Active

    path = tmp_path / "store.db"
    s = Store.open(path)
    u = add_photos(s, "dev-a", 1, size=2_000)[0]
    s.close()
    w = SyncWorker(path, BrokerSettings(username="dev-a"))
    try:
        mine = hashlib.sha256(b"the record message this device sent").hexdigest()
        w._active[u] = _Active(u, [], time.monotonic(), sent={mine})
        w._handle_ack(u, {"record_uuid": u, "status": "rejected", "reason": "bad",
                          "payload_sha256": "ab" * 32})
        w._flush(force=True)
        assert Outbox.get(Outbox.record_uuid == u).state == "pending" and u in w._active
        w._handle_ack(u, {"record_uuid": u, "status": "rejected", "reason": "conflict",
                          "payload_sha256": mine})
        w._flush(force=True)
        row = Outbox.get(Outbox.record_uuid == u)
        assert row.state == "quarantined" and row.reason == "rejected by central: conflict"
    finally:
        w.store.close()
