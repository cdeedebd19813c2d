"""Every message of the sync protocol, as one schema that the device and central both import.

Validated with ``msgspec`` (a compiled validator with aarch64 wheels for CPython 3.9-3.13, a few
hundred KB, imported in milliseconds: it is on the device path). A message is checked here
before any database work; whatever fails is a :class:`SchemaError` whose message a person can
read ("record.fields[0]: missing `confidence`"), never a raw Python error.

Every size and count has a bound, so one message cannot take central's memory or disk: an image
is at most :data:`MAX_IMAGE_BYTES` (so at most :data:`MAX_CHUNKS` chunk indexes are ever listed),
a record message at most :data:`MAX_RECORD_MESSAGE_BYTES`, a field value :data:`MAX_VALUE_CHARS`.

Versioning: the record message carries ``v`` (:data:`PROTOCOL_VERSION`). A change that an older
central could not read bumps it; central refuses a version it does not speak with that reason.
To extend the record (e.g. per-model versions), add an optional field with a default to
:class:`Record` (``forbid_unknown_fields``: an unknown key is refused, so the schema here is the
whole truth about what central accepts).

The chunk header (binary, 64 bytes) and the fleet manifest live here too; their pack/read
helpers stay in ``protocol.py`` and ``fleet/release.py``.
"""

from __future__ import annotations

import dataclasses
import re
import struct
import uuid as uuidlib
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

PROTOCOL_VERSION = 1
CHUNK_SIZE = 256 * 1024

# --- bounds ---------------------------------------------------------------------------------------
MAX_IMAGE_BYTES = 1 << 30                          # one image: 1 GiB
MAX_CHUNKS = MAX_IMAGE_BYTES // CHUNK_SIZE          # 4096 chunk indexes at most per image
MAX_IMAGES = 8                                      # images per record
MAX_RECORD_MESSAGE_BYTES = 2 * 1024 * 1024          # = the shipped broker's max_packet_size
MAX_LABELS = 16
MAX_SCENARIOS = 8
MAX_FIELDS = 256
MAX_TEXT_LINES = 2000
MAX_QUALITY_ISSUES = 32
MAX_BOX_POINTS = 16
MAX_VALUE_CHARS = 4096                              # a field value, a text line, a reason
MAX_NAME_CHARS = 128                                # ids, names, labels, versions
MAX_PIXELS_SIDE = 1_000_000
MAX_REV = 100_000
MAX_TELEMETRY_BYTES = 64 * 1024
MAX_QUARANTINE_REPORTS = 50
MAX_MODELS = 32
MAX_BUNDLE_BYTES = 1 << 30

CATEGORIES = ("vehicle", "damage", "plate", "vin", "document", "other")
SCENARIOS = ("damage_assessment", "vehicle_identification", "identity_verification",
             "claim_documents", "review")

ACK_COMMITTED = "committed"
ACK_DUPLICATE = "duplicate"
ACK_REJECTED = "rejected"
STATUS_ONLINE = "online"
STATUS_OFFLINE = "offline"


class SchemaError(ValueError):
    """A message that does not match its schema; the message says where and why."""


# --- field types ------------------------------------------------------------------------------
# No NUL and no other C0 control character except tab/newline: PostgreSQL refuses NUL in text.
_TEXT = r"^[^\x00-\x08\x0b-\x1f]*$"
_LINE = r"^[^\x00-\x1f]*$"
_UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
_SHA256 = r"^[0-9a-f]{64}$"
_TIME = r"^\d{4}-\d{2}-\d{2}[T ][0-9:.+\-Z]*$"
# what each pattern means, for the reasons people read
PATTERN_WORDS = {_TEXT: "text without control characters",
                 _LINE: "one line of text without control characters",
                 r"^[^\x00-\x1f]+$": "a non-empty line of text without control characters",
                 _UUID: "a lower-case UUID (8-4-4-4-12 hex digits)",
                 _SHA256: "a SHA-256 (64 lower-case hex digits)",
                 _TIME: "an ISO 8601 date and time"}
