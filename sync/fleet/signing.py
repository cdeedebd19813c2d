"""ed25519 signatures over canonical JSON (``cryptography``). Keys are pinned by id: the first
16 hex digits of the SHA-256 of the raw public key."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


class SignatureError(Exception):
    """The manifest is not signed by a pinned key (reason in the message)."""


def canonical(doc: dict) -> bytes:
    body = {k: v for k, v in doc.items() if k != "signature"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def public_b64(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def key_id(public: str) -> str:
    return hashlib.sha256(base64.b64decode(public)).hexdigest()[:16]


def sign(doc: dict, private: Ed25519PrivateKey) -> dict:
    doc = dict(doc, key_id=key_id(public_b64(private.public_key())))
    doc["signature"] = base64.b64encode(private.sign(canonical(doc))).decode()
    return doc


def verify(doc: dict, pinned: list[str]) -> str:
    """Check the signature against the pinned public keys; returns the key id used."""
    kid, sig = doc.get("key_id"), doc.get("signature")
    if not isinstance(kid, str) or not isinstance(sig, str):
        raise SignatureError("manifest is not signed")
    keys = {key_id(p): p for p in pinned}
    if kid not in keys:
        raise SignatureError(f"signed by unknown key {kid} (pinned: {', '.join(keys) or 'none'})")
    try:
        pub = Ed25519PublicKey.from_public_bytes(base64.b64decode(keys[kid]))
        pub.verify(base64.b64decode(sig), canonical(doc))
    except (InvalidSignature, ValueError) as e:
        raise SignatureError(f"bad signature (key {kid})") from e
    return kid


class KeyStore:
    """The publisher's keys: ``current`` signs, ``next`` is pinned on devices ahead of rotation."""

    def __init__(self, folder: str | Path):
        self.dir = Path(folder).expanduser()

    def _index(self) -> dict:
        try:
            return json.loads((self.dir / "keys.json").read_text())
        except FileNotFoundError:
            return {}

    def _new_key(self) -> str:
        priv = Ed25519PrivateKey.generate()
        pub = public_b64(priv.public_key())
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.dir / f"{key_id(pub)}.pem"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(priv.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
        return pub

    def _save(self, index: dict) -> None:
        (self.dir / "keys.json").write_text(json.dumps(index, indent=1))

    def generate(self) -> dict:
        index = self._index()
        if index:
            return index
        index = {"current": self._new_key(), "next": self._new_key()}
        self._save(index)
        return index

    def rotate(self) -> dict:
        index = self._index() or self.generate()
        index = {"current": index["next"], "next": self._new_key(), "retired": index["current"]}
        self._save(index)
        return index

    def pinned(self) -> list[str]:
        index = self._index()
        return [index["current"], index["next"]] if index else []

    def private(self) -> Ed25519PrivateKey:
        index = self._index()
        if not index:
            raise SignatureError(f"no keys in {self.dir}: run `claim-edge fleet keys generate`")
        pem = (self.dir / f"{key_id(index['current'])}.pem").read_bytes()
        return serialization.load_pem_private_key(pem, password=None)
