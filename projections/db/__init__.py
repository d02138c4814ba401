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

base (the `Db` interface every query uses), sqlite (`SqliteDb`), postgres (`PostgresDb`
and the SQL rewritten for it).
"""

from projections.db.base import POSTGRES, READ_TIMEOUT_S, SQLITE, Cursor, Db, Params, Result
from projections.db.postgres import LOCK_SPACE, PostgresDb, lock_key, postgres_ddl, postgres_sql
from projections.db.sqlite import SqliteDb

__all__ = [
    "LOCK_SPACE",
    "POSTGRES",
    "READ_TIMEOUT_S",
    "SQLITE",
    "Cursor",
    "Db",
    "Params",
    "PostgresDb",
    "Result",
    "SqliteDb",
    "lock_key",
    "postgres_ddl",
    "postgres_sql",
]
