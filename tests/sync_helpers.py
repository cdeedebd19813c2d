"""Helpers for the sync fault tests: real mosquitto, real PostgreSQL/SQLite, real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid as uuidlib
from pathlib import Path

from sync.central import db as cdb
from sync.harness.broker import Broker, kill_process  # noqa: F401  (re-exported for the tests)

ROOT = Path(__file__).resolve().parent.parent
PG_BASE = os.environ.get("SYNC_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
PASSWORDS = {"dev-a": "pw-dev-a", "dev-b": "pw-dev-b", "central": "pw-central"}


def make_device(tmp_path: Path, n: int, size: int = 300_000, seed: int = 0,
                claim: str = "CLM-1", device: str = "dev-a") -> tuple[Path, list[str]]:
    """A device store under ``tmp_path/device`` with ``n`` generated photos: (path, uuids)."""
    from edge.store import Store
    from sync.harness.devicedata import add_photos
    path = tmp_path / device / "store.db"
    s = Store.open(path)
    try:
        return path, add_photos(s, device, n, size=size, seed=seed, claim=claim)
    finally:
        s.close()


def pg_available() -> bool:
    try:
        d = cdb.make_database(PG_BASE + "?connect_timeout=3")
        d.connect()
        d.close()
        return True
    except Exception:  # noqa: BLE001
        return False


def new_pg_url() -> tuple[str, str]:
    schema = f"synctest_{os.getpid()}_{uuidlib.uuid4().hex[:8]}"
    return f"{PG_BASE}?schema={schema}", schema


def drop_pg_schema(schema: str) -> None:
    d = cdb.make_database(PG_BASE)
    d.connect()
    d.execute_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    d.close()


def env_with_passwords() -> dict:
    env = dict(os.environ)
    env["SYNC_TEST_PW_DEV_A"] = PASSWORDS["dev-a"]
    env["SYNC_TEST_PW_DEV_B"] = PASSWORDS["dev-b"]
    env["CLAIM_EDGE_CENTRAL_PASSWORD"] = PASSWORDS["central"]
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


class CentralProc:
    def __init__(self, db_url: str, port: int, blobs: Path, client_id: str = "central-t1",
                 group: str = "central", extra: list[str] | None = None):
        self.db_url, self.port, self.blobs = db_url, port, blobs
        self.client_id, self.group = client_id, group
        self.extra = list(extra or [])
        self.proc: subprocess.Popen | None = None
        self.log = blobs.parent / f"{client_id}.log"
        self.runs: list[dict] = []

    def start(self, wait: bool = True) -> "CentralProc":
        self._n0 = self._subscribed_count()
        self._logf = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sync", "central", "--db", self.db_url, "--blobs",
             str(self.blobs), "--broker", f"127.0.0.1:{self.port}", "--client-id",
             self.client_id, "--group", self.group, "--keepalive", "5", *self.extra],
            env=env_with_passwords(), cwd=str(ROOT), stdout=subprocess.PIPE, stderr=self._logf)
        if wait:
            self.wait_connected()
        return self

    def _subscribed_count(self) -> int:
        try:
            return self.log.read_text(errors="replace").count("subscribed to ")
        except FileNotFoundError:
            return 0

    def wait_connected(self, timeout: float = 30) -> None:
        wait_for(lambda: self._subscribed_count() > self._n0 or
                 (self.proc.poll() is not None and _raise(self.log)),
                 timeout, what=f"central {self.client_id} to subscribe")

    def kill(self) -> None:
        kill_process(self.proc, signal.SIGKILL)
        self._logf.close()

    def stop(self) -> dict:
        if self.proc is None:
            return {}
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=30)
        self._logf.close()
        self.proc = None
        stats = {}
        for line in out.decode().splitlines():
            if line.startswith("{"):
                stats = json.loads(line).get("central", {})
        self.runs.append(stats)
        return stats


def _raise(log: Path):
    raise AssertionError("central exited:\n" + log.read_text(errors="replace")[-3000:])


def worker_cmd(store: Path, port: int, device: str = "dev-a", until_empty: bool = True,
               timeout: float = 120, extra: list[str] | None = None) -> list[str]:
    cmd = [sys.executable, "-m", "sync", "sync", "--store", str(store), "--host", "127.0.0.1",
           "--port", str(port), "--username", device,
           "--password-env", f"SYNC_TEST_PW_{device.upper().replace('-', '_')}",
           "--keepalive", "2", "--ack-timeout", "3", "--timeout", str(timeout),
           "--log-level", "INFO"]
    if until_empty:
        cmd.append("--until-empty")
    return cmd + (extra or [])


def start_worker(store: Path, port: int, log: Path, **kw) -> subprocess.Popen:
    logf = open(log, "ab")
    p = subprocess.Popen(worker_cmd(store, port, **kw), env=env_with_passwords(), cwd=str(ROOT),
                         stdout=subprocess.PIPE, stderr=logf)
    logf.close()
    return p


def finish_worker(p: subprocess.Popen, timeout: float = 180) -> dict:
    out, _ = p.communicate(timeout=timeout)
    assert p.returncode == 0, f"worker exited {p.returncode}: {out[-2000:]!r}"
    for line in out.decode().splitlines():
        if line.startswith("{"):
            return json.loads(line)["sync"]
    raise AssertionError(f"no stats from the worker: {out!r}")


def run_worker(store: Path, port: int, log: Path, timeout: float = 180, **kw) -> dict:
    return finish_worker(start_worker(store, port, log, timeout=timeout, **kw), timeout + 30)


def central_counts(db_url: str) -> dict:
    d = cdb.open_database(db_url, create=False)
    try:
        return {m._meta.table_name: m.select().count() for m in cdb.TABLES}
    finally:
        d.close()


def wait_for(cond, timeout: float = 60, interval: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(interval)
    raise TimeoutError(f"timed out waiting for {what}")


from sync.harness.invariant import assert_invariant, device_snapshot  # noqa: E402,F401
