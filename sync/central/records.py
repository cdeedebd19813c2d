"""How central commits a device record (a mixin of ``Central``): idempotent on the record's
uuid; the same uuid with different content is rejected, logged and never overwritten, except by
a higher revision that changes only the fields (an operator's correction; the superseded
revision is kept in ``record_revision``); a record whose images are not all here yet is staged
and committed when the last one is."""

from __future__ import annotations

import json
import logging
from typing import NamedTuple

import peewee as pw

from ..protocol import (ACK_COMMITTED, ACK_DUPLICATE, canonical_json, compare_revisions,
                        content_sha256, t_ack, t_image)
from ..schemas import SchemaError, decode_record_message, record_uuid_of
from . import db as cdb

log = logging.getLogger("claim_edge.central")

STAGED_COLS = (cdb.StagedRecord.uuid, cdb.StagedRecord.device, cdb.StagedRecord.content_sha256,
               cdb.StagedRecord.payload, cdb.StagedRecord.received_at)
RECORD_COLS = (cdb.Record.uuid, cdb.Record.device, cdb.Record.claim, cdb.Record.content_sha256,
               cdb.Record.rev, cdb.Record.captured_at, cdb.Record.category, cdb.Record.verified,
               cdb.Record.width, cdb.Record.height, cdb.Record.quality_ok, cdb.Record.gps_lat,
               cdb.Record.gps_lon, cdb.Record.model_name, cdb.Record.model_version,
               cdb.Record.payload, cdb.Record.received_at)
IMAGE_COLS = (cdb.RecordImage.record, cdb.RecordImage.sha256, cdb.RecordImage.mime,
              cdb.RecordImage.size, cdb.RecordImage.width, cdb.RecordImage.height)
LABEL_COLS = (cdb.Label.record, cdb.Label.head, cdb.Label.label, cdb.Label.score,
              cdb.Label.verified, cdb.Label.similarity)
ZONE_COLS = (cdb.ScenarioZone.record, cdb.ScenarioZone.claim, cdb.ScenarioZone.device,
             cdb.ScenarioZone.scenario, cdb.ScenarioZone.reason, cdb.ScenarioZone.retain_until)
FIELD_COLS = (cdb.KeyField.record, cdb.KeyField.idx, cdb.KeyField.name, cdb.KeyField.value,
              cdb.KeyField.confidence, cdb.KeyField.valid, cdb.KeyField.source, cdb.KeyField.reason)
MODEL_COLS = (cdb.RecordModel.record, cdb.RecordModel.kind, cdb.RecordModel.name,
              cdb.RecordModel.version, cdb.RecordModel.sha256)
TEXT_COLS = (cdb.TextLine.record, cdb.TextLine.idx, cdb.TextLine.text, cdb.TextLine.score,
             cdb.TextLine.box)



class Staged(NamedTuple):
    device: str
    content_sha256: str
    payload: str


