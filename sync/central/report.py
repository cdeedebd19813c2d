"""``claim-edge central devices`` (each device's last telemetry) and ``claim-edge central
rejected`` (the dead letters), read from central's database."""

from __future__ import annotations

import argparse
import json
import sys

import peewee as pw

from . import db as cdb


def devices(db_url: str) -> list[dict]:
    d = cdb.open_database(db_url, create=False)
    try:
        quarantined: dict[str, list] = {}
        for q in cdb.DeviceQuarantine.select().order_by(cdb.DeviceQuarantine.reported_at.desc()):
            quarantined.setdefault(q.device, []).append(
                {"record_uuid": q.record_uuid, "reason": q.reason})
        out = []
        for t in cdb.DeviceTelemetry.select().order_by(cdb.DeviceTelemetry.device):
            body = json.loads(t.payload)
            out.append({"device": t.device, "received_at": t.received_at.isoformat(" ", "seconds"),
                        "sent_at": t.sent_at, "app_version": t.app_version,
                        "models": json.loads(t.models), "outbox_pending": t.outbox_pending,
                        "outbox_inflight": t.outbox_inflight,
                        "oldest_pending_age_s": t.oldest_pending_age_s,
                        "quarantined": t.quarantined,
                        "quarantined_reasons": body.get("quarantined_reasons", {}),
                        "quarantined_records": quarantined.get(t.device, []),
                        "disk_free_mb": t.disk_free_mb, "last_sync_at": t.last_sync_at})
        return out
    finally:
        d.close()


def rejected(db_url: str, limit: int) -> list[dict]:
    d = cdb.open_database(db_url, create=False)
    try:
        return [{"at": r.at.isoformat(" ", "seconds"), "device": r.device, "topic": r.topic,
                 "record_uuid": r.record_uuid, "reason": r.reason,
                 "payload_sha256": r.payload_sha256, "payload_bytes": r.payload_bytes}
                for r in cdb.RejectedMessage.select().order_by(cdb.RejectedMessage.id.desc())
                .limit(limit)]
    finally:
        d.close()


def _age(s: float | None) -> str:
    if s is None:
        return "-"
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.0f} min" if s < 7200 else f"{s / 3600:.1f} h"


def main(what: str, argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog=f"claim-edge central {what}",
        description={"devices": "Each device's last telemetry: versions, outbox, quarantined "
                                "records, disk, last sync.",
                     "rejected": "The dead letters: messages central refused, newest first, "
                                 "with the reason."}[what])
    p.add_argument("--db", default="sqlite:///central.db",
                   help="postgresql://user[:pw]@host[:port]/db[?schema=NAME] or sqlite:///PATH")
    p.add_argument("--json", action="store_true", help="one JSON document")
    if what == "rejected":
        p.add_argument("--limit", type=int, default=50)
    a = p.parse_args(argv)
    try:
        rows = devices(a.db) if what == "devices" else rejected(a.db, a.limit)
    except pw.DatabaseError as e:
        print(f"claim-edge central {what}: cannot read central's tables in {a.db.split('?')[0]} "
              f"({str(e).strip().splitlines()[0]}); is this the database central writes to?",
              file=sys.stderr)
        return 2
    if a.json:
        print(json.dumps({what: rows}, indent=1, sort_keys=True))
        return 0
    if not rows:
        print(f"no {'telemetry' if what == 'devices' else 'rejected messages'} yet")
        return 0
    if what == "rejected":
        for r in rows:
            print(f"{r['at']}  {r['device']}  {r['topic']}  {r['record_uuid'] or '-'}\n"
                  f"    {r['reason']}")
        return 0
    for r in rows:
        models = ", ".join(f"{k} {v}" for k, v in sorted(r["models"].items())) or "-"
        disk = "-" if r["disk_free_mb"] is None else f"{r['disk_free_mb']:,.0f} MB"
        print(f"{r['device']}  app {r['app_version']}  models {models}\n"
              f"    outbox: pending {r['outbox_pending']}  in-flight {r['outbox_inflight']}  "
              f"oldest pending {_age(r['oldest_pending_age_s'])}  quarantined "
              f"{r['quarantined']}  disk free {disk}\n"
              f"    last sync {r['last_sync_at'] or 'never'}  reported {r['sent_at']}")
        for reason, n in sorted(r["quarantined_reasons"].items(), key=lambda x: -x[1]):
            print(f"    quarantined {n} x {reason}")
    return 0
