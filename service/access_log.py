"""The access log: who looked up whom, when, and whether anything was found.

One row per lookup answered (and per incident summary): sequence number, time, token
fingerprint, the token's insurer (`*` for an all-insurer token), the kind of query
(`nir`, `ref`, `invalid-nir`, `summary`), its subject (the NIR's keyed pseudonym, never
the NIR; `insurer/ref`; the incident) and whether it found anything. Rows are chained
like the fact log: `hash` = SHA-256 of the previous row's hash and the row's canonical
JSON, from `GENESIS`; `verify` recomputes the chain and names the first bad row.

Each commit (a group of rows: every lookup of the requests written together) is sealed by
one hash, kept on its last row; its other rows keep an empty hash. The seal is SHA-256 of
the previous seal, a newline and the canonical JSON of the group: the row's array for a
group of one row (exactly the per-row hash of logs written before groups were sealed, so
those still verify), else the array of the rows' arrays. A thousand lookups cost one hash.

`Writer` commits rows in groups: a request's rows are written, with those of every
request waiting at the same moment, in one transaction, and its answer is sent only
once they are committed. Several service processes append to one chain: each group
reads the last row inside its write transaction (SQLite's write lock, PostgreSQL's
advisory lock).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final, NamedTuple

import msgspec

from domain.times import from_micros, iso_utc, to_micros
from projections.db import Db

GENESIS: Final = "0" * 64
ALL_INSURERS: Final = "*"


class ChainBroken(Exception):
    """The access log's chain does not verify; `seq` is the first bad row."""

    def __init__(self, message: str, seq: int) -> None:
        super().__init__(message)
        self.seq = seq


class Access(NamedTuple):
    """One lookup as logged (before its place in the chain is known). A named tuple: a batch
    logs a thousand of them."""

    at_us: int
    token: str
    insurer: str
    kind: str
    subject: str
    found: bool


@dataclass(frozen=True)
class Entry:
    """A logged row."""

    seq: int
    at_us: int
    token: str
    insurer: str
    kind: str
    subject: str
    found: bool
    hash: str

    def as_json(self) -> dict[str, object]:
        """The row as `service log --json` prints it."""
        return {
            "seq": self.seq,
            "at": iso_utc(from_micros(self.at_us)),
            "token": self.token,
            "insurer": self.insurer,
            "kind": self.kind,
            "subject": self.subject,
            "found": self.found,
            "hash": self.hash,
        }


Row = tuple[int, int, str, str, str, str, int]
"""A row's canonical values: [seq, at_us, token, insurer, kind, subject, found (0 or 1)]."""


def seal(previous: str, rows: Sequence[Row]) -> str:
    """SHA-256 (hex) of the previous seal, a newline and the group's canonical JSON: the row's
    array for one row (the per-row hash of earlier logs), else the array of the rows' arrays."""
    body = msgspec.json.encode(rows[0] if len(rows) == 1 else rows)
    return hashlib.sha256(previous.encode("ascii") + b"\n" + body).hexdigest()


def chain_hash(previous: str, seq: int, access: Access) -> str:
    """The seal of a group of one row (every row of a log written before groups were sealed)."""
    at_us, token, insurer, kind, subject, found = access
    return seal(previous, [(seq, at_us, token, insurer, kind, subject, 1 if found else 0)])


def _chained(last: tuple[int, str] | None, accesses: Sequence[Access]) -> Sequence[tuple[object, ...]]:
    """The rows to insert after the last stored (seq, seal): one seal, on the last row."""
    seq, previous = last if last else (0, GENESIS)
    rows: list[Row] = [
        (number, at_us, token, insurer, kind, subject, 1 if found else 0)
        for number, (at_us, token, insurer, kind, subject, found) in enumerate(accesses, seq + 1)
    ]
    if not rows:
        return []
    return [(*row, "") for row in rows[:-1]] + [(*rows[-1], seal(previous, rows))]


