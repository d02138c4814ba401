"""Where a store lives: an embedded SQLite file, or a PostgreSQL database.

- SQLite (default): the facts (eventsourcing's SQLite recorder), the settings and
  the projections share one file.
- PostgreSQL (`postgresql://...`): the facts live in PostgreSQL through
  eventsourcing's own `eventsourcing.postgres` module (psycopg 3 and its pool), so
  many writers on many machines append to one ledger; the settings, the projections
  and the verified audit leaves live in the same database (read and written through
  psycopg's async API, see `projections.db`), so every machine sees the same
  projections. They catch up from the notification log under one advisory lock per
  projection: rows and position in one transaction, exactly once whoever catches up.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from domain.errors import StoreError

DEFAULT_STORE: Final = "exposure.db"
"""The store when neither `--store` nor `$EXPOSURE_STORE` names one."""
SQLCIPHER_KEY_ENV: Final = "SQLCIPHER_KEY"
"""Read by `ledger.sqlcipher_events.SQLCipherFactory` (prefixed with the application's name)."""
POSTGRES_EVENTS_TABLE: Final = "exposure_events"
_APPEND_ONLY_FUNCTION: Final = """
CREATE OR REPLACE FUNCTION exposure_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the exposure ledger is append-only: % refused', TG_OP;
END $$
"""
_APPEND_ONLY_TRIGGERS: Final = tuple(
    f"""
CREATE OR REPLACE TRIGGER {table}_append_only
BEFORE UPDATE OR DELETE OR TRUNCATE ON {table}
FOR EACH STATEMENT EXECUTE FUNCTION exposure_refuse_change()
"""
    for table in (POSTGRES_EVENTS_TABLE, "audit_leaves")
)


@dataclass(frozen=True)
class Location:
    """A parsed `--store` value."""

    text: str
    postgres: dict[str, str] | None
    path: Path | None
    """The SQLite file (None for PostgreSQL)."""

    @property
    def is_postgres(self) -> bool:
        """True for a PostgreSQL store."""
        return self.postgres is not None

    @property
    def display(self) -> str:
        """The location without any password."""
        if self.path is not None:
            return str(self.path)
        info = self.postgres or {}
        user, host, port = info.get("user", ""), info.get("host", ""), info.get("port", "5432")
        return f"postgresql://{user}@{host}:{port}/{info.get('dbname', '')}"


def parse_location(text: str) -> Location:
    """`exposure.db`, `sqlite:///path.db` or `postgresql://user:pw@host:port/db`."""
    if text.startswith(("postgresql://", "postgres://")):
        try:
            from projections.psycopg_start import load_psycopg  # noqa: PLC0415 - PostgreSQL stores only

            load_psycopg()  # its first import, without importlib.metadata (start-up time)
            from psycopg.conninfo import conninfo_to_dict  # noqa: PLC0415 - only PostgreSQL stores need psycopg
        except ImportError:  # pragma: no cover - psycopg is a dependency
            raise StoreError("PostgreSQL stores need psycopg: pip install 'psycopg[binary,pool]'") from None
        try:
            info = {k: str(v) for k, v in conninfo_to_dict(text).items() if v is not None}
        except Exception as problem:  # noqa: BLE001 - psycopg raises several kinds for a bad URL
            raise StoreError(f"invalid PostgreSQL URL: {problem}") from None
        if not info.get("dbname"):
            raise StoreError("the PostgreSQL URL must name a database: postgresql://user@host/dbname")
        return Location(text, info, None)
    if text.startswith("sqlite:///"):
        text = text.removeprefix("sqlite:///")
    return Location(text, None, Path(text))


def ledger_env(
    location: Location, cipher_key: str | None, lock_timeout_s: int, *, create: bool, file_key: bytes | None = None
) -> dict[str, str]:
    """The eventsourcing environment of the ledger Application (SQLCipher with a `file_key`).

    On PostgreSQL the events table is created by `init` only: concurrent
    `CREATE TABLE IF NOT EXISTS` from many openers conflicts in the catalog.
    """
    env = {
        "EXPOSURE_COMPRESSOR_TOPIC": "ledger.application:FactCompressor",
        "EXPOSURE_CIPHER_TOPIC": "eventsourcing.cryptography:AESCipher" if cipher_key else "",
        "EXPOSURE_CIPHER_KEY": cipher_key or "",
    }
    if location.postgres is None:
        env |= {
            "EXPOSURE_PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "EXPOSURE_SQLITE_DBNAME": str(location.path),
            "EXPOSURE_SQLITE_LOCK_TIMEOUT": str(lock_timeout_s),
        }
        if file_key is not None:
            env |= {
                "EXPOSURE_PERSISTENCE_MODULE": "ledger.sqlcipher_events:SQLCipherFactory",
                "EXPOSURE_" + SQLCIPHER_KEY_ENV: file_key.hex(),
            }
        return env
    info = location.postgres
    return env | {
        "EXPOSURE_PERSISTENCE_MODULE": "eventsourcing.postgres",
        "EXPOSURE_POSTGRES_DBNAME": info["dbname"],
        "EXPOSURE_POSTGRES_HOST": info.get("host", "localhost"),
        "EXPOSURE_POSTGRES_PORT": info.get("port", "5432"),
        "EXPOSURE_POSTGRES_USER": info.get("user", os.environ.get("USER", "postgres")),
        "EXPOSURE_POSTGRES_PASSWORD": info.get("password", ""),
        "EXPOSURE_POSTGRES_LOCK_TIMEOUT": str(lock_timeout_s),
        "EXPOSURE_POSTGRES_POOL_SIZE": "2",
        "EXPOSURE_POSTGRES_MAX_OVERFLOW": "2",
        "EXPOSURE_CREATE_TABLE": "true" if create else "false",
        "EXPOSURE_APPLICATION_RECORDER_TOPIC": "ledger.pg_recorder:LedgerRecorder",
    }


def _connect(location: Location) -> Any:
    import psycopg  # noqa: PLC0415 - only PostgreSQL stores need psycopg

    try:
        return psycopg.connect(location.text, autocommit=True, connect_timeout=15)
    except psycopg.Error as problem:
        raise StoreError(f"cannot connect to {location.display}: {str(problem).strip().splitlines()[0]}") from None


def postgres_settings(location: Location) -> dict[str, str] | None:
    """The store's settings, or None when the database holds no exposure store."""
    with _connect(location) as conn:
        row = conn.execute("SELECT to_regclass('exposure_settings')").fetchone()
        if row is None or row[0] is None:
            return None
        return {str(k): str(v) for k, v in conn.execute("SELECT key, value FROM exposure_settings").fetchall()}


def postgres_create(location: Location, settings: dict[str, str]) -> None:
    """Write a new store's settings (one transaction)."""
    with _connect(location) as conn, conn.transaction():
        conn.execute("CREATE TABLE IF NOT EXISTS exposure_settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        for key, value in settings.items():
            conn.execute(
                "INSERT INTO exposure_settings (key, value) VALUES (%s, %s) ON CONFLICT (key) DO NOTHING", (key, value)
            )


def postgres_append_only(location: Location) -> None:
    """Refuse UPDATE, DELETE and TRUNCATE on the events and on the verified audit leaves
    (the audit does not rely on it: `verify --expect` is what a forger cannot pass)."""
    with _connect(location) as conn, conn.transaction():
        conn.execute(_APPEND_ONLY_FUNCTION)
        for trigger in _APPEND_ONLY_TRIGGERS:
            conn.execute(trigger)
