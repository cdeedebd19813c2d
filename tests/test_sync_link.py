"""Scenarios 4-5 through a TCP proxy between device and broker: link cut every few seconds,
half-open longer than keepalive (resume sends only the missing chunks), acks lost."""

import signal
import threading
import time

from sync.harness.broker import TcpProxy
from sync.protocol import CHUNK_SIZE
from sync_fixtures import *  # noqa: F401,F403
from sync_helpers import (CentralProc, assert_invariant, central_counts, finish_worker,
                          kill_process, make_device, start_worker, wait_for)


def test_link_cut_every_few_seconds(tmp_path, broker, pg_db):
    store, _ = make_device(tmp_path, 24, size=2_000_000, seed=11)
    total = sum(p.stat().st_size for p in (tmp_path / "dev-a" / "images").rglob("*.png"))
    proxy = TcpProxy(broker.port)
    central = CentralProc(pg_db, broker.port, tmp_path / "blobs").start()
    stop = threading.Event()
    cuts = [0]

    def cutter():                            # a cut every 0.7 s or every 6 MB sent up,
        last_t, last_b = time.monotonic(), 0     # whichever comes first
        while not stop.wait(0.05):
            if time.monotonic() - last_t > 0.7 or proxy.bytes_up - last_b > 6_000_000:
                proxy.cut()
                cuts[0] += 1
                last_t, last_b = time.monotonic(), proxy.bytes_up

    t = threading.Thread(target=cutter, daemon=True)
    w = start_worker(store, proxy.port, tmp_path / "w.log", extra=["--publish-window", "8"])
    t.start()
    try:
        stats = finish_worker(w)
    finally:
        stop.set()
        kill_process(w, signal.SIGKILL)
        cstats = central.stop()
        proxy.close()
    assert cuts[0] >= 3 and stats["sessions"] >= 3, (cuts, stats)
    # every reconnect resends only what central lacks: at most the in-flight window per cut
    assert stats["chunk_payload_bytes"] <= total + stats["sessions"] * 8 * CHUNK_SIZE, stats
    assert cstats.get("duplicate_chunks", 0) <= stats["sessions"] * 8
    assert_invariant(store, pg_db, tmp_path / "blobs")


def test_half_open_longer_than_keepalive_resumes_with_missing_chunks_only(tmp_path, broker,
                                                                           sqlite_db):
    store, _ = make_device(tmp_path, 1, size=10_000_000, seed=12)       # 39 chunks
    n = -(-(10_000_000 + 200) // CHUNK_SIZE)
    proxy = TcpProxy(broker.port)
    central = CentralProc(sqlite_db, broker.port, tmp_path / "blobs").start()
    proxy.stall_at = 12 * CHUNK_SIZE         # half-open once ~12 chunks went up: the sockets
    w = start_worker(store, proxy.port, tmp_path / "w.log", extra=["--publish-window", "2"])
    try:                                     # stay open, nothing passes either way
        wait_for(proxy.stalled.is_set, 60, what="the link to go half-open")
        time.sleep(7)                        # > keepalive (2 s) x 1.5 + reconnect attempts
        had = central_counts(sqlite_db)["chunk"]
        proxy.stalled.clear()
        proxy.cut()
        stats = finish_worker(w)
    finally:
        kill_process(w, signal.SIGKILL)
        cstats = central.stop()
        proxy.close()
    assert stats["sessions"] >= 2 and stats.get("reasks", 0) + stats["records_sent"] >= 2, (had, stats)
    # central never received a chunk twice, and the device sent each chunk once plus at most
    # the two that were in flight when the link went dead
    assert cstats.get("duplicate_chunks", 0) == 0, cstats
    assert had >= 10
    assert n <= stats["chunk_msgs"] <= n + 2, (n, stats)
    assert_invariant(store, sqlite_db, tmp_path / "blobs")


def test_acks_lost_for_a_while(tmp_path, broker, pg_db):
    store, _ = make_device(tmp_path, 12, size=200_000, seed=13)
    proxy = TcpProxy(broker.port)
    central = CentralProc(pg_db, broker.port, tmp_path / "blobs").start()
    proxy.drop_down_at = 250_000             # once the first record went up, everything
                                             # broker -> device is lost (PUBACKs and acks)
    w = start_worker(store, proxy.port, tmp_path / "w.log")
    try:
        wait_for(lambda: central_counts(pg_db)["record"] >= 3, 60, what="commits at central")
        time.sleep(1.0)
        proxy.cut()                          # link back (drop_down cleared)
        stats = finish_worker(w)
    finally:
        kill_process(w, signal.SIGKILL)
        central.stop()
        proxy.close()
    # the records committed while their acks were lost come back as duplicates, not doubles
    assert stats.get("ack_duplicate", 0) >= 3, stats
    assert_invariant(store, pg_db, tmp_path / "blobs")
