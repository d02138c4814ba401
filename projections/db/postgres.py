"""`Db` on PostgreSQL through psycopg's async API: SQLite's spelling rewritten (placeholders,
JSON arrays, `INSERT OR IGNORE`, table definitions) and transactions serialised by advisory locks.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import re
from collections.abc import AsyncIterator, Generator, Iterable, Sequence
from types import TracebackType
from typing import Any, Final, cast

from projections.db.base import POSTGRES, Cursor, Db, Params, Result
from projections.psycopg_start import load_psycopg

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
_INDEX_PATHS_ONLY: Final = "SELECT " + ", ".join(
    f"set_config('{name}', 'off', true)" for name in ("jit", "enable_seqscan", "enable_hashjoin", "enable_mergejoin")
)
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


_NIR_RECENT_KEY = re.compile(r"(CREATE TABLE IF NOT EXISTS nir_recent \(.*?),\s*PRIMARY KEY \([^)]*\)", re.DOTALL)
NIR_RECENT_INDEX: Final = "CREATE INDEX IF NOT EXISTS nir_recent_by_nir ON nir_recent USING hash (nir)"


def postgres_ddl(statement: str) -> str:
    """A SQLite table or index definition in PostgreSQL's types.

    `nir_recent` (see projections/schema.py) takes each roster's NIRs in random order and is
    only ever read by NIR: on PostgreSQL it has a hash index on `nir` instead of the B-tree
    primary key, whose random inserts cost the server three times as much (measured, 100,000
    rows into 100,000: 2.9 against 5.4 µs a row, the heap alone 2.2). Its rows stay unique
    through `member_versions`' key (one NIR row per member row, projected once)."""
    if _NIR_RECENT_KEY.search(statement):
        statement = _NIR_RECENT_KEY.sub(r"\1", statement) + ";\n" + NIR_RECENT_INDEX
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
        load_psycopg()
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

    async def copy_text(self, table: str, columns: Sequence[str], text: str) -> None:
        """One COPY of rows already formatted as COPY text (`projector.copying`)."""
        async with self.conn.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            await copy.write(text.encode())

    def _in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus  # noqa: PLC0415

        return bool(self.conn.info.transaction_status != TransactionStatus.IDLE)

    async def begin(self, lock: str) -> None:
        """One round trip: BEGIN and the lock (both keys are integers, spelled in the statement)."""
        await self.conn.execute(f"BEGIN; SELECT pg_advisory_xact_lock({LOCK_SPACE:d}, {lock_key(lock):d})")

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
        await self.conn.execute(_INDEX_PATHS_ONLY)  # one round trip (`set_config(..., true)` is SET LOCAL)

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
