"""A store's files and connections: the key file's default place, the SQLite file
(permissions, SQLCipher, pragmas), the PostgreSQL pool, the settings and the fact log.
"""

from __future__ import annotations

import hmac
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import aiosqlite

from domain.errors import StoreError
from ledger import backends, sqlcipher
from ledger import keys as key_files
from projections.db import READ_TIMEOUT_S, SQLITE, Db, PostgresDb, SqliteDb

if TYPE_CHECKING:  # the write side's modules load when a command writes or catches up (start-up time)
    from ledger.application import Ledger

BUSY_TIMEOUT_MS: Final = 60_000
CACHE_KIB: Final = 256 * 1024
"""SQLite page cache of the read side: keeps roster indexes in memory while importing."""
POINT_READ_CACHE_KIB: Final = 64 * 1024
"""Page cache of the point-read connection to a SQLCipher file: a page found there is already
decrypted and authenticated; one read from the OS costs an AES decryption and an HMAC."""


def default_key_file(location: str) -> Path:
    """The store's path with `.key` (SQLite), else `./exposure.key`."""
    if location.startswith(("postgresql://", "postgres://")):
        return Path("exposure.key")
    return Path(location.removeprefix("sqlite:///")).with_suffix(".key")


def exists(location: str) -> bool:
    """Whether a store (or, for SQLite, any file) is already at `location`."""
    loc = backends.parse_location(location)
    return bool(backends.postgres_settings(loc)) if loc.path is None else loc.path.exists()


async def open_file(path: Path, keys: key_files.Keys | None, key_path: Path) -> tuple[SqliteDb, list[str]]:
    """Connect to a SQLite store: a SQLCipher file with the key file's file key."""
    if not path.exists():
        raise StoreError(f"no store at {path} (run: exposure init)")
    _require_database_file(path)
    warnings = exposed_files(path)
    file_key: bytes | None = None
    if sqlcipher.is_encrypted_file(path):
        if keys is None or keys.file_key is None:
            why = f"{key_path} not found" if keys is None else f"key file {key_path} does not open it"
            raise StoreError(f"store {path} is encrypted; give its key file ({why})")
        file_key = keys.file_key
    try:
        return await connect_sqlite(path, file_key), warnings
    except sqlcipher.WrongKey:
        pass
    aside = key_path.with_name(key_path.name + ".new")
    hint = ""
    if aside.exists():
        hint = f"; a key rotation was interrupted: if {aside} opens it, run: mv {aside} {key_path}"
    raise StoreError(f"store {path} is encrypted; give its key file (key file {key_path} does not open it{hint})")


def exposed_files(path: Path) -> list[str]:
    """Warnings for the store file and its WAL and shared memory when group or others may
    read them (they hold the whole ledger)."""
    warnings: list[str] = []
    for file in (path, *(path.with_name(path.name + suffix) for suffix in ("-wal", "-shm"))):
        try:
            mode = file.stat().st_mode
        except OSError:
            continue
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            warnings.append(
                f"{file} is accessible by group or others (mode {stat.S_IMODE(mode):04o}); run: chmod 600 {file}"
            )
    return warnings


