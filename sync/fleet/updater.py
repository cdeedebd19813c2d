"""The device's side of fleet updates.

manifest (retained) -> shape, signature against the pinned keys, channel, version newer than the
last one handled, not expired, runtime and app version compatible, device inside the rollout
percentage -> chunks downloaded into staging (each checked against the signed chunk hashes;
only the missing ones are asked for, so a cut download resumes) -> whole-bundle hash -> unpack ->
install every bundle it carries -> activate them together (one atomic switch) -> the health check
of each bundle's kind on its own canaries (edge/health) -> kept, or all of them rolled back
together. Every outcome is reported, retained, on ``fleet/{device}/model``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import queue
import shutil
import signal
import tempfile
import threading
from pathlib import Path

from edge import __version__, health
from edge.modelref import read_ref
from edge.config import Profile
from edge.inference import InterpreterError, available_runtime
from edge.registry import ModelRegistry

from ..settings import BrokerSettings
from . import release as rel
from .mqtt import connect, publish
from .signing import SignatureError, verify

log = logging.getLogger(__name__)


def rollout_bucket(device_id: str) -> int:
    """0..99, stable for a device: devices below the release's percentage take it."""
    return int(hashlib.sha256(device_id.encode()).hexdigest()[:8], 16) % 100


def _crashpoint(name: str) -> None:
    """Fault injection for the crash tests: SIGKILL this process at a named point."""
    if os.environ.get("CLAIM_EDGE_CRASHPOINT") == name:
        os.kill(os.getpid(), signal.SIGKILL)


