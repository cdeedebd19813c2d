"""The message schemas (sync/schemas.py), with Hypothesis: the chunk header, the topic parser and
central's record validation, each fed arbitrary input (bounded example counts, CI-sized)."""

import hashlib
import json
import uuid as uuidlib

import paho.mqtt.client as mqtt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync.central import db as cdb
from sync.central import Central
from sync.protocol import (CHUNK_HEADER, CHUNK_SIZE, canonical_json, chunk_count, pack_chunk,
                           parse_up_topic, record_message, t_chunk, t_record, t_telemetry)
from sync.schemas import (MAX_CHUNKS, MAX_IMAGE_BYTES, Chunk, SchemaError, decode_ack,
                          decode_record_message, decode_telemetry, json_schema, parse_chunk,
                          validate_manifest, validate_record)
from sync.settings import BrokerSettings

PYTHON_ERRORS = ("object is not subscriptable", "Traceback", "KeyError", "NoneType",
                 "has no attribute", "invalid literal", "unhashable")
FAST = settings(max_examples=150, deadline=None, derandomize=True, database=None)


def valid_record(**over) -> dict:
    rec = {
        "uuid": str(uuidlib.uuid4()), "claim": "CLM-1", "device": "dev-a",
        "captured_at": "2026-12-06T06:44:20.123456", "exif_time": None, "gps": [48.1, 11.5],
        "orientation": 1, "width": 640, "height": 480,
        "quality": {"ok": True, "issues": [], "sharpness": 412.0, "brightness": 0.52,
                    "glare": 0.01},
        "model": {"name": "claim-classifier", "version": "1.0.0", "sha256": "ab" * 32},
        "category": "plate", "verified": True,
        "labels": [{"head": "category", "label": "plate", "score": 0.97, "verified": True,
                    "similarity": 0.83},
                   {"head": "damage", "label": "none", "score": 0.9, "verified": None,
                    "similarity": None}],
        "scenarios": [{"scenario": "vehicle_identification", "reason": "category:plate",
                       "retain_until": None}],
        "text": [{"idx": 0, "text": "ABC1234", "score": 0.93,
                  "box": [[0, 0], [10, 0], [10, 5], [0, 5]]}],
        "fields": [{"name": "plate", "value": "ABC1234", "confidence": 0.95, "valid": True,
                    "source": "ocr", "reason": None}],
        "result": {"image": "a.jpg", "ok": True},
        "images": [{"sha256": hashlib.sha256(b"x").hexdigest(), "size": 300_000,
                    "mime": "image/png", "width": 640, "height": 480, "chunks": 2,
                    "chunk_size": CHUNK_SIZE}],
        "rev": 0}
    rec.update(over)
    return rec


def test_a_valid_record_and_its_message_pass():
    rec = valid_record()
    validate_record(rec)
    msg, as_sent = decode_record_message(record_message(rec, ask=True))
    assert msg.ask and msg.record.uuid == rec["uuid"] and as_sent == rec


@pytest.mark.parametrize("change, words", [
    (lambda r: r["fields"][0].pop("confidence"),
     "record.fields[0]: missing required field `confidence`"),
    (lambda r: r.pop("claim"), "record: missing required field `claim`"),
    (lambda r: r.__setitem__("labels", [1]), "record.labels[0]: expected `object`, got `int`"),
    (lambda r: r.__setitem__("gps", 5), "record.gps: expected `array`, got `int`"),
    (lambda r: r.__setitem__("rev", "abc"), "record.rev: expected `int`, got `str`"),
    (lambda r: r.__setitem__("quality", "x"), "record.quality: expected `object`, got `str`"),
    (lambda r: r.__setitem__("uuid", "not-a-uuid"),
     "record.uuid: expected a lower-case UUID (8-4-4-4-12 hex digits)"),
    (lambda r: r["fields"][0].__setitem__("value", "v" * 1_900_000),
     "record.fields[0].value: expected `str` of length <= 4096"),
    (lambda r: r["images"][0].update(size=10**15, chunks=chunk_count(10**15)),
     "record.images[0].chunks: expected `int` <= 4096"),
    (lambda r: r["images"][0].update(size=10**15), "record.images[0].size: expected `int` <="),
    (lambda r: r["images"][0].update(chunks=7), "7 chunks declared for a 300000-byte image"),
    (lambda r: r.__setitem__("labels", r["labels"] * 2), "a head appears twice"),
    (lambda r: r.__setitem__("rev", 2), "record.rev is 2 but the record holds 0 operator"),
    (lambda r: r["fields"][0].__setitem__("value", "a\x00b"),
     "record.fields[0].value: expected text without control characters"),
    (lambda r: r.__setitem__("category", "cat"), "record.category: Invalid enum value 'cat'"),
    (lambda r: r["labels"][0].__setitem__("score", float("nan")), "not valid JSON"),
    (lambda r: r.__setitem__("extra", 1), "record: unknown field `extra`"),
])
def test_each_malformed_record_has_a_reason_a_person_can_read(change, words):
    rec = valid_record()
    change(rec)
    with pytest.raises(SchemaError) as e:
        decode_record_message(canonical_json({"v": 1, "ask": False, "record": rec}))
    assert words in str(e.value), str(e.value)
    assert not any(p in str(e.value) for p in PYTHON_ERRORS)


