"""Build the record JSON the device sends for outbox rows, from the device store's rows.

Reads Photo, Label, ScenarioAssignment, TextLine, KeyField and Image; writes nothing. Records
are built a window at a time (one query per table for up to a few hundred photos): peewee's
per-query cost, not SQLite, is what a record at a time spends.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import uuid as uuidlib
from pathlib import Path

from edge.store.schema import (Claim, Image, KeyField, Label, Photo, ScenarioAssignment,
                               TextLine)

from ..protocol import CHUNK_SIZE, chunk_count, revision

Files = list[tuple[str, Path, int]]


def _t(v: dt.datetime | None) -> str | None:
    return v.isoformat() if v is not None else None


class RecordUnavailable(Exception):
    """The record can never be built (its photo or image is gone): quarantine it."""


def build_record(record_uuid: str, images_root: Path) -> tuple[dict, Files]:
    """(record dict, [(sha256, file path, size)]) for a photo uuid."""
    got = build_records([record_uuid], images_root)[str(uuidlib.UUID(str(record_uuid)))]
    if isinstance(got, RecordUnavailable):
        raise got
    return got


def _children(model, field, ids, order) -> dict[str, list]:
    out = collections.defaultdict(list)
    for row in model.select().where(field.in_(ids)).order_by(field, *order):
        out[str(row.__data__[field.name])].append(row)
    return out


def build_records(record_uuids, images_root: Path
                  ) -> dict[str, tuple[dict, Files] | RecordUnavailable]:
    """Per uuid (canonical string): (record, files), or the RecordUnavailable saying why not."""
    ids = [uuidlib.UUID(str(u)) for u in record_uuids]
    photos = {str(p.uuid): p for p in Photo.select().where(Photo.uuid.in_(ids))}
    shas = {p.__data__["image"] for p in photos.values()}
    images = {i.sha256: i for i in Image.select().where(Image.sha256.in_(list(shas)))}
    claims = {c.id: c for c in Claim.select().where(
        Claim.id.in_(list({p.__data__["claim"] for p in photos.values()})))}
    labels = _children(Label, Label.photo, ids, [Label.head])
    scenarios = _children(ScenarioAssignment, ScenarioAssignment.photo, ids,
                          [ScenarioAssignment.scenario])
    text = _children(TextLine, TextLine.photo, ids, [TextLine.idx])
    fields = _children(KeyField, KeyField.photo, ids, [KeyField.name, KeyField.id])
    out: dict = {}
    for u in map(str, ids):
        photo = photos.get(u)
        if photo is None:
            out[u] = RecordUnavailable("photo row missing from the device store")
            continue
        img = images.get(photo.__data__["image"])
        if img is None:
            out[u] = RecordUnavailable(f"image row {photo.__data__['image']} missing from the "
                                       "device store")
            continue
        if img.purged_at is not None:
            out[u] = RecordUnavailable(f"image {img.sha256} purged by retention before it was "
                                       "synced")
            continue
        claim = claims.get(photo.__data__["claim"])
        record = {
            "uuid": u,
            "claim": photo.__data__["claim"],
            "device": claim.__data__["device"] if claim is not None else None,
            "captured_at": _t(photo.captured_at),
            "exif_time": _t(photo.exif_time),
            "gps": [photo.gps_lat, photo.gps_lon],
            "orientation": photo.orientation,
            "width": photo.width,
            "height": photo.height,
            "quality": {"ok": photo.quality_ok,
                        "issues": json.loads(photo.quality_issues or "[]"),
                        "sharpness": photo.sharpness, "brightness": photo.brightness,
                        "glare": photo.glare},
            "model": {"name": photo.model_name, "version": photo.model_version,
                      "sha256": photo.model_sha256},
            "category": photo.category,
            "verified": photo.verified,
            "labels": [dict(head=l.head, label=l.label, score=l.score, verified=l.verified,
                            similarity=l.similarity) for l in labels[u]],
            "scenarios": [dict(scenario=s.scenario, reason=s.reason,
                               retain_until=_t(s.retain_until)) for s in scenarios[u]],
            "text": [dict(idx=t.idx, text=t.text, score=t.score, box=json.loads(t.box))
                     for t in text[u]],
            "fields": [dict(name=f.name, value=f.value, confidence=f.confidence, valid=f.valid,
                            source=f.source, reason=f.reason) for f in fields[u]],
            "result": json.loads(photo.result_json) if photo.result_json else None,
            "images": [{"sha256": img.sha256, "size": img.size, "mime": img.mime,
                        "width": img.width, "height": img.height,
                        "chunks": chunk_count(img.size), "chunk_size": CHUNK_SIZE}],
        }
        models = (record["result"] or {}).get("models")
        if models:   # every model that touched the photo (kind, name, version, sha256)
            record["models"] = models
        record["rev"] = revision(record)
        out[u] = (record, [(img.sha256, images_root / img.path, img.size)])
    return out