class Updater:
    def __init__(self, profile: Profile, broker: BrokerSettings,
                 registry: ModelRegistry | None = None):
        self.profile = profile
        self.device = broker.username or profile.device.id
        self.channel = profile.fleet.channel
        self.broker = broker
        self.registry = registry or ModelRegistry(
            profile.fleet.resolved_models_dir(profile.store))
        self.staging = self.registry.root / ".staging"
        self._state_file = self.registry.root / f"fleet-{self.channel}.json"
        self._lock = threading.RLock()
        self._pending: rel.Release | None = None
        self.client = None
        self.chunks_received = 0
        self.chunks_stored = 0
        self.outcomes: list[dict] = []
        self.done = threading.Event()
        self._inbox: queue.Queue = queue.Queue()
        self._worker: threading.Thread | None = None

    # --- state ---------------------------------------------------------------------------------
    def handled_version(self) -> int:
        try:
            return int(json.loads(self._state_file.read_text())["version"])
        except (FileNotFoundError, ValueError, KeyError):
            return 0

    def _mark_handled(self, version: int) -> None:
        self._state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"version": version}))
        os.replace(tmp, self._state_file)

    # --- reporting -----------------------------------------------------------------------------
    def _report(self, status: str, reason: str, release: rel.Release | None = None) -> None:
        names = [m["name"] for m in release.models] if release else \
            [self.profile.runtime.classifier]
        actives = {n: self.registry.state(n).get("active") for n in names}
        doc = {"device": self.device, "channel": self.channel, "status": status, "reason": reason,
               "chunks_received": self.chunks_received,
               "release": release.version if release else None,
               "model": release.doc["model"] if release else None,
               "models": release.models if release else None,
               "active": actives[names[0]], "actives": actives,
               "app_version": __version__,
               "at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
        self.outcomes.append(doc)
        log.info("fleet: %s %s", status, reason)
        if self.client is not None:
            try:
                publish(self.client, rel.t_report(self.device), json.dumps(doc), retain=True,
                        timeout=10)
            except Exception as e:  # noqa: BLE001 - a lost report must not stop the update
                log.warning("fleet report not sent: %s", e)

    # --- manifest ------------------------------------------------------------------------------
    def evaluate(self, payload: bytes) -> rel.Release | None:
        """Decide on a manifest; returns the release to download, or None (reported why)."""
        try:
            doc = rel.check_shape(json.loads(payload))
            verify(doc, self.profile.fleet.public_keys)
        except (ValueError, UnicodeDecodeError, rel.ReleaseError, SignatureError) as e:
            self._report("rejected", f"manifest refused: {e}")
            return None
        r = rel.Release(doc)
        if doc["channel"] != self.channel:
            self._report("rejected", f"manifest is for channel {doc['channel']}", r)
            return None
        if r.version <= self.handled_version():
            return None  # already handled (retained manifest seen again): nothing to say
        reason = None
        runtime = None
        try:
            runtime, _ = available_runtime()
        except InterpreterError:
            pass
        if r.expired():
            reason = f"manifest expired at {doc['expires_at']}"
        elif runtime not in doc["runtimes"]:
            reason = f"runtime {runtime} not in {doc['runtimes']}"
        elif rel.version_tuple(doc["min_app_version"]) > rel.version_tuple(__version__):
            reason = f"needs app {doc['min_app_version']}, this is {__version__}"
        if reason:
            self._mark_handled(r.version)
            self._report("rejected", reason, r)
            return None
        if rollout_bucket(self.device) >= doc["percent"]:
            self._report("skipped", f"outside the {doc['percent']}% rollout "
                                    f"(bucket {rollout_bucket(self.device)})", r)
            return None
        return r

    # --- download ------------------------------------------------------------------------------
    def _stage_dir(self, r: rel.Release) -> Path:
        return self.staging / r.sha256

    def missing(self, r: rel.Release) -> list[int]:
        d = self._stage_dir(r)
        return [i for i in range(len(r.chunk_hashes)) if not (d / str(i)).is_file()]

    def _want(self, r: rel.Release) -> None:
        with self._lock:
            self._pending = r
            todo = self.missing(r)
        if not todo:
            self._finish(r)
            return
        for i in todo:  # only the missing chunks: a cut download resumes where it stopped
            self.client.subscribe(rel.t_chunk(self.channel, r.sha256, i), qos=1)

    def on_chunk(self, sha: str, index: int, data: bytes) -> None:
        with self._lock:
            r = self._pending
            if r is None or sha != r.sha256 or not 0 <= index < len(r.chunk_hashes):
                return
            self.chunks_received += 1
            if hashlib.sha256(data).hexdigest() != r.chunk_hashes[index]:
                log.warning("fleet: chunk %d of %s fails its hash (%d bytes); waiting for a good "
                            "copy", index, sha[:12], len(data))
                return
            d = self._stage_dir(r)
            d.mkdir(parents=True, exist_ok=True)
            tmp = d / f".{index}.tmp"
            tmp.write_bytes(data)
            os.replace(tmp, d / str(index))
            self.chunks_stored += 1
            _crashpoint(f"after_chunk_{self.chunks_stored}")
            if self.client is not None:
                self.client.unsubscribe(rel.t_chunk(self.channel, sha, index))
            complete = not self.missing(r)
        if complete:
            self._finish(r)

    def _finish(self, r: rel.Release) -> None:
        with self._lock:
            if self._pending is not r:
                return
            self._pending = None
        d = self._stage_dir(r)
        data = b"".join((d / str(i)).read_bytes() for i in range(len(r.chunk_hashes)))
        if hashlib.sha256(data).hexdigest() != r.sha256 or len(data) != r.doc["size"]:
            shutil.rmtree(d, ignore_errors=True)
            self._report("failed", "downloaded bundle does not match the signed hash", r)
            self.done.set()
            return
        self.install_and_activate(r, data)
        shutil.rmtree(d, ignore_errors=True)
        self.done.set()

    def install_and_activate(self, r: rel.Release, data: bytes) -> None:
        models = r.models
        tmp = Path(tempfile.mkdtemp(prefix=".unpack-", dir=self.registry.root))
        try:
            if not all((self.registry.root / m["name"] / r.release_id(m)).is_dir()
                       for m in models):
                rel.unpack(data, tmp / "b")
            _crashpoint("before_install")
            for m in models:
                src = r.bundle_dir(tmp / "b", m)
                dest = self.registry.install(m["name"], r.release_id(m), src)
                if read_ref(dest).sha256 != m["sha256"]:
                    raise rel.ReleaseError(f"{m['name']}: bundle is not the one the manifest "
                                           "signed")
        except Exception as e:  # noqa: BLE001 - reported, nothing half-installed is active
            self._mark_handled(r.version)
            self._report("failed", f"bundle does not install: {e}", r)
            return
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        _crashpoint("before_activate")
        ids = {m["name"]: r.release_id(m) for m in models}
        self.registry.activate_set(ids, reason=f"fleet release {r.version}")
        _crashpoint("after_activate")
        checked = []
        for m in models:
            h = health.check_bundle(self.registry.root / m["name"] / ids[m["name"]],
                                    self.profile.runtime.threads,
                                    self.profile.fleet.max_classify_ms)
            label = f"{m.get('kind', 'model')} {m['name']} {m.get('version', '')}".strip()
            if not h.ok:
                self._mark_handled(r.version)
                back = self.registry.rollback_group(m["name"],
                                                    reason=f"health check failed: {h.reason}")
                now = ", ".join(f"{n} {v or 'shipped'}" for n, v in back.items())
                self._report("rolled_back", f"health check of {label} failed: {h.reason}; back "
                                            f"to {now or 'the shipped bundle'}", r)
                return
            checked.append(f"{label}: {h.reason}")
        self._mark_handled(r.version)
        self.registry.mark_healthy(list(ids))
        self._report("active", "health check passed: " + "; ".join(checked), r)

    # --- MQTT ----------------------------------------------------------------------------------
    def _on_message(self, client, userdata, msg) -> None:
        # Handled on our own thread: reports wait for their PUBACK, which the network thread
        # that runs this callback has to deliver.
        self._inbox.put((msg.topic, msg.payload))

    def _handle(self, topic: str, payload: bytes) -> None:
        parts = topic.split("/")
        try:
            if topic == rel.t_manifest(self.channel):
                if payload:
                    r = self.evaluate(payload)
                    if r is not None:
                        self._want(r)
            elif len(parts) == 6 and parts[3] == "chunk":
                self.on_chunk(parts[4], int(parts[5]), payload)
        except Exception:  # noqa: BLE001 - one bad message must not kill the updater
            log.exception("fleet: message on %s not handled", topic)

    def _work(self) -> None:
        while (item := self._inbox.get()) is not None:
            self._handle(*item)

    def _on_connect(self, client) -> None:
        client.subscribe(rel.t_manifest(self.channel), qos=1)
        with self._lock:
            r = self._pending
        if r is not None:
            for i in self.missing(r):
                client.subscribe(rel.t_chunk(self.channel, r.sha256, i), qos=1)

    def start(self) -> None:
        self._worker = threading.Thread(target=self._work, name="fleet-updater", daemon=True)
        self._worker.start()
        self.client = connect(self.broker, f"{self.device}-fleet", on_message=self._on_message,
                              on_connect=self._on_connect)

    @property
    def alive(self) -> bool:
        """The message worker is running (what the service watchdog checks)."""
        return self._worker is not None and self._worker.is_alive()

    def stop(self) -> None:
        self._inbox.put(None)
        if self._worker is not None:
            self._worker.join(timeout=30)
        if self.client is not None:
            self.client.disconnect()
            self.client.loop_stop()
            self.client = None