class RecordIngest:
    @staticmethod
    def _ack(replies, device: str, uuid: str, status: str, held: dict,
             reason: str | None = None) -> None:
        """The ack names the revision central holds, so the device knows which corrections
        it covers."""
        replies.append((t_ack(device), {"record_uuid": uuid, "status": status, "reason": reason,
                                        "rev": int(held.get("rev") or 0)}))

    def _revise(self, existing: cdb.Record, rec: dict, content: str) -> str:
        """Replace a committed record's fields with a newer revision's; keep the old one."""
        uuid = existing.uuid
        try:
            with self.db.atomic():
                cdb.RecordRevision.insert(record=uuid, rev=existing.rev,
                                          content_sha256=existing.content_sha256,
                                          payload=existing.payload,
                                          received_at=existing.revised_at or existing.received_at
                                          ).execute()
                n = (cdb.Record.update(rev=int(rec.get("rev") or 0), content_sha256=content,
                                       payload=canonical_json(rec).decode(),
                                       revised_at=cdb.utcnow())
                     .where((cdb.Record.uuid == uuid)
                            & (cdb.Record.content_sha256 == existing.content_sha256)).execute())
                if n != 1:
                    raise pw.IntegrityError("revised concurrently")
                cdb.KeyField.delete().where(cdb.KeyField.record == uuid).execute()
                self._insert_fields(uuid, rec)
                self._drop_staged(uuid)
        except pw.IntegrityError:   # another central of the group applied a revision first
            self._count("duplicate_records")
            return ACK_DUPLICATE
        self._count("records_revised")
        log.info("committed record %s rev %d (a correction; rev %d kept in record_revision)",
                 uuid, int(rec.get("rev") or 0), existing.rev)
        return ACK_COMMITTED

    def _insert_fields(self, uuid: str, rec: dict) -> None:
        self._insert(cdb.KeyField, FIELD_COLS, [
            (uuid, i, f["name"], f["value"], f["confidence"], f["valid"], f["source"],
             f.get("reason")) for i, f in enumerate(rec.get("fields") or ())])

    def _handle_record(self, device: str, m, replies, staged_now) -> None:
        try:
            msg, rec = decode_record_message(m.payload)
        except SchemaError as e:
            self._count("bad_records")
            self._reject(m, device, record_uuid_of(m.payload), None, str(e), replies)
            return
        uuid = msg.record.uuid
        images = rec["images"]
        ask = msg.ask
        content = content_sha256(rec)
        if rec.get("device") not in (None, device):
            self._reject(m, device, uuid, content, f"record names device {rec.get('device')!r}, "
                                                f"sent by {device!r}", replies)
            return
        existing = (cdb.Record.get_or_none(cdb.Record.uuid == uuid) if self._select(
            "record", lambda u: cdb.Record.select(cdb.Record.rev).where(cdb.Record.uuid == u),
            uuid) else None)
        if existing is not None:
            held = json.loads(existing.payload)
            rel = (compare_revisions(held, existing.content_sha256, rec, content)
                   if existing.device == device else "conflict")
            if rel == "newer":
                status = self._revise(existing, rec, content)
                # lost a race to another central: name the revision that is now held
                held = rec if status == ACK_COMMITTED else {"rev": cdb.Record.get_by_id(uuid).rev}
                self._ack(replies, device, uuid, status, held)
            elif rel in ("same", "older"):
                self._drop_staged(uuid)
                self._count("duplicate_records")
                self._ack(replies, device, uuid, ACK_DUPLICATE, held,
                          None if rel == "same" else f"superseded by revision {existing.rev}")
            else:
                self._reject(m, device, uuid, content, "same record uuid, different content; the "
                             "committed record is kept (a revision may change only the fields, "
                             "under a higher rev)", replies)
            return
        staged = self._staged(uuid)
        if staged is not None and staged.content_sha256 != content:
            rel = (compare_revisions(json.loads(staged.payload), staged.content_sha256, rec,
                                     content) if staged.device == device else "conflict")
            if rel == "conflict":
                self._reject(m, device, uuid, content, "same record uuid, different content than "
                             "the copy already received; the first is kept", replies)
                return
            if rel == "newer":     # corrected before its images were complete: commit this one
                (cdb.StagedRecord.update(content_sha256=content,
                                         payload=canonical_json(rec).decode())
                 .where(cdb.StagedRecord.uuid == uuid).execute())
                self._count("records_restaged")
        missing = {}
        for im in images:
            sha = im["sha256"]
            if self._blob_exists(sha):
                continue
            have = self._chunks_held(sha)
            if len(have) >= int(im["chunks"]):
                # every chunk is here but nobody assembled it (two centrals each committed
                # part of it concurrently, or a crash between commit and assembly)
                if self._complete_images({sha}, replies):
                    continue
                have = set()
            missing[sha] = [i for i in range(int(im["chunks"])) if i not in have]
        if not missing:
            if staged is not None:          # the newest copy (staged, or this one) commits
                self._finalize_staged(uuid, replies)
            else:
                self._ack(replies, device, uuid, self._finalize(device, rec, content), rec)
            return
        if staged is None:
            self._insert(cdb.StagedRecord, STAGED_COLS, [
                (uuid, device, content, canonical_json(rec).decode(), cdb.utcnow())], ignore=True)
            self._insert(cdb.StagedImage, (cdb.StagedImage.record_uuid, cdb.StagedImage.sha256),
                         [(uuid, im["sha256"]) for im in images], ignore=True)
            staged_now.append(uuid)
            self._count("records_staged")
        if ask:
            replies.append((t_image(device), {"record_uuid": uuid, "images": [
                {"sha256": sha, "missing": miss} for sha, miss in missing.items()]}))

    def _finalize(self, device: str, rec: dict, content: str) -> str:
        """Insert the record and its children once; ``committed`` or ``duplicate``."""
        uuid = str(rec["uuid"])
        self._finalizing = (device, uuid, content)
        try:
            with self.db.atomic():   # a savepoint: a concurrent central's insert rolls back only this
                if device not in self._known_devices:
                    cdb.CentralDevice.insert(id=device).on_conflict_ignore().execute()
                    self._new_keys.append((self._known_devices, device))
                claim = str(rec["claim"])
                if claim not in self._known_claims:
                    cdb.CentralClaim.insert(id=claim, device=device).on_conflict_ignore().execute()
                    self._new_keys.append((self._known_claims, claim))
                gps = rec.get("gps") or [None, None]
                q = rec.get("quality") or {}
                model = rec.get("model") or {}
                self._insert(cdb.Record, RECORD_COLS, [(
                    uuid, device, claim, content, int(rec.get("rev") or 0),
                    rec.get("captured_at"), rec.get("category"), rec.get("verified"),
                    rec.get("width"), rec.get("height"), q.get("ok"), gps[0], gps[1],
                    model.get("name"), model.get("version"), canonical_json(rec).decode(),
                    cdb.utcnow())])
                self._insert(cdb.RecordImage, IMAGE_COLS, [
                    (uuid, im["sha256"], im.get("mime"), int(im["size"]), im.get("width"),
                     im.get("height")) for im in rec["images"]])
                self._insert(cdb.Label, LABEL_COLS, [
                    (uuid, l["head"], l["label"], l["score"], l.get("verified"),
                     l.get("similarity")) for l in rec.get("labels") or ()])
                self._insert(cdb.ScenarioZone, ZONE_COLS, [
                    (uuid, claim, device, z["scenario"], z.get("reason") or "",
                     z.get("retain_until")) for z in rec.get("scenarios") or ()])
                self._insert_fields(uuid, rec)
                self._insert(cdb.RecordModel, MODEL_COLS, list({
                    (m.get("kind") or "", m["name"]): (uuid, m.get("kind") or "", m["name"],
                                                      str(m.get("version") or ""),
                                                      str(m.get("sha256") or ""))
                    for m in cdb.record_models(rec)}.values()))
                self._insert(cdb.TextLine, TEXT_COLS, [
                    (uuid, t["idx"], t["text"], t["score"], json.dumps(t["box"]))
                    for t in rec.get("text") or ()])
                self._drop_staged(uuid)
        except pw.IntegrityError:
            # Committed by another central of the group meanwhile: its staged copy here (staged
            # while the other finished the images) is no longer needed. Any other integrity
            # error (a constraint of the insurer's) is this record's: dead-lettered.
            if cdb.Record.get_or_none(cdb.Record.uuid == uuid) is None:
                raise
            self._drop_staged(uuid)
            self._finalizing = None
            self._count("duplicate_records")
            return ACK_DUPLICATE
        self._finalizing = None
        self._count("records_committed")
        log.info("committed record %s rev %d from %s (claim %s, %d image(s))", uuid,
                 int(rec.get("rev") or 0), device, rec["claim"], len(rec["images"]))
        self._finalized.add(uuid)
        return ACK_COMMITTED

    @staticmethod
    def _drop_staged(uuid: str) -> None:
        cdb.StagedImage.delete().where(cdb.StagedImage.record_uuid == uuid).execute()
        cdb.StagedRecord.delete().where(cdb.StagedRecord.uuid == uuid).execute()

    def _finalize_waiting(self, sha: str, replies) -> None:
        """Records staged for image ``sha``: commit those whose every image is now stored."""
        waiting = [u for (u,) in self._select(
            "waiting", lambda h: cdb.StagedImage.select(cdb.StagedImage.record_uuid)
            .where(cdb.StagedImage.sha256 == h), sha)]
        for u in waiting:
            self._finalize_staged(u, replies)

    def _finalize_staged(self, u: str, replies) -> None:
        st = self._staged(u)
        if st is None:
            return
        shas = [s for (s,) in self._select(
            "staged_images", lambda r: cdb.StagedImage.select(cdb.StagedImage.sha256)
            .where(cdb.StagedImage.record_uuid == r), u)]
        if all(self._blob_exists(s) for s in shas):
            rec = json.loads(st.payload)
            self._ack(replies, st.device, u, self._finalize(st.device, rec, st.content_sha256),
                      rec)

    def _staged(self, u: str):
        """The staged record ``u``, or None."""
        rows = self._select("staged", lambda r: cdb.StagedRecord.select(
            cdb.StagedRecord.device, cdb.StagedRecord.content_sha256, cdb.StagedRecord.payload)
            .where(cdb.StagedRecord.uuid == r), u)
        return Staged(*rows[0]) if rows else None

    def _recheck(self, uuids, shas) -> None:
        """After commit, in a new transaction: images this batch touched but could not
        complete, and records it staged. With several centrals, two transactions can each
        commit part of the same image (or stage a record while the other completes its last
        image) without either seeing the other; looking again after the commit closes that
        gap (whichever commits last sees everything)."""
        replies: list = []
        self._begin()
        try:
            with self.db.atomic():
                for sha in self._complete_images(set(shas), replies):
                    self._finalize_waiting(sha, replies)
                for u in uuids:
                    self._finalize_staged(u, replies)
                self._sync_dirs()
            self._committed()
        except Exception as e:  # noqa: BLE001 - the device asks again
            log.warning("recheck after commit failed (%s); the device will ask again", e)
            return
        for topic, body in replies:
            self._reply(topic, body)
