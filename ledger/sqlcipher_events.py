"""eventsourcing's SQLite recorder over sqlcipher3 (see `ledger.sqlcipher`): its SQLite module
hard-codes the `sqlite3` module, so the datastore's pool is replaced; no library module is
patched.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final, cast

import sqlcipher3
from eventsourcing import persistence
from eventsourcing.sqlite import (
    SQLITE3_DEFAULT_LOCK_TIMEOUT,
    SQLiteConnection,
    SQLiteConnectionPool,
    SQLiteCursor,
    SQLiteFactory,
    SQLiteTransaction,
)
from eventsourcing.utils import Environment, EnvType

from domain.errors import StoreError
from ledger.backends import SQLCIPHER_KEY_ENV
from ledger.sqlcipher import connect

# -- eventsourcing's recorder over sqlcipher3 ------------------------------------------------

_ERRORS: Final = (
    (sqlcipher3.InterfaceError, persistence.InterfaceError),
    (sqlcipher3.DataError, persistence.DataError),
    (sqlcipher3.OperationalError, persistence.OperationalError),
    (sqlcipher3.IntegrityError, persistence.IntegrityError),
    (sqlcipher3.InternalError, persistence.InternalError),
    (sqlcipher3.ProgrammingError, persistence.ProgrammingError),
    (sqlcipher3.NotSupportedError, persistence.NotSupportedError),
    (sqlcipher3.DatabaseError, persistence.DatabaseError),
    (sqlcipher3.Error, persistence.PersistenceError),
)


class _Transaction(SQLiteTransaction):
    """The library's transaction, translating sqlcipher3's exceptions (its own classes,
    not `sqlite3`'s) into eventsourcing's: a conflicting append stays an `IntegrityError`."""

    def __exit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        try:
            super().__exit__(exc_type, exc_val, exc_tb)
        except sqlcipher3.Error as problem:
            for theirs, ours in _ERRORS:
                if isinstance(problem, theirs):
                    raise ours(problem) from problem
            raise  # pragma: no cover - every sqlcipher3 error is an Error subclass above


class _Connection(SQLiteConnection):
    @contextmanager
    def transaction(self, *, commit: bool) -> Iterator[SQLiteCursor]:
        with _Transaction(self, commit=commit) as curs, curs:
            yield curs


class _Pool(SQLiteConnectionPool):
    def __init__(self, *, key: bytes, **kwargs: Any) -> None:
        self.key = key
        super().__init__(**kwargs)

    def _create_connection(self) -> SQLiteConnection:
        try:
            conn = connect(
                self.db_name,
                self.key,
                uri=True,
                check_same_thread=False,
                isolation_level=None,
                cached_statements=True,
                timeout=self.lock_timeout or SQLITE3_DEFAULT_LOCK_TIMEOUT,
            )
        except sqlcipher3.Error as problem:
            raise persistence.InterfaceError(problem) from problem
        if not self.is_journal_mode_wal:
            conn.execute("PRAGMA journal_mode = WAL")
            self.is_journal_mode_wal = True
        conn.row_factory = sqlcipher3.Row
        return _Connection(sqlite_conn=cast(Any, conn), max_age=self.max_age)


class SQLCipherFactory(SQLiteFactory):
    """eventsourcing's SQLite persistence with every connection opened by sqlcipher3 and keyed
    with `<APP>_SQLCIPHER_KEY` (hex)."""

    def __init__(self, env: Environment | EnvType | None) -> None:
        super().__init__(env)
        key = bytes.fromhex(self.env.get(SQLCIPHER_KEY_ENV) or "")
        if len(key) != 32:
            raise StoreError("a SQLCipher store needs a 256-bit file key")
        pool = self.datastore.pool  # made by the library, not used yet: no connection opened
        self.datastore.pool = _Pool(key=key, db_name=pool.db_name, lock_timeout=pool.lock_timeout)
        pool.close()
