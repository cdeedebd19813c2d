"""Device telemetry (``claims/{device}/up/telemetry``, retained): two devices sync, central keeps
each one's last report and ``claim-edge central devices`` lists them, with the record one of
them quarantined and why. Real mosquitto (shipped ACL), real PostgreSQL."""

import json
import subprocess
import sys

from edge.store import Store
from edge.store.schema import Photo
from sync.central import db as cdb
from sync_fixtures import *  # noqa: F401,F403
from sync_helpers import ROOT, CentralProc, make_device, run_worker, wait_for


def _telemetry(db_url):
    d = cdb.open_database(db_url, create=False)
    try:
        return {t.device: t for t in cdb.DeviceTelemetry.select()}
    finally:
        d.close()


def test_central_devices_shows_telemetry_from_two_devices(tmp_path, broker, pg_db):
    store_a, uuids_a = make_device(tmp_path, 3, size=100_000, seed=21, device="dev-a")
    store_b, _ = make_device(tmp_path, 2, size=100_000, seed=22, device="dev-b", claim="CLM-B")
    s = Store.open(store_a)          # one of A's photos loses its image: quarantined on A
    gone = s.image_path(Photo.get_by_id(uuids_a[0]).__data__["image"])
    s.close()
    gone.unlink()
    central = CentralProc(pg_db, broker.port, tmp_path / "blobs").start()
    try:
        sa = run_worker(store_a, broker.port, tmp_path / "wa.log", device="dev-a")
        sb = run_worker(store_b, broker.port, tmp_path / "wb.log", device="dev-b")
        wait_for(lambda: {d: t.last_sync_at is not None for d, t in _telemetry(pg_db).items()}
                 == {"dev-a": True, "dev-b": True}, 30, what="both devices' final telemetry")
    finally:
        central.stop()
    assert sa["quarantined"] == 1 and sa["telemetry_sent"] >= 2 and sb["telemetry_sent"] >= 2
    out = subprocess.run([sys.executable, "-m", "sync", "central", "devices", "--db", pg_db,
                          "--json"], capture_output=True, text=True, cwd=ROOT, check=True)
    rows = {r["device"]: r for r in json.loads(out.stdout)["devices"]}
    assert set(rows) == {"dev-a", "dev-b"}
    a, b = rows["dev-a"], rows["dev-b"]
    assert (a["outbox_pending"], a["outbox_inflight"], a["quarantined"]) == (0, 0, 1)
    assert (b["outbox_pending"], b["quarantined"]) == (0, 0)
    assert a["app_version"] and a["disk_free_mb"] > 0 and b["last_sync_at"]
    assert a["quarantined_reasons"] == {"image file {path} is missing on the device": 1}
    (q,) = a["quarantined_records"]
    assert q["record_uuid"] == uuids_a[0] and str(gone) in q["reason"]
    text = subprocess.run([sys.executable, "-m", "sync", "central", "devices", "--db", pg_db],
                          capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert "dev-a  app " in text and "dev-b  app " in text
    assert "quarantined 1 x image file {path} is missing on the device" in text
