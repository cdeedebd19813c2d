"""Expand the operator's arguments into the files to process, in a stable order."""

from __future__ import annotations

import os
from pathlib import Path


def expand(args: list[str]) -> list[str]:
    """Files as given; folders walked recursively (hidden entries skipped, names sorted).
    Every regular file in a folder is taken: a non-image gets its own error, not silence."""
    out: list[str] = []
    for a in args:
        p = Path(a)
        if p.is_dir():
            for root, dirs, files in os.walk(p, onerror=lambda e: out.append(e.filename)):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                out.extend(os.path.join(root, f) for f in sorted(files) if not f.startswith("."))
        else:
            out.append(a)
    return out
