"""The sync invariant, checked by the fault tests and the soak: central has exactly the device's
records, every image byte-identical by SHA-256, the outbox fully acked, no duplicate rows."""

from __future__ import annotations

from pathlib import Path

import peewee as pw

from edge.digest import sha256_file

from ..central import db as cdb
from ..protocol import content_sha256


def device_snapshot(store_path: Path) -> dict:
    """Per record uuid: content hash, image sha and outbox state; child row counts."""
    from edge.store import Store
    from edge.store.schema import (KeyField, Label, Outbox, Photo, ScenarioAssignment,
                                   TextLine)

    from ..device.record import RecordUnavailable, build_record

    store = Store.open(store_path)
    try:
        snap = {}
        states = {str(o.record_uuid): (o.state, o.reason) for o in Outbox.select()}
        for ph in Photo.select():
            u = str(ph.uuid)
            try:
                rec, files = build_record(u, store.images)
            except RecordUnavailable:
                rec, files = None, []
            snap[u] = dict(content=content_sha256(rec) if rec else None,
                           sha=ph.__data__["image"],
                           files=[str(f[1]) for f in files],
                           state=states.get(u, (None, None))[0],
                           reason=states.get(u, (None, None))[1])
        counts = dict(labels=Label.select().count(), scenarios=ScenarioAssignment.select().count(),
                      fields=KeyField.select().count(), text=TextLine.select().count())
        return {"records": snap, "counts": counts, "outbox": states}
    finally:
        store.close()


def assert_invariant(store_path: Path, db_url: str, blobs: Path,
                     quarantined: set[str] = frozenset(), device: str = "dev-a") -> dict:
    """Raise AssertionError unless the invariant holds for ``device``'s records."""
    dev = device_snapshot(store_path)
    recs = dev["records"]
    expect = {u for u in recs if u not in quarantined}
    states = {u: r["state"] for u, r in recs.items()}
    bad = {u: (s, recs[u]["reason"]) for u, s in states.items()
           if (u in quarantined and s != "quarantined") or (u not in quarantined and s != "acked")}
    assert not bad, f"outbox not fully acked: {list(bad.items())[:5]} ({len(bad)} rows)"
    assert set(dev["outbox"]) == set(recs), "outbox and photos differ"
    d = cdb.open_database(db_url, create=False)
    try:
        mine = cdb.Record.select(cdb.Record.uuid).where(cdb.Record.device == device)
        central = {r.uuid: r for r in cdb.Record.select().where(cdb.Record.device == device)}
        assert set(central) == expect, (f"central has {len(central)} records, device "
                                        f"{len(expect)}; missing {list(expect - set(central))[:3]}, "
                                        f"extra {list(set(central) - expect)[:3]}")
        for u in expect:
            assert central[u].content_sha256 == recs[u]["content"], f"record {u} content differs"
        n_rec = cdb.Record.select().where(cdb.Record.device == device).count()
        n_distinct = (cdb.Record.select(pw.fn.COUNT(pw.fn.DISTINCT(cdb.Record.uuid)))
                      .where(cdb.Record.device == device).scalar())
        assert n_rec == n_distinct == len(expect)
        imgs = list(cdb.RecordImage.select().where(cdb.RecordImage.record.in_(mine)))
        assert len(imgs) == len(expect), "record_image rows duplicated or missing"
        for ri in imgs:
            blob = cdb.Blob.get_by_id(ri.sha256)
            assert sha256_file(blobs / blob.path) == ri.sha256, f"blob {ri.sha256} corrupt"
            assert ri.sha256 == recs[ri.__data__["record"]]["sha"]
        if not quarantined:
            c = dev["counts"]
            for model, key in ((cdb.Label, "labels"), (cdb.ScenarioZone, "scenarios"),
                               (cdb.KeyField, "fields"), (cdb.TextLine, "text")):
                got = model.select().where(model.record.in_(mine)).count()
                assert got == c[key], f"{key}: central {got} rows, device {c[key]}"
        for q in quarantined:
            assert q not in central
        assert cdb.StagedRecord.select().where(cdb.StagedRecord.uuid.in_(list(expect))).count() == 0
        return {"records": len(expect), "blobs": cdb.Blob.select().count()}
    finally:
        d.close()


def lost_and_doubled(store_path: Path, db_url: str, device: str = "dev-a") -> dict:
    """Counted, not asserted (the soak's report): the device's photos central does not have,
    and central's record / record_image rows beyond one per record."""
    recs = device_snapshot(store_path)["records"]
    d = cdb.open_database(db_url, create=False)
    try:
        rows = [u for (u,) in cdb.Record.select(cdb.Record.uuid)
                .where(cdb.Record.device == device).tuples()]
        mine = cdb.Record.select(cdb.Record.uuid).where(cdb.Record.device == device)
        images = list(cdb.RecordImage.select(cdb.RecordImage.record, cdb.RecordImage.sha256)
                      .where(cdb.RecordImage.record.in_(mine)).tuples())
        return {"lost": len(set(recs) - set(rows)),
                "doubled": (len(rows) - len(set(rows))) + (len(images) - len(set(images)))}
    finally:
        d.close()
