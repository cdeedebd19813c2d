"""The scenario store: peewee on SQLite plus a content-addressed image folder."""

from __future__ import annotations

import datetime as dt
import errno
import json
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import peewee as pw

from . import schema
from .files import StoreWriteError, relpath_for, write_blob
from .migrations import migrate
from .schema import (AuditLog, Claim, Device, Image, KeyField, Label, Outbox, Photo,
                     ScenarioAssignment, TextLine, db_proxy, utcnow)

if TYPE_CHECKING:      # the sync worker and central use the store without loading OpenCV
    from ..config import Profile
    from ..decode import DecodedImage
    from ..result import PhotoResult

__all__ = ["Store", "StoreWriteError", "IngestOutcome", "schema"]

PRAGMAS = {"journal_mode": "wal", "synchronous": 2, "busy_timeout": 10000, "foreign_keys": 1}
SUFFIX = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "image/bmp": ".bmp",
          "image/tiff": ".tif"}


@dataclass(frozen=True)
class IngestOutcome:
    photo_uuid: str
    created: bool          # False: this photo was already filed in this claim
    image_reused: bool     # True: the bytes were already stored (another claim or earlier run)


def _write_error(store: "Store", e: Exception) -> StoreWriteError:
    full = "full" in str(e)
    return StoreWriteError(errno.ENOSPC if full else errno.EIO,
                           f"cannot write to {store.db.database}: "
                           f"{'disk full' if full else e}")


