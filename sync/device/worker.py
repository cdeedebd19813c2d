"""Device sync worker: drains the store's outbox to central over MQTT 5, exactly once.

Single-threaded: the worker drives paho's network loop itself (``client.loop``), so callbacks,
store reads and outbox updates all happen on one thread and nothing needs a lock.

Guarantees (see ../shared/DESIGN.md "Sync protocol"):
- a record is marked ``acked`` only on central's ``committed``/``duplicate`` ack;
- on every (re)connect everything not acked is resent, as an *ask* when it was sent before,
  so only the chunks central lacks travel again;
- at most ``record_window`` records (and ``window_bytes`` of their images) and
  ``publish_window`` unacknowledged publishes are in flight: memory stays flat however long the
  outbox is, and the broker never queues more than a few photos ahead of central;
- a record that can never be sent (photo or image gone, image too big, message above the
  broker's maximum packet size, image corrupt on the device, rejected by central) is
  ``quarantined`` with a reason and the rest keeps flowing.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import logging
import os
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt
import peewee as pw

from edge.store import Store  # the device store (opens/migrates the SQLite file)
from edge.store.schema import OPERATOR, OUTBOX_ACTIVE, KeyField, Outbox

from ..backoff import Backoff
from ..protocol import ACK_REJECTED, t_ack, t_image, t_status, t_telemetry
from ..schemas import STATUS_OFFLINE, STATUS_ONLINE
from ..settings import CREDENTIAL_CODES, BrokerSettings
from . import telemetry
from .record import build_records
from .replies import CentralReplies
from .sending import RecordSending, _Active, _uuid

log = logging.getLogger("claim_edge.sync")

# PUBACK reason codes after which the same message can never get through
PERMANENT_PUBACK = {0x95: "packet too large", 0x99: "payload format invalid",
                    0x90: "topic name invalid"}


@dataclasses.dataclass
class SyncOptions:
    record_window: int = 64          # records sent and awaiting central's ack
    window_bytes: int = 64 * 1024 * 1024   # and their image bytes: enough photos ahead of
                                           # central to keep it busy through its commits (bench
                                           # sync: 32 MB 0.46 of raw, 64 MB 0.51), not hundreds
    publish_window: int = 32         # QoS 1 publishes awaiting the broker's PUBACK
    ack_timeout: float = 20.0        # re-ask a record after this long without any progress
    max_image_bytes: int = 256 * 1024 * 1024
    max_packet_bytes: int = 16 * 1024 * 1024   # lowered by the broker's CONNACK if smaller
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    connect_timeout: float = 10.0
    poll_interval: float = 1.0       # how often to look for new outbox rows when idle
    flush_interval: float = 0.25     # outbox updates are committed in small batches
    telemetry_interval: float = 60.0 # retained up/telemetry; also on connect and on exit


class SyncWorker(RecordSending, CentralReplies):
    def __init__(self, store_path: str | os.PathLike, broker: BrokerSettings,
                 options: SyncOptions | None = None, device: str | None = None):

        self.store = Store.open(store_path)
        self.broker = broker
        self.opt = options or SyncOptions()
        self.device = device or broker.username
        if not self.device:
            raise ValueError("the device id (= MQTT username) is not set")
        self.backoff = Backoff(self.opt.backoff_base, self.opt.backoff_cap)
        self.stats = collections.Counter()
        self._client: mqtt.Client | None = None
        self._ready = False
        self._lost = False
        self._connect_started = 0.0
        self._next_connect = 0.0
        self._max_packet = self.opt.max_packet_bytes
        self._active: dict[str, _Active] = {}
        self._active_bytes = 0
        self._sendq: collections.deque = collections.deque()
        self._unacked: dict[int, tuple] = {}
        self._cursor = 0
        self._rows: collections.deque = collections.deque()
        self._requeued: dict[str, tuple] = {}   # rows found again while their uuid was active
        self._built: dict = {}                  # records built for the rows of the last scan
        self._scan_done_at = 0.0
        self._updates: list[tuple] = []
        self._last_flush = 0.0
        self._stop = False
        self._telemetry_due = 0.0
        self._credentials_error: str | None = None

    # --- outbox -------------------------------------------------------------------------------
    def _flush(self, force: bool = False) -> None:
        if not self._updates:
            return
        now = time.monotonic()
        if not force and now - self._last_flush < self.opt.flush_interval and len(self._updates) < 256:
            return
        stamp = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        with self.store.db.atomic():
            for kind, u, arg in self._updates:
                q = None
                if kind == "sent":
                    q = (Outbox.update(state="inflight", attempts=Outbox.attempts + 1,
                                       last_attempt_at=stamp)
                         .where((Outbox.record_uuid == _uuid(u)) & Outbox.state.in_(OUTBOX_ACTIVE)))
                elif kind == "acked":
                    status, rev = arg
                    # an ack for an older revision does not cover a correction made since
                    corrections = (KeyField.select(pw.fn.COUNT(KeyField.id))
                                   .where((KeyField.photo == _uuid(u))
                                          & (KeyField.source == OPERATOR)))
                    q = (Outbox.update(state="acked", acked_at=stamp, ack_status=status,
                                       reason=None)
                         .where((Outbox.record_uuid == _uuid(u)) & (Outbox.state != "acked")
                                & (corrections <= rev)))
                elif kind == "quarantined":
                    q = (Outbox.update(state="quarantined", reason=arg, last_attempt_at=stamp)
                         .where((Outbox.record_uuid == _uuid(u)) & Outbox.state.in_(OUTBOX_ACTIVE)))
                elif kind == "rejected":
                    q = (Outbox.update(state="quarantined", ack_status=ACK_REJECTED, reason=arg,
                                       acked_at=stamp)
                         .where((Outbox.record_uuid == _uuid(u)) & (Outbox.state != "acked")))
                q.execute()
        self._updates.clear()
        self._last_flush = now

    def _next_row(self):
        if not self._rows:
            now = time.monotonic()
            if self._scan_done_at and now - self._scan_done_at < self.opt.poll_interval:
                return None
            rows = list(Outbox.select(Outbox.id, Outbox.record_uuid, Outbox.attempts)
                        .where(Outbox.state.in_(OUTBOX_ACTIVE) & (Outbox.id > self._cursor))
                        .order_by(Outbox.id).limit(64).tuples())
            if not rows:
                self._scan_done_at = now
                return None
            self._scan_done_at = 0.0
            self._rows.extend(rows)
            self._cursor = rows[-1][0]
            self._built = build_records([r[1] for r in rows], self.store.images)
        return self._rows.popleft()

    def remaining(self) -> int:
        return Outbox.select().where(Outbox.state.in_(OUTBOX_ACTIVE)).count()

    def _quarantine(self, u: str, reason: str) -> None:
        log.warning("quarantined record %s: %s", u, reason)
        self.stats["quarantined"] += 1
        self._updates.append(("quarantined", u, reason))
        self._drop(u)

    def _drop(self, u: str) -> None:
        a = self._active.pop(u, None)
        if a is not None:
            self._active_bytes -= sum(im[2] for im in a.images)
        self._requeued.pop(u, None)

    # --- connection ---------------------------------------------------------------------------
    def _connect(self) -> None:
        b = self.broker
        cid = b.client_id or f"{self.device}-sync"
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid,
                        protocol=mqtt.MQTTv5)
        try:
            b.apply(c)
        except (OSError, ValueError) as e:   # ssl.SSLError is an OSError
            self._credentials_error = (f"cannot use the broker credentials ({e}): "
                                       f"{b.credentials_hint()}")
            log.error("%s", self._credentials_error)
            self._schedule_reconnect()
            return
        c.will_set(t_status(self.device), STATUS_OFFLINE, qos=1, retain=True)
        c.max_inflight_messages_set(self.opt.publish_window + 8)
        c.max_queued_messages_set(0)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_subscribe = self._on_subscribe
        c.on_publish = self._on_publish
        c.on_message = self._on_message
        c.connect_timeout = self.opt.connect_timeout
        self._lost = False
        self._ready = False
        self._connect_started = time.monotonic()
        self.stats["connect_attempts"] += 1
        try:
            c.connect(b.host, b.port, keepalive=b.keepalive, clean_start=True)
        except (OSError, ValueError) as e:
            log.info("connect to %s:%s failed: %s", b.host, b.port, e)
            self._schedule_reconnect()
            return
        self._client = c

    def _schedule_reconnect(self) -> None:
        delay = self.backoff.next()
        self._next_connect = time.monotonic() + delay
        log.info("reconnecting in %.2f s", delay)

    def _teardown(self) -> None:
        c, self._client = self._client, None
        self._ready = False
        if c is not None:
            try:
                c.socket() and c.socket().close()
            except OSError:
                pass
        self._active.clear()
        self._active_bytes = 0
        self._sendq.clear()
        self._unacked.clear()
        self._rows.clear()
        self._requeued.clear()
        self._built = {}
        self._flush(force=True)
        self._schedule_reconnect()

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            self.stats["connect_refused"] += 1
            self._lost = True
            if getattr(reason_code, "value", 0) in CREDENTIAL_CODES:
                self._credentials_error = (
                    f"broker {self.broker.host}:{self.broker.port} refused the connection "
                    f"({reason_code}): {self.broker.credentials_hint()}")
                log.error("%s", self._credentials_error)
            else:
                log.error("broker refused the connection: %s", reason_code)
            return
        mp = getattr(properties, "MaximumPacketSize", None) if properties else None
        self._max_packet = min(self.opt.max_packet_bytes, mp) if mp else self.opt.max_packet_bytes
        client.subscribe([(t_ack(self.device), 1), (t_image(self.device), 1)])

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        if any(rc.is_failure for rc in reason_codes):
            log.error("subscription refused: %s", [str(r) for r in reason_codes])
            self.stats["subscribe_refused"] += 1
            self._lost = True
            return
        client.publish(t_status(self.device), STATUS_ONLINE, qos=1, retain=True)
        self._ready = True
        self._telemetry_due = 0.0
        self._credentials_error = None
        self.backoff.reset()
        self.stats["sessions"] += 1
        # resend everything not acked, from the oldest
        self._cursor = 0
        self._rows.clear()
        self._scan_done_at = 0.0
        log.info("connected to %s:%s as %s", self.broker.host, self.broker.port, self.device)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        if client is self._client:
            self._lost = True

    def _on_publish(self, client, userdata, mid, reason_code, properties):
        info = self._unacked.pop(mid, None)
        if info is None:
            return
        kind, u = info[0], info[1]
        code = getattr(reason_code, "value", 0)
        if code >= 0x80:
            self.stats["puback_failures"] += 1
            if code in PERMANENT_PUBACK and u in self._active:
                self._quarantine(u, f"broker refused the {kind} message: {PERMANENT_PUBACK[code]}")
            else:
                log.error("broker refused a %s publish for %s: %s", kind, u, reason_code)
            return
        a = self._active.get(u)
        if a is not None:
            a.last_progress = time.monotonic()

    # --- main loop ----------------------------------------------------------------------------
    def stop(self) -> None:
        self._stop = True

    def run(self, until_empty: bool = False, max_seconds: float | None = None,
            tick: Callable[[], object] | None = None) -> dict:
        """Drain the outbox. ``until_empty``: return once nothing is pending or in flight.
        ``tick`` is called once per loop turn (the service watchdog)."""
        t0 = time.monotonic()
        last_timeout_check = 0.0
        last_empty_check = 0.0
        try:
            while not self._stop:
                if tick is not None:
                    tick()
                now = time.monotonic()
                if max_seconds is not None and now - t0 > max_seconds:
                    self.stats["timed_out"] = 1
                    break
                if self._client is None:
                    if until_empty and self._credentials_error:
                        self.stats["credentials_refused"] = self._credentials_error
                        break
                    if now >= self._next_connect:
                        self._connect()
                    else:
                        time.sleep(min(0.1, self._next_connect - now))
                        continue
                c = self._client
                if c is None:
                    continue
                busy = self._ready and (self._sendq or len(self._unacked) < self.opt.publish_window)
                rc = c.loop(timeout=0.005 if busy else 0.05)
                if rc != mqtt.MQTT_ERR_SUCCESS:
                    self._lost = True
                if not self._ready and not self._lost and \
                        time.monotonic() - self._connect_started > self.opt.connect_timeout:
                    log.info("no CONNACK/SUBACK within %.0f s", self.opt.connect_timeout)
                    self._lost = True
                if self._lost:
                    self.stats["disconnects"] += 1
                    if self._credentials_error and until_empty:
                        # a one-shot run stops: retrying cannot fix a setting
                        self.stats["credentials_refused"] = self._credentials_error
                        self._client = None
                        break
                    self._teardown()
                    continue
                self._pump()
                if self._ready and now >= self._telemetry_due:
                    self._publish_telemetry()
                if now - last_timeout_check > 0.25:
                    last_timeout_check = now
                    self._check_timeouts()
                self._flush()
                if until_empty and not self._active and not self._rows and self._ready \
                        and now - last_empty_check > 0.2:
                    last_empty_check = now
                    self._flush(force=True)
                    if self.remaining() == 0:
                        break
        finally:
            self._flush(force=True)
            self._close()
        self.stats["seconds"] = round(time.monotonic() - t0, 3)
        return dict(self.stats)

    def _publish_telemetry(self, client=None):
        """Publish the device's telemetry (retained); the MQTTMessageInfo, or None."""
        self._telemetry_due = time.monotonic() + self.opt.telemetry_interval
        try:
            self._flush(force=True)
            data = telemetry.payload(telemetry.collect(self.device, self.store.root))
        except Exception as e:  # noqa: BLE001 - telemetry must never stop the sync
            log.warning("telemetry not sent: %s", e)
            return None
        self.stats["telemetry_sent"] += 1
        return (client or self._client).publish(t_telemetry(self.device), data, qos=1,
                                                retain=True)

    def _close(self) -> None:
        c, self._client = self._client, None
        if c is not None and self._ready:
            try:
                last = self._publish_telemetry(c)     # the final state: what was acked
                info = c.publish(t_status(self.device), STATUS_OFFLINE, qos=1, retain=True)
                deadline = time.monotonic() + 2
                while not (info.is_published() and (last is None or last.is_published())) \
                        and time.monotonic() < deadline:
                    if c.loop(timeout=0.05) != mqtt.MQTT_ERR_SUCCESS:
                        break
                c.disconnect()
                c.loop(timeout=0.05)
            except (OSError, ValueError, RuntimeError):
                pass
        self.store.close()


def outbox_status(store_path: str | os.PathLike) -> dict:
    """Counts per outbox state and the age of the oldest pending record (``sync status``)."""
    store = Store.open(store_path)
    try:
        counts = {s: 0 for s in ("pending", "inflight", "acked", "quarantined")}
        for state, n in (Outbox.select(Outbox.state, pw.fn.COUNT(Outbox.id))
                         .group_by(Outbox.state).tuples()):
            counts[state] = n
        oldest = (Outbox.select(pw.fn.MIN(Outbox.created_at))
                  .where(Outbox.state.in_(OUTBOX_ACTIVE)).scalar())
        if isinstance(oldest, str):
            oldest = dt.datetime.fromisoformat(oldest)
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        counts["oldest_pending_age_s"] = (round((now - oldest).total_seconds(), 1)
                                          if oldest else None)
        reasons = [dict(record_uuid=str(r.record_uuid), reason=r.reason)
                   for r in Outbox.select().where(Outbox.state == "quarantined")
                   .order_by(Outbox.id.desc()).limit(20)]
        counts["quarantined_recent"] = reasons
        return counts
    finally:
        store.close()
