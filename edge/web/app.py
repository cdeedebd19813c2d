"""What the operator screen does, apart from HTTP: capture jobs, corrections, status.

One writer: every store write (filing a photo, a correction, the checklist record) happens under
``write_lock``; photos are analysed one at a time by a single worker thread, so the page stays
responsive while a photo is processed and the device never runs two models at once.
"""

from __future__ import annotations

import collections
import datetime as dt
import itertools
import json
import logging
import os
import queue
import re
import socket
import threading
import time
import uuid as uuidlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import peewee as pw

from ..checklist import CheckItem, claim_checklist, record_checklist
from ..config import Profile
from ..corrections import CorrectionError, correct_field
from ..decode import DECODABLE, sniff
from ..errors import PhotoError
from ..result import PhotoResult
from ..store import Store, StoreWriteError
from ..store.files import write_blob
from ..store.schema import OUTBOX_ACTIVE, AuditLog, Claim, KeyField, Outbox, utcnow

log = logging.getLogger("claim_edge.web")

CLAIM_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MB = 1024 * 1024
JOBS_KEPT = 200           # progress entries remembered (per process, all claims)
VIEWS_KEPT = 32           # claims whose rendered store view is kept (see cached_view)
CHUNK = 1 << 20


class WebError(Exception):
    """A request the operator can fix; ``message`` is shown on the page."""

    def __init__(self, message: str, status: int = 400, code: str = "bad_request"):
        super().__init__(message)
        self.message, self.status, self.code = message, status, code


@dataclass
class Job:
    """One photo on its way into the claim: queued -> processing -> filed | already | failed."""
    id: str
    claim: str
    name: str
    state: str = "queued"
    code: str = ""
    message: str = ""
    photo_uuid: str | None = None
    summary: str = ""
    created: float = field(default_factory=time.time)
    path: str | None = None      # the file to analyse
    spool_key: str | None = None  # an upload kept in <store>/incoming/ until it is filed

    @property
    def done(self) -> bool:
        return self.state in ("filed", "already", "failed")


def safe_name(name: str) -> str:
    """The base name of an uploaded file, without path parts or control characters."""
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if c.isprintable()).strip()
    return name[:120] or "photo"


