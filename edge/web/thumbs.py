"""Thumbnails and display copies, made once per image and size and kept beside the store.

Content-addressed like the originals: ``<store>/thumbs/<sha[:2]>/<sha>-<px>.jpg``. The same bytes
filed in two claims share one thumbnail; a cached file is never rewritten. EXIF orientation is
applied, so a thumbnail has the photo's oriented size (the coordinates of the stored boxes).
"""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageOps

from ..store import Store
from ..store.files import write_blob
from ..store.schema import Image as ImageRow

SIZES = {"thumb": 320, "view": 1280}


class NoImage(Exception):
    """The image is not on this device (unknown hash, or the original was purged)."""


def thumbnail(store: Store, sha256: str, size: str = "thumb") -> Path:
    """The cached copy of an image at ``size``, made on first use. The image row is checked
    every time: once retention has purged the original, its copies are removed, not served."""
    px = SIZES[size]
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise NoImage(sha256)
    row = ImageRow.get_or_none(ImageRow.sha256 == sha256)
    if row is None or row.purged_at is not None:
        remove_thumbnails(store, sha256)
        raise NoImage(sha256)
    root = store.root / "thumbs"
    rel = f"{sha256[:2]}/{sha256}-{px}.jpg"
    cached = root / rel
    if cached.is_file():
        return cached
    src = store.images / row.path
    try:
        with Image.open(src) as im:
            im.draft("RGB", (px, px))  # JPEG: let libjpeg scale while decoding
            im = ImageOps.exif_transpose(im)
            im.thumbnail((px, px), Image.Resampling.LANCZOS)
            buf = io.BytesIO()
            im.convert("RGB").save(buf, "JPEG", quality=82, optimize=True)
    except FileNotFoundError:
        raise NoImage(sha256) from None
    return write_blob(root, rel, buf.getvalue())


def remove_thumbnails(store: Store, sha256: str) -> int:
    """Delete every cached copy of one image (call it when the original is purged)."""
    n = 0
    for p in (store.root / "thumbs" / sha256[:2]).glob(f"{sha256}-*.jpg"):
        p.unlink(missing_ok=True)
        n += 1
    return n


def sweep(store: Store) -> int:
    """Delete the cached copies of images that are purged or no longer in the store."""
    root = store.root / "thumbs"
    if not root.is_dir():
        return 0
    live = {sha for (sha,) in ImageRow.select(ImageRow.sha256)
            .where(ImageRow.purged_at.is_null()).tuples()}
    n = 0
    for p in root.glob("??/*.jpg"):
        if p.name.split("-", 1)[0] not in live:
            p.unlink(missing_ok=True)
            n += 1
    return n
