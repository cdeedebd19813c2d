"""A really full disk (a 6 MB tmpfs mounted for the test) anywhere in the store write: the photo
gets store_write_failed, no orphan or temp file is left, the rest of the batch goes on, and a
re-run once there is space files it. Needs root (mount); skipped, saying so, without it. The
steps a tmpfs never fails (the rename, the directory fsync) get ENOSPC at the OS call."""

import errno
import os
import subprocess

import pytest

from edge import samples
from edge.config import load_profile_file
from edge.ingest import ingest
from edge.pipeline import Pipeline
from edge.store import Store, files
from edge.store import write_blob as real_write_blob
from edge.store.schema import Image, Outbox, Photo

import edge.store as store_module


@pytest.fixture
def small_disk(tmp_path):
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m,mode=0700", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(folder) -> None:
    """Write a filler file until the file system says it is full."""
    with open(folder / "filler", "ab", buffering=0) as f:
        block = b"\xa5" * 65536
        try:
            while True:
                f.write(block)
        except OSError as e:
            assert e.errno == 28, e
        try:  # the last partial block
            while True:
                f.write(b"\xa5" * 512)
        except OSError:
            pass


@pytest.fixture
def setup(small_disk, profile_path):
    src = profile_path.read_text()
    store_db = [ln for ln in src.splitlines() if ln.startswith("path = ")][0]
    src = src.replace(store_db, f'path = "{small_disk / "store.db"}"')
    src = src.replace("min_free_mb = 200", "min_free_mb = 0")  # the disk itself must fill up
    profile_path.write_text(src)
    profile = load_profile_file(profile_path)
    store = Store.open(profile.store.resolved)
    yield profile, Pipeline(profile, stages=[]), store, small_disk
    store.close()


def photos(folder, n):
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        p = folder / f"p{i}.jpg"
        p.write_bytes(samples.jpeg_bytes(samples.street_scene(640, 480, seed=40 + i)))
        out.append(str(p))
    return out


def blobs(disk):
    return sorted(p.name for p in (disk / "images").rglob("*") if p.is_file())


def test_disk_full_writing_the_image_file(tmp_path, setup):
    profile, pipe, store, disk = setup
    paths = photos(tmp_path / "in", 3)
    assert ingest(paths[:1], "C", pipe, store).new == 1
    before = blobs(disk)
    fill(disk)
    summary = ingest(paths[1:], "C", pipe, store)
    assert summary.failed == [(paths[1], "store_write_failed"), (paths[2], "store_write_failed")]
    assert blobs(disk) == before, "a partial or orphan file was left"
    assert Photo.select().count() == 1 and Outbox.select().count() == 1
    (disk / "filler").unlink()
    assert ingest(paths, "C", pipe, store).new == 2


def test_disk_full_at_the_row_commit_leaves_no_orphan_blob(tmp_path, setup, monkeypatch):
    profile, pipe, store, disk = setup
    paths = photos(tmp_path / "in", 3)
    assert ingest(paths[:1], "C", pipe, store).new == 1
    before = blobs(disk)

    def write_then_disk_fills(root, rel, data):
        out = real_write_blob(root, rel, data)   # the file is durable ...
        if "filler" not in os.listdir(disk):
            fill(disk)                           # ... then the disk is full for SQLite
        return out

    monkeypatch.setattr(store_module, "write_blob", write_then_disk_fills)
    summary = ingest(paths[1:2], "C", pipe, store)
    assert summary.failed == [(paths[1], "store_write_failed")]
    assert blobs(disk) == before, "the image file of the photo that was not recorded is left"
    assert Photo.select().count() == 1 and Image.select().count() == 1
    assert store.db.execute_sql("PRAGMA integrity_check").fetchone()[0] == "ok"
    (disk / "filler").unlink()
    monkeypatch.undo()
    assert ingest(paths, "C", pipe, store).new == 2
    assert len(blobs(disk)) == 3


@pytest.mark.parametrize("call", ["replace", "dir_fsync"])
def test_enospc_at_the_rename_or_the_directory_fsync(tmp_path, profile_path, monkeypatch, call):
    profile = load_profile_file(profile_path)
    store = Store.open(profile.store.resolved)
    try:
        pipe = Pipeline(profile, stages=[])
        paths = photos(tmp_path / "in", 2)
        real_replace, real_fsync_dir = files.os.replace, files.fsync_dir

        def full(*args):
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(files.os, "replace", full) if call == "replace" else \
            monkeypatch.setattr(files, "fsync_dir", full)
        summary = ingest(paths[:1], "C", pipe, store)
        assert summary.failed == [(paths[0], "store_write_failed")]
        assert not [p for p in (store.root / "images").rglob("*") if p.is_file()]
        assert Photo.select().count() == 0
        monkeypatch.setattr(files.os, "replace", real_replace)
        monkeypatch.setattr(files, "fsync_dir", real_fsync_dir)
        assert ingest(paths, "C", pipe, store).new == 2
    finally:
        store.close()
