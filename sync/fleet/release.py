"""A release: a model bundle packed as a deterministic tar, cut in chunks, described by a signed
manifest. ``version`` is the channel's monotonic release number (a rollback is a new release
carrying an older bundle); the bundle's own version is in ``model``."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import tarfile
from dataclasses import dataclass
from pathlib import Path

from edge.bundle import load_bundle

from ..schemas import SchemaError, validate_manifest

FORMAT = 1
CHUNK_SIZE = 256 * 1024
RUNTIMES = ["ai-edge-litert", "tflite-runtime"]


class ReleaseError(Exception):
    pass


def t_manifest(channel: str) -> str:
    return f"fleet/models/{channel}/manifest"


def t_chunk(channel: str, sha256: str, index: int | str) -> str:
    return f"fleet/models/{channel}/chunk/{sha256}/{index}"


def t_report(device: str) -> str:
    return f"fleet/{device}/model"


def pack(bundle_dir: Path) -> bytes:
    """The bundle folder as a tar with fixed owners and times, so equal bundles pack equal."""
    load_bundle(bundle_dir)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(p for p in Path(bundle_dir).rglob("*") if p.is_file()):
            rel = path.relative_to(bundle_dir).as_posix()
            if rel.startswith(".") or "/." in rel or "__pycache__" in rel:
                continue
            info = tarfile.TarInfo(rel)
            data = path.read_bytes()
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def unpack(data: bytes, dest: Path) -> None:
    dest.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        tar.extractall(dest, filter="data")  # refuses absolute paths, '..', links out


def chunks(data: bytes) -> list[bytes]:
    return [data[i:i + CHUNK_SIZE] for i in range(0, len(data), CHUNK_SIZE)] or [b""]


def build_manifest(bundle_dir: Path, data: bytes, *, channel: str, version: int, percent: int,
                   expires_days: float, min_app_version: str) -> dict:
    b = load_bundle(bundle_dir)
    now = dt.datetime.now(dt.timezone.utc)
    return {
        "format": FORMAT, "channel": channel, "version": version,
        "model": {"name": b.name, "version": b.version, "sha256": b.sha256},
        "bundle_sha256": hashlib.sha256(data).hexdigest(), "size": len(data),
        "chunk_size": CHUNK_SIZE, "chunks": [hashlib.sha256(c).hexdigest() for c in chunks(data)],
        "created_at": now.isoformat(timespec="seconds"),
        "expires_at": (now + dt.timedelta(days=expires_days)).isoformat(timespec="seconds"),
        "min_app_version": min_app_version, "runtimes": RUNTIMES, "percent": percent,
    }


@dataclass(frozen=True)
class Release:
    """A verified manifest, as the device sees it."""
    doc: dict

    @property
    def version(self) -> int:
        return int(self.doc["version"])

    @property
    def model_name(self) -> str:
        return self.doc["model"]["name"]

    @property
    def release_id(self) -> str:
        return f"r{self.version:05d}-{self.doc['model']['sha256'][:12]}"

    @property
    def sha256(self) -> str:
        return self.doc["bundle_sha256"]

    @property
    def chunk_hashes(self) -> list[str]:
        return list(self.doc["chunks"])

    def expired(self, now: dt.datetime | None = None) -> bool:
        now = now or dt.datetime.now(dt.timezone.utc)
        return dt.datetime.fromisoformat(self.doc["expires_at"]) <= now


def version_tuple(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in v.split(".") if x.isdigit())


def check_shape(doc: object) -> dict:
    """Refuse a manifest that is not the shape this device understands (before trusting it):
    the schema is ``sync.schemas.Manifest``, with a bound on every size and count."""
    try:
        m = validate_manifest(doc)
    except SchemaError as e:
        raise ReleaseError(str(e)) from None
    if m.format != FORMAT:
        raise ReleaseError(f"manifest format {m.format} not supported")
    if len(m.chunks) != -(-m.size // m.chunk_size) and not (m.size == 0 and len(m.chunks) == 1):
        raise ReleaseError(f"manifest lists {len(m.chunks)} chunks for a {m.size}-byte bundle")
    return doc
