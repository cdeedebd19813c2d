"""The scenario store's tables (peewee). Migrations in ``migrations.py`` create and evolve them.

Ownership: the edge runtime writes every table; the sync worker (``sync/``) reads the store and
updates only ``outbox`` rows (state, attempts, acks). Writers take the lock up front
(``BEGIN IMMEDIATE``) and wait on ``busy_timeout``.
"""

from __future__ import annotations

import datetime as dt

import peewee as pw

db_proxy = pw.DatabaseProxy()


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class Base(pw.Model):
    class Meta:
        database = db_proxy
        legacy_table_names = False


class Device(Base):
    id = pw.CharField(primary_key=True)  # the MQTT username
    profile = pw.CharField()
    created_at = pw.DateTimeField(default=utcnow)


class Claim(Base):
    id = pw.CharField(primary_key=True)  # claim id given by the operator
    device = pw.ForeignKeyField(Device, backref="claims")
    created_at = pw.DateTimeField(default=utcnow)


class Image(Base):
    """One stored file, content-addressed: the same bytes are stored once."""
    sha256 = pw.CharField(primary_key=True, max_length=64)
    path = pw.CharField()  # relative to the store's image root
    size = pw.BigIntegerField()
    mime = pw.CharField()
    width = pw.IntegerField()
    height = pw.IntegerField()
    created_at = pw.DateTimeField(default=utcnow)
    purged_at = pw.DateTimeField(null=True)  # original removed by retention; hash and results kept


class Photo(Base):
    """One capture filed in one claim; the record synced to central (uuid = record uuid)."""
    uuid = pw.UUIDField(primary_key=True)
    claim = pw.ForeignKeyField(Claim, backref="photos")
    image = pw.ForeignKeyField(Image, backref="photos", column_name="sha256")
    source_path = pw.TextField()
    captured_at = pw.DateTimeField(default=utcnow)
    exif_time = pw.DateTimeField(null=True)
    gps_lat = pw.FloatField(null=True)
    gps_lon = pw.FloatField(null=True)
    orientation = pw.IntegerField(null=True)
    width = pw.IntegerField()
    height = pw.IntegerField()
    quality_ok = pw.BooleanField()
    quality_issues = pw.TextField(default="[]")  # JSON list of issue codes
    sharpness = pw.FloatField(null=True)
    brightness = pw.FloatField(null=True)
    glare = pw.FloatField(null=True)
    model_name = pw.CharField(null=True)
    model_version = pw.CharField(null=True)
    model_sha256 = pw.CharField(null=True)
    category = pw.CharField(null=True)
    verified = pw.BooleanField(null=True)
    result_json = pw.TextField()  # the analyze --json object for this photo

    class Meta:
        indexes = ((("claim", "image"), True),)


class Label(Base):
    photo = pw.ForeignKeyField(Photo, backref="labels", on_delete="CASCADE")
    head = pw.CharField()
    label = pw.CharField()
    score = pw.FloatField()
    verified = pw.BooleanField(null=True)
    similarity = pw.FloatField(null=True)

    class Meta:
        indexes = ((("photo", "head"), True),)


class ScenarioAssignment(Base):
    """The storage zones: a photo is filed under every scenario its labels map to."""
    photo = pw.ForeignKeyField(Photo, backref="scenarios", on_delete="CASCADE")
    scenario = pw.CharField(index=True)
    reason = pw.CharField()
    retain_until = pw.DateTimeField(null=True)
    created_at = pw.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("photo", "scenario"), True),)


class TextLine(Base):
    photo = pw.ForeignKeyField(Photo, backref="text_lines", on_delete="CASCADE")
    idx = pw.IntegerField()
    text = pw.TextField()
    score = pw.FloatField()
    box = pw.TextField()  # JSON [[x,y] x4]

    class Meta:
        indexes = ((("photo", "idx"), True),)


OPERATOR = "operator"                     # KeyField.source of an operator's correction
OUTBOX_ACTIVE = ("pending", "inflight")   # Outbox states central has not acknowledged yet


class KeyField(Base):
    photo = pw.ForeignKeyField(Photo, backref="fields", on_delete="CASCADE")
    name = pw.CharField()
    value = pw.TextField()
    confidence = pw.FloatField()
    valid = pw.BooleanField()
    source = pw.CharField()  # e.g. "ocr", "plate_reader", "operator"
    reason = pw.TextField(null=True)
    created_at = pw.DateTimeField(default=utcnow)


class CompletenessCheck(Base):
    claim = pw.ForeignKeyField(Claim, backref="checks", on_delete="CASCADE")
    photo = pw.ForeignKeyField(Photo, null=True, backref="checks", on_delete="CASCADE")
    item = pw.CharField()  # e.g. "photo:plate", "field:receipt_invoice.total"
    status = pw.CharField()  # present | missing | invalid | doubtful
    detail = pw.TextField(default="")
    checked_at = pw.DateTimeField(default=utcnow)


class Outbox(Base):
    """One row per record to sync. Written by ingest in the same transaction as the photo."""
    id = pw.AutoField()
    record_uuid = pw.UUIDField(unique=True)  # = Photo.uuid
    claim = pw.CharField(index=True)
    state = pw.CharField(default="pending", index=True)  # pending | inflight | acked | quarantined
    attempts = pw.IntegerField(default=0)
    created_at = pw.DateTimeField(default=utcnow)
    last_attempt_at = pw.DateTimeField(null=True)
    acked_at = pw.DateTimeField(null=True)
    ack_status = pw.CharField(null=True)  # committed | duplicate | rejected
    reason = pw.TextField(null=True)


class AuditLog(Base):
    """Append-only (triggers refuse UPDATE and DELETE)."""
    id = pw.AutoField()
    at = pw.DateTimeField(default=utcnow)
    actor = pw.CharField()
    action = pw.CharField()
    subject = pw.CharField()
    detail = pw.TextField(default="{}")


TABLES = [Device, Claim, Image, Photo, Label, ScenarioAssignment, TextLine, KeyField,
          CompletenessCheck, Outbox, AuditLog]
