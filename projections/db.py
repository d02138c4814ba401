"""The read side's database: SQLite through aiosqlite, or PostgreSQL through psycopg's async API.

Projections, queries and the audit write their SQL once, in SQLite's spelling, with
portable constructs wherever both engines have them (`INSERT ... ON CONFLICT`, `CASE`,
`CAST`, aliased subqueries). What differs is kept here:

- placeholders: `?` and `:name` become psycopg's `%s` and `%(name)s`;
- JSON arrays bound as one parameter: `json_each(X)` becomes
  `jsonb_array_elements_text(CAST(X AS jsonb))` (a `value` column of text: integer
  elements are compared through `CAST(value AS INTEGER)` in the shared SQL), and
  `json_extract(E, '$.key')` / `json_extract(E, '$[n]')` become `->>`; a CTE that reads
  an array of objects (`WITH sc AS (SELECT json_extract(value, ...) ... FROM json_each(...))`)
  takes its elements as `jsonb` (`jsonb_array_elements`): PostgreSQL inlines the CTE, and
  elements kept as text would be parsed again for every member row joined to them (six
  times slower on a large insurer's members);
- `INSERT OR IGNORE` becomes `INSERT ... ON CONFLICT DO NOTHING`;
- table definitions (`ensure_schema`): INTEGER is BIGINT (microseconds), BLOB is BYTEA,
  TEXT compares bytewise like SQLite (`COLLATE "C"`), no `WITHOUT ROWID`;
- transactions: SQLite takes its write lock with `BEGIN IMMEDIATE`; PostgreSQL begins
  and takes a transaction-level advisory lock named after what the transaction writes
  (a projection), so that concurrent catch-ups from several processes serialise and
  each re-reads its position inside the transaction: exactly once, as on SQLite.

SQLite-only machinery (PRAGMAs) stays behind `db.dialect == SQLITE` at its call sites;
the synchronous point-read connection lives in `SqliteDb.fetch_point`.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Generator, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, Final, Protocol, cast

import aiosqlite

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


# -- PostgreSQL ------------------------------------------------------------------------

_LITERAL = re.compile(r"('(?:[^']|'')*')")
_PLACEHOLDER = re.compile(r"\?|(?<![:\w]):([A-Za-z_]\w*)")
_JSON_EACH = re.compile(r"\bjson_each\(([^()]*)\)")
_JSON_EXTRACT = re.compile(r"\bjson_extract\(([^(),]+),\s*'\$(?:\.(\w+)|\[(\d+)\])'\)")
_JSON_OBJECTS = re.compile(
    r"(\b(?:WITH|,)\s*\w+\s+AS\s*\(\s*SELECT\s+(?:CAST\()?json_extract\(value,.*?)\bjson_each\(([^()]*)\)",
    re.IGNORECASE | re.DOTALL,
)
_INSERT_OR_IGNORE = re.compile(r"^\s*INSERT OR IGNORE INTO\b", re.IGNORECASE)
_CREATED = re.compile(r"CREATE (?:TABLE|INDEX) IF NOT EXISTS (\w+)", re.IGNORECASE)
LOCK_SPACE: Final = 0x6578  # "ex": the first key of every advisory lock taken here


@functools.lru_cache(maxsize=2048)
def postgres_sql(sql: str) -> str:
    """A statement written for SQLite, in PostgreSQL's spelling (see the module's docstring)."""

    def extract(m: re.Match[str]) -> str:
        path = f"'{m.group(2)}'" if m.group(2) is not None else m.group(3)
        return f"(CAST({m.group(1).strip()} AS jsonb) ->> {path})"

    sql = _JSON_OBJECTS.sub(lambda m: f"{m.group(1)}jsonb_array_elements(CAST({m.group(2).strip()} AS jsonb))", sql)
    sql = _JSON_EXTRACT.sub(extract, sql)
    sql = _JSON_EACH.sub(lambda m: f"jsonb_array_elements_text(CAST({m.group(1).strip()} AS jsonb))", sql)
    if _INSERT_OR_IGNORE.match(sql):
        sql = _INSERT_OR_IGNORE.sub("INSERT INTO", sql, count=1).rstrip() + " ON CONFLICT DO NOTHING"
    parts = _LITERAL.split(sql.replace("%", "%%"))
    for i in range(0, len(parts), 2):  # outside string literals
        parts[i] = _PLACEHOLDER.sub(lambda m: "%s" if m.group(0) == "?" else f"%({m.group(1)})s", parts[i])
    return "".join(parts)


def postgres_ddl(statement: str) -> str:
    """A SQLite table or index definition in PostgreSQL's types."""
    statement = re.sub(r"\bWITHOUT ROWID\b", "", statement)
    statement = re.sub(r"\bINTEGER\b", "BIGINT", statement)
    statement = re.sub(r"\bBLOB\b", "BYTEA", statement)
    return re.sub(r"\bTEXT\b", 'TEXT COLLATE "C"', statement)


