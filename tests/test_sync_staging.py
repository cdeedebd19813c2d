"""Chunk messages and staging files: what central writes is byte-identical to what was sent,
whatever the arrival order and whether or not the filesystem takes O_DIRECT."""

import errno
import hashlib
import os
from pathlib import Path

import pytest

from sync.protocol import CHUNK_SIZE, chunk_count, pack_chunk, parse_chunk, read_chunk
from sync.central import staging
from sync.central.staging import StagingWriter


def _stage(writer: StagingWriter, sha: str, data: bytes, order: list[int]) -> Path:
    for idx in order:
        writer.add(sha, idx * CHUNK_SIZE, data[idx * CHUNK_SIZE:(idx + 1) * CHUNK_SIZE])
    writer.flush()
    writer.seal([(sha, len(data))])
    return writer.path(sha)


@pytest.mark.parametrize("direct", [True, False])
def test_chunks_in_any_order_make_the_file(tmp_path, direct):
    data = os.urandom(5 * CHUNK_SIZE + 12345)        # a short last chunk: padded under O_DIRECT
    sha = hashlib.sha256(data).hexdigest()
    writer = StagingWriter(tmp_path, direct=direct)
    part = _stage(writer, sha, data, [5, 0, 1, 3, 2, 4])
    assert part.read_bytes() == data


def test_two_batches_and_a_repeated_chunk(tmp_path):
    data = os.urandom(3 * CHUNK_SIZE)
    sha = hashlib.sha256(data).hexdigest()
    writer = StagingWriter(tmp_path)
    _stage(writer, sha, data, [0, 2])
    part = _stage(writer, sha, data, [1, 2])
    assert hashlib.sha256(part.read_bytes()).hexdigest() == sha


def test_a_filesystem_without_o_direct_is_written_buffered(tmp_path, monkeypatch):
    real_open = os.open

    def refusing_open(path, flags, *a):      # as older tmpfs and some network filesystems do
        if flags & os.O_DIRECT:
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_open(path, flags, *a)

    monkeypatch.setattr(staging.os, "open", refusing_open)
    data = os.urandom(2 * CHUNK_SIZE + 7)
    writer = StagingWriter(tmp_path)
    part = _stage(writer, hashlib.sha256(data).hexdigest(), data, [2, 1, 0])
    assert part.read_bytes() == data
    assert writer.direct is False


def test_a_failed_write_is_raised_not_swallowed(tmp_path):
    writer = StagingWriter(tmp_path / "missing-dir")
    writer.add("ab" * 32, 0, b"x" * 100)
    with pytest.raises(FileNotFoundError):
        writer.flush()


def test_chunk_message_round_trip(tmp_path):
    data = os.urandom(CHUNK_SIZE + 999)
    path = tmp_path / "img"
    path.write_bytes(data)
    u = "6f1c1b7e-8a7d-4c35-9d38-2f4a1e0b5c11"
    msg = read_chunk(path, 1, len(data), u)
    c = parse_chunk(bytes(msg))
    assert (c.nchunks, c.size, c.record_uuid) == (chunk_count(len(data)), len(data), u)
    assert bytes(c.data) == data[CHUNK_SIZE:]
    assert c.sha256 == hashlib.sha256(data[CHUNK_SIZE:]).hexdigest()
    assert parse_chunk(bytes(pack_chunk(data[:CHUNK_SIZE], 2, len(data), None))).record_uuid is None


def test_a_file_shorter_than_its_record_says_is_reported(tmp_path):
    path = tmp_path / "img"
    path.write_bytes(os.urandom(1000))
    with pytest.raises(EOFError):
        read_chunk(path, 0, 5000, "6f1c1b7e-8a7d-4c35-9d38-2f4a1e0b5c11")


@pytest.mark.parametrize("payload", [b"", b"short", b"XXXX" + bytes(200), os.urandom(CHUNK_SIZE)])
def test_what_is_not_a_chunk_message_is_refused(payload):
    with pytest.raises(ValueError):
        parse_chunk(payload)
