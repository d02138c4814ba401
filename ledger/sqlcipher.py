"""SQLCipher: a SQLite store encrypted page by page, the event log and every projection alike.

`init --encrypt` on SQLite creates a SQLCipher 4 file (AES-256 in CBC mode with a random
IV per page, HMAC-SHA512 per page, the WAL encrypted the same way), keyed with the raw
256-bit `file_key` of the key file (`PRAGMA key = "x'...'"`: no passphrase, so no key
derivation to pay on each open). Everything that opens the file opens it through
`connect` here: the read side (aiosqlite, which takes a connector), the point-read
connection, and eventsourcing's recorder through `ledger.sqlcipher_events` (kept apart so
that opening a store whose projections are current loads no eventsourcing module).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from domain.errors import StoreError

if TYPE_CHECKING:
    import sqlcipher3

SQLITE_HEADER: Final = b"SQLite format 3\x00"


def __getattr__(name: str) -> Any:
    """`DatabaseError`, sqlcipher3's: the library loads only for an encrypted file (or to
    match an error), not for every command on a plain store (start-up time)."""
    if name == "DatabaseError":
        import sqlcipher3  # noqa: PLC0415 - see above

        return sqlcipher3.DatabaseError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def is_encrypted_file(path: Path) -> bool:
    """True for a non-empty file without SQLite's clear header: a SQLCipher file starts
    with its random salt, a plain one with `SQLite format 3`."""
    try:
        with path.open("rb") as handle:
            head = handle.read(len(SQLITE_HEADER))
    except OSError:
        return False
    return bool(head) and head != SQLITE_HEADER


def key_pragma(key: bytes, name: str = "key") -> str:
    """`PRAGMA key = "x'...'"`: a raw 256-bit key, used as is (no passphrase derivation)."""
    return f"PRAGMA {name} = \"x'{key.hex()}'\""


def connect(database: str, key: bytes, **kwargs: Any) -> sqlcipher3.Connection:
    """A sqlcipher3 connection with its key set, checked by reading the schema.

    `StoreError` when the key does not open the file. SQLCipher's own log lines on
    stderr are turned off: errors reach the user as one `Error:` line.
    """
    import sqlcipher3  # noqa: PLC0415 - loaded for encrypted files only (see `__getattr__`)

    conn = sqlcipher3.connect(database, **kwargs)
    try:
        conn.execute("PRAGMA cipher_log_level = NONE")
        conn.execute(key_pragma(key))
        conn.execute("SELECT count(*) FROM sqlite_master").fetchall()
    except sqlcipher3.DatabaseError:
        conn.close()
        raise WrongKey(database) from None
    return conn


class WrongKey(StoreError):
    """The key does not open the file."""


def rekey(path: Path, old: bytes, new: bytes) -> None:
    """Re-encrypt every page of the file (and its WAL) under `new`, in one transaction."""
    conn = connect(str(path), old, isolation_level=None, timeout=60)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute(key_pragma(new, "rekey"))
    finally:
        conn.close()
