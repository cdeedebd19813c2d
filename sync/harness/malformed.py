"""Malformed record messages, as an attacker or a buggy device would send them: the soak
injects them between a device's valid records (each must end up dead-lettered, none may stop
or slow the valid ones)."""

from __future__ import annotations

import copy
import hashlib
import random
import uuid as uuidlib

from ..protocol import canonical_json, chunk_count
from ..schemas import CHUNK_SIZE


def example_record(device: str) -> dict:
    """A record that passes the schema (its image never arrives)."""
    return {
        "uuid": str(uuidlib.uuid4()), "claim": "MALFORMED", "device": device,
        "captured_at": "2026-12-06T06:44:20", "exif_time": None, "gps": [None, None],
        "orientation": None, "width": 640, "height": 480,
        "quality": {"ok": True, "issues": [], "sharpness": 100.0, "brightness": 0.5,
                    "glare": 0.0},
        "model": {"name": None, "version": None, "sha256": None},
        "category": "damage", "verified": True,
        "labels": [{"head": "category", "label": "damage", "score": 0.9, "verified": True,
                    "similarity": 0.8}],
        "scenarios": [{"scenario": "damage_assessment", "reason": "category:damage",
                       "retain_until": None}],
        "text": [], "result": None,
        "fields": [{"name": "plate", "value": "ABC1234", "confidence": 0.9, "valid": True,
                    "source": "ocr", "reason": None}],
        "images": [{"sha256": hashlib.sha256(b"never sent").hexdigest(), "size": 1000,
                    "mime": "image/png", "width": 640, "height": 480, "chunks": 1,
                    "chunk_size": CHUNK_SIZE}],
        "rev": 0}


def _huge(r):
    r["images"][0].update(size=10**15, chunks=chunk_count(10**15))


MUTATIONS = {
    "field without confidence": lambda r: r["fields"][0].pop("confidence"),
    "no claim": lambda r: r.pop("claim"),
    "labels [1]": lambda r: r.__setitem__("labels", [1]),
    "gps 5": lambda r: r.__setitem__("gps", 5),
    "rev abc": lambda r: r.__setitem__("rev", "abc"),
    "quality x": lambda r: r.__setitem__("quality", "x"),
    "uuid not-a-uuid": lambda r: r.__setitem__("uuid", "not-a-uuid"),
    "1.9 MB field value": lambda r: r["fields"][0].__setitem__("value", "V" * 1_900_000),
    "image of 10^15 bytes": _huge,
    "a head twice": lambda r: r["labels"].append(dict(r["labels"][0])),
}


def malformed_message(device: str, rng: random.Random) -> tuple[str, bytes]:
    """(kind, payload): one malformed record message, a fresh uuid each time."""
    kind = rng.choice(sorted(MUTATIONS) + ["protocol 99", "not JSON"])
    if kind == "not JSON":
        return kind, b'{"v": 1, "record": ' + str(rng.random()).encode()
    rec = copy.deepcopy(example_record(device))
    rec["uuid"] = str(uuidlib.UUID(int=rng.getrandbits(128), version=4))
    if kind != "protocol 99":
        MUTATIONS[kind](rec)
    return kind, canonical_json({"v": 99 if kind == "protocol 99" else 1, "ask": True,
                                 "record": rec})
