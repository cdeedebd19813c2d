"""SHA-256 of a file, read in blocks (images, model files, blobs are named by it)."""

from __future__ import annotations

import hashlib
import os


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):  # hashlib.file_digest is 3.11+
            h.update(block)
    return h.hexdigest()
