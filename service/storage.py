"""The service's database: its tokens and its access log, kept apart from the facts.

A SQLite store `ledger.db` keeps them in `ledger.service.db` beside it (created 0600 like
the store): the lookup service writes there at every answer, and never into the store
file, whose single write lock stays with the ledger's writers. A PostgreSQL store keeps
them in two tables of its own database (`service_tokens`, `service_log`), apart from
the events table. The access log is append-only in both (triggers refuse UPDATE and
DELETE); only a token's revocation time is ever updated.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

import aiosqlite

from domain.errors import StoreError
from ledger import backends
from projections.db import SQLITE, Db, PostgresDb, SqliteDb

BUSY_TIMEOUT_MS: Final = 60_000

TABLES: Final = (
    """
    CREATE TABLE IF NOT EXISTS service_tokens (
        fingerprint TEXT PRIMARY KEY,
        hash TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        insurer TEXT,
        rate TEXT NOT NULL,
        created_us INTEGER NOT NULL,
        revoked_us INTEGER
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS service_log (
        first_seq INTEGER PRIMARY KEY,
        last_seq INTEGER NOT NULL,
        at_us INTEGER NOT NULL,
        token TEXT NOT NULL,
        insurer TEXT NOT NULL,
        lookups TEXT NOT NULL,
        hash TEXT NOT NULL
    )
    """,
    "CREATE INDEX IF NOT EXISTS service_log_by_token ON service_log (token, first_seq)",
    "CREATE INDEX IF NOT EXISTS service_log_by_time ON service_log (at_us)",
)
"""The access log (`service.access_log`): one row per request answered (a block of its lookups,
`lookups` their canonical JSON), indexed by token and by time. A log written by earlier
versions, one row per lookup, stays in `service_access` (`LEGACY_TABLE`), read before it."""

LOG_TABLE: Final = "service_log"
LEGACY_TABLE: Final = "service_access"

_SQLITE_GUARDS: Final = tuple(
    f"CREATE TRIGGER IF NOT EXISTS service_log_no_{verb.lower()} BEFORE {verb} ON service_log"
    f" BEGIN SELECT RAISE(ABORT, 'exposure: the access log is append-only ({verb} refused)'); END"
    for verb in ("UPDATE", "DELETE")
)
_POSTGRES_GUARDS: Final = (
    """
    CREATE OR REPLACE FUNCTION service_log_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'the access log is append-only: % refused', TG_OP;
    END $$
    """,
    """
    CREATE OR REPLACE TRIGGER service_log_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON service_log
    FOR EACH STATEMENT EXECUTE FUNCTION service_log_refuse()
    """,
)


def service_path(store: Path) -> Path:
    """The service database beside a SQLite store: `ledger.db` -> `ledger.service.db`."""
    return store.with_name(store.stem + ".service.db")


async def existing(location: str) -> Db | None:
    """The service database of the store at `location` if a token was ever created, else None
    (nothing is created: `audit verify` stays read-only)."""
    loc = backends.parse_location(location)
    if loc.path is not None:
        return await connect(location) if service_path(loc.path).exists() else None
    db = await PostgresDb.connect(loc.text)
    async with db.execute("SELECT to_regclass('service_tokens') IS NOT NULL") as cursor:
        row = await cursor.fetchone()
    if row is None or not row[0]:
        await db.close()
        return None
    return db


async def connect(location: str, *, create: bool = True) -> Db:
    """Open (and create) the service database of the store at `location`."""
    loc = backends.parse_location(location)
    db: Db
    if loc.path is None:
        db = await PostgresDb.connect(loc.text)
    else:
        path = service_path(loc.path)
        if not path.exists():
            if not create:
                raise StoreError(f"no service database at {path} (create a token first)")
            path.parent.mkdir(parents=True, exist_ok=True)
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        conn = await aiosqlite.connect(str(path), isolation_level=None)
        await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        await conn.execute("PRAGMA journal_mode = WAL")
        await conn.execute("PRAGMA synchronous = NORMAL")
        db = SqliteDb(conn)
    try:
        await _create_tables(db)
    except BaseException:
        await db.close()
        raise
    return db


async def _create_tables(db: Db) -> None:
    await db.ensure_schema(TABLES)
    if db.dialect == SQLITE:
        for statement in _SQLITE_GUARDS:
            await db.execute(statement)
        await db.commit()
        return
    present = await db.names()
    if "service_log_append_only" not in present:
        await db.begin("service-schema")
        try:
            for statement in _POSTGRES_GUARDS:
                await db.execute(statement)
            await db.commit()
        except BaseException:
            await db.rollback()
            raise
