"""Build the record JSON the device sends for one outbox row, from the device store's rows.

Reads Photo, Label, ScenarioAssignment, TextLine, KeyField and Image; writes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from edge.store.schema import (Claim, Image, KeyField, Label, Photo, ScenarioAssignment,
                               TextLine)

from .protocol import CHUNK_SIZE, chunk_count, revision


def _t(v: dt.datetime | None) -> str | None:
    return v.isoformat() if v is not None else None


class RecordUnavailable(Exception):
    """The record can never be built (its photo or image is gone): quarantine it."""


def build_record(record_uuid: str, images_root: Path) -> tuple[dict, list[tuple[str, Path, int]]]:
    """(record dict, [(sha256, file path, size)]) for a photo uuid."""
    photo = Photo.get_or_none(Photo.uuid == record_uuid)
    if photo is None:
        raise RecordUnavailable("photo row missing from the device store")
    img = Image.get_or_none(Image.sha256 == photo.__data__["image"])
    if img is None:
        raise RecordUnavailable(f"image row {photo.__data__['image']} missing from the device store")
    if img.purged_at is not None:
        raise RecordUnavailable(f"image {img.sha256} purged by retention before it was synced")
    claim = Claim.get_or_none(Claim.id == photo.__data__["claim"])
    labels = [dict(head=l.head, label=l.label, score=l.score, verified=l.verified,
                   similarity=l.similarity)
              for l in Label.select().where(Label.photo == photo.uuid).order_by(Label.head)]
    scenarios = [dict(scenario=s.scenario, reason=s.reason, retain_until=_t(s.retain_until))
                 for s in ScenarioAssignment.select().where(ScenarioAssignment.photo == photo.uuid)
                 .order_by(ScenarioAssignment.scenario)]
    text = [dict(idx=t.idx, text=t.text, score=t.score, box=json.loads(t.box))
            for t in TextLine.select().where(TextLine.photo == photo.uuid).order_by(TextLine.idx)]
    fields = [dict(name=f.name, value=f.value, confidence=f.confidence, valid=f.valid,
                   source=f.source, reason=f.reason)
              for f in KeyField.select().where(KeyField.photo == photo.uuid)
              .order_by(KeyField.name, KeyField.id)]
    record = {
        "uuid": str(photo.uuid),
        "claim": photo.__data__["claim"],
        "device": claim.__data__["device"] if claim is not None else None,
        "captured_at": _t(photo.captured_at),
        "exif_time": _t(photo.exif_time),
        "gps": [photo.gps_lat, photo.gps_lon],
        "orientation": photo.orientation,
        "width": photo.width,
        "height": photo.height,
        "quality": {"ok": photo.quality_ok, "issues": json.loads(photo.quality_issues or "[]"),
                    "sharpness": photo.sharpness, "brightness": photo.brightness,
                    "glare": photo.glare},
        "model": {"name": photo.model_name, "version": photo.model_version,
                  "sha256": photo.model_sha256},
        "category": photo.category,
        "verified": photo.verified,
        "labels": labels,
        "scenarios": scenarios,
        "text": text,
        "fields": fields,
        "result": json.loads(photo.result_json) if photo.result_json else None,
        "images": [{"sha256": img.sha256, "size": img.size, "mime": img.mime,
                    "width": img.width, "height": img.height,
                    "chunks": chunk_count(img.size), "chunk_size": CHUNK_SIZE}],
    }
    record["rev"] = revision(record)
    return record, [(img.sha256, images_root / img.path, img.size)]
