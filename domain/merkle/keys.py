"""Signed-note keys as text (`name+id+base64`): key ids, verifier and signer keys made and parsed."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from typing import Final

from domain.merkle.tree import ProofError

ED25519: Final = 0x01
"""The signed-note signature type identifier of Ed25519 (C2SP signed-note)."""
KEY_NAME = re.compile(r"^[^\s+]+$")


# -- verifier keys (C2SP signed-note: name+keyid+base64(type || public key)) ------------


def key_id(name: str, public_key: bytes, key_type: int = ED25519) -> bytes:
    """The 4-byte key id: the first bytes of SHA-256(name || 0x0A || type || public key)."""
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([key_type]) + public_key).digest()[:4]


def key_display(name: str, identifier: bytes) -> str:
    """A key as people should read it: `name+keyidhex` (the name alone is not unique)."""
    return f"{name}+{identifier.hex()}"


def check_key_name(name: str) -> str:
    """A key name: non-empty, no spaces, no plus signs."""
    if not KEY_NAME.match(name):
        raise ProofError(f"a key name has no spaces or '+' signs: {name!r}")
    return name


def verifier_key(name: str, public_key: bytes) -> str:
    """The public verifier key text `name+keyid+base64(0x01 || public key)`."""
    check_key_name(name)
    blob = base64.b64encode(bytes([ED25519]) + public_key).decode("ascii")
    return f"{name}+{key_id(name, public_key).hex()}+{blob}"


def signer_key(name: str, seed: bytes, public_key: bytes) -> str:
    """The private key text `PRIVATE+KEY+name+keyid+base64(0x01 || seed)` (Go's note format)."""
    check_key_name(name)
    blob = base64.b64encode(bytes([ED25519]) + seed).decode("ascii")
    return f"PRIVATE+KEY+{name}+{key_id(name, public_key).hex()}+{blob}"


def parse_verifier_key(text: str) -> tuple[str, bytes, bytes]:
    """(name, key id, Ed25519 public key) from a verifier key; `ProofError` if malformed."""
    parts = text.strip().split("+", 2)
    if len(parts) != 3:
        raise ProofError("a verifier key reads name+keyid+base64key")
    name, id_hex, blob = parts
    check_key_name(name)
    key_bytes = _key_blob(blob)
    if len(key_bytes) != 33 or key_bytes[0] != ED25519:
        raise ProofError("only Ed25519 verifier keys (type 0x01, 32 bytes) are supported")
    public_key = key_bytes[1:]
    if id_hex.lower() != key_id(name, public_key).hex():
        raise ProofError(f"the key id {id_hex} does not match key {name!r}")
    return name, bytes.fromhex(id_hex), public_key


def parse_signer_key(text: str) -> tuple[str, bytes, bytes]:
    """(name, key id, Ed25519 seed) from `PRIVATE+KEY+name+keyid+base64(0x01 || seed)`."""
    parts = text.strip().split("+", 4)
    if len(parts) != 5 or parts[0] != "PRIVATE" or parts[1] != "KEY":
        raise ProofError("a signer key reads PRIVATE+KEY+name+keyid+base64key")
    name, id_hex, blob = parts[2], parts[3], parts[4]
    check_key_name(name)
    key_bytes = _key_blob(blob)
    if len(key_bytes) != 33 or key_bytes[0] != ED25519:
        raise ProofError("only Ed25519 signer keys (type 0x01, 32-byte seed) are supported")
    try:
        key = bytes.fromhex(id_hex)
    except ValueError:
        raise ProofError(f"key id {id_hex!r} is not hex") from None
    if len(key) != 4:
        raise ProofError(f"key id {id_hex!r} is not 4 bytes")
    return name, key, key_bytes[1:]


def _key_blob(blob: str) -> bytes:
    try:
        return base64.b64decode(blob, validate=True)
    except (binascii.Error, ValueError):
        raise ProofError("the key is not base64") from None
