"""How a toolkit exporter puts a new bundle in place: built in ``<out>.tmp``, its manifest
validated by the runtime's own loader, given its canary inputs (models/toolkit/canaries.py), then
swapped in for ``out`` (keeping its model card)."""
from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path


# what a new bundle keeps of the one it replaces: the card (rewritten by the evaluation) and the
# records of the further sources it was trained on (models/toolkit/extra_sources.py)
CARRIED = ("MODEL_CARD.md", "extra_sources")


def staging_dir(out: Path) -> Path:
    """An empty ``<out>.tmp`` folder to build the bundle in."""
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    return tmp


def carry_over(old: Path, new: Path) -> None:
    for name in CARRIED:
        src = old / name
        if src.is_dir():
            shutil.copytree(src, new / name)
        elif src.is_file():
            shutil.copy(src, new / name)


def publish(tmp: Path, out: Path, manifest: dict) -> None:
    """Write ``manifest`` (stamped ``created_at``) into ``tmp``, check it loads, and replace
    ``out`` by ``tmp``; what CARRIED names in ``out`` is carried over."""
    from edge.bundle import load_bundle
    manifest = {**manifest,
                "created_at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    load_bundle(tmp)
    from .canaries import write_or_warn
    write_or_warn(tmp)   # generated inputs with this bundle's outputs: the device's health check
    if out.exists():
        carry_over(out, tmp)
        shutil.rmtree(out)
    tmp.rename(out)
