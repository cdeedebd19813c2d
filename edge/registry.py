"""Installed model bundles on the device and which one is active.

Layout under the registry root (by default ``models/`` beside the store)::

    <root>/<name>/<release>/            complete bundle folders, never modified once in place
    <root>/<name>/active.json           {"active": "<release>", "previous": "<release>" | null,
                                         "pending_starts": 0, "history": [...]}

Switching is one atomic rename of ``active.json`` (temp file, fsync, rename, fsync dir), so a
process killed at any point leaves exactly one valid active bundle: the old one or the new one.
Without an ``active.json`` the bundle shipped with the package is used.
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

from .bundle import Bundle, BundleError, load_bundle, resolve_bundle
from .store.files import fsync_dir

log = logging.getLogger(__name__)
ACTIVE = "active.json"
MAX_FAILED_STARTS = 3


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


class ModelRegistry:
    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser()

    def _state_path(self, name: str) -> Path:
        return self.root / name / ACTIVE

    def state(self, name: str) -> dict:
        try:
            return json.loads(self._state_path(name).read_text())
        except FileNotFoundError:
            return {}
        except (OSError, json.JSONDecodeError) as e:
            raise RegistryError(f"{self._state_path(name)}: unreadable ({e})") from e

    def _write_state(self, name: str, state: dict) -> None:
        _atomic_write_json(self._state_path(name), state)

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

    def install(self, name: str, release: str, source: Path) -> Path:
        """Move a verified, extracted bundle folder into place (atomic rename)."""
        dest = self.root / name / release
        if dest.exists():
            return dest
        load_bundle(source)  # refuse anything that is not a complete, hash-checked bundle
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, dest)
        return dest

    def activate(self, name: str, release: str, reason: str = "activate") -> None:
        if release not in self.releases(name):
            raise RegistryError(f"no installed release '{release}' of {name} in {self.root}")
        load_bundle(self.root / name / release)
        st = self.state(name)
        if st.get("active") == release:
            return
        history = st.get("history", [])[-20:] + [
            {"at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
             "active": release, "reason": reason}]
        self._write_state(name, {"active": release, "previous": st.get("active"),
                                 "pending_starts": 0, "history": history})

    def rollback(self, name: str, reason: str = "rollback") -> str | None:
        """Back to the previous release, or to the shipped bundle when there is none."""
        st = self.state(name)
        prev = st.get("previous")
        if prev and (self.root / name / prev).is_dir():
            self.activate(name, prev, reason)
            return prev
        if st:
            self._state_path(name).unlink()
            log.warning("%s: no previous release; back to the shipped bundle", name)
        return None

    def begin_start(self, name: str) -> None:
        """Count a start; after MAX_FAILED_STARTS starts that never got healthy, roll back."""
        st = self.state(name)
        if not st.get("active"):
            return
        if st.get("pending_starts", 0) >= MAX_FAILED_STARTS:
            log.error("%s %s failed %d starts: rolling back", name, st["active"],
                      st["pending_starts"])
            self.rollback(name, reason=f"{st['pending_starts']} failed starts")
            return
        st["pending_starts"] = st.get("pending_starts", 0) + 1
        self._write_state(name, st)

    def mark_healthy(self, name: str) -> None:
        st = self.state(name)
        if st.get("pending_starts"):
            st["pending_starts"] = 0
            self._write_state(name, st)

    def remove(self, name: str, release: str) -> None:
        st = self.state(name)
        if release in (st.get("active"), st.get("previous")):
            raise RegistryError(f"{name} {release} is active or the rollback target; not removed")
        shutil.rmtree(self.root / name / release, ignore_errors=True)


def resolve_model(name_or_path: str, registry: ModelRegistry | None) -> Bundle:
    """The active installed release of a named model, else the shipped bundle."""
    if registry is not None and "/" not in name_or_path:
        path = registry.active_path(name_or_path)
        if path is not None:
            try:
                return load_bundle(path)
            except BundleError as e:
                log.error("active %s unusable (%s): rolling back", name_or_path, e)
                registry.rollback(name_or_path, reason=f"unusable: {e}")
                return resolve_model(name_or_path, registry)
    return load_bundle(resolve_bundle(name_or_path))
