"""Scenarios 1-3: device SIGKILLed at random points, central SIGKILLed mid-transaction, broker
restarted (SIGTERM and SIGKILL). Invariant after each: central has exactly the device's
records, byte-identical images, the outbox fully acked, no duplicate rows."""

import random
import signal
import subprocess
import sys
import time

import pytest

from edge.store import Store
from sync.harness.devicedata import add_photos
from sync_fixtures import *  # noqa: F401,F403
from sync_helpers import (ROOT, CentralProc, assert_invariant, central_counts, env_with_passwords,
                          finish_worker, kill_process, make_device, run_worker, start_worker,
                          wait_for)


# The capture loop retries a photo refused with "database is locked" (busy_timeout ran out while
# the sync worker held the write lock), as the operator's capture would.
CAPTURE = """
import sys, time, peewee
from edge.store import Store
from sync.harness.devicedata import add_photos
s = Store.open(sys.argv[1]); seed = int(sys.argv[2]); i = 0
while True:
    try:
        add_photos(s, "dev-a", 1, size=300_000, seed=seed + i, claim="CLM-CAPTURE"); i += 1
    except peewee.OperationalError as e:
        print("capture retry:", e, file=sys.stderr)
    time.sleep(0.1)
"""


def _start_capture(store, seed):
    return subprocess.Popen([sys.executable, "-c", CAPTURE, str(store), str(seed)],
                            env=env_with_passwords(), cwd=str(ROOT))


def _connected(broker, n0):
    return broker.log_text().count(" as dev-a-sync ") > n0


def test_device_sigkilled_at_random_points(tmp_path, broker, central_db):
    """Kills mid-capture (a capture process filing photos), mid-chunk (random points while
    records and chunks flow) and between central's commit and the device's ack handling."""
    rng = random.Random(hash(central_db) & 0xFFFF)
    store, _ = make_device(tmp_path, 8, size=700_000)
    central = CentralProc(central_db, broker.port, tmp_path / "blobs").start()
    kills = 0
    capture = _start_capture(store, seed=1000)
    try:
        for i in range(8):
            n0 = broker.log_text().count(" as dev-a-sync ")
            w = start_worker(store, broker.port, tmp_path / "w.log", until_empty=False)
            wait_for(lambda: _connected(broker, n0) or w.poll() is not None, 30,
                     what="worker to connect")
            time.sleep(rng.uniform(0.0, 0.8))
            kill_process(w, signal.SIGKILL)
            kills += 1
            if i % 3 == 1:                       # mid-capture
                kill_process(capture, signal.SIGKILL)
                kills += 1
                capture = _start_capture(store, seed=2000 + 100 * i)
        # between commit and ack: kill the device the moment central has committed more
        for j in range(2):
            kill_process(capture, signal.SIGKILL)            # mid-capture, again
            kills += 1
            s = Store.open(store)
            add_photos(s, "dev-a", 3, size=300_000, seed=5000 + 10 * j, claim="CLM-BETWEEN")
            s.close()
            before = central_counts(central_db)["record"]
            w = start_worker(store, broker.port, tmp_path / "w.log", until_empty=False)
            try:
                wait_for(lambda: central_counts(central_db)["record"] > before
                         or w.poll() is not None, 60, interval=0.02, what="a commit")
            finally:
                kill_process(w, signal.SIGKILL)
                kills += 1
            capture = _start_capture(store, seed=3000 + 100 * j)
        kill_process(capture, signal.SIGKILL)
        kills += 1
        final = run_worker(store, broker.port, tmp_path / "w.log")
    finally:
        kill_process(capture, signal.SIGKILL)
        central.stop()
    assert kills >= 10  # per database: the two runs make the 20 kills
    res = assert_invariant(store, central_db, tmp_path / "blobs")
    assert res["records"] > 8                    # the captured photos arrived too
    assert final.get("quarantined", 0) == 0


def test_central_sigkilled_mid_transaction(tmp_path, broker, central_db):
    store, _ = make_device(tmp_path, 24, size=1_500_000, seed=3)
    central = CentralProc(central_db, broker.port, tmp_path / "blobs").start()
    w = start_worker(store, broker.port, tmp_path / "w.log")
    rng = random.Random(7)
    try:
        for committed in (1, 5, 9, 13):    # SIGKILL while batches are being committed
            wait_for(lambda: central_counts(central_db)["record"] >= committed, 120,
                     interval=0.02, what=f"{committed} commits")
            time.sleep(rng.uniform(0, 0.2))
            central.kill()
            time.sleep(0.3)
            central.start()
        stats = finish_worker(w)
    finally:
        kill_process(w, signal.SIGKILL)
        central.stop()
    assert stats["ack_committed"] + stats.get("ack_duplicate", 0) >= 24
    assert_invariant(store, central_db, tmp_path / "blobs")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_broker_restarted(tmp_path, broker, pg_db, sig):
    store, _ = make_device(tmp_path, 30, size=1_500_000, seed=5)
    central = CentralProc(pg_db, broker.port, tmp_path / "blobs").start()
    w = start_worker(store, broker.port, tmp_path / "w.log")
    try:
        for committed in (2, 12):         # restart mid-stream, twice
            wait_for(lambda: central_counts(pg_db)["record"] >= committed, 120, interval=0.05,
                     what=f"{committed} commits")
            broker.stop(sig)
            time.sleep(0.5)
            broker.start()
        stats = finish_worker(w)
    finally:
        kill_process(w, signal.SIGKILL)
        central.stop()
    assert stats["sessions"] >= 2, stats
    assert_invariant(store, pg_db, tmp_path / "blobs")
