"""Central ingest database (peewee): PostgreSQL (``postgresql://...``) or SQLite (default).

The schema mirrors the device's scenario zones so the insurer can query by claim and by scenario:
``record`` (one per photo, keyed by the device's record uuid) with ``scenario_zone``,
``label``, ``key_field``, ``text_line`` and ``record_image``, and ``record_revision`` (what an operator's correction superseded); ``blob`` is the content-addressed
image store (files on disk, named by SHA-256). ``chunk`` and ``staged_record``/``staged_image``
hold what has arrived but is not complete yet. ``rejected_message`` holds the dead letters (every
refused message, with the reason), ``device_telemetry`` each device's last report and
``device_quarantine`` the records devices quarantined.
"""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import parse_qs, unquote, urlparse

import peewee as pw

db = pw.DatabaseProxy()


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class Base(pw.Model):
    class Meta:
        database = db
        legacy_table_names = False


class CentralDevice(Base):
    id = pw.CharField(primary_key=True)
    first_seen = pw.DateTimeField(default=utcnow)

    class Meta:
        table_name = "device"


class CentralClaim(Base):
    id = pw.CharField(primary_key=True)
    device = pw.CharField(index=True)       # the device that filed it first
    created_at = pw.DateTimeField(default=utcnow)

    class Meta:
        table_name = "claim"


class Record(Base):
    uuid = pw.CharField(primary_key=True, max_length=36)
    device = pw.CharField(index=True)
    claim = pw.CharField(index=True)
    content_sha256 = pw.CharField(max_length=64)
    captured_at = pw.CharField(null=True)
    category = pw.CharField(null=True, index=True)
    verified = pw.BooleanField(null=True)
    width = pw.IntegerField(null=True)
    height = pw.IntegerField(null=True)
    quality_ok = pw.BooleanField(null=True)
    gps_lat = pw.FloatField(null=True)
    gps_lon = pw.FloatField(null=True)
    model_name = pw.CharField(null=True)
    model_version = pw.CharField(null=True)
    payload = pw.TextField()                # the record JSON as the device sent it (canonical)
    received_at = pw.DateTimeField(default=utcnow)
    rev = pw.IntegerField(default=0)        # operator corrections in it (sync/protocol.py)
    revised_at = pw.DateTimeField(null=True)


class RecordRevision(Base):
    """A superseded revision of a record, kept when a newer one (an operator's correction)
    replaced its fields."""
    record = pw.ForeignKeyField(Record, backref="revisions", on_delete="CASCADE")
    rev = pw.IntegerField()
    content_sha256 = pw.CharField(max_length=64)
    payload = pw.TextField()
    received_at = pw.DateTimeField()
    superseded_at = pw.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("record", "rev"), True),)


class RecordModel(Base):
    """Each model that touched a record (the device's ``models`` list): which plate reader read
    which plate, which classifier labelled which photo."""
    record = pw.ForeignKeyField(Record, backref="models", on_delete="CASCADE")
    kind = pw.CharField(index=True)
    name = pw.CharField()
    version = pw.CharField()
    sha256 = pw.CharField(max_length=64)

    class Meta:
        indexes = ((("record", "kind", "name"), True), (("kind", "name", "version"), False))


def record_models(rec: dict) -> list[dict]:
    """The models a record names: its ``models`` list (checked by sync/schemas.py), else the
    classifier of ``model`` (a record from a device older than the list)."""
    models = rec.get("models")
    if models:
        return [m for m in models if isinstance(m, dict) and m.get("name")]
    m = rec.get("model") or {}
    return [dict(kind="classifier", **m)] if m.get("name") else []


class RecordImage(Base):
    record = pw.ForeignKeyField(Record, backref="images", on_delete="CASCADE")
    sha256 = pw.CharField(max_length=64, index=True)
    mime = pw.CharField(null=True)
    size = pw.BigIntegerField()
    width = pw.IntegerField(null=True)
    height = pw.IntegerField(null=True)

    class Meta:
        indexes = ((("record", "sha256"), True),)


