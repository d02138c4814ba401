"""An opened store: created (`Store.init`) or opened (`Store.open`) with its key file, its
settings checked, its keys, and closed.
"""

from __future__ import annotations

import dataclasses
import secrets
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import aiosqlite

from domain import times
from domain.errors import StoreError
from ledger import backends, guards, replicas, sqlcipher
from ledger import keys as key_files
from ledger.replicas import Replica
from projections import projector
from projections.db import Db, SqliteDb
from projections.schema import SETTINGS

if TYPE_CHECKING:  # the write side's modules load when a command writes or catches up (start-up time)
    from ledger.application import Ledger
from ledger.store.files import (
    check_settings,
    checked_ledger,
    connect_postgres,
    connect_sqlite,
    default_key_file,
    exists,
    open_file,
    open_ledger,
    read_settings,
)
from ledger.store.reading import Reading
from ledger.store.writing import Writing


class Store(Writing, Reading):
    """An opened ledger store."""

    def __init__(
        self,
        location: backends.Location,
        keys: key_files.Keys | None,
        ledger: Ledger | None,
        db: Db,
        tz: ZoneInfo,
        *,
        key_path: Path,
        settings: dict[str, str],
        replica: Replica | None = None,
    ) -> None:
        self.location = location
        self.path = location.path
        """The SQLite file (None for a PostgreSQL store)."""
        self._keys = keys
        self.key_path = key_path
        self._ledger = ledger
        self.write_db = db
        """The primary: appends, catch-ups and every other write."""
        self.replica = replica
        self._aside_db: Db | None = None
        """The members projection's own connection (`catch_up_members_aside`)."""
        self.db: Db = replica.db if replica else db
        """The read side: a hot-standby replica when one is given (`--read-store`), else the primary."""
        self.tz = tz
        self.settings = settings
        self.warnings: list[str] = []
        """What the user should hear about on opening (e.g. a store readable by others)."""

    @property
    def ledger(self) -> Ledger:
        """The fact log (eventsourcing), opened on first use: a query on projections that
        are already current never needs it (see `catch_up`)."""
        if self._ledger is None:
            self._ledger = open_ledger(self.location, self._keys, self.settings)
        return self._ledger

    @property
    def encrypted(self) -> bool:
        """Every fact's payload is AES-GCM encrypted (`init --encrypt`)."""
        return self.settings.get("encrypted") == "yes"

    @property
    def file_encrypted(self) -> bool:
        """The whole SQLite file is a SQLCipher database (`init --encrypt` on SQLite)."""
        return self.settings.get("file_encrypted") == "yes"

    @property
    def can_decode(self) -> bool:
        """The facts can be read: kept in clear, or encrypted and opened with their key."""
        return not self.encrypted or (self._keys is not None and self._keys.cipher_key is not None)

    @property
    def keys(self) -> key_files.Keys:
        """The key file's keys (`keys_for` says why they are needed when they are missing)."""
        return self.keys_for("this operation needs it")

    def keys_for(self, purpose: str) -> key_files.Keys:
        """The key file's keys; `StoreError` saying why they are needed when the store was
        opened without its key file."""
        if self._keys is None:
            raise StoreError(f"key file {self.key_path} not found: {purpose}; give --key-file or set EXPOSURE_KEY_FILE")
        return self._keys

    async def scratch_db(self, path: Path) -> SqliteDb:
        """A new SQLite file for a rebuild beside the store (`audit replay`): encrypted, with a
        key of its own that dies with the process, when the store is."""
        return await connect_sqlite(path, secrets.token_bytes(32) if self.file_encrypted else None)

    # -- opening -----------------------------------------------------------------

    @classmethod
    async def init(
        cls,
        location: str,
        key_file: Path | None = None,
        *,
        timezone: str | None = None,
        encrypt: bool | None = None,
        keys: key_files.Keys | None = None,
    ) -> tuple[Store, bool]:
        """Create the store and its key file; opening an existing one is not an error.

        `timezone` (default UTC) and `encrypt` (default no) are the settings asked for:
        an existing store with other settings is refused with both named, and left as it
        is; None means "whatever the store has". With `keys` (copying a store), the key
        file is the caller's (already written or shared) and the new store is protected
        as those keys say.
        """
        tz = times.zone(timezone or "UTC")
        loc = backends.parse_location(location)
        key_path = key_file or default_key_file(location)
        if exists(location):
            store = await cls.open(location, key_path)
            stored, asked = _settings_differ(store, None if timezone is None else tz, encrypt)
            if stored:
                await store.close()
                raise StoreError(
                    f"store {loc.display} already exists with {' and '.join(stored)};"
                    f" init asked for {' and '.join(asked)}: nothing changed"
                )
            return store, False
        if key_path.exists() and keys is None:
            raise StoreError(
                f"key file {key_path} already exists but store {loc.display} does not;"
                " move it away or name another --key-file"
            )
        if keys is None:
            keys = key_files.create(key_path, key_files.new_keys(encrypt=bool(encrypt), whole_file=not loc.is_postgres))
        file_key = keys.file_key if loc.path is not None else None
        settings = {
            "timezone": tz.key,
            "key_fingerprint": keys.fingerprint,
            "encrypted": "yes" if keys.cipher_key else "no",
            "file_encrypted": "yes" if file_key else "no",
            "created_at": times.iso_utc(datetime.now(UTC)),
            "store_id": str(uuid.uuid4()),
        }
        settings["settings_mac"] = keys.settings_mac(settings)
        if loc.path is None:
            backends.postgres_create(loc, settings)
            db: Db = await connect_postgres(loc)
        else:
            key_files.create_private(loc.path, b"", f"store {loc.path} already exists")
            db = await connect_sqlite(loc.path, file_key)
            await db.execute(SETTINGS)
            await db.executemany(
                "INSERT OR REPLACE INTO exposure_settings (key, value) VALUES (?, ?)", list(settings.items())
            )
            await db.commit()
        await projector.create_tables(db)
        ledger = open_ledger(loc, keys, settings, create=True)
        await guards.protect(db)
        if loc.is_postgres:
            backends.postgres_append_only(loc)
        return cls(loc, keys, ledger, db, tz, key_path=key_path, settings=settings), True

    @classmethod
    async def open(
        cls,
        location: str,
        key_file: Path | None = None,
        *,
        stored_bytes_only: bool = False,
        read_location: str | None = None,
        max_lag: float = replicas.DEFAULT_MAX_LAG,
    ) -> Store:
        """Open an existing store, with its key file when there is one; with `read_location`,
        answers are read from that hot-standby replica of the PostgreSQL store (see
        `ledger.replicas`).

        A store kept in clear opens without its key file (for every command that reads
        or writes no NIR); an encrypted one needs it, except, with `stored_bytes_only`
        (`audit verify`, `audit head`), a store whose payloads alone are encrypted.
        A key file that is there is always checked: another store's is refused.
        """
        loc = backends.parse_location(location)
        key_path = key_file or default_key_file(location)
        keys = key_files.load(key_path) if key_path.exists() or key_path.is_symlink() else None
        warnings: list[str] = []
        db: Db
        if loc.path is None:
            db = await connect_postgres(loc)
            settings = await read_settings(db)
            if not settings:
                await db.close()
                raise StoreError(f"no exposure store in {loc.display} (run: exposure init)")
        else:
            db, warnings = await open_file(loc.path, keys, key_path)
            try:
                settings = await read_settings(db)
            except (aiosqlite.DatabaseError, sqlcipher.DatabaseError):
                await db.close()
                raise StoreError(f"{loc.path} is not an exposure store") from None
            if not settings:
                await db.close()
                raise StoreError(f"{loc.path} is not an exposure store (run: exposure init)")
        try:
            check_settings(loc, settings, keys, key_path, stored_bytes_only=stored_bytes_only)
            await projector.create_tables(db)
            ledger = checked_ledger(loc, keys, settings, key_path)  # no guards.protect: see its docstring
        except BaseException:
            await db.close()
            raise
        tz = ZoneInfo(settings.get("timezone", "UTC"))
        store = cls(loc, keys, ledger, db, tz, key_path=key_path, settings=settings)
        store.warnings = warnings
        if read_location is not None:
            await store._read_from(read_location, settings.get("store_id", ""), max_lag)
        return store

    async def _read_from(self, read_location: str, store_id: str, max_lag: float) -> None:
        try:
            self.replica = await Replica.open(self.location, read_location, store_id, max_lag)
        except BaseException:
            await self.close()
            raise
        self.db = self.replica.db

    async def rotate_file_key(self) -> None:
        """Re-encrypt every page of a SQLCipher store under a new file key and replace the key
        file (the NIR and payload keys stay: see `ledger.keys`). Closes the store.

        The new key file is written aside first (`KEY.new`); if the re-key is interrupted
        after the file changed, opening names that file.
        """
        keys = self.keys_for("key rotate needs it (it holds the key that opens the file)")
        if self.path is None or not self.file_encrypted or keys.file_key is None:
            await self.close()
            raise StoreError(
                f"store {self.location.display} is not a SQLCipher file: there is no file key to rotate"
                " (store copy --encrypt makes one)"
            )
        new_key = secrets.token_bytes(32)
        new = dataclasses.replace(keys, file_key=new_key)
        await self.close()
        aside = self.key_path.with_name(self.key_path.name + ".new")
        aside.unlink(missing_ok=True)
        key_files.create(aside, new)
        sqlcipher.rekey(self.path, keys.file_key, new_key)
        aside.replace(self.key_path)

    async def close(self) -> None:
        """Close the read side and the ledger."""
        if self.replica is not None:
            await self.replica.db.close()
        await self.write_db.close()
        if self._aside_db is not None:
            await self._aside_db.close()
        if self._ledger is not None:
            self._ledger.close()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _settings_differ(store: Store, tz: ZoneInfo | None, encrypt: bool | None) -> tuple[list[str], list[str]]:
    """The settings of `store` that differ from those asked for, and the ones asked for."""
    stored: list[str] = []
    asked: list[str] = []
    if tz is not None and tz.key != store.tz.key:
        stored.append(f"time zone {store.tz.key}")
        asked.append(f"time zone {tz.key}")
    encrypted = store.encrypted
    if encrypt is not None and encrypt != encrypted:
        stored.append("encryption" if encrypted else "no encryption")
        asked.append("--encrypt" if encrypt else "no encryption")
    return stored, asked