Name = Annotated[str, Meta(min_length=1, max_length=MAX_NAME_CHARS, pattern=r"^[^\x00-\x1f]+$")]
OptName = Annotated[str, Meta(max_length=MAX_NAME_CHARS, pattern=_LINE)] | None
Text = Annotated[str, Meta(max_length=MAX_VALUE_CHARS, pattern=_TEXT)]
Uuid = Annotated[str, Meta(pattern=_UUID, description="canonical lower-case UUID")]
Sha256 = Annotated[str, Meta(pattern=_SHA256)]
Timestamp = Annotated[str, Meta(max_length=40, pattern=_TIME)]
# scores and confidences in [0, 1], similarities in [-1, 1], with room for float32 rounding
Unit = Annotated[float, Meta(ge=0.0, le=1.001)]
Cosine = Annotated[float, Meta(ge=-1.001, le=1.001)]
Finite = Annotated[float, Meta(ge=-1e12, le=1e12)]            # also refuses NaN
Pixels = Annotated[int, Meta(ge=0, le=MAX_PIXELS_SIDE)]
Lat = Annotated[float, Meta(ge=-90.0, le=90.0)]
Lon = Annotated[float, Meta(ge=-180.0, le=180.0)]
ChunkIndex = Annotated[int, Meta(ge=0, lt=MAX_CHUNKS)]
Category = Literal["vehicle", "damage", "plate", "vin", "document", "other"]
Scenario = Literal["damage_assessment", "vehicle_identification", "identity_verification",
                   "claim_documents", "review"]


class _Struct(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=False):
    pass


# --- record (claims/{device}/up/record) ---------------------------------------------------------
class LabelRow(_Struct):
    head: Name
    label: Name
    score: Unit
    verified: bool | None = None
    similarity: Cosine | None = None


class ScenarioRow(_Struct):
    scenario: Scenario
    reason: Annotated[str, Meta(max_length=255, pattern=_LINE)] = ""
    retain_until: Timestamp | None = None


class TextRow(_Struct):
    idx: Annotated[int, Meta(ge=0, lt=MAX_TEXT_LINES)]
    text: Text
    score: Unit
    box: Annotated[list[tuple[Finite, Finite]], Meta(max_length=MAX_BOX_POINTS)]


class FieldRow(_Struct):
    name: Name
    value: Text
    confidence: Unit
    valid: bool
    source: Name
    reason: Text | None = None


class Quality(_Struct):
    ok: bool | None = None
    issues: Annotated[list[Name], Meta(max_length=MAX_QUALITY_ISSUES)] = []
    sharpness: Finite | None = None
    brightness: Finite | None = None
    glare: Finite | None = None


class ModelRef(_Struct):
    name: OptName = None
    version: OptName = None
    sha256: OptName = None


