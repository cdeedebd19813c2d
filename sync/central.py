"""Central ingest service: MQTT 5 consumer that commits device records to the insurer database.

- persistent session (``clean_start=False`` + a session expiry) and a stable client id, so
  messages that arrive while it is down wait in the broker;
- ``manual_ack``: a message is PUBACKed only after the transaction holding its effect
  commits (group commit: every message of a batch shares one transaction and one fsync);
- idempotent: record uuid and (sha256, chunk index) are primary keys; a redelivered message
  finds its row and changes nothing;
- a chunk is written into a staging file at its offset before its row commits; chunks that
  arrive in order feed a running whole-file SHA-256, any other is checked against its own
  SHA-256 on arrival; a complete file is fsynced and must hash to its name before it is renamed
  into the blob directory; on a mismatch the chunks whose bytes do not match their own SHA-256
  are dropped and asked for again (all of them when each matches: the sender's file differs);
- the ack (``committed``/``duplicate``/``rejected``) is published only after the commit;
  the same uuid with different content is rejected, logged and never overwritten, except by a
  higher revision that changes only the fields (an operator's correction; the superseded
  revision is kept in ``record_revision``);
- several processes may share the load in one ``$share/{group}/`` subscription group;
- every message is checked against ``sync/schemas.py`` before any database work; what fails,
  and what the database refuses, is dead-lettered (``central_failures.py``); devices'
  telemetry is kept per device.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import queue
import threading
import time
from pathlib import Path
from typing import NamedTuple

import paho.mqtt.client as mqtt
import peewee as pw
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.digest import sha256_file
from edge.store.files import fsync_dir

from . import central_db as cdb
from .central_failures import FailureHandling
from .protocol import (ACK_COMMITTED, ACK_DUPLICATE, CHUNK_SIZE, canonical_json,
                       compare_revisions, content_sha256, parse_chunk, parse_up_topic, t_ack,
                       t_image)
from .schemas import (MAX_IMAGE_BYTES, SchemaError, decode_record_message, decode_telemetry,
                      record_uuid_of)
from .settings import BrokerSettings
from .staging import StagingWriter

log = logging.getLogger("claim_edge.central")


CHUNK_COLS = (cdb.Chunk.sha256, cdb.Chunk.idx, cdb.Chunk.chunk_sha256, cdb.Chunk.nchunks,
              cdb.Chunk.size, cdb.Chunk.received_at)
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


class Central(FailureHandling):
    def __init__(self, db_url: str, broker: BrokerSettings, blob_dir: str | os.PathLike,
                 group: str = "central", session_expiry: int = 7 * 24 * 3600,
                 receive_maximum: int = 256, batch_max: int = 256,
                 max_image_bytes: int = MAX_IMAGE_BYTES, max_failures: int = 3):
        self.db_url = db_url
        self.broker = broker
        self.blobs = Path(blob_dir)
        self.staging = self.blobs / ".staging"
        self.staging.mkdir(parents=True, exist_ok=True)
        self.writer = StagingWriter(self.staging)
        self.group = group
        self.session_expiry = session_expiry
        self.receive_maximum = receive_maximum
        self.batch_max = batch_max
        self.max_image_bytes = max_image_bytes
        self.max_failures = max_failures
        self.q: queue.Queue = queue.Queue()
        self.stats: dict[str, int] = {}
        self._stop = threading.Event()
        self._known_blobs: set[str] = set()
        self._pending_blobs: set[str] = set()
        self._known_devices: set[str] = set()
        self._known_claims: set[str] = set()
        self._new_keys: list = []
        self._finalized: set[str] = set()
        self._dirs_to_sync: set[Path] = set()
        self._running: dict[str, list] = {}
        self._incomplete: set[str] = set()
        self._sql: dict = {}
        self._finalizing: tuple | None = None     # the record being committed, while it is
        self.client: mqtt.Client | None = None
        self.db = self._open_db()

    def _open_db(self):
        for attempt in range(30):
            try:
                return cdb.open_database(self.db_url)
            except pw.OperationalError as e:  # another central creating the tables, or DB down
                log.warning("database not ready (%s); retrying", e)
                time.sleep(min(5, 0.2 * (attempt + 1)))
        return cdb.open_database(self.db_url)

    def _count(self, key: str, n: int = 1) -> None:
        self.stats[key] = self.stats.get(key, 0) + n

    # --- MQTT ---------------------------------------------------------------------------------
    def _topics(self) -> list[tuple[str, int]]:
        prefix = f"$share/{self.group}/" if self.group else ""
        return [(prefix + "claims/+/up/record", 1), (prefix + "claims/+/up/chunk/#", 1),
                (prefix + "claims/+/up/telemetry", 1)]

    def start(self) -> None:
        b = self.broker
        cid = b.client_id or "central-1"
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid, protocol=mqtt.MQTTv5,
                        manual_ack=True)
        b.apply(c)
        c.on_connect = self._on_connect
        c.on_message = self._on_message
        c.on_subscribe = self._on_subscribe
        c.on_disconnect = lambda *a: log.warning("disconnected from the broker")
        c.reconnect_delay_set(0.5, 10)
        c.max_inflight_messages_set(256)
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.session_expiry
        props.ReceiveMaximum = self.receive_maximum
        self.client = c
        while not self._stop.is_set():
            try:
                c.connect(b.host, b.port, keepalive=b.keepalive, clean_start=False,
                          properties=props)
                break
            except OSError as e:
                log.warning("broker %s:%s not reachable (%s); retrying", b.host, b.port, e)
                time.sleep(1)
        c.loop_start()

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            log.error("broker refused the connection: %s", reason_code)
            return
        log.info("connected (session present: %s)", flags.session_present)
        client.subscribe(self._topics())

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        if any(rc.is_failure for rc in reason_codes):
            log.error("subscription refused: %s", [str(r) for r in reason_codes])
        else:
            log.info("subscribed to %s", ", ".join(t for t, _ in self._topics()))

    def _on_message(self, client, userdata, msg):
        self.q.put(msg)

    def _ack_messages(self, msgs) -> None:
        for m in msgs:
            if m.qos > 0:
                self.client.ack(m.mid, m.qos)

    def _reply(self, topic: str, body: dict) -> None:
        self.client.publish(topic, canonical_json(body), qos=1)

    # --- main loop ----------------------------------------------------------------------------
    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        self.start()
        try:
            while not self._stop.is_set():
                try:
                    first = self.q.get(timeout=0.2)
                except queue.Empty:
                    continue
                batch = [first]
                while len(batch) < self.batch_max:
                    try:
                        batch.append(self.q.get_nowait())
                    except queue.Empty:
                        break
                self._process_with_retry(batch)
        finally:
            if self.client is not None:
                self.client.disconnect()
                self.client.loop_stop()
            if not self.db.is_closed():
                self.db.close()

    # --- one batch, one transaction -----------------------------------------------------------
    def process(self, batch):
        """Commit the effect of every message of ``batch``; return (replies, staged uuids).
        A message that fails validation, or whose own commit step fails for a reason that is
        not the database's (a savepoint rolls back only its effect), is dead-lettered in the
        same transaction; a transient database error fails the whole batch (retried)."""
        chunks, records, others = [], [], []
        replies: list[tuple[str, dict]] = []
        for m in batch:
            try:
                device, kind, sha, idx = parse_up_topic(m.topic)
            except ValueError as e:
                others.append((m, str(e)))
                continue
            if kind == "chunk":
                chunks.append((device, sha, idx, m))
            elif kind == "record":
                records.append((device, m))
            elif kind == "telemetry":
                others.append((m, None))
            else:
                others.append((m, f"central takes no {kind!r} messages"))
        staged_now: list[str] = []
        self.db.connect(reuse_if_open=True)
        self._begin()
        try:
            with self.db.atomic():
                # Chunk bytes are not fsynced per batch: a chunk row whose bytes a power loss
                # ate fails the whole-file check below, and the image is asked for again.
                # The assembled file is fsynced before its blob row commits.
                touched = self._store_chunks(chunks, replies)
                completed = self._complete_images(touched, replies)
                for device, m in records:
                    self._isolated(m, replies, staged_now,
                                   lambda: self._handle_record(device, m, replies, staged_now))
                for m, bad in others:
                    if bad is not None:
                        self._count("bad_topic")
                        self._dead_letter(m, bad, replies)
                    else:
                        self._isolated(m, replies, staged_now,
                                       lambda: self._handle_telemetry(m, replies))
                for sha in completed:
                    self._finalize_waiting(sha, replies)
                self._sync_dirs()       # renamed blobs durable before their rows commit
            self._committed()
        finally:
            self._pending_blobs = set()
            self.writer.discard()
        self._count("messages", len(batch))
        self._count("batches")
        self._incomplete = touched - set(completed)
        return replies, [u for u in staged_now if u not in self._finalized]

    def _handle_telemetry(self, m, replies) -> None:
        device = parse_up_topic(m.topic)[0]
        try:
            t = decode_telemetry(m.payload)
        except SchemaError as e:
            self._dead_letter(m, str(e), replies)
            return
        if t.device != device:
            self._dead_letter(m, f"telemetry names device {t.device!r}, sent by {device!r}",
                              replies)
            return
        row = dict(device=device, received_at=cdb.utcnow(), sent_at=t.sent_at,
                   app_version=t.app_version, models=json.dumps(t.models, sort_keys=True),
                   outbox_pending=t.outbox_pending, outbox_inflight=t.outbox_inflight,
                   oldest_pending_age_s=t.oldest_pending_age_s, quarantined=t.quarantined,
                   disk_free_mb=t.disk_free_mb, last_sync_at=t.last_sync_at,
                   payload=bytes(m.payload).decode())
        (cdb.DeviceTelemetry.insert(**row)
         .on_conflict(conflict_target=[cdb.DeviceTelemetry.device],
                      update={k: v for k, v in row.items() if k != "device"}).execute())
        for q in t.quarantined_recent:
            (cdb.DeviceQuarantine.insert(device=device, record_uuid=q.record_uuid,
                                         reason=q.reason, quarantined_at=q.at)
             .on_conflict_ignore().execute())
        self._count("telemetry")
        log.info("telemetry from %s: %d pending, %d quarantined, app %s", device,
                 t.outbox_pending, t.quarantined, t.app_version)

    def _begin(self) -> None:
        self._finalizing = None
        self._pending_blobs = set()
        self._new_keys = []
        self._finalized = set()
        self._dirs_to_sync = set()

    def _sync_dirs(self) -> None:
        for d in self._dirs_to_sync:
            if d.is_dir():
                fsync_dir(d)
        self._dirs_to_sync = set()

    def _committed(self) -> None:
        self._known_blobs |= self._pending_blobs
        for cache, key in self._new_keys:
            cache.add(key)
        self._new_keys = []

    def _blob_exists(self, sha: str) -> bool:
        if sha in self._known_blobs:
            return True
        if self._select("blob", lambda h: cdb.Blob.select(cdb.Blob.size)
                        .where(cdb.Blob.sha256 == h), sha):
            self._pending_blobs.add(sha)   # cached once the transaction commits
            return True
        return False

    def _store_chunks(self, chunks, replies) -> set[str]:
        """Write the batch's chunks to their staging files and add their rows."""
        rows, touched, to_hash = [], set(), []
        by_sha: dict[str, list] = {}
        for device, sha, idx, m in chunks:
            by_sha.setdefault(sha, []).append((device, idx, m))
        for sha, items in by_sha.items():
            if self._blob_exists(sha):
                self._count("chunks_for_complete_blob", len(items))
                continue
            have = self._chunks_held(sha)
            for device, idx, m in items:
                try:
                    chunk = parse_chunk(m.payload, idx)
                except SchemaError as e:
                    self._count("bad_chunks")
                    self._dead_letter(m, f"unreadable chunk {idx} of image {sha}: {e}", replies)
                    continue
                n, size, csha, ruuid, data = (chunk.nchunks, chunk.size, chunk.sha256,
                                              chunk.record_uuid, chunk.data)
                if size > self.max_image_bytes:
                    self._count("bad_chunks")
                    self._dead_letter(m, f"chunk of a {size}-byte image, above this central's "
                                         f"{self.max_image_bytes}-byte limit", replies)
                    continue
                bad = False
                if not bad and idx in have:
                    self._count("duplicate_chunks")
                    continue
                # A chunk that extends the in-order run is checked by the whole-file hash (and
                # its own hash only if that fails: _locate_bad_chunks); any other, now.
                if not bad and not self._extends_run(sha, idx):
                    bad = hashlib.sha256(data).hexdigest() != csha
                if bad:
                    self._count("bad_chunks")
                    log.warning("bad chunk %s/%d from %s (size or SHA-256 mismatch); asking again",
                                sha, idx, device)
                    if ruuid:
                        replies.append((t_image(device), {"record_uuid": ruuid, "images": [
                            {"sha256": sha, "missing": [idx]}]}))
                    continue
                have.add(idx)
                self.writer.add(sha, idx * CHUNK_SIZE, data)
                h = self._run_hasher(sha, idx)
                if h is not None:
                    to_hash.append((h, data))
                rows.append((sha, idx, csha, n, size))
                touched.add(sha)
                self._count("chunks_stored")
        # the running hashes are fed while the writes wait for the disk
        self.writer.flush(meanwhile=lambda: [h.update(d) for h, d in to_hash])
        now = cdb.utcnow()
        self._insert(cdb.Chunk, CHUNK_COLS, [r + (now,) for r in rows], ignore=True)
        return touched

    def _insert(self, model, fields: tuple, rows: list[tuple], ignore: bool = False) -> None:
        """Insert ``rows`` (tuples in ``fields`` order) with one prepared statement. peewee
        builds SQL value by value; on the ingest path that cost more than the database."""
        if not rows:
            return
        key = (model, fields, ignore)
        sql = self._sql.get(key)
        if sql is None:
            q = model.insert_many([[None] * len(fields)], fields=list(fields))
            sql = self._sql[key] = (q.on_conflict_ignore() if ignore else q).sql()[0]
        conv = [f.db_value for f in fields]
        with pw.__exception_wrapper__:      # driver errors as peewee.IntegrityError &c.
            self.db.cursor().executemany(sql, [tuple(c(v) for c, v in zip(conv, r))
                                               for r in rows])

    def _select(self, key: str, build, *params) -> list[tuple]:
        """Rows of the select ``build(*params)``, its SQL built by peewee once per ``key`` and
        reused with new ``params`` (every column here is text: no value conversion)."""
        sql = self._sql.get(key)
        if sql is None:
            sql, built = build(*params).sql()
            if list(built) != list(params):
                raise ValueError(f"query {key!r} binds {built!r}, not just {params!r}")
            self._sql[key] = sql
        with pw.__exception_wrapper__:
            cur = self.db.cursor()
            cur.execute(sql, params)
            return cur.fetchall()

    def _chunks_held(self, sha: str) -> set[int]:
        return {i for (i,) in self._select("chunk_idx", lambda h: cdb.Chunk.select(cdb.Chunk.idx)
                                           .where(cdb.Chunk.sha256 == h), sha)}

    def _extends_run(self, sha: str, idx: int) -> bool:
        st = self._running.get(sha)
        return idx == 0 or (st is not None and st[1] == idx)

    def _run_hasher(self, sha: str, idx: int):
        """The whole-file SHA-256 to feed chunk ``idx`` to, None if it is not the next in
        order. Computed as chunks arrive in order (the usual case), so the completed file need
        not be read back; any gap falls back to reading it."""
        st = self._running.get(sha)
        if idx == 0:
            if st is None and len(self._running) > 256:
                self._running.clear()
            st = self._running[sha] = [hashlib.sha256(), 0]
        if st is None or st[1] != idx:
            self._running.pop(sha, None)
            return None
        st[1] += 1
        return st[0]

    @staticmethod
    def _final_ok(final: Path, sha: str) -> bool:
        try:
            return final.is_file() and sha256_file(final) == sha
        except FileNotFoundError:
            return False

    def _assemble(self, sha: str, size: int, n: int, part: Path, final: Path) -> bool:
        """Turn the complete, fsynced staging file into the blob ``final``; False if it does
        not hash to ``sha``. Another central may be doing the same at the same moment:
        whichever renames first wins, the other finds the final file."""
        if self._final_ok(final, sha):
            try:
                part.unlink()            # a leftover from a crash after the rename
            except FileNotFoundError:
                pass
            return True
        try:
            st = self._running.pop(sha, None)
            digest = st[0].hexdigest() if st is not None and st[1] == n else sha256_file(part)
            if digest != sha:
                return self._final_ok(final, sha)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(part, final)
            self._dirs_to_sync.add(final.parent)
            return True                  # fsynced, hashed, renamed
        except FileNotFoundError:        # another central renamed it first
            self._dirs_to_sync.add(final.parent)
            return self._final_ok(final, sha)

    def _locate_bad_chunks(self, sha: str, part: Path) -> list[int]:
        """Chunks of a staging file that does not hash to its name whose bytes do not match
        their own SHA-256: the ones to ask for again ([] when every chunk matches, i.e. the
        sender's file itself differs from its name)."""
        bad = []
        try:
            with open(part, "rb") as f:
                for idx, csha in (cdb.Chunk.select(cdb.Chunk.idx, cdb.Chunk.chunk_sha256)
                                  .where(cdb.Chunk.sha256 == sha).order_by(cdb.Chunk.idx)
                                  .tuples()):
                    f.seek(idx * CHUNK_SIZE)
                    if hashlib.sha256(f.read(CHUNK_SIZE)).hexdigest() != csha:
                        bad.append(idx)
        except FileNotFoundError:
            return []
        return bad

    def _complete_images(self, touched, replies) -> list[str]:
        ready = []
        for sha in touched:
            rows = self._select("chunk_sizes", lambda h: cdb.Chunk.select(cdb.Chunk.nchunks,
                                                                          cdb.Chunk.size)
                                .where(cdb.Chunk.sha256 == h), sha)
            if rows and len(rows) >= rows[0][0]:
                ready.append((sha, rows[0][1], rows[0][0]))
        self.writer.seal([(sha, size) for sha, size, _n in ready])
        done = []
        for sha, size, n in ready:
            final = self.blobs / sha[:2] / sha
            part = self.writer.path(sha)
            if self._assemble(sha, size, n, part, final):
                cdb.Blob.insert(sha256=sha, size=size, path=f"{sha[:2]}/{sha}").on_conflict_ignore().execute()
                cdb.Chunk.delete().where(cdb.Chunk.sha256 == sha).execute()
                self._count("blobs_committed")
                done.append(sha)
                continue
            self._count("hash_mismatch")
            bad = self._locate_bad_chunks(sha, part)
            if bad:
                log.error("image %s: chunks %s do not match their SHA-256; asking for them again",
                          sha, bad)
                cdb.Chunk.delete().where((cdb.Chunk.sha256 == sha)
                                         & cdb.Chunk.idx.in_(bad)).execute()
                image = {"sha256": sha, "missing": bad}
            else:
                log.error("image %s: the assembled file does not hash to its name; "
                          "dropping its chunks and asking again", sha)
                cdb.Chunk.delete().where(cdb.Chunk.sha256 == sha).execute()
                try:
                    part.unlink()
                except FileNotFoundError:
                    pass
                image = {"sha256": sha, "missing": list(range(n)), "error": "hash_mismatch"}
            for su, dev in (cdb.StagedImage.select(cdb.StagedImage.record_uuid,
                                                   cdb.StagedRecord.device)
                            .join(cdb.StagedRecord, on=(cdb.StagedRecord.uuid
                                                        == cdb.StagedImage.record_uuid))
                            .where(cdb.StagedImage.sha256 == sha).tuples()):
                replies.append((t_image(dev), {"record_uuid": su, "images": [image]}))
        return done

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
