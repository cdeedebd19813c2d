"""The fleet operator's side: sign and publish releases, roll back, read device reports."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from pathlib import Path

from edge import __version__

from ..settings import BrokerSettings
from . import release as rel
from .mqtt import connect, publish
from .signing import KeyStore, sign


class Publisher:
    """State (keys, releases, packed bundles) lives in ``state_dir``."""

    def __init__(self, state_dir: str | Path, broker: BrokerSettings):
        self.dir = Path(state_dir).expanduser()
        self.keys = KeyStore(self.dir / "keys")
        self.broker = broker

    def _log_path(self, channel: str) -> Path:
        return self.dir / "releases" / f"{channel}.json"

    def releases(self, channel: str) -> list[dict]:
        try:
            return json.loads(self._log_path(channel).read_text())
        except FileNotFoundError:
            return []

    def _save(self, channel: str, log: list[dict]) -> None:
        self._log_path(channel).parent.mkdir(parents=True, exist_ok=True)
        self._log_path(channel).write_text(json.dumps(log, indent=1))

    def publish_bundle(self, bundle_dirs, channel: str, percent: int = 100,
                       expires_days: float = 30.0, min_app_version: str = __version__) -> dict:
        """Publish one bundle folder, or several (a list) that devices switch together."""
        return self._publish(rel.pack(bundle_dirs), bundle_dirs, channel, percent,
                             expires_days, min_app_version)

    def _publish(self, data: bytes, bundle_dir, channel: str, percent: int,
                 expires_days: float, min_app_version: str, manifest_base: dict | None = None) -> dict:
        if not 0 <= percent <= 100:
            raise rel.ReleaseError(f"--percent must be 0..100, got {percent}")
        version = max((r["version"] for r in self.releases(channel)), default=0) + 1
        if manifest_base is None:
            manifest_base = rel.build_manifest(bundle_dir, data, channel=channel, version=version,
                                               percent=percent, expires_days=expires_days,
                                               min_app_version=min_app_version)
        doc = sign(dict(manifest_base, version=version, channel=channel, percent=percent),
                   self.keys.private())
        sha = doc["bundle_sha256"]
        store = self.dir / "bundles" / f"{sha}.tar"
        store.parent.mkdir(parents=True, exist_ok=True)
        store.write_bytes(data)
        client = connect(self.broker, f"fleet-publisher-{version}-{time.time_ns()}")
        try:
            for i, chunk in enumerate(rel.chunks(data)):
                publish(client, rel.t_chunk(channel, sha, i), chunk, retain=True)
            publish(client, rel.t_manifest(channel), json.dumps(doc), retain=True)
            self._clear_old_chunks(client, channel, keep={sha, *self._recent_shas(channel, 1)})
        finally:
            client.disconnect()
            client.loop_stop()
        self._save(channel, self.releases(channel) + [
            {"version": version, "bundle_sha256": sha, "model": doc["model"], "percent": percent,
             "published_at": doc["created_at"], "manifest": doc}])
        return doc

    def _recent_shas(self, channel: str, n: int) -> set[str]:
        return {r["bundle_sha256"] for r in self.releases(channel)[-n:]}

    def _clear_old_chunks(self, client, channel: str, keep: set[str]) -> None:
        """Retained chunks of releases older than the previous one are removed from the broker."""
        log = self.releases(channel)
        for r in log:
            if r["bundle_sha256"] in keep or r.get("cleared"):
                continue
            for i in range(len(r["manifest"]["chunks"])):
                publish(client, rel.t_chunk(channel, r["bundle_sha256"], i), b"", retain=True)
            r["cleared"] = True
        self._save(channel, log)

    def rollback(self, channel: str, expires_days: float = 30.0) -> dict:
        """Publish the previous release's bundle again, as a new (higher) release number."""
        log = self.releases(channel)
        current = log[-1]["bundle_sha256"] if log else None
        older = [r for r in log if r["bundle_sha256"] != current]
        if not older:
            raise rel.ReleaseError(f"channel {channel}: no earlier release to roll back to")
        prev = older[-1]
        data = (self.dir / "bundles" / f"{prev['bundle_sha256']}.tar").read_bytes()
        if hashlib.sha256(data).hexdigest() != prev["bundle_sha256"]:
            raise rel.ReleaseError("stored bundle of the previous release is corrupt")
        base = dict(prev["manifest"])
        now = time.time()
        base["created_at"] = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(now))
        base["expires_at"] = time.strftime("%Y-%m-%dT%H:%M:%S+00:00",
                                           time.gmtime(now + expires_days * 86400))
        return self._publish(data, None, channel, 100, expires_days, base["min_app_version"],
                             manifest_base=base)

    def status(self, wait: float = 2.0) -> list[dict]:
        """Device reports (retained on fleet/{device}/model)."""
        reports: dict[str, dict] = {}
        lock = threading.Lock()

        def on_message(c, userdata, msg):
            try:
                doc = json.loads(msg.payload)
            except (ValueError, UnicodeDecodeError):
                return
            with lock:
                reports[msg.topic.split("/")[1]] = doc

        client = connect(self.broker, f"fleet-status-{time.time_ns()}", on_message=on_message,
                         on_connect=lambda c: c.subscribe("fleet/+/model", qos=1))
        time.sleep(wait)
        client.disconnect()
        client.loop_stop()
        return [reports[d] for d in sorted(reports)]