# a bundle name is also a folder name on the device (edge/registry.py)
BundleName = Annotated[str, Meta(min_length=1, max_length=MAX_NAME_CHARS,
                                 pattern=r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")]


class ModelUsed(_Struct):
    """A model that touched a photo (the result's ``models``): which plate reader read which
    plate. ``kind``: classifier, detector, box_refiner, plate_reader, document, ocr_recognizer,
    ocr_detector (edge/modelref.py); a newer device may name a newer kind."""
    kind: Name
    name: Name
    version: Name
    sha256: Sha256


class ImageRef(_Struct):
    sha256: Sha256
    size: Annotated[int, Meta(ge=0, le=MAX_IMAGE_BYTES)]
    chunks: Annotated[int, Meta(ge=1, le=MAX_CHUNKS)]
    chunk_size: Literal[262144] = CHUNK_SIZE
    mime: OptName = None
    width: Pixels | None = None
    height: Pixels | None = None


class Record(_Struct):
    uuid: Uuid
    claim: Name
    images: Annotated[list[ImageRef], Meta(min_length=1, max_length=MAX_IMAGES)]
    rev: Annotated[int, Meta(ge=0, le=MAX_REV)] = 0
    device: OptName = None
    captured_at: Timestamp | None = None
    exif_time: Timestamp | None = None
    gps: tuple[Lat | None, Lon | None] = (None, None)
    orientation: Annotated[int, Meta(ge=0, le=8)] | None = None
    width: Pixels | None = None
    height: Pixels | None = None
    quality: Quality = msgspec.field(default_factory=Quality)
    model: ModelRef = msgspec.field(default_factory=ModelRef)
    category: Category | None = None
    verified: bool | None = None
    labels: Annotated[list[LabelRow], Meta(max_length=MAX_LABELS)] = []
    scenarios: Annotated[list[ScenarioRow], Meta(max_length=MAX_SCENARIOS)] = []
    text: Annotated[list[TextRow], Meta(max_length=MAX_TEXT_LINES)] = []
    fields: Annotated[list[FieldRow], Meta(max_length=MAX_FIELDS)] = []
    result: dict[str, Any] | None = None       # the analyze --json object (bounded by the message)
    models: Annotated[list[ModelUsed], Meta(max_length=MAX_MODELS)] = []   # every model used


class RecordMessage(_Struct):
    v: int
    record: Record
    ask: bool = False


# --- down/ack and down/image ----------------------------------------------------------------------
class Ack(_Struct):
    record_uuid: Uuid
    status: Literal["committed", "duplicate", "rejected"]
    reason: Text | None = None
    rev: Annotated[int, Meta(ge=0, le=MAX_REV)] = 0
    payload_sha256: Sha256 | None = None     # rejected: the SHA-256 of the message refused


class ImageState(_Struct):
    sha256: Sha256
    missing: Annotated[list[ChunkIndex], Meta(max_length=MAX_CHUNKS)] = []
    error: Literal["hash_mismatch"] | None = None


class ImageStateMessage(_Struct):
    """``down/image``: which chunks central still lacks."""
    record_uuid: Uuid
    images: Annotated[list[ImageState], Meta(max_length=MAX_IMAGES)]


# --- up/telemetry ---------------------------------------------------------------------------------
class QuarantineReport(_Struct):
    record_uuid: Uuid
    reason: Text
    at: Timestamp | None = None


class Telemetry(_Struct):
    """``claims/{device}/up/telemetry`` (retained, periodic): how the device is doing."""
    device: Name
    sent_at: Timestamp
    app_version: Name
    models: Annotated[dict[Name, Name], Meta(max_length=MAX_MODELS)] = {}
    outbox_pending: Annotated[int, Meta(ge=0)] = 0
    outbox_inflight: Annotated[int, Meta(ge=0)] = 0
    outbox_acked: Annotated[int, Meta(ge=0)] = 0
    oldest_pending_age_s: Annotated[float, Meta(ge=0, le=1e10)] | None = None
    quarantined: Annotated[int, Meta(ge=0)] = 0
    quarantined_reasons: Annotated[dict[Text, Annotated[int, Meta(ge=0)]],
                                   Meta(max_length=MAX_QUARANTINE_REPORTS)] = {}
    quarantined_recent: Annotated[list[QuarantineReport],
                                  Meta(max_length=MAX_QUARANTINE_REPORTS)] = []
    disk_free_mb: Annotated[float, Meta(ge=0, le=1e12)] | None = None
    last_sync_at: Timestamp | None = None
    v: int = PROTOCOL_VERSION


# --- fleet/models/{channel}/manifest ---------------------------------------------------------------
class ManifestModel(msgspec.Struct):
    name: Name
    version: Name
    sha256: Sha256


class ManifestBundle(msgspec.Struct):
    """One bundle of a release (format 2): installed under ``name`` beside its other releases."""
    kind: Name
    name: BundleName
    version: Name
    sha256: Sha256


class Manifest(msgspec.Struct):
    """A signed fleet release (``fleet/release.py`` builds it); unknown keys are allowed so a
    newer publisher can add some, but none of these may be missing or mistyped."""
    format: int
    channel: Name
    version: Annotated[int, Meta(ge=0)]
    model: ManifestModel
    bundle_sha256: Sha256
    size: Annotated[int, Meta(ge=0, le=MAX_BUNDLE_BYTES)]
    chunks: Annotated[list[Sha256], Meta(min_length=1, max_length=MAX_BUNDLE_BYTES // CHUNK_SIZE)]
    expires_at: Timestamp
    min_app_version: Annotated[str, Meta(max_length=MAX_NAME_CHARS)]
    runtimes: Annotated[list[Name], Meta(max_length=16)]
    percent: Annotated[int, Meta(ge=0, le=100)]
    chunk_size: Literal[262144] = CHUNK_SIZE
    # format 2: every bundle of the release, activated and rolled back together
    models: Annotated[list[ManifestBundle], Meta(min_length=1, max_length=MAX_MODELS)] | None = None


# --- the chunk header (claims/{device}/up/chunk/{sha256}/{index}) ----------------------------------
# The chunk's metadata travels in the payload, not in MQTT 5 user properties: paho parses
# properties by re-slicing the whole packet per field, ~18 copies of 256 KiB per chunk, which
# was a fifth of central's CPU in `claim-edge bench sync`; a header is read from a memoryview.
CHUNK_MAGIC = b"CEc1"
CHUNK_HEADER = struct.Struct("!4sIQ32s16s")   # magic, chunk count, file size, SHA-256, uuid


def chunk_count(size: int, chunk_size: int = CHUNK_SIZE) -> int:
    return max(1, -(-size // chunk_size))


@dataclasses.dataclass(frozen=True)
class Chunk:
    nchunks: int
    size: int               # of the whole file
    sha256: str             # of this chunk's bytes, as the sender computed it
    record_uuid: str | None
    data: memoryview


def parse_chunk(payload: bytes, index: int | None = None) -> Chunk:
    """A chunk message's header and bytes; SchemaError (a ValueError) for anything that is not
    a well-formed chunk (``index``: the chunk index from the topic, checked against the header)."""
    view = memoryview(payload)
    if len(view) < CHUNK_HEADER.size:
        raise SchemaError(f"chunk message is {len(view)} bytes, shorter than its "
                          f"{CHUNK_HEADER.size}-byte header")
    magic, n, size, digest, u = CHUNK_HEADER.unpack_from(view)
    if magic != CHUNK_MAGIC:
        raise SchemaError(f"not a chunk message (magic {magic!r}, expected {CHUNK_MAGIC!r})")
    if size > MAX_IMAGE_BYTES:
        raise SchemaError(f"chunk header declares a {size}-byte image, above the "
                          f"{MAX_IMAGE_BYTES}-byte limit")
    if n != chunk_count(size):
        raise SchemaError(f"chunk header declares {n} chunks for a {size}-byte image "
                          f"(expected {chunk_count(size)})")
    data = view[CHUNK_HEADER.size:]
    if index is not None:
        if index >= n:
            raise SchemaError(f"chunk index {index} is past the image's {n} chunks")
        expect = min(CHUNK_SIZE, size - index * CHUNK_SIZE)
        if len(data) != expect:
            raise SchemaError(f"chunk {index} carries {len(data)} bytes, expected {expect}")
    elif len(data) > CHUNK_SIZE:
        raise SchemaError(f"chunk carries {len(data)} bytes, above {CHUNK_SIZE}")
    return Chunk(n, size, digest.hex(), str(uuidlib.UUID(bytes=u)) if any(u) else None, data)


# --- decoding with readable errors ---------------------------------------------------------------
_PATH = re.compile(r" - at `\$\.?(.*)`$")


def _readable(e: Exception, what: str) -> str:
    """msgspec's "Object missing required field `confidence` - at `$.record.fields[0]`" as
    "record.fields[0]: missing required field `confidence`"."""
    msg = str(e)
    m = _PATH.search(msg)
    where = m.group(1) if m else ""
    msg = _PATH.sub("", msg)
    msg = (msg.replace("Object missing required field", "missing required field")
              .replace("Object contains unknown field", "unknown field")
              .replace("Expected ", "expected "))
    for pattern, words in PATTERN_WORDS.items():
        msg = msg.replace(f"`str` matching regex {pattern!r}", words)
    if not what:
        prefix = where or "message"
    else:
        prefix = f"{what}.{where}" if where and not where.startswith("[") else f"{what}{where}"
    return f"{prefix}: {msg}"


def decode_json(payload: bytes, what: str, max_bytes: int) -> Any:
    """JSON -> builtins, with the size bound first; SchemaError on anything else."""
    if len(payload) > max_bytes:
        raise SchemaError(f"{what} message is {len(payload)} bytes, above the "
                          f"{max_bytes}-byte limit")
    try:
        return msgspec.json.decode(payload)
    except msgspec.DecodeError as e:
        raise SchemaError(f"{what} message is not valid JSON ({e})") from None
    except RecursionError:
        raise SchemaError(f"{what} message is nested too deeply") from None


def convert(obj: Any, typ: type, what: str):
    try:
        return msgspec.convert(obj, typ)
    except msgspec.ValidationError as e:
        raise SchemaError(_readable(e, what)) from None
    except RecursionError:
        raise SchemaError(f"{what} is nested too deeply") from None


def check_record(rec: Record) -> None:
    """What the schema's types cannot say: cross-field rules, each with its reason."""
    heads = [l.head for l in rec.labels]
    if len(set(heads)) != len(heads):
        raise SchemaError("record.labels: a head appears twice")
    scen = [s.scenario for s in rec.scenarios]
    if len(set(scen)) != len(scen):
        raise SchemaError("record.scenarios: a scenario appears twice")
    idx = [t.idx for t in rec.text]
    if len(set(idx)) != len(idx):
        raise SchemaError("record.text: a line index appears twice")
    shas = [im.sha256 for im in rec.images]
    if len(set(shas)) != len(shas):
        raise SchemaError("record.images: an image appears twice")
    for i, im in enumerate(rec.images):
        if im.chunks != chunk_count(im.size):
            raise SchemaError(f"record.images[{i}]: {im.chunks} chunks declared for a "
                              f"{im.size}-byte image (expected {chunk_count(im.size)})")
    corrections = sum(1 for f in rec.fields if f.source == "operator")
    if rec.rev != corrections:
        raise SchemaError(f"record.rev is {rec.rev} but the record holds {corrections} operator "
                          "correction(s)")


def decode_record_message(payload: bytes) -> tuple[RecordMessage, dict]:
    """(validated message, the record as a dict, exactly as sent: its hash is its identity)."""
    obj = decode_json(payload, "record", MAX_RECORD_MESSAGE_BYTES)
    if not isinstance(obj, dict):
        raise SchemaError("record message is not a JSON object")
    v = obj.get("v")
    if v != PROTOCOL_VERSION:
        raise SchemaError(f"protocol version {v!r} is not supported (this central speaks "
                          f"version {PROTOCOL_VERSION})")
    msg = convert(obj, RecordMessage, "")
    check_record(msg.record)
    return msg, obj["record"]


def validate_record(record: dict) -> Record:
    """A record dict as the device built it, checked against the schema (the device checks its
    own records before sending, so what central would refuse is quarantined at the source)."""
    rec = convert(record, Record, "record")
    check_record(rec)
    return rec


def record_uuid_of(payload: bytes) -> str | None:
    """The canonical record uuid in a message that failed validation, if it has one: the
    device needs it to match the ``rejected`` ack to its record."""
    try:
        obj = msgspec.json.decode(payload)
        u = obj["record"]["uuid"]
        return str(uuidlib.UUID(u)) if isinstance(u, str) and len(u) <= 64 else None
    except Exception:  # noqa: BLE001 - anything unreadable simply has no uuid
        return None


def decode_ack(payload: bytes) -> Ack:
    return convert(decode_json(payload, "ack", 16 * 1024), Ack, "ack")


def decode_image_state(payload: bytes) -> ImageStateMessage:
    return convert(decode_json(payload, "image", 256 * 1024), ImageStateMessage, "image")


def decode_telemetry(payload: bytes) -> Telemetry:
    obj = decode_json(payload, "telemetry", MAX_TELEMETRY_BYTES)
    if isinstance(obj, dict) and obj.get("v", PROTOCOL_VERSION) != PROTOCOL_VERSION:
        raise SchemaError(f"telemetry version {obj.get('v')!r} is not supported")
    return convert(obj, Telemetry, "telemetry")


def decode_status(payload: bytes) -> str:
    text = bytes(payload[:16]).decode("ascii", "replace")
    if text not in (STATUS_ONLINE, STATUS_OFFLINE):
        raise SchemaError(f"status must be {STATUS_ONLINE!r} or {STATUS_OFFLINE!r}")
    return text


def validate_manifest(doc: Any) -> Manifest:
    if not isinstance(doc, dict):
        raise SchemaError("manifest is not a JSON object")
    return convert(doc, Manifest, "manifest")


def encode(obj: msgspec.Struct) -> bytes:
    return msgspec.json.encode(obj)


def json_schema() -> dict:
    """The JSON Schema of every JSON message, for other implementers (``python -m sync schema``)."""
    _, components = msgspec.json.schema_components(
        [RecordMessage, Ack, ImageStateMessage, Telemetry, Manifest],
        ref_template="#/$defs/{name}")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": f"claim-edge sync protocol v{PROTOCOL_VERSION}", "$defs": components}
