"""The service's read connections: read-only SQLite connections to the WAL file (memory
mapped), or psycopg's async pool, one query at a time each.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, Final

import aiosqlite

from ledger.store import CACHE_KIB
from projections.db import Db, PostgresDb, SqliteDb

MMAP_BYTES: Final = 0x7FFF0000
"""Read connections map up to 2 GiB of the store (SQLite's default build caps a mapping there):
pages come from the OS page cache without a copy. At 20 M members (a 2.8 GiB store) this took
a batch's statement from 16-19 to 13-15 ms per 1,000 NIRs against 1 GiB."""


# -- read connections ----------------------------------------------------------------------


class ReadPool:
    """Read connections handed out one request at a time."""

    def __init__(self, acquire: Callable[[], contextlib.AbstractAsyncContextManager[Db]], close: Any) -> None:
        self.connection = acquire
        self.close = close

    @classmethod
    async def sqlite(cls, path: Path, size: int, open_reader: Callable[[str], Any]) -> ReadPool:
        """`size` read-only aiosqlite connections to the store's WAL file, opened like the store's
        own point-read connection (`open_reader`: plain SQLite, or SQLCipher with the file's key)."""
        idle: asyncio.Queue[SqliteDb] = asyncio.Queue()
        opened: list[SqliteDb] = []
        uri = f"file:{path}?mode=ro"
        for _ in range(size):
            conn = await aiosqlite.Connection(lambda: open_reader(uri), 64)
            await conn.execute("PRAGMA busy_timeout = 60000")
            await conn.execute(f"PRAGMA cache_size = -{CACHE_KIB // max(1, size)}")
            await conn.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")
            await conn.execute("PRAGMA query_only = 1")
            db = SqliteDb(conn, str(path), open_reader)
            db.reader_pragmas = (
                f"PRAGMA cache_size = -{CACHE_KIB // max(1, size)}",
                f"PRAGMA mmap_size = {MMAP_BYTES}",
            )
            opened.append(db)
            idle.put_nowait(db)

        @contextlib.asynccontextmanager
        async def acquire() -> AsyncIterator[Db]:
            db = await idle.get()
            try:
                yield db
            finally:
                idle.put_nowait(db)

        async def close() -> None:
            for db in opened:
                await db.close()

        return cls(acquire, close)

    @classmethod
    async def postgres(cls, url: str, size: int) -> ReadPool:
        """psycopg's async pool of `size` connections."""
        from psycopg_pool import AsyncConnectionPool  # noqa: PLC0415 - only PostgreSQL stores need it

        pool: Any = AsyncConnectionPool(
            url, min_size=1, max_size=size, kwargs={"autocommit": True}, open=False, timeout=30
        )
        await pool.open(wait=True)

        @contextlib.asynccontextmanager
        async def acquire() -> AsyncIterator[Db]:
            async with pool.connection() as conn:
                yield PostgresDb(conn)

        return cls(acquire, pool.close)
