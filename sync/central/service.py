"""Central ingest service: MQTT 5 consumer that commits device records to the insurer database.

- persistent session (``clean_start=False`` + a session expiry) and a stable client id, so
  messages that arrive while it is down wait in the broker;
- ``manual_ack``: a message is PUBACKed only after the transaction holding its effect
  commits (group commit: every message of a batch shares one transaction and one fsync);
- idempotent: record uuid and (sha256, chunk index) are primary keys; a redelivered message
  finds its row and changes nothing;
- chunks become images as ``images.py`` says, records are committed and revised as
  ``records.py`` says; the ack (``committed``/``duplicate``/``rejected``) is published only
  after the commit;
- several processes may share the load in one ``$share/{group}/`` subscription group;
- every message is checked against ``sync/schemas.py`` before any database work; what fails,
  and what the database refuses, is dead-lettered (``failures.py``); devices'
  telemetry is kept per device.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import peewee as pw
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.store.files import fsync_dir

from ..protocol import canonical_json, parse_up_topic
from ..schemas import MAX_IMAGE_BYTES, SchemaError, decode_telemetry
from ..settings import BrokerSettings
from .staging import StagingWriter
from . import db as cdb
from .failures import FailureHandling
from .images import ImageAssembly
from .records import RecordIngest

log = logging.getLogger("claim_edge.central")


class Central(FailureHandling, ImageAssembly, RecordIngest):
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