def test_the_device_refuses_what_central_would():
    rec = valid_record()
    rec["labels"][0]["score"] = float("nan")
    with pytest.raises(SchemaError, match=r"record.labels\[0\].score: expected `float` >= 0.0"):
        validate_record(rec)


def test_message_level_refusals():
    rec = valid_record()
    for payload, words in [
            (canonical_json({"v": 99, "ask": True, "record": rec}),
             "protocol version 99 is not supported"),
            (b"[1, 2]", "record message is not a JSON object"),
            (b"{", "not valid JSON"), (b"[" * 100_000, "not valid JSON"),
            (b" " * (3 << 20), "above the 2097152-byte limit")]:
        with pytest.raises(SchemaError, match=".*") as e:
            decode_record_message(payload)
        assert words in str(e.value) or "nested too deeply" in str(e.value), str(e.value)


def test_acks_telemetry_and_manifest_are_checked():
    u = str(uuidlib.uuid4())
    assert decode_ack(json.dumps({"record_uuid": u, "status": "committed", "rev": 1,
                                  "reason": None}).encode()).rev == 1
    with pytest.raises(SchemaError, match="ack.status"):
        decode_ack(json.dumps({"record_uuid": u, "status": "maybe"}).encode())
    with pytest.raises(SchemaError, match="telemetry: missing required field `device`"):
        decode_telemetry(b'{"sent_at": "2026-01-01T00:00:00", "app_version": "1"}')
    with pytest.raises(SchemaError, match="manifest.percent"):
        validate_manifest({"format": 1, "channel": "stable", "version": 1,
                           "model": {"name": "m", "version": "1", "sha256": "ab" * 32},
                           "bundle_sha256": "cd" * 32, "size": 10, "chunks": ["ef" * 32],
                           "expires_at": "2027-01-01T00:00:00+00:00", "min_app_version": "0",
                           "runtimes": ["ai-edge-litert"], "percent": 101})
    defs = json_schema()["$defs"]
    assert {"RecordMessage", "Record", "Ack", "ImageStateMessage", "Telemetry",
            "Manifest"} <= set(defs)


# --- Hypothesis -------------------------------------------------------------------------------

@FAST
@given(st.binary(max_size=CHUNK_HEADER.size + 300), st.one_of(st.none(), st.integers(0, 10)))
def test_any_bytes_are_a_bounded_chunk_or_a_schema_error(payload, index):
    try:
        c = parse_chunk(payload, index)
    except SchemaError as e:
        assert str(e)
        return
    assert isinstance(c, Chunk)
    assert c.size <= MAX_IMAGE_BYTES and c.nchunks == chunk_count(c.size) <= MAX_CHUNKS
    assert len(c.data) <= CHUNK_SIZE