_LAST: Final = "SELECT seq, hash FROM service_access ORDER BY seq DESC LIMIT 1"
_INSERT: Final = (
    "INSERT INTO service_access (seq, at_us, token, insurer, kind, subject, found, hash)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


async def append_async(db: Db, accesses: Sequence[Access]) -> None:
    """Append rows in one transaction, chained after the last stored row (PostgreSQL)."""
    await db.begin("service_access")
    try:
        async with db.execute(_LAST) as cursor:
            last = await cursor.fetchone()
        await db.executemany(_INSERT, _chained((int(last[0]), str(last[1])) if last else None, accesses))
        await db.commit()
    except BaseException:
        await db.rollback()
        raise


class SqliteAppender:
    """The same append on SQLite in one hop to one writing thread: a plain `sqlite3`
    connection runs BEGIN IMMEDIATE, the read of the last row, the inserts and COMMIT
    together, where aiosqlite would hand each statement to its thread and back."""

    def __init__(self, path: Path) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="access-log")
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=60)
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = NORMAL")

    def _append(self, accesses: Sequence[Access]) -> None:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            last = conn.execute(_LAST).fetchone()
            conn.executemany(_INSERT, _chained((int(last[0]), str(last[1])) if last else None, accesses))
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


class Writer:
    """Group commit of access rows (see the module's docstring)."""

    def __init__(self, append: Callable[[Sequence[Access]], Awaitable[None]], lock: asyncio.Lock) -> None:
        self.append = append
        self.lock = lock
        self._pending: list[tuple[Sequence[Access], asyncio.Future[None]]] = []
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

    async def write(self, accesses: Sequence[Access]) -> None:
        """Return once `accesses` are committed (raise if they could not be)."""
        if not accesses:
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((accesses, done))
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
                await self.append([a for accesses, _ in batch for a in accesses])
        except Exception as problem:  # noqa: BLE001 - every waiting request fails with the cause; none is answered
            for _, done in batch:
                if not done.done():
                    done.set_exception(problem)
            return
        for _, done in batch:
            if not done.done():
                done.set_result(None)


async def entries(db: Db, token: str | None = None, since: datetime | None = None) -> AsyncIterator[Entry]:
    """Logged rows in order, optionally of one token and from a time on."""
    sql = "SELECT seq, at_us, token, insurer, kind, subject, found, hash FROM service_access WHERE seq > ?"
    filters: list[object] = []
    if token is not None:
        sql += " AND token = ?"
        filters.append(token.strip().lower())
    if since is not None:
        sql += " AND at_us >= ?"
        filters.append(to_micros(since))
    after = 0
    while True:
        rows = list(await db.execute_fetchall(sql + " ORDER BY seq LIMIT 5000", (after, *filters)))
        if not rows:
            return
        for seq, at_us, tok, insurer, kind, subject, found, hashed in rows:
            yield Entry(int(seq), int(at_us), str(tok), str(insurer), str(kind), str(subject), bool(found), str(hashed))
        after = int(rows[-1][0])


async def verify(db: Db) -> tuple[int, str]:
    """Recompute the chain: (rows, last seal); `ChainBroken` at the first bad row (the first row
    of a group whose seal does not match)."""
    previous, expected = GENESIS, 1
    group: list[Row] = []
    async for entry in entries(db):
        if entry.seq != expected:
            raise ChainBroken(f"access log: row {expected} is missing (next row is {entry.seq})", expected)
        group.append(
            (entry.seq, entry.at_us, entry.token, entry.insurer, entry.kind, entry.subject, 1 if entry.found else 0)
        )
        expected += 1
        if not entry.hash:
            continue
        if seal(previous, group) != entry.hash:
            first = group[0][0]
            rows = (
                f"row {first} does not match its"
                if first == entry.seq
                else f"rows {first}-{entry.seq} do not match their"
            )
            raise ChainBroken(f"access log: {rows} hash (edited or reordered)", first)
        previous, group = entry.hash, []
    if group:
        first = group[0][0]
        raise ChainBroken(f"access log: rows {first}-{expected - 1} are not sealed by a hash (edited)", first)
    return expected - 1, previous
