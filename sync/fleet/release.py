"""A release: one or several model bundles (any kind: edge/modelref.py) packed as a deterministic
tar, cut in chunks, described by a signed manifest. ``version`` is the channel's monotonic
release number (a rollback is a new release carrying older bundles); the bundles' own identities
are in ``models`` (``model`` names the first, as format 1 did).

Format 2 (written now): the tar holds one folder per bundle, named by the bundle's name; the
bundles of one release are activated together and rolled back together (a detector and the
refiner trained on its boxes). Format 1 (one bundle at the tar's root) is still read."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from edge.bundle import BundleError
from edge.modelref import ModelRef, read_ref

from ..schemas import SchemaError, validate_manifest

FORMAT = 2
FORMATS = (1, 2)
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


def _dirs(bundle_dirs) -> list[Path]:
    return [Path(bundle_dirs)] if isinstance(bundle_dirs, (str, Path)) else \
        [Path(d) for d in bundle_dirs]


def bundles(bundle_dirs) -> list[ModelRef]:
    """The bundles of a release, checked: each loads, has canaries, and names are distinct."""
    refs = []
    for d in _dirs(bundle_dirs):
        try:
            ref = read_ref(d)
        except BundleError as e:
            raise ReleaseError(str(e)) from e
        if not ref.manifest.get("canary"):
            raise ReleaseError(f"{d}: bundle has no canary inputs, so no device could check it "
                               f"(python -m models.toolkit.canaries {d})")
        refs.append(ref)
    names = [r.name for r in refs]
    if len(set(names)) != len(names) or not refs:
        raise ReleaseError(f"a release carries each bundle name once, got {names}")
    return refs


def pack(bundle_dirs) -> bytes:
    """The bundle folders as a tar, one folder per bundle name, with fixed owners and times, so
    equal bundles pack equal."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for ref in bundles(bundle_dirs):
            for path in sorted(p for p in ref.path.rglob("*") if p.is_file()):
                rel = path.relative_to(ref.path).as_posix()
                if rel.startswith(".") or "/." in rel or "__pycache__" in rel:
                    continue
                info = tarfile.TarInfo(f"{ref.name}/{rel}")
                data = path.read_bytes()
                info.size, info.mode, info.mtime = len(data), 0o644, 0
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def unpack(data: bytes, dest: Path) -> None:
    """Extract a release's bundle: plain files with relative paths inside it, nothing else (pack
    writes only those). Checked here, then extracted with Python's 'data' filter where it has one;
    Debian bookworm's Python 3.11.2 (Raspberry Pi OS) has none, so there the files are written by
    hand under the same rules."""
    dest.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        members = tar.getmembers()
        for m in members:
            name = PurePosixPath(m.name)
            if not (m.isfile() or m.isdir()) or name.is_absolute() or ".." in name.parts:
                raise ReleaseError(f"bundle member {m.name!r} refused: only plain files with "
                                   "relative paths inside the bundle")
        if hasattr(tarfile, "data_filter"):
            try:
                tar.extractall(dest, filter="data")
            except tarfile.FilterError as e:
                raise ReleaseError(f"bundle member refused: {e}") from e
            return
        for m in members:
            if m.isfile():
                target = dest.joinpath(*PurePosixPath(m.name).parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                src = tar.extractfile(m)
                target.write_bytes(src.read() if src is not None else b"")


def chunks(data: bytes) -> list[bytes]:
    return [data[i:i + CHUNK_SIZE] for i in range(0, len(data), CHUNK_SIZE)] or [b""]


def build_manifest(bundle_dirs, data: bytes, *, channel: str, version: int, percent: int,
                   expires_days: float, min_app_version: str) -> dict:
    models = [r.identity for r in bundles(bundle_dirs)]
    now = dt.datetime.now(dt.timezone.utc)
    return {
        "format": FORMAT, "channel": channel, "version": version,
        "model": {k: models[0][k] for k in ("name", "version", "sha256")}, "models": models,
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
    def models(self) -> list[dict]:
        """The bundles it carries: kind, name, version, sha256 (format 1: just ``model``)."""
        return list(self.doc.get("models") or [self.doc["model"]])

    def release_id(self, model: dict | None = None) -> str:
        """The folder a bundle of this release is installed under, beside its other releases."""
        m = model or self.doc["model"]
        return f"r{self.version:05d}-{m['sha256'][:12]}"

    def bundle_dir(self, unpacked: Path, model: dict) -> Path:
        """Where ``model``'s files are in the unpacked tar."""
        return unpacked if self.doc["format"] == 1 else unpacked / model["name"]

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
    if m.format not in FORMATS:
        raise ReleaseError(f"manifest format {m.format} not supported")
    if m.format == 2 and not m.models:
        raise ReleaseError("a format 2 manifest lists its bundles in 'models'")
    if len(m.chunks) != -(-m.size // m.chunk_size) and not (m.size == 0 and len(m.chunks) == 1):
        raise ReleaseError(f"manifest lists {len(m.chunks)} chunks for a {m.size}-byte bundle")
    return doc