@FAST
@given(st.integers(0, MAX_IMAGE_BYTES), st.data(), st.booleans())
def test_chunk_header_round_trips(size, data, with_uuid):
    n = chunk_count(size)
    idx = data.draw(st.integers(0, n - 1))
    length = min(CHUNK_SIZE, size - idx * CHUNK_SIZE)
    body = bytes([idx % 251]) * length
    u = str(uuidlib.UUID(int=data.draw(st.integers(1, 2**128 - 1)))) if with_uuid else None
    c = parse_chunk(bytes(pack_chunk(body, n, size, u)), idx)
    assert (c.nchunks, c.size, c.record_uuid, bytes(c.data)) == (n, size, u, body)
    assert c.sha256 == hashlib.sha256(body).hexdigest()


DEVICES = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._:@-]{0,20}\Z")


@FAST
@given(DEVICES, st.binary(min_size=1, max_size=8), st.integers(0, MAX_CHUNKS - 1))
def test_topics_round_trip(device, blob, idx):
    sha = hashlib.sha256(blob).hexdigest()
    assert parse_up_topic(t_chunk(device, sha, idx)) == (device, "chunk", sha, idx)
    assert parse_up_topic(t_record(device)) == (device, "record", None, None)
    assert parse_up_topic(t_telemetry(device)) == (device, "telemetry", None, None)


@FAST
@given(st.one_of(st.text(max_size=120),
                 st.builds(lambda d, rest: f"claims/{d}/up/{rest}", st.text(max_size=12),
                           st.text(max_size=90))))
def test_any_topic_parses_to_what_formats_back_or_is_refused(topic):
    try:
        device, kind, sha, idx = parse_up_topic(topic)
    except ValueError:
        return
    again = t_chunk(device, sha, idx) if kind == "chunk" else f"claims/{device}/up/{kind}"
    assert again == topic


JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70)
                    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30),
                    lambda kids: st.lists(kids, max_size=4)
                    | st.dictionaries(st.text(max_size=8), kids, max_size=4), max_leaves=12)


def _paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, prefix + (i,))


@st.composite
def mutated_records(draw):
    rec = valid_record()
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(rec) if p]
        path = draw(st.sampled_from(paths))
        parent = rec
        for k in path[:-1]:
            parent = parent[k]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(JSON)
    if isinstance(rec.get("uuid"), str) and len(rec["uuid"]) == 36 and draw(st.booleans()):
        rec["uuid"] = str(uuidlib.UUID(int=draw(st.integers(1, 2**128 - 1))))
    return rec


def _message(obj) -> mqtt.MQTTMessage:
    m = mqtt.MQTTMessage(mid=1, topic=t_record("dev-a").encode())
    m.payload = canonical_json({"v": 1, "ask": True, "record": obj})
    return m


def test_central_stores_or_dead_letters_any_record_never_raises(tmp_path):
    """Central's own commit step (SQLite) on mutated records: what the schema accepts is staged
    (its images are not there); what it refuses is dead-lettered with the schema's reason and,
    when it names a readable uuid, acked ``rejected``; nothing raises."""
    central = Central(f"sqlite:///{tmp_path / 'central.db'}", BrokerSettings(), tmp_path / "b")

    @settings(max_examples=60, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(mutated_records())
    def check(rec):
        m = _message(rec)
        before = cdb.RejectedMessage.select().count()
        try:
            msg, _ = decode_record_message(m.payload)
            why = None
        except SchemaError as e:
            why = str(e)
        replies, _after = central.process([m])
        rows = list(cdb.RejectedMessage.select().where(
            cdb.RejectedMessage.payload_sha256 == hashlib.sha256(m.payload).hexdigest()))
        acks = [b for t, b in replies if t.endswith("/down/ack")]
        if why is None:
            staged = cdb.StagedRecord.get_or_none(cdb.StagedRecord.uuid == msg.record.uuid)
            rejected_as_conflict = acks and acks[0]["status"] == "rejected" and \
                "different content" in acks[0]["reason"]
            assert staged is not None or rejected_as_conflict, (rec, replies)
        else:
            assert cdb.RejectedMessage.select().count() in (before, before + 1)
            assert len(rows) == 1 and rows[0].reason == why      # once, however often sent
            assert not any(p in why for p in PYTHON_ERRORS), why
            assert all(a["status"] == "rejected" for a in acks)
    try:
        check()
    finally:
        central.db.close()
