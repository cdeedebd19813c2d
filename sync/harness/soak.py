"""Sync soak: capture, sync and ingest run for a while under random faults, then the invariant is
checked and a report printed.

    python -m sync soak --minutes 10 [--db postgresql://postgres@127.0.0.1:5432/test?schema=soak]

Faults, drawn at random every 1-4 s: device SIGKILL, capture SIGKILL (mid-capture), central
SIGKILL, link cut, link half-open longer than keepalive, broker restart (SIGTERM or SIGKILL).
Meanwhile malformed records (``sync/harness/malformed.py``: missing fields, wrong types, a bad uuid,
protocol 99, a 1.9 MB value, a 10^15-byte image, not JSON) are published as the same device
between its valid ones.
At the end the capture stops, the faults stop, the device drains with ``--until-empty``, and
the invariant is checked: central has exactly the device's records, byte-identical images,
the outbox fully acked, no duplicate rows; and every malformed record is dead-lettered in
``rejected_message`` (one a broker SIGKILL lost before central got it is sent again, as a
device would).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .broker import Broker, TcpProxy, kill_process
from .malformed import malformed_message

ROOT = Path(__file__).resolve().parents[2]
PW = {"dev-a": "soak-dev-a", "central": "soak-central"}
# Store.add_photo's deferred transaction is refused at once ("database is locked") when the sync
# worker commits in between (SQLite WAL, BUSY_SNAPSHOT); the capture loop retries that photo.
CAPTURE = """
import sys, time, random, peewee
from edge.store import Store
from sync.harness.devicedata import add_photos
s = Store.open(sys.argv[1]); seed = int(sys.argv[2]); rng = random.Random(seed); i = 0
while True:
    try:
        add_photos(s, "dev-a", 1, size=rng.choice([20_000, 300_000, 1_500_000]), seed=seed + i,
                   claim=f"SOAK-{(seed + i) // 50}")
        i += 1
    except peewee.OperationalError as e:
        print("capture retry:", e, file=sys.stderr, flush=True)
    time.sleep(rng.uniform(0.05, 0.4))