class WebApp:
    def __init__(self, profile: Profile, store: Store, pipeline, *,
                 max_upload_bytes: int | None = None,
                 broker_cache_s: float = 5.0, broker_timeout_s: float = 0.3):
        self.profile = profile
        self.store = store
        self.pipeline = pipeline
        self.max_upload_bytes = max_upload_bytes or profile.runtime.max_file_mb * MB
        self.write_lock = threading.RLock()
        self._jobs: collections.OrderedDict[str, Job] = collections.OrderedDict()
        self._jobs_lock = threading.Lock()
        self._queue: queue.Queue[Job | None] = queue.Queue()  # uploads wait on disk, not here
        self.incoming = store.root / "incoming"
        self._ids = itertools.count(1)
        self._worker: threading.Thread | None = None
        self._watcher: threading.Thread | None = None
        self._stop = threading.Event()
        self._broker = (0.0, False, "")  # (checked at monotonic, reachable, detail)
        self._broker_lock = threading.Lock()
        self.broker_cache_s, self.broker_timeout_s = broker_cache_s, broker_timeout_s
        self._views: collections.OrderedDict[str, tuple[Any, Any]] = collections.OrderedDict()
        self._views_lock = threading.Lock()

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        self._recover()
        self._worker = threading.Thread(target=self._work, name="claim-edge-analyse", daemon=True)
        self._worker.start()

    def stop(self) -> None:
        self._stop.set()
        self._queue.put(None)
        for t in (self._worker, self._watcher):
            if t is not None:
                t.join(timeout=10)

    # --- claims -------------------------------------------------------------------------------
    def create_claim(self, claim_id: str) -> str:
        claim_id = (claim_id or "").strip()
        if not CLAIM_ID_RE.fullmatch(claim_id):
            raise WebError("A claim id is 1 to 64 letters, digits, '.', '_' or '-', starting with "
                           "a letter or digit.", code="bad_claim_id")
        with self.write_lock:
            self.store.ensure_claim(claim_id, self.profile)
        return claim_id

    def checklist(self, claim_id: str) -> list[CheckItem]:
        return claim_checklist(claim_id, self.profile)

    def cached_view(self, claim_id: str, build: Callable[[], Any]) -> Any:
        """What the claim page shows from the store (checklist, photo grid), built once per
        store change. Every write that changes it (photo.ingest, field.correct, image.purge)
        adds a row to the append-only audit log in the same transaction, so the log's last id
        says whether a build is current. 200 simultaneous loads of a 100-photo claim then cost
        one build (60 ms), not 200 of them one after the other under the GIL."""
        version = AuditLog.select(pw.fn.MAX(AuditLog.id)).scalar()
        hit = self._views.get(claim_id)
        if hit is not None and hit[0] == version:
            return hit[1]
        with self._views_lock:  # the others wait for the one build instead of repeating it
            hit = self._views.get(claim_id)
            if hit is not None and hit[0] == version:
                return hit[1]
            value = build()     # may already see a later write: then the next call rebuilds
            self._views[claim_id] = (version, value)
            self._views.move_to_end(claim_id)
            while len(self._views) > VIEWS_KEPT:
                self._views.popitem(last=False)
        return value

    # --- capture ------------------------------------------------------------------------------
    def _new_job(self, claim: str, name: str, **kw) -> Job:
        job = Job(id=f"j{next(self._ids)}", claim=claim, name=name, **kw)
        with self._jobs_lock:
            self._jobs[job.id] = job
            while len(self._jobs) > JOBS_KEPT:
                self._jobs.popitem(last=False)
        return job

    def _fail(self, job: Job, code: str, message: str) -> Job:
        job.state, job.code, job.message = "failed", code, message
        return job

    def check_upload(self, size: int, head: bytes) -> None:
        """The checks made before an upload is queued: size, emptiness, image type, free disk."""
        if size == 0:
            raise PhotoError("empty_file", "the file is empty (0 bytes)")
        if size > self.max_upload_bytes:
            raise PhotoError("file_too_large", f"{size / MB:.1f} MB is over the upload limit "
                                               f"of {self.max_upload_bytes / MB:.1f} MB")
        fmt = sniff(head)
        if fmt is None:
            raise PhotoError("not_an_image", "the file is not an image (unknown leading bytes)")
        if fmt not in DECODABLE:
            raise PhotoError("unsupported_format", f"{fmt.upper()} images cannot be decoded on "
                                                   "this device; send JPEG or PNG")
        free = self.store.free_mb() - size / 1e6
        if free < self.profile.store.min_free_mb:
            raise PhotoError("store_write_failed", f"the device's disk is full ({free:.0f} MB "
                                                   f"free, {self.profile.store.min_free_mb} MB "
                                                   "kept in reserve)")

    def refuse(self, claim_id: str, filename: str, error: PhotoError) -> Job:
        """Record an upload refused before it was read (e.g. too large), for the job list."""
        return self._fail(self._new_job(claim_id, safe_name(filename)), error.code, error.message)

    def submit_upload(self, claim_id: str, filename: str, data: bytes) -> Job:
        """Queue an uploaded photo held in memory (a form post)."""
        return self.submit_stream(claim_id, filename, len(data),
                                  iter([data[i:i + CHUNK] for i in range(0, len(data), CHUNK)]))

    def submit_stream(self, claim_id: str, filename: str, size: int, chunks) -> Job:
        """Queue an uploaded photo of ``size`` bytes arriving as ``chunks``. It is checked, written
        to ``<store>/incoming/`` (fsynced: an accepted upload survives a restart) and analysed in
        turn. A bad one comes back as a failed job with the reason and the pipeline's code.
        Raises ConnectionError if the client stops sending before ``size`` bytes."""
        name = safe_name(filename)
        if Claim.get_or_none(Claim.id == claim_id) is None:
            raise WebError(f"No claim '{claim_id}' on this device.", 404, "no_claim")
        job = self._new_job(claim_id, name)
        try:
            return self._receive(job, size, iter(chunks))
        except ConnectionError:
            with self._jobs_lock:
                self._jobs.pop(job.id, None)
            raise

    def _receive(self, job: Job, size: int, it) -> Job:
        head = b""
        while len(head) < min(32, size):
            chunk = next(it, b"")
            if not chunk:
                raise ConnectionError(f"upload of {job.name} stopped after {len(head)} bytes")
            head += chunk
        try:
            self.check_upload(size, head)
        except PhotoError as e:
            return self._fail(job, e.code, e.message)
        key = uuidlib.uuid4().hex
        self.incoming.mkdir(parents=True, exist_ok=True)
        part = self.incoming / f"{key}.part"
        got = 0
        try:
            with open(part, "wb") as f:
                for chunk in itertools.chain([head], it):
                    got += len(chunk)
                    if got > size:
                        break
                    f.write(chunk)
                f.flush()
                os.fsync(f.fileno())
            if got != size:
                raise ConnectionError(f"upload of {job.name} stopped at {got} of {size} bytes")
            meta = json.dumps({"claim": job.claim, "name": job.name, "size": size})
            write_blob(self.incoming, f"{key}.json", meta.encode())
            os.replace(part, self.incoming / f"{key}.upload")
        except OSError as e:
            part.unlink(missing_ok=True)
            if isinstance(e, ConnectionError):
                raise
            return self._fail(job, "store_write_failed", f"cannot keep the upload: {e}")
        job.path, job.spool_key = str(self.incoming / f"{key}.upload"), key
        self._queue.put(job)
        return job

    def submit_path(self, claim_id: str, path: str) -> Job:
        job = self._new_job(claim_id, Path(path).name, path=path)
        self._queue.put(job)
        return job

    def _recover(self) -> None:
        """Queue the uploads a previous run accepted but did not file."""
        if not self.incoming.is_dir():
            return
        for part in self.incoming.glob("*.part"):
            part.unlink(missing_ok=True)
        for meta in sorted(self.incoming.glob("*.json"), key=lambda p: p.stat().st_mtime):
            upload = meta.with_suffix(".upload")
            try:
                m = json.loads(meta.read_text())
                claim, name = m["claim"], m["name"]
            except (OSError, ValueError, KeyError):
                claim = None
            if claim is None or not upload.is_file():
                meta.unlink(missing_ok=True)
                upload.unlink(missing_ok=True)
                continue
            job = self._new_job(claim, name, path=str(upload), spool_key=meta.stem)
            self._queue.put(job)
            log.info("re-queued upload %s for claim %s", name, claim)

    def _unspool(self, job: Job) -> None:
        if job.spool_key:
            for suffix in (".upload", ".json"):
                (self.incoming / f"{job.spool_key}{suffix}").unlink(missing_ok=True)

    def jobs(self, claim_id: str) -> list[Job]:
        with self._jobs_lock:
            return [j for j in reversed(self._jobs.values()) if j.claim == claim_id]

    def busy(self, claim_id: str) -> bool:
        return any(not j.done for j in self.jobs(claim_id))

    def _work(self) -> None:
        while not self._stop.is_set():
            job = self._queue.get()
            if job is None:
                return
            job.state = "processing"
            try:
                self._process(job)
            except Exception as e:  # noqa: BLE001 - one photo must not stop the screen
                log.exception("processing %s failed", job.name)
                self._fail(job, "internal_error", f"{type(e).__name__}: {e}")
            finally:
                try:
                    self._unspool(job)
                except OSError as e:
                    log.warning("cannot remove the spooled upload of %s: %s", job.name, e)
                try:
                    self.store.db.close()
                except pw.PeeweeException:
                    pass

    def _analyse(self, job: Job) -> tuple[PhotoResult, object]:
        if job.spool_key is None:
            return self.pipeline.analyze(job.path)
        # the store records "upload/NAME" as the photo's source, not the spool file
        limit = max(self.max_upload_bytes, self.profile.runtime.max_file_mb * MB)
        return self.pipeline.analyze(job.path, name=f"upload/{job.name}", max_bytes=limit)

    def _process(self, job: Job) -> None:
        result, decoded = self._analyse(job)
        if not result.ok or decoded is None:
            err = result.error or {"code": "internal_error", "message": "no result"}
            self._fail(job, err["code"], err["message"])
            return
        with self.write_lock:
            try:
                outcome = self.store.add_photo(job.claim, decoded, result, self.profile)
            except StoreWriteError as e:
                self._fail(job, "store_write_failed", str(e.strerror or e))
                return
            record_checklist(job.claim, claim_checklist(job.claim, self.profile))
        cat, ver = result.category, result.verification
        mark = "verified" if ver and ver.verified else "to review"
        job.summary = (f"{cat.label} {cat.score:.2f} ({mark})" if cat else "no label")
        if result.quality and not result.quality.ok:
            job.summary += "; retake? " + ", ".join(i.replace("_", " ")
                                                     for i in result.quality.issues)
        job.photo_uuid = outcome.photo_uuid
        job.state = "filed" if outcome.created else "already"

    # --- watched folder -----------------------------------------------------------------------
    def watch(self, folder: str | Path, claim_id: str, interval: float = 1.0) -> None:
        """Queue each new file that appears in ``folder`` (once its size has stopped changing)."""
        folder = Path(folder)
        with self.write_lock:
            self.store.ensure_claim(claim_id, self.profile)

        def loop() -> None:
            seen: dict[str, tuple[int, int]] = {}
            last: dict[str, tuple[int, int]] = {}
            while not self._stop.wait(interval):
                try:
                    entries = [e for e in os.scandir(folder)
                               if not e.name.startswith(".") and e.is_file(follow_symlinks=False)]
                except OSError as e:
                    log.warning("cannot read watched folder %s: %s", folder, e)
                    continue
                now: dict[str, tuple[int, int]] = {}
                for e in sorted(entries, key=lambda e: e.name):
                    st = e.stat(follow_symlinks=False)
                    key = (st.st_size, st.st_mtime_ns)
                    now[e.name] = key
                    if seen.get(e.name) != key and last.get(e.name) == key:
                        seen[e.name] = key
                        self.submit_path(claim_id, e.path)
                last = now

        self._watcher = threading.Thread(target=loop, name="claim-edge-watch", daemon=True)
        self._watcher.start()

    # --- corrections --------------------------------------------------------------------------
    def correct_field(self, photo_uuid: str, name: str, value: str) -> KeyField:
        """Store the operator's value (edge/corrections.py) and refresh the claim checklist."""
        with self.write_lock:
            try:
                kf = correct_field(self.store, photo_uuid, name, value)
            except CorrectionError as e:
                raise WebError(str(e), e.status, e.code) from None
            claim_id = kf.photo.claim_id
            record_checklist(claim_id, claim_checklist(claim_id, self.profile))
        return kf

    # --- status bar ---------------------------------------------------------------------------
    def broker_state(self) -> tuple[bool, str]:
        b = self.profile.broker
        with self._broker_lock:
            at, ok, detail = self._broker
            if time.monotonic() - at < self.broker_cache_s and at:
                return ok, detail
            try:
                with socket.create_connection((b.host, b.port), timeout=self.broker_timeout_s):
                    ok, detail = True, f"{b.host}:{b.port}"
            except OSError as e:
                ok, detail = False, f"{b.host}:{b.port} ({e.strerror or type(e).__name__})"
            self._broker = (time.monotonic(), ok, detail)
            return ok, detail

    def status(self) -> dict:
        pending = Outbox.select().where(Outbox.state.in_(OUTBOX_ACTIVE)).count()
        quarantined = Outbox.select().where(Outbox.state == "quarantined").count()
        oldest = Outbox.select(pw.fn.MIN(Outbox.created_at)).where(
            Outbox.state.in_(OUTBOX_ACTIVE)).scalar()
        if isinstance(oldest, str):
            oldest = dt.datetime.fromisoformat(oldest)
        age = (utcnow() - oldest).total_seconds() if oldest else None
        ok, detail = self.broker_state()
        bundle = self.pipeline.bundle
        return {"pending": pending, "oldest_pending_age_s": age, "quarantined": quarantined,
                "broker_reachable": ok, "broker": detail,
                "model": {"name": bundle.name, "version": bundle.version,
                          "provenance": bundle.provenance},
                "free_mb": round(self.store.free_mb()),
                "min_free_mb": self.profile.store.min_free_mb}


def jobs_json(jobs: list[Job]) -> list[dict]:
    return [{"id": j.id, "name": j.name, "state": j.state, "code": j.code, "message": j.message,
             "photo_uuid": j.photo_uuid, "summary": j.summary} for j in jobs]


__all__ = ["WebApp", "WebError", "Job", "jobs_json", "safe_name"]