def open_ledger(
    location: backends.Location, keys: key_files.Keys | None, settings: dict[str, str], *, create: bool = False
) -> Ledger:
    """The eventsourcing application: payloads decrypted when the store is encrypted and its key
    is known, the file opened through SQLCipher when it is one."""
    cipher_key = keys.cipher_key if keys is not None and settings.get("encrypted") == "yes" else None
    file_key = keys.file_key if keys is not None and settings.get("file_encrypted") == "yes" else None
    env = backends.ledger_env(location, cipher_key, BUSY_TIMEOUT_MS // 1000, create=create, file_key=file_key)
    from ledger.application import Ledger  # noqa: PLC0415 - start-up time: see the imports

    return Ledger(env=env)


def _require_database_file(path: Path) -> None:
    """Refuse, before anything reads it, a store path that cannot be a store: a folder, a
    FIFO (reading it would wait forever), a device, an empty file."""
    info = path.stat()
    if not stat.S_ISREG(info.st_mode):
        raise StoreError(f"{path} is not a regular file: not an exposure store")
    if info.st_size == 0:
        raise StoreError(f"{path} is empty: not an exposure store")


async def connect_sqlite(path: Path, file_key: bytes | None) -> SqliteDb:
    """The read side's connection to a SQLite file (a SQLCipher one with `file_key`)."""
    reader = None
    if file_key is None:
        db = await aiosqlite.connect(str(path), isolation_level=None)
    else:
        key = file_key
        sqlcipher.connect(str(path), key).close()  # a wrong key fails here, not in aiosqlite's thread

        def connector() -> Any:
            return sqlcipher.connect(str(path), key, isolation_level=None)

        def reader(uri: str) -> Any:
            conn = sqlcipher.connect(uri, key, uri=True, timeout=READ_TIMEOUT_S, check_same_thread=False)
            conn.execute(f"PRAGMA cache_size = -{POINT_READ_CACHE_KIB}")
            return conn

        db = await aiosqlite.Connection(connector, 64)
    try:
        await db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        await db.execute("PRAGMA journal_mode = WAL")
        await db.execute("PRAGMA synchronous = NORMAL")
        await db.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        await db.execute("PRAGMA temp_store = MEMORY")
    except (aiosqlite.DatabaseError, sqlcipher.DatabaseError):  # closed, or its thread keeps the process alive
        await db.close()
        raise StoreError(f"{path} is not a SQLite file: not an exposure store") from None
    return SqliteDb(db, str(path), reader)


async def connect_postgres(location: backends.Location) -> PostgresDb:
    import psycopg  # noqa: PLC0415 - only PostgreSQL stores need psycopg

    try:
        return await PostgresDb.connect(location.text)
    except psycopg.Error as problem:
        raise StoreError(f"cannot connect to {location.display}: {str(problem).strip().splitlines()[0]}") from None


async def read_settings(db: Db) -> dict[str, str]:
    exists = (
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'exposure_settings'"
        if db.dialect == SQLITE
        else "SELECT 1 WHERE to_regclass('exposure_settings') IS NOT NULL"
    )
    async with db.execute(exists) as c:
        if await c.fetchone() is None:
            return {}
    async with db.execute("SELECT key, value FROM exposure_settings") as c:
        return {str(k): str(v) for k, v in await c.fetchall()}


def check_settings(
    loc: backends.Location,
    settings: dict[str, str],
    keys: key_files.Keys | None,
    key_path: Path,
    *,
    stored_bytes_only: bool,
) -> None:
    """Refuse a key file of another store, security settings changed without the key file,
    and an encrypted store opened without its key file."""
    encrypted = settings.get("encrypted") == "yes"
    if keys is None:
        if encrypted and not stored_bytes_only:
            raise StoreError(f"store {loc.display} is encrypted; give its key file ({key_path} not found)")
        return
    if settings.get("key_fingerprint") != keys.fingerprint:
        raise StoreError(f"key file {key_path} does not belong to store {loc.display}")
    if not hmac.compare_digest(settings.get("settings_mac", ""), keys.settings_mac(settings)):
        shown = ", ".join(f"{k}={settings.get(k, '(none)')}" for k in key_files.SECURITY_SETTINGS[2:])
        raise StoreError(
            f"the security settings of store {loc.display} ({shown}) were changed without its key file;"
            " refusing to use the store"
        )
    if encrypted and not keys.cipher_key:
        raise StoreError(f"store {loc.display} is encrypted but key file {key_path} has no encryption key")


def checked_ledger(
    location: backends.Location, keys: key_files.Keys | None, settings: dict[str, str], key_path: Path
) -> Ledger | None:
    """The ledger, once its encryption key is known to open the facts already stored: with a
    wrong one, appended facts could be read by no one holding the right key. None for a store
    whose facts are in clear: it is opened on first use (`Store.ledger`)."""
    cipher = keys is not None and keys.cipher_key and settings.get("encrypted") == "yes"
    if not cipher:
        return None
    ledger = open_ledger(location, keys, settings)
    first = ledger.notifications(1, 1) if cipher else []
    try:
        if first:
            ledger.decode(first[0].state)
    except ValueError:
        ledger.close()
        raise StoreError(
            f"key file {key_path} cannot decrypt store {location.display} (wrong encryption key)"
        ) from None
    return ledger