"""


def _env() -> dict:
    env = dict(os.environ, SOAK_PW=PW["dev-a"], CLAIM_EDGE_CENTRAL_PASSWORD=PW["central"])
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sync soak")
    p.add_argument("--minutes", type=float, default=10)
    p.add_argument("--db", help="central DB URL (default SQLite in the work folder)")
    p.add_argument("--seed", type=int, default=int(time.time()))
    p.add_argument("--workdir")
    a = p.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))   # clean up the children
    rng = random.Random(a.seed)
    work = Path(a.workdir or tempfile.mkdtemp(prefix="sync-soak-"))
    work.mkdir(parents=True, exist_ok=True)
    store = work / "device" / "store.db"
    db = a.db or f"sqlite:///{work / 'central.db'}"
    blobs = work / "blobs"
    env = _env()
    broker = Broker(work / "broker", PW).start()
    proxy = TcpProxy(broker.port)
    ev = collections.Counter()
    counted: dict = {}
    logs = {n: open(work / f"{n}.log", "ab") for n in ("worker", "central", "capture")}

    def start_central():
        return subprocess.Popen(
            [sys.executable, "-m", "sync", "central", "--db", db, "--blobs", str(blobs),
             "--broker", f"127.0.0.1:{broker.port}", "--client-id", "central-soak",
             "--keepalive", "5"], env=env, cwd=str(ROOT), stdout=subprocess.DEVNULL,
            stderr=logs["central"])

    def worker_cmd(until_empty=False):
        cmd = [sys.executable, "-m", "sync", "sync", "--store", str(store), "--host", "127.0.0.1",
               "--port", str(proxy.port), "--username", "dev-a", "--password-env", "SOAK_PW",
               "--keepalive", "2", "--ack-timeout", "3"]
        return cmd + (["--until-empty", "--timeout", "600"] if until_empty else [])

    def start_worker():
        return subprocess.Popen(worker_cmd(), env=env, cwd=str(ROOT), stdout=subprocess.DEVNULL,
                                stderr=logs["worker"])

    def start_capture():
        return subprocess.Popen([sys.executable, "-c", CAPTURE, str(store),
                                 str(rng.randrange(10**6) * 1000)], env=env, cwd=str(ROOT),
                                stderr=logs["capture"])

    # create the store (and its tables) before the processes race to
    from edge.store import Store
    Store.open(store).close()
    central, worker, capture = start_central(), start_worker(), start_capture()
    bad = Injector(broker.port, "dev-a", PW["dev-a"])
    t0 = time.monotonic()
    end = t0 + a.minutes * 60
    try:
        while time.monotonic() < end:
            time.sleep(rng.uniform(1, 4))
            if central.poll() is not None:
                ev["central_exited_unexpectedly"] += 1
                central = start_central()
            if worker.poll() is not None:
                ev["worker_exited_unexpectedly"] += 1
                worker = start_worker()
            if capture.poll() is not None:
                ev["capture_exited_unexpectedly"] += 1
                capture = start_capture()
            if rng.random() < 0.5:
                bad.inject(rng)
            r = rng.random()
            if r < 0.35:
                kill_process(worker, signal.SIGKILL)
                ev["device_sigkill"] += 1
                worker = start_worker()
            elif r < 0.45:
                kill_process(capture, signal.SIGKILL)
                ev["capture_sigkill"] += 1
                capture = start_capture()
            elif r < 0.60:
                kill_process(central, signal.SIGKILL)
                ev["central_sigkill"] += 1
                time.sleep(rng.uniform(0, 1))
                central = start_central()
            elif r < 0.78:
                proxy.cut()
                ev["link_cut"] += 1
            elif r < 0.88:
                proxy.stalled.set()
                time.sleep(rng.uniform(3.5, 6))      # keepalive 2 s: longer than 1.5 x
                proxy.stalled.clear()
                proxy.cut()
                ev["link_half_open"] += 1
            else:
                sig = rng.choice([signal.SIGTERM, signal.SIGKILL])
                broker.stop(sig)
                time.sleep(rng.uniform(0.2, 1.5))
                broker.start()
                ev["broker_restart_" + signal.Signals(sig).name.lower()] += 1
        kill_process(capture, signal.SIGTERM)
        kill_process(worker, signal.SIGTERM)
        t_drain = time.monotonic()
        out = subprocess.run(worker_cmd(until_empty=True), env=env, cwd=str(ROOT),
                             capture_output=True, text=True, timeout=700)
        drain_s = time.monotonic() - t_drain
        final = json.loads(out.stdout.strip().splitlines()[-1])["sync"] if out.stdout else {}
        time.sleep(0.5)
        from .invariant import assert_invariant
        result, detail = "PASS", ""
        try:
            inv = assert_invariant(store, db, blobs)
        except AssertionError as e:
            result, detail, inv = "FAIL", str(e), {}
        from .invariant import lost_and_doubled
        counted = lost_and_doubled(store, db)
        if central.poll() is not None:
            central = start_central()
        missing = bad.settle(db, timeout=90)
        if missing and result == "PASS":
            result, detail = "FAIL", f"{len(missing)} malformed records not dead-lettered"
    finally:
        bad.close()
        for proc in (capture, worker, central):
            kill_process(proc, signal.SIGTERM)
        proxy.close()
        broker.stop()
        for f in logs.values():
            f.close()
    retries = (work / "capture.log").read_text(errors="replace").count("capture retry:")
    report = {"seed": a.seed, "capture_retries_database_locked": retries, "minutes": a.minutes, "db": db.split("?")[0].split("://")[0],
              "records": inv.get("records"), "blobs": inv.get("blobs"), "faults": dict(ev),
              "lost": counted.get("lost"), "doubled": counted.get("doubled"),
              "device_kills": ev["device_sigkill"] + ev["capture_sigkill"],
              "final_drain_s": round(drain_s, 1), "final_drain": final, "result": result,
              "malformed": bad.report(),
              "detail": detail, "workdir": str(work)}
    print(json.dumps(report, indent=1, sort_keys=True))
    return 0 if result == "PASS" else 1


class Injector:
    """Publishes malformed records as ``device``, remembers each, and at the end checks that
    central dead-lettered every one (sending again any a broker crash lost)."""

    def __init__(self, port: int, device: str, password: str):
        import paho.mqtt.client as mqtt
        self.device = device
        self.sent: dict[str, tuple[str, bytes]] = {}     # payload sha256 -> (kind, payload)
        self.kinds: collections.Counter = collections.Counter()
        self.resent = 0
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{device}-injector",
                             protocol=mqtt.MQTTv5)
        self.c.username_pw_set(device, password)
        self.c.reconnect_delay_set(0.2, 2)
        self.c.connect_async("127.0.0.1", port)
        self.c.loop_start()

    def _publish(self, payload: bytes) -> None:
        from ..protocol import t_record
        try:
            self.c.publish(t_record(self.device), payload, qos=1).wait_for_publish(2)
        except (RuntimeError, ValueError):
            pass                           # broker down now: settle() sends it again

    def inject(self, rng: random.Random) -> None:
        import hashlib
        kind, payload = malformed_message(self.device, rng)
        self.sent[hashlib.sha256(payload).hexdigest()] = (kind, payload)
        self.kinds[kind] += 1
        self._publish(payload)

    def _dead_lettered(self, db: str) -> set[str]:
        from ..central import db as cdb
        d = cdb.open_database(db, create=False)
        try:
            return {h for (h,) in cdb.RejectedMessage.select(cdb.RejectedMessage.payload_sha256)
                    .where(cdb.RejectedMessage.device == self.device).tuples()}
        finally:
            d.close()

    def settle(self, db: str, timeout: float) -> set[str]:
        """Wait until every injected record is dead-lettered; the ones still missing."""
        deadline = time.monotonic() + timeout
        missing = set(self.sent) - self._dead_lettered(db)
        while missing and time.monotonic() < deadline:
            for h in missing:
                self._publish(self.sent[h][1])
                self.resent += 1
            time.sleep(3)
            missing = set(self.sent) - self._dead_lettered(db)
        self.missing = missing
        return missing

    def report(self) -> dict:
        return {"injected": len(self.sent), "dead_lettered": len(self.sent) -
                len(getattr(self, "missing", self.sent)), "sent_again": self.resent,
                "kinds": dict(self.kinds)}

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()
