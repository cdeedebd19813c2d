"""``claim-edge bench sync``: photos/s and MB/s for N photos of ~4 MB from the device store
through a local Mosquitto into central, beside the raw broker throughput for the same bytes
(the same files as 256 KiB QoS 1 messages from one paho publisher to one paho subscriber)."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt

from .broker import Broker
from ..protocol import CHUNK_SIZE
from ..settings import BrokerSettings

DEVICE, DEVICE_PW, CENTRAL_PW = "bench-device", "bench-device-pw", "bench-central-pw"


def raw_throughput(port: int, files: list[Path]) -> float:
    """Seconds to move every file as 256 KiB QoS 1 messages publisher -> broker -> subscriber."""
    chunks = []
    for f in files:
        data = f.read_bytes()
        chunks += [data[i:i + CHUNK_SIZE] for i in range(0, len(data), CHUNK_SIZE)]
    total = len(chunks)
    got = threading.Event()
    count = [0]

    def on_message(c, u, m):
        count[0] += 1
        if count[0] >= total:
            got.set()

    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-raw-sub",
                      protocol=mqtt.MQTTv5)
    sub.username_pw_set("central", CENTRAL_PW)
    sub.on_message = on_message
    subscribed = threading.Event()
    sub.on_subscribe = lambda *a: subscribed.set()
    sub.on_connect = lambda c, *a: c.subscribe(f"claims/{DEVICE}/up/raw/#", qos=1)
    sub.connect("127.0.0.1", port)
    sub.loop_start()
    subscribed.wait(10)
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-raw-pub",
                      protocol=mqtt.MQTTv5)
    pub.username_pw_set(DEVICE, DEVICE_PW)
    pub.max_inflight_messages_set(32)
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    time.sleep(0.3)
    t0 = time.perf_counter()
    infos = [pub.publish(f"claims/{DEVICE}/up/raw/{i}", c, qos=1) for i, c in enumerate(chunks)]
    for info in infos:
        info.wait_for_publish(60)
    got.wait(120)
    dt = time.perf_counter() - t0
    pub.disconnect(); pub.loop_stop(); sub.disconnect(); sub.loop_stop()
    if count[0] < total:
        raise RuntimeError(f"raw: subscriber got {count[0]} of {total} messages")
    return dt


def _proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process, from /proc (0.0 where there is none)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_run(work: Path, store_path: Path, files: list[Path], photos: int,
            db: str | None) -> dict:
    """Raw broker throughput, then the sync of every photo into a fresh central."""
    from ..device.worker import SyncOptions, SyncWorker

    work.mkdir(parents=True, exist_ok=True)
    broker = Broker(work / "broker", {DEVICE: DEVICE_PW, "central": CENTRAL_PW}).start()
    central = None
    central_stats: dict = {}
    try:
        raw_s = raw_throughput(broker.port, files)
        env = dict(os.environ, CLAIM_EDGE_CENTRAL_PASSWORD=CENTRAL_PW)
        central = subprocess.Popen(
            [sys.executable, "-m", "sync", "central", "--db",
             db or f"sqlite:///{work / 'central.db'}", "--blobs", str(work / "blobs"),
             "--broker", f"127.0.0.1:{broker.port}", "--client-id", "central-bench",
             "--log-level", "WARNING"],
            env=env, cwd=str(Path(__file__).resolve().parents[2]), stdout=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while "as central-bench" not in broker.log_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        worker = SyncWorker(store_path, BrokerSettings(port=broker.port, username=DEVICE,
                                                        password=DEVICE_PW),
                            SyncOptions(), device=DEVICE)
        broker_cpu0 = _proc_cpu_s(broker.proc.pid)
        t0, cpu0 = time.perf_counter(), time.thread_time()
        stats = worker.run(until_empty=True, max_seconds=600)
        sync_s = time.perf_counter() - t0
        worker_cpu = time.thread_time() - cpu0
        broker_cpu = _proc_cpu_s(broker.proc.pid) - broker_cpu0
        worker.store.close()
        acked = stats.get("ack_committed", 0) + stats.get("ack_duplicate", 0)
        if acked != photos:
            raise RuntimeError(f"only {acked} of {photos} records acked: {stats}")
    finally:
        if central is not None:
            central.terminate()
            out, _ = central.communicate(timeout=20)
            for line in out.decode().splitlines():
                if line.startswith("{"):
                    central_stats = json.loads(line).get("central", {})
        broker.stop()
    return {"sync_s": sync_s, "raw_s": raw_s, "ratio": raw_s / sync_s,
            "central_batches": central_stats.get("batches"),
            # CPU seconds during the sync (central's include its start-up and idle wait)
            "cpu_s": {"worker": round(worker_cpu, 2), "broker": round(broker_cpu, 2),
                      "central": central_stats.get("cpu_s")}}


def _reset_outbox(store_path: Path) -> None:
    from edge.store import Store
    from edge.store.schema import Outbox
    store = Store.open(store_path)
    try:
        Outbox.update(state="pending", attempts=0, acked_at=None, ack_status=None).execute()
    finally:
        store.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="claim-edge bench sync",
                                description="Sync throughput beside raw broker throughput for the "
                                            "same bytes, through a local mosquitto.")
    p.add_argument("--photos", type=int, default=100)
    p.add_argument("--size-mb", type=float, default=4.0)
    p.add_argument("--runs", type=int, default=3,
                   help="each run measures raw and sync afresh; medians are reported")
    p.add_argument("--db", help="central database URL (default: SQLite in the temp folder; a "
                                "PostgreSQL URL needs a fresh ?schema= per run, so use --runs 1)")
    p.add_argument("--workdir", help="keep everything here (default: a temp folder, removed)")
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    from edge.store import Store
    from .devicedata import add_photos

    tmp = tempfile.TemporaryDirectory(prefix="bench-sync-") if not a.workdir else None
    work = Path(a.workdir or tmp.name)
    work.mkdir(parents=True, exist_ok=True)
    store_path = work / "device" / "store.db"
    store = Store.open(store_path)
    t = time.perf_counter()
    add_photos(store, DEVICE, a.photos, size=int(a.size_mb * 1e6), claim="BENCH-1", seed=7)
    files = [store.image_path(sha) for (sha,) in store.db.execute_sql("SELECT sha256 FROM image")]
    store.close()
    nbytes = sum(f.stat().st_size for f in files)
    mb = nbytes / 1e6
    print(f"generated {a.photos} photos, {mb:.1f} MB in {time.perf_counter() - t:.1f} s",
          file=sys.stderr)
    runs = []
    for i in range(max(1, a.runs)):
        if i:
            _reset_outbox(store_path)
        r = one_run(work / f"run{i + 1}", store_path, files, a.photos, a.db)
        runs.append(r)
        cpu = r["cpu_s"]
        print(f"run {i + 1}: sync {r['sync_s']:.2f} s ({mb / r['sync_s']:.1f} MB/s), raw "
              f"{r['raw_s']:.2f} s ({mb / r['raw_s']:.1f} MB/s), ratio {r['ratio']:.2f}; CPU s: "
              f"worker {cpu['worker']}, broker {cpu['broker']}, central {cpu['central']} "
              f"({r['central_batches']} transactions)",
              file=sys.stderr)
    sync_s = statistics.median(r["sync_s"] for r in runs)
    raw_s = statistics.median(r["raw_s"] for r in runs)
    ratio = statistics.median(r["ratio"] for r in runs)
    out = {"photos": a.photos, "mb": round(mb, 1), "runs": len(runs),
           "sync_s": round(sync_s, 3), "sync_photos_per_s": round(a.photos / sync_s, 1),
           "sync_mb_per_s": round(mb / sync_s, 1),
           "raw_s": round(raw_s, 3), "raw_mb_per_s": round(mb / raw_s, 1),
           "ratio": round(ratio, 3), "ratios": [round(r["ratio"], 3) for r in runs],
           "central_db": "postgresql" if a.db and a.db.startswith("postgres") else "sqlite",
           "cpu_s": [r["cpu_s"] for r in runs]}
    if a.json:
        print(json.dumps(out))
    else:
        print(f"sync (median of {len(runs)}): {a.photos} photos, {mb:.1f} MB in {sync_s:.2f} s = "
              f"{out['sync_photos_per_s']} photos/s, {out['sync_mb_per_s']} MB/s "
              f"(central on {out['central_db']})")
        print(f"raw broker (same bytes, 256 KiB QoS 1, median): {raw_s:.2f} s = "
              f"{out['raw_mb_per_s']} MB/s")
        print(f"ratio sync/raw (median of per-run ratios): {ratio:.2f} (budget >= 0.50)")
    if tmp is not None:
        tmp.cleanup()
    return 0
