"""Retention: remove the originals whose retention has run out, keep what was read from them.

A photo's original expires at the earliest ``retain_until`` among its scenario assignments (the
profile's ``[retention_days]``; 0 = no limit): an identity document filed under both
``identity_verification`` (30 days) and ``claim_documents`` (kept) is purged after 30 days, the
stricter privacy rule winning. An image file shared by several photos goes when all of them have
expired. Purging deletes the file and sets ``Image.purged_at``; the rows (hash, labels, text
lines, key fields, checks) stay. Originals not yet acknowledged by central are kept unless
``include_unsynced`` (they could otherwise never be sent)."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field

from .store import Store
from .store.schema import Image, Outbox, Photo, ScenarioAssignment, utcnow


@dataclass
class PurgeReport:
    purged: list[str] = field(default_factory=list)          # sha256
    kept_unsynced: list[str] = field(default_factory=list)
    missing_files: list[str] = field(default_factory=list)   # already gone from disk
    freed_bytes: int = 0


def _photo_expiry(photo_uuid) -> dt.datetime | None:
    dates = [a.retain_until for a in ScenarioAssignment.select().where(
        ScenarioAssignment.photo == photo_uuid) if a.retain_until is not None]
    return min(dates) if dates else None


def expired_images(now: dt.datetime | None = None) -> list[tuple[Image, list[Photo]]]:
    now = now or utcnow()
    out = []
    for img in Image.select().where(Image.purged_at.is_null()):
        photos = list(Photo.select().where(Photo.image == img.sha256))
        if not photos:
            continue
        exp = [_photo_expiry(p.uuid) for p in photos]
        if all(e is not None and e <= now for e in exp):
            out.append((img, photos))
    return out


def purge_expired(store: Store, now: dt.datetime | None = None, dry_run: bool = False,
                  include_unsynced: bool = False) -> PurgeReport:
    now = now or utcnow()
    rep = PurgeReport()
    for img, photos in expired_images(now):
        pending = Outbox.select().where(
            Outbox.record_uuid.in_([p.uuid for p in photos]) & (Outbox.state != "acked")).count()
        if pending and not include_unsynced:
            rep.kept_unsynced.append(img.sha256)
            continue
        path = store.images / img.path
        if dry_run:
            rep.purged.append(img.sha256)
            rep.freed_bytes += img.size
            continue
        try:
            os.unlink(path)
            rep.freed_bytes += img.size
        except FileNotFoundError:
            rep.missing_files.append(img.sha256)
        with store.db.atomic():
            Image.update(purged_at=now).where(Image.sha256 == img.sha256).execute()
            store.audit("device", "image.purge", img.sha256, path=img.path,
                        photos=[str(p.uuid) for p in photos], unsynced=bool(pending))
        rep.purged.append(img.sha256)
    return rep
