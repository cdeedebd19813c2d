"""``claim-edge central report``: per device and per model version, the category mix, the share
of photos sent to review and the mean confidence, over time, as a table and as JSON."""

import json
import subprocess
import sys
import uuid as uuidlib

from conftest import ROOT
from sync.central import db as cdb
from sync_fixtures import *  # noqa: F401,F403
from sync_helpers import env_with_passwords

CLF = {"1.0.0": "a" * 64, "1.1.0": "b" * 64}


def add(device, version, category, score, review, day, plate_conf=None):
    u = str(uuidlib.uuid4())
    models = [{"kind": "classifier", "name": "claim-classifier", "version": version,
               "sha256": CLF[version]}]
    result = {"category": {"label": category, "score": score}}
    if plate_conf is not None:
        models.append({"kind": "plate_reader", "name": "plate-reader", "version": "1.2.1",
                       "sha256": "c" * 64})
        result["fields"] = {"plate": {"value": "ABC1234", "confidence": plate_conf}}
    rec = {"uuid": u, "device": device, "models": models, "result": result}
    cdb.CentralDevice.insert(id=device).on_conflict_ignore().execute()
    cdb.Record.create(uuid=u, device=device, claim="C1", content_sha256="0" * 64,
                      category=category, captured_at=f"{day}T10:00:00", payload=json.dumps(rec))
    for m in models:
        cdb.RecordModel.create(record=u, **m)
    cdb.ScenarioZone.create(record=u, claim="C1", device=device,
                            scenario="review" if review else "damage_assessment", reason="t")


def report(db, *args):
    r = subprocess.run([sys.executable, "-m", "sync", "central", "report", "--db", db, *args],
                       cwd=ROOT, env=env_with_passwords(), capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_review_rates_per_device_and_model_version(central_db):
    d = cdb.open_database(central_db)
    try:
        # dev-a on classifier 1.0.0: 4 photos, 1 to review; on 1.1.0 (next day): 4, 3 to review
        for i in range(4):
            add("dev-a", "1.0.0", "damage" if i < 3 else "vehicle", 0.9, i == 0, "2026-12-01")
            add("dev-a", "1.1.0", "damage", 0.5, i < 3, "2026-12-02", plate_conf=0.8)
        add("dev-b", "1.0.0", "plate", 0.95, False, "2026-12-01")
    finally:
        d.close()
    doc = json.loads(report(central_db, "--json"))
    rows = {(r["device"], r["name"], r["version"], r["period"]): r for r in doc["rows"]}
    a0 = rows[("dev-a", "claim-classifier", "1.0.0", "2026-12-01")]
    a1 = rows[("dev-a", "claim-classifier", "1.1.0", "2026-12-02")]
    assert (a0["photos"], a0["review"], a0["review_share"]) == (4, 1, 0.25)
    assert (a1["photos"], a1["review"], a1["review_share"]) == (4, 3, 0.75)
    assert a0["category_share"] == {"damage": 0.75, "vehicle": 0.25}
    assert a0["mean_confidence"] == 0.9 and a1["mean_confidence"] == 0.5
    pr = rows[("dev-a", "plate-reader", "1.2.1", "2026-12-02")]
    assert pr["kind"] == "plate_reader" and pr["mean_confidence"] == 0.8
    b = rows[("dev-b", "claim-classifier", "1.0.0", "2026-12-01")]
    assert (b["photos"], b["review_share"]) == (1, 0.0)

    text = report(central_db)
    assert "device dev-a" in text and "device dev-b" in text
    assert "classifier claim-classifier 1.1.0" in text
    line = [x for x in text.splitlines() if "2026-12-02" in x and "review" in x][0]
    assert "review  75.0%" in line and "confidence 0.500" in line

    whole = json.loads(report(central_db, "--json", "--by", "all", "--device", "dev-a"))
    assert {(r["version"], r["photos"]) for r in whole["rows"]
            if r["kind"] == "classifier"} == {("1.0.0", 4), ("1.1.0", 4)}


def test_report_on_an_empty_window(sqlite_db):
    cdb.open_database(sqlite_db).close()
    assert "no records in the window" in report(sqlite_db, "--since", "2999-01-01")
