"""Wire protocol between the device sync worker and the central ingest service: topics, chunk
packing, record identity and revisions. The shape and bounds of every message are in
``sync/schemas.py`` (one schema, imported by both sides; ``python -m sync schema`` prints it as
JSON Schema).

Topics (``{device}`` is the MQTT username; the broker's ACL pins each device to its subtree):

- ``claims/{device}/up/record``                  record JSON (see :func:`record_message`)
- ``claims/{device}/up/chunk/{sha256}/{index}``  256 KiB of an image after a 64-byte header
  (:data:`CHUNK_HEADER`: magic, chunk count, file size, the chunk's SHA-256, record uuid)
- ``claims/{device}/up/status``                  retained ``online`` / ``offline`` (last will)
- ``claims/{device}/up/telemetry``               retained, periodic: app and model versions,
  outbox depth and oldest pending age, quarantined records with their reasons, disk free, last
  sync (``schemas.Telemetry``)
- ``claims/{device}/down/ack``                   ``{record_uuid, status, reason, rev}``,
  status = committed | duplicate | rejected; ``rev`` = the revision central now holds; a
  rejected record is kept in central's ``rejected_message`` table with the reason
- ``claims/{device}/down/image``                 ``{record_uuid, images: [{sha256, missing: [..],
  error?}]}``: which chunks central still lacks

A record message carries ``ask``. ``ask=false`` (the first send of a record) means "its chunks
follow": central answers only with the ack once every image is complete. ``ask=true`` (every
resend) asks central which chunks it has: central answers with ``down/image`` (or directly with
the ack when it already has everything), and the device sends only the missing chunks.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid as uuidlib
from typing import Any

from edge.store.schema import OPERATOR

from .schemas import (ACK_COMMITTED, ACK_DUPLICATE, ACK_REJECTED, CHUNK_HEADER,  # noqa: F401
                      CHUNK_MAGIC, CHUNK_SIZE, MAX_CHUNKS, PROTOCOL_VERSION, Chunk, chunk_count,
                      parse_chunk)


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


def t_telemetry(device: str) -> str:
    return f"claims/{device}/up/telemetry"


UP_KINDS = ("record", "chunk", "status", "telemetry")
_DEVICE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")
_SHA = re.compile(r"^[0-9a-f]{64}$")
_INDEX = re.compile(r"^(0|[1-9][0-9]{0,5})$")


def parse_up_topic(topic: str) -> tuple[str, str, str | None, int | None]:
    """``claims/{device}/up/{kind}[/{sha}/{idx}]`` -> (device, kind, sha, idx); ValueError if not
    (an unknown kind, a device id with characters the broker's ACL would not match, an index
    that is not a plain decimal below the chunk limit)."""
    parts = topic.split("/")
    if len(parts) < 4 or parts[0] != "claims" or parts[2] != "up":
        raise ValueError(f"not an up topic: {topic[:200]!r}")
    device, kind = parts[1], parts[3]
    if not _DEVICE.match(device):
        raise ValueError(f"bad device id in topic: {topic[:200]!r}")
    if kind == "chunk":
        if len(parts) != 6 or not _SHA.match(parts[4]) or not _INDEX.match(parts[5]) \
                or int(parts[5]) >= MAX_CHUNKS:
            raise ValueError(f"bad chunk topic: {topic[:200]!r}")
        return device, kind, parts[4], int(parts[5])
    if len(parts) != 4 or kind not in UP_KINDS:
        raise ValueError(f"bad topic: {topic[:200]!r}")
    return device, kind, None, None


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
