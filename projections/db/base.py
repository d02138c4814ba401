"""The database interface the read side writes its SQL against (`Db`), in SQLite's spelling."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Generator, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, Final, Protocol

SQLITE: Final = "sqlite"
READ_TIMEOUT_S: Final = 60
POSTGRES: Final = "postgresql"

Params = Sequence[Any] | Mapping[str, Any]


class Cursor(Protocol):
    """What the read side uses of a cursor."""

    async def fetchone(self) -> Any: ...

    async def fetchall(self) -> Iterable[Any]: ...

    async def fetchmany(self, size: int) -> Iterable[Any]: ...

    def __aiter__(self) -> AsyncIterator[Any]: ...


class Result(Protocol):
    """`db.execute(...)`: awaited, a cursor; or `async with db.execute(...) as cursor`."""

    def __await__(self) -> Generator[Any, None, Cursor]: ...

    async def __aenter__(self) -> Cursor: ...

    async def __aexit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class Db:
    """A read-side connection (see the module's docstring)."""

    dialect: str = SQLITE
    read_only: bool = False
    """True on a hot-standby replica: queries skip their caches' writes."""

    def execute(self, sql: str, params: Params = ()) -> Result:
        """Run one statement; await the result for its cursor, or use it as a context manager."""
        raise NotImplementedError

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        """Run one statement once per row of parameters."""
        raise NotImplementedError

    async def execute_fetchall(self, sql: str, params: Params = ()) -> Iterable[Any]:
        """Run one query and return every row (one round trip)."""
        raise NotImplementedError

    def stream(self, sql: str, params: Params = ()) -> contextlib.AbstractAsyncContextManager[Cursor]:
        """A cursor for a large result read in chunks (`fetchmany`): on PostgreSQL a
        server-side cursor, so memory stays flat whatever the number of rows."""
        return self.execute(sql, params)

    async def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Append many rows to `table` (PostgreSQL: one COPY; SQLite: one prepared INSERT)."""
        marks = ", ".join("?" for _ in columns)
        await self.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    async def copy_text(self, table: str, columns: Sequence[str], text: str) -> None:
        """Append rows given as COPY text (tab-separated, one row a line, `\\N` for NULL):
        PostgreSQL only, whose bulk path it is."""
        raise NotImplementedError

    async def fetch_point(self, sql: str, params: Params = ()) -> Iterable[Any]:
        """A short indexed read (one member's answer): every row, by the quickest path."""
        return await self.execute_fetchall(sql, params)

    async def begin(self, lock: str) -> None:
        """Begin a write transaction, serialised with every other writer of `lock`."""
        raise NotImplementedError

    async def index_paths_only(self) -> None:
        """For the rest of the transaction, plan joins as index lookups only (PostgreSQL; a
        no-op on SQLite, whose planner already does): see `PostgresDb.index_paths_only`."""

    async def commit(self) -> None:
        """Commit the transaction in progress, if any."""
        raise NotImplementedError

    async def rollback(self) -> None:
        """Roll back the transaction in progress, if any."""
        raise NotImplementedError

    async def close(self) -> None:
        """Close the connection."""
        raise NotImplementedError

    async def ensure_schema(self, statements: Sequence[str]) -> None:
        """Create the tables and indexes of `statements` (`CREATE ... IF NOT EXISTS`) that are missing."""
        raise NotImplementedError

    async def names(self) -> set[str]:
        """Tables, indexes and triggers of the read side."""
        raise NotImplementedError
