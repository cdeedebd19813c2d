"""Wire protocol between the device sync worker and the central ingest service.

Topics (``{device}`` is the MQTT username; the broker's ACL pins each device to its subtree):

- ``claims/{device}/up/record``                  record JSON (see :func:`record_message`)
- ``claims/{device}/up/chunk/{sha256}/{index}``  256 KiB of an image; MQTT 5 user properties
  ``c`` (chunk SHA-256), ``n`` (chunk count), ``s`` (file size), ``r`` (record uuid)
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

import hashlib
import json
from typing import Any

from edge.store.schema import OPERATOR

PROTOCOL_VERSION = 1
CHUNK_SIZE = 256 * 1024

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
