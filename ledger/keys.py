"""The key file: the NIR pseudonym key and, with `init --encrypt`, the encryption keys.

It is created by `init` with mode 0600 and kept apart from the store: a stolen
store without its key file reveals no NIR (only keyed pseudonyms) and, when
encrypted, nothing at all (a SQLCipher file) or no fact payload (PostgreSQL).
The ledger refuses a key file that group or others can read, and one whose
fingerprint does not match the store's.

Three keys, three lifetimes:
- `nir_key` (HMAC of NIRs): forever. The pseudonyms in the store are computed
  with it and cannot be recomputed without the raw NIRs, which the ledger never keeps.
  It also authenticates the store's security settings (`settings_mac`).
- `cipher_key` (AES-GCM of each fact's payload): forever. The audit hashes cover the
  stored bytes, so re-encrypting a payload would change every head ever given out.
- `file_key` (SQLCipher, the whole SQLite file): rotatable (`exposure key rotate`
  re-keys every page of the file).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import msgspec

from domain.errors import StoreError


class _KeyFile(msgspec.Struct, frozen=True, kw_only=True):
    version: int
    nir_key: str
    cipher_key: str | None = None
    file_key: str | None = None


SECURITY_SETTINGS: Final = ("store_id", "key_fingerprint", "encrypted", "file_encrypted")
"""The settings that decide how a store is protected: bound to the key file by `settings_mac`."""


@dataclass(frozen=True)
class Keys:
    """The secrets of one store."""

    nir_key: bytes
    cipher_key: str | None = None
    """AES key of the facts' payloads (base64), with `init --encrypt`."""
    file_key: bytes | None = None
    """SQLCipher key of the whole SQLite file (32 raw bytes), with `init --encrypt` on SQLite."""

    @property
    def fingerprint(self) -> str:
        """A public, non-reversible name for the NIR key (stored in the store's settings)."""
        return hashlib.sha256(b"exposure-key-fingerprint:" + self.nir_key).hexdigest()[:16]

    def settings_mac(self, settings: dict[str, str]) -> str:
        """HMAC-SHA256 of the security settings under a secret derived from the NIR key:
        whoever can edit the store but lacks the key file cannot change how it is protected."""
        secret = hmac.new(self.nir_key, b"exposure-settings-mac", hashlib.sha256).digest()
        bound = json.dumps({k: settings.get(k, "") for k in SECURITY_SETTINGS}, sort_keys=True).encode()
        return hmac.new(secret, bound, hashlib.sha256).hexdigest()


def new_keys(*, encrypt: bool, whole_file: bool) -> Keys:
    """Fresh keys: a NIR key, and with `encrypt` a payload key and (`whole_file`) a file key."""
    return Keys(
        nir_key=secrets.token_bytes(32),
        cipher_key=base64.b64encode(secrets.token_bytes(32)).decode() if encrypt else None,
        file_key=secrets.token_bytes(32) if encrypt and whole_file else None,
    )


def create(path: Path, keys: Keys) -> Keys:
    """Write a new key file readable by its owner only; refuse to overwrite one."""
    create_private(path, _body(keys), f"key file {path} already exists")
    return keys


def _body(keys: Keys) -> bytes:
    record = _KeyFile(
        version=1,
        nir_key=keys.nir_key.hex(),
        cipher_key=keys.cipher_key,
        file_key=keys.file_key.hex() if keys.file_key is not None else None,
    )
    return msgspec.json.encode(record) + b"\n"


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
        file_key = bytes.fromhex(parsed.file_key) if parsed.file_key is not None else None
    except (OSError, msgspec.DecodeError, ValueError):
        raise StoreError(f"key file {path} is unreadable or malformed") from None
    if len(nir_key) < 16:
        raise StoreError(f"key file {path} holds a key that is too short")
    if parsed.cipher_key is not None and _aes_key_size(parsed.cipher_key) not in (16, 24, 32):
        raise StoreError(f"key file {path} holds a malformed encryption key")
    if file_key is not None and len(file_key) != 32:
        raise StoreError(f"key file {path} holds a malformed file key")
    return Keys(nir_key=nir_key, cipher_key=parsed.cipher_key, file_key=file_key)


def _aes_key_size(text: str) -> int:
    try:
        return len(base64.b64decode(text, validate=True))
    except ValueError:
        return 0