class Store:
    def __init__(self, db: pw.SqliteDatabase, root: Path):
        self.db = db
        self.root = root
        self.images = root / "images"

    @classmethod
    def open(cls, path: str | Path) -> "Store":
        path = Path(path).expanduser()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreWriteError(e.errno, f"cannot create store folder {path.parent}: "
                                           f"{e.strerror}") from e
        db = pw.SqliteDatabase(str(path), pragmas=PRAGMAS, check_same_thread=False)
        db_proxy.initialize(db)
        db.connect(reuse_if_open=True)
        migrate(db)
        return cls(db, path.parent)

    def close(self) -> None:
        if not self.db.is_closed():
            self.db.close()

    def image_path(self, sha256: str) -> Path:
        img = Image.get_by_id(sha256)
        return self.images / img.path

    def free_mb(self) -> float:
        return shutil.disk_usage(self.root).free / 1e6

    def audit(self, actor: str, action: str, subject: str, **detail) -> None:
        AuditLog.create(actor=actor, action=action, subject=subject,
                        detail=json.dumps(detail, default=str, sort_keys=True))

    def ensure_claim(self, claim_id: str, profile: Profile) -> Claim:
        try:
            with self.db.atomic("IMMEDIATE"):
                Device.get_or_create(id=profile.device.id, defaults={"profile": profile.name})
                claim, created = Claim.get_or_create(id=claim_id,
                                                     defaults={"device": profile.device.id})
                if created:
                    self.audit("operator", "claim.create", claim_id)
        except pw.OperationalError as e:
            raise _write_error(self, e) from e
        return claim

    def add_photo(self, claim_id: str, decoded: DecodedImage, result: PhotoResult,
                  profile: Profile) -> IngestOutcome:
        """File one analysed photo. The image file is durable before its row commits; the same
        bytes in the same claim are filed once, in another claim linked again."""
        existing = (Photo.select(Photo.uuid).where((Photo.claim == claim_id)
                                                   & (Photo.image == decoded.sha256)).first())
        if existing is not None:
            return IngestOutcome(str(existing.uuid), created=False, image_reused=True)
        if self.free_mb() < profile.store.min_free_mb:
            raise StoreWriteError(28, f"only {self.free_mb():.0f} MB free in {self.root}; the "
                                      f"profile keeps {profile.store.min_free_mb} MB in reserve")
        rel = relpath_for(decoded.sha256, SUFFIX[decoded.mime])
        image_reused = Image.get_or_none(Image.sha256 == decoded.sha256) is not None
        blob_existed = (self.images / rel).is_file()
        write_blob(self.images, rel, decoded.data)
        try:
            return self._add_rows(claim_id, decoded, result, profile, rel, image_reused)
        except pw.OperationalError as e:  # SQLITE_FULL, SQLITE_IOERR, a read-only database...
            self._drop_orphan(decoded.sha256, rel, blob_existed)
            raise _write_error(self, e) from e
        except BaseException:
            self._drop_orphan(decoded.sha256, rel, blob_existed)
            raise

    def _drop_orphan(self, sha256: str, rel: str, blob_existed: bool) -> None:
        """Remove the file just written when its row did not commit (nothing else points at
        it: no Image row, and it was not there before)."""
        if blob_existed:
            return
        try:
            if Image.get_or_none(Image.sha256 == sha256) is None:
                (self.images / rel).unlink(missing_ok=True)
        except (OSError, pw.PeeweeException):
            pass

    def _add_rows(self, claim_id: str, decoded: DecodedImage, result: PhotoResult,
                  profile: Profile, rel: str, image_reused: bool) -> IngestOutcome:
        self.ensure_claim(claim_id, profile)
        photo_uuid = uuid.uuid4()
        now = utcnow()
        cat, ver, q = result.category, result.verification, result.quality
        # IMMEDIATE: take the write lock before the first read, so a commit by the sync worker in
        # between cannot make SQLite refuse this transaction (busy_timeout then applies).
        with self.db.atomic("IMMEDIATE"):
            Image.get_or_create(sha256=decoded.sha256, defaults=dict(
                path=rel, size=len(decoded.data), mime=decoded.mime, width=decoded.width,
                height=decoded.height))
            photo = Photo.create(
                uuid=photo_uuid, claim=claim_id, image=decoded.sha256, source_path=decoded.path,
                captured_at=now, exif_time=decoded.exif.time, gps_lat=decoded.exif.gps_lat,
                gps_lon=decoded.exif.gps_lon, orientation=decoded.exif.orientation,
                width=decoded.width, height=decoded.height,
                quality_ok=bool(q and q.ok), quality_issues=json.dumps(q.issues if q else []),
                sharpness=q.sharpness if q else None, brightness=q.brightness if q else None,
                glare=q.glare if q else None,
                model_name=(result.model or {}).get("name"),
                model_version=(result.model or {}).get("version"),
                model_sha256=(result.model or {}).get("sha256"),
                category=cat.label if cat else None, verified=ver.verified if ver else None,
                result_json=json.dumps(result.to_contract(), sort_keys=True))
            labels = []
            if cat:
                labels.append(dict(photo=photo, head="category", label=cat.label,
                                   score=cat.score, verified=ver.verified if ver else None,
                                   similarity=ver.similarity if ver else None))
            for head, h in result.heads.items():
                labels.append(dict(photo=photo, head=head, label=h.label, score=h.score))
            if result.document:
                labels.append(dict(photo=photo, head="document", label=result.document.label,
                                   score=result.document.score))
            if labels:
                Label.insert_many(labels).execute()
            for scenario, reason in result.routing:
                days = profile.retention_days.get(scenario, 0)
                ScenarioAssignment.create(
                    photo=photo, scenario=scenario, reason=reason,
                    retain_until=now + dt.timedelta(days=days) if days else None)
            for i, line in enumerate(result.text):
                TextLine.create(photo=photo, idx=i, text=line.text, score=line.score,
                                box=json.dumps([list(p) for p in line.box]))
            for name, f in result.fields.items():
                KeyField.create(photo=photo, name=name, value=f.value, confidence=f.confidence,
                                valid=f.valid, source=f.source, reason=f.reason or None)
            Outbox.create(record_uuid=photo_uuid, claim=claim_id)
            self.audit("device", "photo.ingest", str(photo_uuid), claim=claim_id,
                       sha256=decoded.sha256, source=decoded.path, scenarios=result.scenarios)
        return IngestOutcome(str(photo_uuid), created=True, image_reused=image_reused)
