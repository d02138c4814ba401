"""Writing the access log (`service.access_log`): one sealed block per request, in group commits.

`Writer` commits blocks in groups: a request's block is written, with those of every request
waiting at the same moment, in one transaction, and its answer is sent only once they are
committed. Several service processes append to one chain: each group reads the last block
inside its write transaction (SQLite's write lock, PostgreSQL's advisory lock) and seals its
blocks after it (`sealed`). A request of 1,000 lookups costs one row, one hash and one
entry in each of the two indexes.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final

import msgspec

from projections.db import LOCK_SPACE, PostgresDb, lock_key, postgres_sql
from service.access_log import GENESIS, Access, block_seal, has_legacy
from service.storage import LEGACY_TABLE, LOG_TABLE

_ENCODER: Final = msgspec.json.Encoder()
_LAST: Final = f"SELECT last_seq, hash FROM {LOG_TABLE} ORDER BY first_seq DESC LIMIT 1"
_LAST_LEGACY: Final = f"SELECT seq, hash FROM {LEGACY_TABLE} ORDER BY seq DESC LIMIT 1"
_INSERT: Final = (
    f"INSERT INTO {LOG_TABLE} (first_seq, last_seq, at_us, token, insurer, lookups, hash) VALUES (?, ?, ?, ?, ?, ?, ?)"
)

Block = tuple[int, int, int, str, str, str, str]


def sealed(last: tuple[int, str] | None, accesses: Sequence[Access]) -> list[Block]:
    """The blocks to insert after the last stored (seq, seal), one per access, each sealed."""
    seq, previous = last if last else (0, GENESIS)
    blocks: list[Block] = []
    for at_us, token, insurer, lookups in accesses:
        if not lookups:
            continue
        text = _ENCODER.encode(lookups)
        first, seq = seq + 1, seq + len(lookups)
        previous = block_seal(previous, first, at_us, token, insurer, text)
        blocks.append((first, seq, at_us, token, insurer, text.decode("utf-8"), previous))
    return blocks


def _last(row: Sequence[object] | None) -> tuple[int, str] | None:
    return (int(str(row[0])), str(row[1])) if row else None


class SqliteAppender:
    """The append on SQLite in one hop to one writing thread: a plain `sqlite3` connection runs
    BEGIN IMMEDIATE, the read of the last block, the inserts and COMMIT together, where
    aiosqlite would hand each statement to its thread and back."""

    def __init__(self, path: Path) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="access-log")
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=60)
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = NORMAL")
        found = self._conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (LEGACY_TABLE,)).fetchone()
        self._legacy = found is not None

    def _append(self, accesses: Sequence[Access]) -> None:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            last = _last(conn.execute(_LAST).fetchone())
            if last is None and self._legacy:
                last = _last(conn.execute(_LAST_LEGACY).fetchone())
            conn.executemany(_INSERT, sealed(last, accesses))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    async def __call__(self, accesses: Sequence[Access]) -> None:
        await asyncio.get_running_loop().run_in_executor(self._pool, self._append, accesses)

    def close(self) -> None:
        """Close the connection and the thread."""
        self._pool.shutdown(wait=True)
        self._conn.close()


class PostgresAppender:
    """The same append on PostgreSQL, on the service database's connection, in two round trips
    (psycopg's pipeline mode): BEGIN, the advisory lock and the read of the last block; then
    the blocks (one row per request) and COMMIT."""

    def __init__(self, db: PostgresDb) -> None:
        self.db = db
        self._legacy: bool | None = None

    async def __call__(self, accesses: Sequence[Access]) -> None:
        if self._legacy is None:
            self._legacy = await has_legacy(self.db)
        conn = self.db.conn
        async with conn.pipeline(), conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_SPACE, lock_key(LOG_TABLE)))
            cursor = await conn.execute(postgres_sql(_LAST))
            last = _last(await cursor.fetchone())
            if last is None and self._legacy:
                cursor = await conn.execute(postgres_sql(_LAST_LEGACY))
                last = _last(await cursor.fetchone())
            async with conn.cursor() as inserting:
                await inserting.executemany(postgres_sql(_INSERT), sealed(last, accesses))


class Writer:
    """Group commit of access blocks (see the module's docstring)."""

    def __init__(self, append: Callable[[Sequence[Access]], Awaitable[None]], lock: asyncio.Lock) -> None:
        self.append = append
        self.lock = lock
        self._pending: list[tuple[Access, asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the writing task."""
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Write what is pending, then stop."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._flush()

    async def write(self, access: Access) -> None:
        """Return once `access` is committed (raise if it could not be)."""
        if not access.lookups:
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((access, done))
        self._wake.set()
        await done

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self._flush()

    async def _flush(self) -> None:
        batch, self._pending = self._pending, []
        if not batch:
            return
        try:
            async with self.lock:
                await self.append([access for access, _ in batch])
        except Exception as problem:  # noqa: BLE001 - every waiting request fails with the cause; none is answered
            for _, done in batch:
                if not done.done():
                    done.set_exception(problem)
            return
        for _, done in batch:
            if not done.done():
                done.set_result(None)
