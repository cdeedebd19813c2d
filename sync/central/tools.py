"""``claim-edge central review|export-labels|report``: what the insurer's side does with the
records once they are in its database (the ingest service itself is ``claim-edge central``)."""

from __future__ import annotations

import argparse
import sys

from . import db as cdb

VOCAB = {
    "category": ("vehicle", "damage", "plate", "vin", "document", "other"),
    "damage": ("none", "minor", "moderate", "severe"),
    "view": ("front", "rear", "left", "right", "interior", "unknown"),
    "document": ("driver_license", "vehicle_registration", "id_card", "insurance_card",
                 "receipt_invoice", "repair_estimate", "accident_report", "other_document"),
}
VERBS = ("review", "export-labels", "report")


def _db(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", default="sqlite:///central.db",
                   help="postgresql://user[:pw]@host[:port]/db[?schema=NAME] or sqlite:///PATH")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="claim-edge central")
    sub = p.add_subparsers(dest="verb", required=True)
    r = sub.add_parser("review", help="record a reviewer's decision on a record's label")
    _db(r)
    r.add_argument("record", help="record uuid")
    r.add_argument("--head", required=True, choices=sorted(VOCAB))
    r.add_argument("--label", required=True)
    r.add_argument("--by", default="reviewer", help="who decided (kept with the decision)")
    r.add_argument("--note")
    e = sub.add_parser("export-labels", help="corrections and review decisions as a labelled data "
                       "set in the data folder's formats (the toolkit's --corrections)")
    _db(e)
    e.add_argument("--blobs", default="central-blobs", help="central's image directory")
    e.add_argument("--since", help="corrections/decisions from: 2026-12-01, 2026-12-01T08:00 "
                   "or 7d (days back); default: all")
    e.add_argument("--out", required=True, help="a new folder to write the data set into")
    rp = sub.add_parser("report", help="drift per device and model version: category mix, "
                        "share sent to review, mean confidence, over time")
    _db(rp)
    rp.add_argument("--since", help="records received from (as export-labels --since)")
    rp.add_argument("--by", default="day", choices=("day", "week", "month", "all"),
                    help="period of each row (default day)")
    rp.add_argument("--device", help="only this device")
    rp.add_argument("--json", action="store_true", help="JSON instead of the table")
    return p


def review(db_url: str, record: str, head: str, label: str, by: str, note: str | None) -> str:
    if label not in VOCAB[head]:
        raise ValueError(f"--label {label!r} is not a {head} label ({', '.join(VOCAB[head])})")
    cdb.open_database(db_url)
    rec = cdb.Record.get_or_none(cdb.Record.uuid == record)
    if rec is None:
        raise ValueError(f"no record {record} in the database")
    model = cdb.Label.get_or_none((cdb.Label.record == record) & (cdb.Label.head == head))
    cdb.ReviewDecision.create(record=record, head=head, label=label,
                              model_label=model.label if model else None, decided_by=by,
                              note=note)
    return f"{record}: {head} {model.label if model else '-'} -> {label} (by {by})"


def main(argv: list[str]) -> int:
    a = build_parser().parse_args(argv)
    from .labels_export import ExportError, export_labels, parse_since
    try:
        if a.verb == "review":
            print(review(a.db, a.record, a.head, a.label, a.by, a.note))
            return 0
        since = parse_since(a.since)
        if a.verb == "export-labels":
            rep = export_labels(a.db, a.blobs, a.out, since)
            sets = ", ".join(f"{k} {v}" for k, v in sorted(rep.per_set.items())) or "none"
            print(f"exported {rep.corrections} corrections and {rep.decisions} review decisions "
                  f"to {rep.out} (data sets: {sets})")
            for s in rep.skipped:
                print(f"  skipped {s}", file=sys.stderr)
            return 0
        from .drift import drift, to_json, to_text
        rows = drift(a.db, since, a.by, a.device)
        print(to_json(rows, since, a.by) if a.json else to_text(rows))
        return 0
    except (ExportError, ValueError, OSError) as e:
        print(f"claim-edge central {a.verb}: {e}", file=sys.stderr)
        return 1