class Label(Base):
    record = pw.ForeignKeyField(Record, backref="labels", on_delete="CASCADE")
    head = pw.CharField()
    label = pw.CharField()
    score = pw.FloatField()
    verified = pw.BooleanField(null=True)
    similarity = pw.FloatField(null=True)

    class Meta:
        indexes = ((("record", "head"), True),)


class ScenarioZone(Base):
    """The storage zones, as on the device: one row per (record, scenario)."""
    record = pw.ForeignKeyField(Record, backref="scenarios", on_delete="CASCADE")
    claim = pw.CharField(index=True)
    device = pw.CharField()
    scenario = pw.CharField(index=True)
    reason = pw.CharField()
    retain_until = pw.CharField(null=True)

    class Meta:
        indexes = ((("record", "scenario"), True), (("scenario", "claim"), False))


class KeyField(Base):
    record = pw.ForeignKeyField(Record, backref="fields", on_delete="CASCADE")
    idx = pw.IntegerField()
    name = pw.CharField(index=True)
    value = pw.TextField()
    confidence = pw.FloatField()
    valid = pw.BooleanField()
    source = pw.CharField()
    reason = pw.TextField(null=True)

    class Meta:
        indexes = ((("record", "idx"), True),)


class TextLine(Base):
    record = pw.ForeignKeyField(Record, backref="text_lines", on_delete="CASCADE")
    idx = pw.IntegerField()
    text = pw.TextField()
    score = pw.FloatField()
    box = pw.TextField()

    class Meta:
        indexes = ((("record", "idx"), True),)


class Blob(Base):
    sha256 = pw.CharField(primary_key=True, max_length=64)
    size = pw.BigIntegerField()
    path = pw.CharField()                    # relative to the blob directory
    created_at = pw.DateTimeField(default=utcnow)


class Chunk(Base):
    sha256 = pw.CharField(max_length=64)
    idx = pw.IntegerField()
    chunk_sha256 = pw.CharField(max_length=64)
    nchunks = pw.IntegerField()
    size = pw.BigIntegerField()              # whole file
    received_at = pw.DateTimeField(default=utcnow)

    class Meta:
        primary_key = pw.CompositeKey("sha256", "idx")


class StagedRecord(Base):
    uuid = pw.CharField(primary_key=True, max_length=36)
    device = pw.CharField()
    content_sha256 = pw.CharField(max_length=64)
    payload = pw.TextField()
    received_at = pw.DateTimeField(default=utcnow)


class StagedImage(Base):
    record_uuid = pw.CharField(max_length=36)
    sha256 = pw.CharField(max_length=64, index=True)

    class Meta:
        primary_key = pw.CompositeKey("record_uuid", "sha256")


class ReviewDecision(Base):
    """A reviewer's decision on a record at central (``claim-edge central review``): the label a
    head should have had. With the operators' field corrections, it is exported as training data
    (``claim-edge central export-labels``)."""
    id = pw.AutoField()
    record = pw.ForeignKeyField(Record, backref="decisions", on_delete="CASCADE")
    head = pw.CharField()                  # category | damage | view | document
    label = pw.CharField()
    model_label = pw.CharField(null=True)  # what the device's model said
    decided_by = pw.CharField()
    decided_at = pw.DateTimeField(default=utcnow, index=True)
    note = pw.TextField(null=True)


class RejectedMessage(Base):
    """The dead letters: every message central refused (schema, conflict, or a commit that
    kept failing), with why. The message itself is not kept, only its SHA-256 and size."""
    id = pw.AutoField()
    at = pw.DateTimeField(default=utcnow, index=True)
    device = pw.CharField(index=True)
    topic = pw.CharField()
    reason = pw.TextField()
    payload_sha256 = pw.CharField(max_length=64)
    payload_bytes = pw.BigIntegerField()
    record_uuid = pw.CharField(null=True, index=True, max_length=36)
    content_sha256 = pw.CharField(null=True, max_length=64)

    class Meta:
        table_name = "rejected_message"
        # a redelivered (or resent) message is dead-lettered once
        indexes = ((("device", "topic", "payload_sha256"), True),)


