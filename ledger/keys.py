"""The key file: the NIR pseudonym key and, with `init --encrypt`, the payload key.

It is created by `init` with mode 0600 and kept apart from the store: a stolen
store without its key file reveals no NIR (only keyed pseudonyms) and, when
encrypted, no fact payload. The ledger refuses a key file that group or others
can read, and one whose fingerprint does not match the store's.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

import msgspec

from domain.errors import StoreError


class _KeyFile(msgspec.Struct, frozen=True, kw_only=True):
    version: int
    nir_key: str
    cipher_key: str | None = None


@dataclass(frozen=True)
class Keys:
    """The secrets of one store."""

    nir_key: bytes
    cipher_key: str | None = None

    @property
    def fingerprint(self) -> str:
        """A public, non-reversible name for the NIR key (stored in the store's settings)."""
        return hashlib.sha256(b"exposure-key-fingerprint:" + self.nir_key).hexdigest()[:16]


def create(path: Path, *, encrypt: bool) -> Keys:
    """Write a new key file readable by its owner only; refuse to overwrite one."""
    keys = Keys(
        nir_key=secrets.token_bytes(32),
        cipher_key=base64.b64encode(secrets.token_bytes(32)).decode() if encrypt else None,
    )
    body = msgspec.json.encode(_KeyFile(version=1, nir_key=keys.nir_key.hex(), cipher_key=keys.cipher_key))
    create_private(path, body + b"\n", f"key file {path} already exists")
    return keys


def create_private(path: Path, data: bytes, exists: str) -> None:
    """Write a new file readable by its owner only (0600 whatever the umask); `exists` is
    the error when the file is already there (never overwritten)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise StoreError(exists) from None
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


def require_private(path: Path, label: str, missing: str) -> None:
    """Refuse a secret file that is missing (`missing`: what to do) or accessible by group or others."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise StoreError(f"{label} {path} not found ({missing})") from None
    if not stat.S_ISREG(mode):  # a FIFO would block the read forever; a folder or device is no key
        raise StoreError(f"{label} {path} is not a regular file")
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise StoreError(
            f"{label} {path} is accessible by group or others (mode {stat.S_IMODE(mode):04o}); run: chmod 600 {path}"
        )


def load(path: Path) -> Keys:
    """Read a key file, refusing one that is missing, malformed or readable by others."""
    require_private(path, "key file", "give --key-file or set EXPOSURE_KEY_FILE")
    try:
        parsed = msgspec.json.decode(path.read_bytes(), type=_KeyFile)
        nir_key = bytes.fromhex(parsed.nir_key)
    except (OSError, msgspec.DecodeError, ValueError):
        raise StoreError(f"key file {path} is unreadable or malformed") from None
    if len(nir_key) < 16:
        raise StoreError(f"key file {path} holds a key that is too short")
    if parsed.cipher_key is not None and _aes_key_size(parsed.cipher_key) not in (16, 24, 32):
        raise StoreError(f"key file {path} holds a malformed encryption key")
    return Keys(nir_key=nir_key, cipher_key=parsed.cipher_key)


def _aes_key_size(text: str) -> int:
    try:
        return len(base64.b64decode(text, validate=True))
    except ValueError:
        return 0
