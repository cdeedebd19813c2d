"""Content-addressed, crash-safe image files: temp -> fsync -> rename -> fsync dir."""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path


class StoreWriteError(OSError):
    """Writing to the store failed (disk full, read-only...); nothing partial is left behind."""


def relpath_for(sha256: str, suffix: str) -> str:
    return f"{sha256[:2]}/{sha256}{suffix}"


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_blob(root: Path, rel: str, data: bytes) -> Path:
    """Store ``data`` at ``root/rel`` durably. Idempotent: an existing complete file is kept."""
    final = root / rel
    if final.is_file() and final.stat().st_size == len(data):
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=final.parent)
    renamed = False
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
        renamed = True
        fsync_dir(final.parent)
    except OSError as e:
        # after the rename the new name may not survive a power cut: drop it too (no row
        # points at it yet; the caller writes the row only after this returns)
        for leftover in (tmp, final) if renamed else (tmp,):
            try:
                os.unlink(leftover)
            except FileNotFoundError:
                pass
        reason = "disk full" if e.errno == errno.ENOSPC else (e.strerror or str(e))
        raise StoreWriteError(e.errno, f"cannot write {final}: {reason}") from e
    return final