class DeviceTelemetry(Base):
    """The last ``up/telemetry`` of each device (``claim-edge central devices``)."""
    device = pw.CharField(primary_key=True)
    received_at = pw.DateTimeField(default=utcnow)
    sent_at = pw.CharField()
    app_version = pw.CharField()
    models = pw.TextField()                  # JSON {name: version}
    outbox_pending = pw.IntegerField()
    outbox_inflight = pw.IntegerField()
    oldest_pending_age_s = pw.FloatField(null=True)
    quarantined = pw.IntegerField()
    disk_free_mb = pw.FloatField(null=True)
    last_sync_at = pw.CharField(null=True)
    payload = pw.TextField()

    class Meta:
        table_name = "device_telemetry"


class DeviceQuarantine(Base):
    """Records a device quarantined (never to be sent), as its telemetry reported them."""
    device = pw.CharField()
    record_uuid = pw.CharField(max_length=36)
    reason = pw.TextField()
    quarantined_at = pw.CharField(null=True)
    reported_at = pw.DateTimeField(default=utcnow)

    class Meta:
        table_name = "device_quarantine"
        primary_key = pw.CompositeKey("device", "record_uuid")


TABLES = [CentralDevice, CentralClaim, Record, RecordRevision, RecordModel, RecordImage, Label,
          ScenarioZone, KeyField, TextLine, Blob, Chunk, StagedRecord, StagedImage, RejectedMessage,
          DeviceTelemetry, DeviceQuarantine, ReviewDecision]

_SCHEMA_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def make_database(url: str) -> pw.Database:
    """``postgresql://user:pw@host:port/db?schema=name`` or ``sqlite:///path`` or a file path."""
    if url.startswith(("postgres://", "postgresql://")):
        u = urlparse(url)
        q = parse_qs(u.query)
        kw = dict(host=u.hostname or "127.0.0.1", port=u.port or 5432,
                  user=unquote(u.username) if u.username else None,
                  password=unquote(u.password) if u.password else None)
        schema = q.get("schema", [None])[0]
        if schema:
            if not _SCHEMA_RE.match(schema):
                raise ValueError(f"bad schema name {schema!r}")
            kw["options"] = f"-c search_path={schema}"
        if "connect_timeout" in q:
            kw["connect_timeout"] = int(q["connect_timeout"][0])
        else:
            kw["connect_timeout"] = 10
        database = pw.PostgresqlDatabase(u.path.lstrip("/") or "postgres",
                                         **{k: v for k, v in kw.items() if v is not None})
        database.central_schema = schema
        return database
    path = url[len("sqlite:///"):] if url.startswith("sqlite:///") else url
    database = pw.SqliteDatabase(path, pragmas={"journal_mode": "wal", "synchronous": 2,
                                                "busy_timeout": 30000, "foreign_keys": 1},
                                 check_same_thread=False)
    database.central_schema = None
    return database


def open_database(url: str, create: bool = True) -> pw.Database:
    database = make_database(url)
    db.initialize(database)
    database.connect(reuse_if_open=True)
    if create:
        schema = getattr(database, "central_schema", None)
        if schema:
            database.execute_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        database.create_tables(TABLES, safe=True)
        _add_missing_columns(database, schema)
    return database


def _add_missing_columns(database: pw.Database, schema: str | None) -> None:
    """Columns added after a table was first created (``create_tables`` adds none)."""
    from playhouse.migrate import PostgresqlMigrator, SqliteMigrator, migrate

    have = {c.name for c in database.get_columns(Record._meta.table_name, schema)}
    missing = [f for f in (Record.rev, Record.revised_at) if f.column_name not in have]
    if missing:
        m = (PostgresqlMigrator if isinstance(database, pw.PostgresqlDatabase) else
             SqliteMigrator)(database)
        migrate(*[m.add_column(Record._meta.table_name, f.column_name, f) for f in missing])
