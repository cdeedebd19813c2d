"""How the device sends (a mixin of ``SyncWorker``): record messages and their images in chunks,
within the windows, and the timeouts that ask again (the guarantees are in worker.py)."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import time
import uuid as uuidlib

import paho.mqtt.client as mqtt

from ..protocol import CHUNK_HEADER, CHUNK_SIZE, read_chunk, record_message, t_chunk, t_record
from ..schemas import SchemaError, validate_record
from .record import RecordUnavailable, build_record

log = logging.getLogger("claim_edge.sync")


@dataclasses.dataclass
class _Active:
    uuid: str
    images: list                     # [(sha, path, size, nchunks)]
    last_progress: float
    queued: set = dataclasses.field(default_factory=set)
    mismatches: int = 0
    rev: int = 0                     # the revision last sent
    sent: set = dataclasses.field(default_factory=set)   # SHA-256 of each record message sent


def _uuid(u: str) -> uuidlib.UUID:
    return uuidlib.UUID(str(u))


class RecordSending:
    def _publish(self, kind: str, u: str, topic: str, payload: bytes) -> bool:
        info = self._client.publish(topic, payload, qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            self._lost = info.rc in (mqtt.MQTT_ERR_NO_CONN, mqtt.MQTT_ERR_CONN_LOST)
            return False
        self._unacked[info.mid] = (kind, u, len(payload))
        self.stats[f"{kind}_msgs"] += 1
        self.stats[f"{kind}_bytes"] += len(payload)
        return True

    def _send_record(self, row) -> None:
        _id, ru, attempts = row
        u = str(_uuid(ru))
        got = self._built.pop(u, None)       # built with the rest of its scan
        if got is None:
            try:
                got = build_record(u, self.store.images)
            except RecordUnavailable as e:
                got = e
        if isinstance(got, RecordUnavailable):
            self._quarantine(u, str(got))
            return
        record, files = got
        images = []
        for sha, path, size in files:
            if size > self.opt.max_image_bytes:
                self._quarantine(u, f"image {sha} is {size} bytes, above the "
                                    f"{self.opt.max_image_bytes}-byte limit")
                return
            try:
                st = os.stat(path)
            except OSError:
                self._quarantine(u, f"image file {path} is missing on the device")
                return
            if st.st_size != size:
                self._quarantine(u, f"image file {path} is {st.st_size} bytes, the store says {size}")
                return
            images.append((sha, path, size, -(-size // CHUNK_SIZE) or 1))
        if CHUNK_SIZE + 512 > self._max_packet:
            self._quarantine(u, f"the broker's maximum packet size ({self._max_packet}) is below "
                                f"one {CHUNK_SIZE}-byte chunk")
            return
        ask = attempts > 0
        payload = record_message(record, ask=ask)
        if len(payload) + 512 > self._max_packet:
            self._quarantine(u, f"record message is {len(payload)} bytes, above the broker's "
                                f"maximum packet size {self._max_packet}")
            return
        try:
            validate_record(record)
        except SchemaError as e:     # central would refuse it: keep it here, with the reason
            self._quarantine(u, f"record does not match the sync schema: {e}")
            return
        if not self._publish("record", u, t_record(self.device), payload):
            return
        a = _Active(u, images, time.monotonic(), rev=record["rev"],
                    sent={hashlib.sha256(payload).hexdigest()})
        self._active[u] = a
        self._active_bytes += sum(im[2] for im in images)
        self._updates.append(("sent", u, None))
        self.stats["records_sent"] += 1
        if not ask:
            for sha, _p, _s, n in images:
                for i in range(n):
                    a.queued.add((sha, i))
                    self._sendq.append((u, sha, i))

    def _send_chunk(self, u: str, sha: str, idx: int) -> None:
        a = self._active.get(u)
        if a is None or (sha, idx) not in a.queued:
            return
        a.queued.discard((sha, idx))
        path, size = next((p, s) for h, p, s, _n in a.images if h == sha)
        try:
            msg = read_chunk(path, idx, size, u)
        except EOFError:
            self._quarantine(u, f"image file {path} is truncated")
            return
        except OSError as e:
            self._quarantine(u, f"cannot read image file {path}: {e.strerror}")
            return
        if self._publish("chunk", u, t_chunk(self.device, sha, idx), msg):
            self.stats["chunk_payload_bytes"] += len(msg) - CHUNK_HEADER.size

    def _pump(self) -> None:
        while self._ready and len(self._unacked) < self.opt.publish_window:
            if self._sendq:
                self._send_chunk(*self._sendq.popleft())
                continue
            if len(self._active) >= self.opt.record_window or \
                    self._active_bytes >= self.opt.window_bytes:
                break
            row = self._next_row()
            if row is None:
                break
            u = str(_uuid(row[1]))
            if u in self._active:
                self._requeued[u] = row
                continue
            self._send_record(row)

    def _check_timeouts(self) -> None:
        now = time.monotonic()
        for a in list(self._active.values()):
            if a.queued or now - a.last_progress < self.opt.ack_timeout:
                continue
            if not self._ready or len(self._unacked) >= self.opt.publish_window:
                return
            self.stats["reasks"] += 1
            a.last_progress = now
            try:
                record, _ = build_record(a.uuid, self.store.images)
            except Exception as e:  # noqa: BLE001 - the photo vanished: quarantine
                self._quarantine(a.uuid, f"cannot rebuild record: {e}")
                continue
            payload = record_message(record, ask=True)
            if self._publish("record", a.uuid, t_record(self.device), payload):
                a.sent.add(hashlib.sha256(payload).hexdigest())
                a.rev = record["rev"]
                self._updates.append(("sent", a.uuid, None))
