"""`Db` on SQLite through aiosqlite, with a synchronous connection for point reads."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any, cast

import aiosqlite

from projections.db.base import READ_TIMEOUT_S, SQLITE, Db, Params, Result


class SqliteDb(Db):
    """aiosqlite, in autocommit mode (`isolation_level=None`): transactions are explicit."""

    dialect = SQLITE

    def __init__(
        self, conn: aiosqlite.Connection, path: str | None = None, reader: Callable[[str], Any] | None = None
    ) -> None:
        self.conn = conn
        self.path = path
        self.open_reader = reader or _plain_reader
        """Opens the point-read connection from a read-only URI (a SQLCipher file needs its key)."""
        self._reader: Any = None
        self.reader_pragmas: tuple[str, ...] = ()
        """Run on the point-read connection when it opens (e.g. its cache size)."""

    def execute(self, sql: str, params: Params = ()) -> Result:
        return cast(Result, self.conn.execute(sql, params))

    async def fetch_point(self, sql: str, params: Params = ()) -> Iterable[Any]:
        """Read on a synchronous, read-only connection to the same file, in the caller's
        thread: an indexed lookup costs SQLite tens of microseconds, less than the hop to
        aiosqlite's thread and back. Each statement reads the last committed state (WAL)."""
        if self.path is None:
            return await self.execute_fetchall(sql, params)
        if self._reader is None:
            self._reader = self.open_reader(f"file:{self.path}?mode=ro")
            for pragma in self.reader_pragmas:
                self._reader.execute(pragma)
        return cast(Iterable[Any], self._reader.execute(sql, params).fetchall())

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        await self.conn.executemany(sql, rows)

    async def execute_fetchall(self, sql: str, params: Params = ()) -> Iterable[Any]:
        return cast(Iterable[Any], await self.conn.execute_fetchall(sql, params))

    async def begin(self, lock: str) -> None:  # noqa: ARG002 - SQLite has one write lock
        await self.conn.execute("BEGIN IMMEDIATE")

    async def commit(self) -> None:
        await self.conn.commit()

    async def rollback(self) -> None:
        await self.conn.rollback()

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        await self.conn.close()

    async def ensure_schema(self, statements: Sequence[str]) -> None:
        for statement in statements:
            await self.conn.execute(statement)
        await self.conn.commit()

    async def names(self) -> set[str]:
        async with self.conn.execute("SELECT name FROM sqlite_master") as cursor:
            return {str(r[0]) for r in await cursor.fetchall()}


def _plain_reader(uri: str) -> sqlite3.Connection:
    return sqlite3.connect(uri, uri=True, timeout=READ_TIMEOUT_S, check_same_thread=False)