def lock_key(name: str) -> int:
    """A stable 32-bit advisory lock key for `name`."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big", signed=True)


class _PgResult:
    def __init__(self, db: PostgresDb, sql: str, params: Params) -> None:
        self.db, self.sql, self.params = db, sql, params
        self.cursor: Any = None

    async def _run(self) -> Cursor:
        self.cursor = await self.db.conn.execute(postgres_sql(self.sql), self.params)
        return cast(Cursor, self.cursor)

    def __await__(self) -> Generator[Any, None, Cursor]:
        return self._run().__await__()

    async def __aenter__(self) -> Cursor:
        return await self._run()

    async def __aexit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.cursor is not None:
            await self.cursor.close()


class PostgresDb(Db):
    """A `psycopg.AsyncConnection` in autocommit mode: transactions are explicit, as on SQLite."""

    dialect = POSTGRES

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    @classmethod
    async def connect(cls, url: str, *, read_only: bool = False) -> PostgresDb:
        """Connect to the store's database (`read_only`: a hot-standby replica)."""
        import psycopg  # noqa: PLC0415 - only PostgreSQL stores need psycopg

        conn = await psycopg.AsyncConnection.connect(url, autocommit=True, connect_timeout=15)
        await conn.execute("SET client_min_messages = WARNING")  # no NOTICE for each `IF NOT EXISTS`
        db = cls(conn)
        db.read_only = read_only
        return db

    def execute(self, sql: str, params: Params = ()) -> Result:
        return _PgResult(self, sql, params)

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        async with self.conn.cursor() as cursor:
            await cursor.executemany(postgres_sql(sql), list(rows))

    async def execute_fetchall(self, sql: str, params: Params = ()) -> Iterable[Any]:
        async with self.conn.cursor() as cursor:
            await cursor.execute(postgres_sql(sql), params)
            return cast(Iterable[Any], await cursor.fetchall())

    @contextlib.asynccontextmanager
    async def stream(self, sql: str, params: Params = ()) -> AsyncIterator[Cursor]:
        """A named (server-side) cursor inside a transaction: rows come `fetchmany` at a time."""
        async with self.conn.transaction(), self.conn.cursor(name="exposure_stream") as cursor:
            await cursor.execute(postgres_sql(sql), params)
            yield cast(Cursor, cursor)

    async def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """COPY: PostgreSQL's bulk path, many times faster than one INSERT per row."""
        async with self.conn.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                await copy.write_row(row)

    def _in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus  # noqa: PLC0415

        return bool(self.conn.info.transaction_status != TransactionStatus.IDLE)

    async def begin(self, lock: str) -> None:
        await self.conn.execute("BEGIN")
        await self.conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_SPACE, lock_key(lock)))

    async def index_paths_only(self) -> None:
        """The projections' statements are point and range reads by key, joined to a list of
        keys bound as one JSON array. PostgreSQL estimates such a list at 100 rows and plans
        from statistics that autovacuum refreshes every few seconds at best, while a catch-up
        fills the tables by hundreds of thousands of rows: measured on a 1 M import, the
        NIR-group join ran as hash joins over sequential scans of `nir_recent` and
        `member_versions` (26 M rows read, 31 s of the server's 43 s). Inside the transaction
        hash and merge joins and sequential scans are disabled (`SET LOCAL`): every join is
        an index lookup per key, whatever the statistics say (a statement with no index path
        still runs, as a sequential scan). JIT compilation is off too: the cost added to the
        plans left with a sequential scan (a small table without an index on the column read)
        would pass `jit_above_cost`, and compiling them cost 5 ms a statement, up to 0.3 s
        (26 s of the server's time at 1 M, measured with `pg_stat_statements`)."""
        await self.conn.execute("SET LOCAL jit = off")
        await self.conn.execute("SET LOCAL enable_seqscan = off")
        await self.conn.execute("SET LOCAL enable_hashjoin = off")
        await self.conn.execute("SET LOCAL enable_mergejoin = off")

    async def commit(self) -> None:
        if self._in_transaction():
            await self.conn.execute("COMMIT")

    async def rollback(self) -> None:
        if self._in_transaction():
            await self.conn.execute("ROLLBACK")

    async def close(self) -> None:
        await self.conn.close()

    async def ensure_schema(self, statements: Sequence[str]) -> None:
        """Checked first, then created under a lock: concurrent `CREATE ... IF NOT EXISTS`
        from several openers conflict in PostgreSQL's catalog, and `CREATE INDEX` waits
        for writers even when the index exists."""
        wanted = sorted({m.group(1) for s in statements for m in _CREATED.finditer(s)})
        if wanted and await self._present(wanted) == len(wanted):
            return
        await self.begin("schema")
        try:
            for statement in statements:
                await self.conn.execute(postgres_ddl(statement))
            await self.commit()
        except BaseException:
            await self.rollback()
            raise

    async def _present(self, names: Sequence[str]) -> int:
        cursor = await self.conn.execute(
            "SELECT COUNT(*) FROM pg_class WHERE relname = ANY(%s) AND relnamespace = current_schema()::regnamespace",
            (list(names),),
        )
        row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def names(self) -> set[str]:
        cursor = await self.conn.execute(
            "SELECT relname FROM pg_class WHERE relnamespace = current_schema()::regnamespace"
            " UNION SELECT tgname FROM pg_trigger"
        )
        return {str(r[0]) for r in await cursor.fetchall()}
