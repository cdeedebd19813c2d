"""The device's telemetry (``claims/{device}/up/telemetry``, retained): how it is doing, read
from its store. Central keeps the last one per device (``claim-edge central devices``)."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import msgspec
import peewee as pw

from edge import __version__
from edge.store.schema import OUTBOX_ACTIVE, Outbox, Photo

from ..schemas import (MAX_MODELS, MAX_NAME_CHARS, MAX_QUARANTINE_REPORTS, MAX_TELEMETRY_BYTES,
                       MAX_VALUE_CHARS, Telemetry, encode)

_SHA = re.compile(r"\b[0-9a-f]{64}\b")
_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
_PATH = re.compile(r"(?<![\w.])/[^\s,:;]+")
_NUM = re.compile(r"\b\d{4,}\b")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f]")


def _text(s: str | None) -> str:
    return _CONTROL.sub(" ", s or "no reason recorded")[:MAX_VALUE_CHARS]


def reason_kind(reason: str) -> str:
    """A quarantine reason without its particulars (hashes, uuids, paths, sizes), so that equal
    causes count together."""
    r = _PATH.sub("{path}", _UUID.sub("{uuid}", _SHA.sub("{sha256}", _text(reason))))
    return _NUM.sub("{n}", r)


def _iso(v) -> str | None:
    if v is None:
        return None
    if isinstance(v, str):
        v = dt.datetime.fromisoformat(v)
    return v.isoformat(timespec="seconds")


def collect(device: str, store_dir: Path) -> Telemetry:
    """The telemetry of the store that is open now (the sync worker's)."""
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    counts = dict(Outbox.select(Outbox.state, pw.fn.COUNT(Outbox.id)).group_by(Outbox.state)
                  .tuples())
    oldest = (Outbox.select(pw.fn.MIN(Outbox.created_at))
              .where(Outbox.state.in_(OUTBOX_ACTIVE)).scalar())
    if isinstance(oldest, str):
        oldest = dt.datetime.fromisoformat(oldest)
    last_sync = Outbox.select(pw.fn.MAX(Outbox.acked_at)).where(Outbox.state == "acked").scalar()
    reasons: dict[str, int] = {}
    for (reason,) in Outbox.select(Outbox.reason).where(Outbox.state == "quarantined").tuples():
        k = reason_kind(reason)
        reasons[k] = reasons.get(k, 0) + 1
    top = dict(sorted(reasons.items(), key=lambda kv: -kv[1])[:MAX_QUARANTINE_REPORTS])
    recent = [{"record_uuid": str(u), "reason": _text(r),
               "at": _iso(t)}
              for u, r, t in Outbox.select(Outbox.record_uuid, Outbox.reason,
                                           Outbox.last_attempt_at)
              .where(Outbox.state == "quarantined").order_by(Outbox.id.desc())
              .limit(20).tuples()]
    models = {}
    for name, version, _t in (Photo.select(Photo.model_name, Photo.model_version,
                                           pw.fn.MAX(Photo.captured_at))
                              .where(Photo.model_name.is_null(False))
                              .group_by(Photo.model_name).limit(MAX_MODELS).tuples()):
        models[name[:MAX_NAME_CHARS]] = (version or "?")[:MAX_NAME_CHARS]
    try:
        free = round(shutil.disk_usage(store_dir).free / 1e6, 1)
    except OSError:
        free = None
    return msgspec.convert({
        "device": device, "sent_at": now.isoformat(timespec="seconds"),
        "app_version": __version__, "models": models,
        "outbox_pending": counts.get("pending", 0), "outbox_inflight": counts.get("inflight", 0),
        "outbox_acked": counts.get("acked", 0),
        "oldest_pending_age_s": round((now - oldest).total_seconds(), 1) if oldest else None,
        "quarantined": counts.get("quarantined", 0), "quarantined_reasons": top,
        "quarantined_recent": recent, "disk_free_mb": free, "last_sync_at": _iso(last_sync)},
        Telemetry)


def payload(t: Telemetry) -> bytes:
    """Encoded, shrunk to the schema's size bound if the reasons are long."""
    data = encode(t)
    while len(data) > MAX_TELEMETRY_BYTES and (t.quarantined_recent or t.quarantined_reasons):
        t.quarantined_recent = t.quarantined_recent[:len(t.quarantined_recent) // 2]
        if not t.quarantined_recent:
            t.quarantined_reasons = dict(list(t.quarantined_reasons.items())
                                         [:len(t.quarantined_reasons) // 2])
        data = encode(t)
    return data
