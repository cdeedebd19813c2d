"""Installed model bundles on the device, of every kind, and which release of each is active.

Layout under the registry root (by default ``models/`` beside the store)::

    <root>/<name>/<release>/     complete bundle folders (any kind: edge/modelref.py), never
                                 modified once in place
    <root>/registry.json         {"format": 2, "models": {<name>: {"kind", "active",
                                  "previous", "pending_starts", "group"}}, "history": [...]}

One state file for every model, so that a release carrying several bundles that must change
together (a detector and the refiner trained on its boxes) switches them in one atomic rename
(temp file, fsync, rename, fsync dir): a process killed at any point leaves either every old
bundle or every new one active. ``group`` names the models activated together; a failed start or
a rollback takes the whole group back. A model without an ``active`` release runs the copy
shipped in the package. A device that ran an older version kept one ``<name>/active.json`` per
model; those are read once and folded into ``registry.json``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .bundle import MODELS_DIR, Bundle, BundleError, load_bundle, resolve_bundle
from .modelref import ModelRef, read_ref
from .store.files import fsync_dir

log = logging.getLogger(__name__)
STATE = "registry.json"
LEGACY_ACTIVE = "active.json"
MAX_FAILED_STARTS = 3
HISTORY = 50


class RegistryError(Exception):
    pass


@dataclass(frozen=True)
class Installed:
    name: str
    release: str
    path: Path
    active: bool
    previous: bool


def _atomic_write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class ModelRegistry:
    def __init__(self, root: str | Path, shipped: str | Path = MODELS_DIR):
        self.root = Path(root).expanduser()
        self.shipped = Path(shipped)

    # --- state ---------------------------------------------------------------------------------
    def _load(self) -> dict:
        path = self.root / STATE
        try:
            doc = json.loads(path.read_text())
        except FileNotFoundError:
            return self._legacy()
        except (OSError, json.JSONDecodeError) as e:
            raise RegistryError(f"{path}: unreadable ({e})") from e
        if not isinstance(doc, dict) or not isinstance(doc.get("models"), dict):
            raise RegistryError(f"{path}: not a model registry state (no 'models' object)")
        return doc

    def _legacy(self) -> dict:
        models, history = {}, []
        if self.root.is_dir():
            for f in sorted(self.root.glob(f"*/{LEGACY_ACTIVE}")):
                try:
                    st = json.loads(f.read_text())
                except (OSError, json.JSONDecodeError):
                    continue
                if st.get("active"):
                    name = f.parent.name
                    models[name] = {"active": st["active"], "previous": st.get("previous"),
                                    "pending_starts": int(st.get("pending_starts", 0)),
                                    "group": [name]}
                    history += [dict(h, models={name: h.get("active")})
                                for h in st.get("history", [])]
        return {"format": 2, "models": models, "history": history[-HISTORY:]}

    def _save(self, doc: dict) -> None:
        doc["history"] = doc.get("history", [])[-HISTORY:]
        _atomic_write_json(self.root / STATE, doc)

    def state(self, name: str) -> dict:
        """One model's entry: active, previous, pending_starts, group ({} = the shipped copy)."""
        return dict(self._load()["models"].get(name) or {})

    def history(self) -> list[dict]:
        return list(self._load().get("history", []))

    def names(self) -> list[str]:
        """Every model with an installed release or a registry entry."""
        have = set(self._load()["models"])
        if self.root.is_dir():
            have |= {p.name for p in self.root.iterdir()
                     if p.is_dir() and not p.name.startswith(".")}
        return sorted(have)

    def releases(self, name: str) -> list[str]:
        d = self.root / name
        return sorted(p.name for p in d.iterdir() if p.is_dir() and not p.name.startswith(".")) \
            if d.is_dir() else []

    def list(self, name: str) -> list[Installed]:
        st = self.state(name)
        return [Installed(name, r, self.root / name / r, r == st.get("active"),
                          r == st.get("previous")) for r in self.releases(name)]

    def active_path(self, name: str) -> Path | None:
        release = self.state(name).get("active")
        return self.root / name / release if release else None

    # --- changes -------------------------------------------------------------------------------
    def install(self, name: str, release: str, source: Path) -> Path:
        """Move a verified, extracted bundle folder into place (atomic rename)."""
        dest = self.root / name / release
        if dest.exists():
            return dest
        ref = read_ref(source)  # refuse anything that is not a complete, hash-checked bundle
        if ref.name != name:
            raise RegistryError(f"{source}: bundle is named {ref.name!r}, not {name!r}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, dest)
        return dest

    def activate(self, name: str, release: str, reason: str = "activate") -> None:
        self.activate_set({name: release}, reason)

    def activate_set(self, releases: dict[str, str], reason: str = "activate") -> None:
        """Make every ``{name: release}`` active at once (one atomic write), as one group."""
        kinds = {}
        for name, release in releases.items():
            if release not in self.releases(name):
                raise RegistryError(f"no installed release '{release}' of {name} in {self.root}")
            kinds[name] = read_ref(self.root / name / release).kind
        doc = self._load()
        models = doc["models"]
        if all(models.get(n, {}).get("active") == r for n, r in releases.items()):
            return
        group = sorted(releases)
        for name, release in releases.items():
            old = models.get(name) or {}
            models[name] = {"kind": kinds[name], "active": release,
                            "previous": old.get("active") if old.get("active") != release
                            else old.get("previous"), "pending_starts": 0, "group": group}
        doc["history"] = doc.get("history", []) + [
            {"at": _now(), "models": dict(releases), "reason": reason}]
        self._save(doc)

    def rollback(self, name: str, reason: str = "rollback") -> str | None:
        """``name`` and the models activated with it back to their previous releases (or to
        the shipped copies); returns ``name``'s release now active, None for the shipped one."""
        return self.rollback_group(name, reason).get(name)

    def rollback_group(self, name: str, reason: str = "rollback") -> dict[str, str | None]:
        doc = self._load()
        models = doc["models"]
        group = (models.get(name) or {}).get("group") or [name]
        now: dict[str, str | None] = {}
        for n in group:
            st = models.get(n)
            if not st:
                continue
            prev = st.get("previous")
            if prev and (self.root / n / prev).is_dir():
                models[n] = {"kind": st.get("kind"), "active": prev, "previous": None,
                             "pending_starts": 0, "group": [n]}
                now[n] = prev
            else:
                models.pop(n)
                now[n] = None
                log.warning("%s: no previous release; back to the shipped bundle", n)
        if now:
            doc["history"] = doc.get("history", []) + [
                {"at": _now(), "models": now, "reason": reason}]
            self._save(doc)
        return now

    def begin_start(self, names: list[str] | None = None) -> None:
        """Count a start of every active installed model (``names``: only those); a model that
        failed MAX_FAILED_STARTS starts without getting healthy is rolled back with its group."""
        doc = self._load()
        changed = False
        for name, st in list(doc["models"].items()):
            if names is not None and name not in names or not st.get("active"):
                continue
            if st.get("pending_starts", 0) >= MAX_FAILED_STARTS:
                log.error("%s %s failed %d starts: rolling back", name, st["active"],
                          st["pending_starts"])
                if changed:
                    self._save(doc)
                self.rollback(name, reason=f"{st['pending_starts']} failed starts")
                return self.begin_start(names)
            st["pending_starts"] = st.get("pending_starts", 0) + 1
            changed = True
        if changed:
            self._save(doc)

    def mark_healthy(self, names: list[str] | None = None) -> None:
        if isinstance(names, str):
            names = [names]
        doc = self._load()
        hit = [st for n, st in doc["models"].items()
               if (names is None or n in names) and st.get("pending_starts")]
        for st in hit:
            st["pending_starts"] = 0
        if hit:
            self._save(doc)

    def remove(self, name: str, release: str) -> None:
        st = self.state(name)
        if release in (st.get("active"), st.get("previous")):
            raise RegistryError(f"{name} {release} is active or the rollback target; not removed")
        shutil.rmtree(self.root / name / release, ignore_errors=True)

    # --- resolution ----------------------------------------------------------------------------
    def shipped_path(self, name: str) -> Path:
        return self.shipped / name

    def resolve(self, kind: str, name_or_path: str) -> ModelRef:
        """The active installed release of ``name`` if it is a usable bundle of ``kind``, else
        the copy shipped in the package. A path is read as it is. BundleError if neither."""
        if "/" in name_or_path or Path(name_or_path).expanduser().is_dir() and \
                not (self.shipped / name_or_path).is_dir():
            return _of_kind(read_ref(Path(name_or_path).expanduser()), kind)
        path = self.active_path(name_or_path)
        if path is not None:
            try:
                ref = read_ref(path)
                if ref.kind != kind and self._shipped_kind_is(name_or_path, kind):
                    raise BundleError(f"{path}: a {ref.kind} release of a {kind} model")
            except BundleError as e:
                log.error("active %s unusable (%s): rolling back", name_or_path, e)
                self.rollback(name_or_path, reason=f"unusable: {e}")
                return self.resolve(kind, name_or_path)
            return _of_kind(ref, kind)   # a profile asking the wrong kind gets the error
        return _of_kind(read_ref(self.shipped_path(name_or_path)), kind)

    def _shipped_kind_is(self, name: str, kind: str) -> bool:
        try:
            return read_ref(self.shipped_path(name), verify_hash=False).kind == kind
        except BundleError:
            return True   # nothing shipped under the name: the release must be of the kind


def _of_kind(ref: ModelRef, kind: str) -> ModelRef:
    if ref.kind != kind:
        raise BundleError(f"{ref.path}: a {ref.kind} bundle, not a {kind}")
    return ref


def resolve_ref(kind: str, name_or_path: str, registry: ModelRegistry | None = None) -> ModelRef:
    """A model of ``kind`` through the registry (active release, else shipped); without a
    registry, the shipped copy or the path given."""
    if registry is not None:
        return registry.resolve(kind, name_or_path)
    return _of_kind(read_ref(resolve_bundle(name_or_path)), kind)


def resolve_model(name_or_path: str, registry: ModelRegistry | None) -> Bundle:
    """The classifier bundle: the active installed release of a name, else the shipped one."""
    if registry is None:
        return load_bundle(resolve_bundle(name_or_path))
    return load_bundle(registry.resolve("classifier", name_or_path).path, verify_hash=False)
