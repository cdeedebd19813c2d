"""Wire protocol between the device sync worker and the central ingest service.

Topics (``{device}`` is the MQTT username; the broker's ACL pins each device to its subtree):

- ``claims/{device}/up/record``                  record JSON (see :func:`record_message`)
- ``claims/{device}/up/chunk/{sha256}/{index}``  256 KiB of an image after a 64-byte header
  (:data:`CHUNK_HEADER`: magic, chunk count, file size, the chunk's SHA-256, record uuid)
- ``claims/{device}/up/status``                  retained ``online`` / ``offline`` (last will)
- ``claims/{device}/down/ack``                   ``{record_uuid, status, reason, rev}``,
  status = committed | duplicate | rejected; ``rev`` = the revision central now holds
- ``claims/{device}/down/image``                 ``{record_uuid, images: [{sha256, missing: [..],
  error?}]}``: which chunks central still lacks

A record message carries ``ask``. ``ask=false`` (the first send of a record) means "its chunks
follow": central answers only with the ack once every image is complete. ``ask=true`` (every
resend) asks central which chunks it has: central answers with ``down/image`` (or directly with
the ack when it already has everything), and the device sends only the missing chunks.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import struct
import uuid as uuidlib
from typing import Any

from edge.store.schema import OPERATOR

PROTOCOL_VERSION = 1
CHUNK_SIZE = 256 * 1024

# The chunk's metadata travels in the payload, not in MQTT 5 user properties: paho parses
# properties by re-slicing the whole packet per field, ~18 copies of 256 KiB per chunk, which
# was a fifth of central's CPU in `claim-edge bench sync`; a header is read from a memoryview.
CHUNK_MAGIC = b"CEc1"
CHUNK_HEADER = struct.Struct("!4sIQ32s16s")   # magic, chunk count, file size, SHA-256, uuid


@dataclasses.dataclass(frozen=True)
class Chunk:
    nchunks: int
    size: int               # of the whole file
    sha256: str             # of this chunk's bytes, as the sender computed it
    record_uuid: str | None
    data: memoryview


def pack_chunk(data: bytes, nchunks: int, size: int, record_uuid: str | None,
               chunk_sha256: bytes | None = None) -> bytearray:
    """A chunk message; ``chunk_sha256`` (raw digest) defaults to the digest of ``data``."""
    msg = bytearray(CHUNK_HEADER.size) + data
    _write_header(msg, nchunks, size, record_uuid, chunk_sha256)
    return msg


def read_chunk(path, index: int, size: int, record_uuid: str) -> bytearray:
    """Chunk ``index`` of the ``size``-byte file at ``path`` as a chunk message, read straight
    into place behind its header. OSError if unreadable, EOFError if the file is shorter."""
    length = min(CHUNK_SIZE, size - index * CHUNK_SIZE)
    msg = bytearray(CHUNK_HEADER.size + length)
    with open(path, "rb", buffering=0) as f:
        f.seek(index * CHUNK_SIZE)
        got = f.readinto(memoryview(msg)[CHUNK_HEADER.size:])
    if got != length:
        raise EOFError(f"{path} is shorter than {size} bytes")
    _write_header(msg, chunk_count(size), size, record_uuid)
    return msg


def _write_header(msg: bytearray, nchunks: int, size: int, record_uuid: str | None,
          chunk_sha256: bytes | None = None) -> None:
    digest = chunk_sha256 or hashlib.sha256(memoryview(msg)[CHUNK_HEADER.size:]).digest()
    u = uuidlib.UUID(record_uuid).bytes if record_uuid else bytes(16)
    CHUNK_HEADER.pack_into(msg, 0, CHUNK_MAGIC, nchunks, size, digest, u)


def parse_chunk(payload: bytes) -> Chunk:
    """ValueError for anything that is not a chunk message."""
    view = memoryview(payload)
    if len(view) < CHUNK_HEADER.size:
        raise ValueError("chunk message shorter than its header")
    magic, n, size, digest, u = CHUNK_HEADER.unpack_from(view)
    if magic != CHUNK_MAGIC:
        raise ValueError(f"not a chunk message (magic {magic!r})")
    return Chunk(n, size, digest.hex(), str(uuidlib.UUID(bytes=u)) if any(u) else None,
                 view[CHUNK_HEADER.size:])


ACK_COMMITTED = "committed"
ACK_DUPLICATE = "duplicate"
ACK_REJECTED = "rejected"


def t_record(device: str) -> str:
    return f"claims/{device}/up/record"


def t_chunk(device: str, sha256: str, index: int) -> str:
    return f"claims/{device}/up/chunk/{sha256}/{index}"


def t_status(device: str) -> str:
    return f"claims/{device}/up/status"


def t_ack(device: str) -> str:
    return f"claims/{device}/down/ack"


def t_image(device: str) -> str:
    return f"claims/{device}/down/image"


def parse_up_topic(topic: str) -> tuple[str, str, str | None, int | None]:
    """``claims/{device}/up/{kind}[/{sha}/{idx}]`` -> (device, kind, sha, idx); ValueError if not."""
    parts = topic.split("/")
    if len(parts) < 4 or parts[0] != "claims" or parts[2] != "up":
        raise ValueError(f"not an up topic: {topic!r}")
    device, kind = parts[1], parts[3]
    if kind == "chunk":
        if len(parts) != 6:
            raise ValueError(f"bad chunk topic: {topic!r}")
        sha, idx = parts[4], int(parts[5])
        if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha) or idx < 0:
            raise ValueError(f"bad chunk topic: {topic!r}")
        return device, kind, sha, idx
    if len(parts) != 4:
        raise ValueError(f"bad topic: {topic!r}")
    return device, kind, None, None


def chunk_count(size: int, chunk_size: int = CHUNK_SIZE) -> int:
    return max(1, -(-size // chunk_size))


def canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def content_sha256(record: dict) -> str:
    """The identity of a record's content: same uuid + different hash = rejected."""
    return hashlib.sha256(canonical_json(record)).hexdigest()


def revision(record: dict) -> int:
    """A record's revision: how many operator corrections its fields hold."""
    return sum(1 for f in record.get("fields") or () if f.get("source") == OPERATOR)


def base_sha256(record: dict) -> str:
    """The identity of a record's fixed part: what no revision may change."""
    return content_sha256({k: v for k, v in record.items() if k not in ("fields", "rev")})


def compare_revisions(held: dict, held_content: str, new: dict, new_content: str) -> str:
    """How ``new`` relates to the ``held`` copy of the same uuid: ``same``, ``older``,
    ``newer`` or ``conflict``."""
    if new_content == held_content:
        return "same"
    old_rev, new_rev = int(held.get("rev") or 0), int(new.get("rev") or 0)
    if new_rev == old_rev or base_sha256(held) != base_sha256(new):
        return "conflict"
    return "newer" if new_rev > old_rev else "older"


def record_message(record: dict, ask: bool) -> bytes:
    return canonical_json({"v": PROTOCOL_VERSION, "ask": bool(ask), "record": record})
