"""The event table, read defensively: every row, whatever its row id, whatever its column types.

The audit commands (`verify`, `head`, `replay`, `log`, `export`) read eventsourcing's events
table here rather than through the library's recorder, for two reasons:

- the recorder reads the notification log from id 1 upwards, so a row slipped in at row id 0
  (or below) is never seen; here every row is read, in row-id order;
- the recorder trusts the column types (`bytes(state)`, `int(version)`), so a value of the
  wrong SQLite type (what `replace()` returns for a BLOB is TEXT) ends in a traceback; here
  every value is checked and a wrong one is an `AuditFailure` naming the position.

On SQLite each value is read with its `typeof()` and as bytes (`CAST(... AS BLOB)`), so even
text that is not UTF-8 reads; on PostgreSQL the column types hold, but a table altered by
its owner may return anything, and every value is checked the same way. A missing table or
column is a failure too, and so are missing or disabled append-only triggers (`guards.check`).
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Final

from domain.errors import AuditFailure
from ledger.application import LEDGER_ID
from ledger.guards import EVENTS_TABLE as SQLITE_EVENTS
from ledger.guards import POSTGRES_EVENTS
from projections.db import SQLITE, Db

COLUMNS: Final = ("originator_id", "originator_version", "topic", "state")
PAGE: Final = 512
"""At most this many rows a page; fewer when rows are large (see `PAGE_BYTES`)."""
PAGE_BYTES: Final = 16 * 1024 * 1024
"""About this many bytes of rows a page: a roster fact holds thousands of members, so pages
of a fixed number of rows would hold the facts of millions of members at once."""
ROWID_MIN: Final = -(2**63)


@dataclass(frozen=True)
class StoredRow:
    """One row of the event table, its values checked."""

    row: int
    """The SQLite row id, or the PostgreSQL notification id."""
    position: int
    """1 for the first row in row order, 2 for the next, ...: where the row stands."""
    version: int
    """The position the row claims (its originator version)."""
    topic: str
    state: bytes


def events_table(db: Db) -> str:
    """The name of the event table of the store behind `db`."""
    return SQLITE_EVENTS if db.dialect == SQLITE else POSTGRES_EVENTS


async def rows(db: Db, *, after: int | None = None) -> AsyncIterator[StoredRow]:
    """Every row of the event table in row order, each one checked (`AuditFailure` on the first bad one)."""
    await _check_columns(db)
    table = events_table(db)
    key = "rowid" if db.dialect == SQLITE else "notification_id"
    if db.dialect == SQLITE:
        select = ", ".join(f"typeof({c}), CAST({c} AS BLOB)" for c in COLUMNS)
    else:
        select = ", ".join(COLUMNS)
    last = ROWID_MIN if after is None else after
    first = after is None
    position = 0
    size = 16  # grows while rows are small, shrinks when they are large
    while True:
        sql = f"SELECT {key}, {select} FROM {table} WHERE {key} {'>=' if first else '>'} ? ORDER BY {key} LIMIT {size}"
        try:
            async with db.execute(sql, (last,)) as cursor:
                page = list(await cursor.fetchall())
        except Exception as problem:  # noqa: BLE001 - any driver error here is a damaged table, never a crash
            raise AuditFailure(
                f"position {position + 1}: the event table cannot be read ({_first_line(problem)})", position + 1
            ) from None
        if not page:
            return
        size = _next_size(page)
        for raw in page:
            position += 1
            yield _checked(db, position, raw)
        first = False
        last = page[-1][0]
        if not isinstance(last, int):
            raise AuditFailure(f"position {position}: the row id is not an integer", position)


def _next_size(page: list[Any]) -> int:
    """How many rows the next page may hold to stay near `PAGE_BYTES`, judged by this page."""
    size = sum(len(v) for raw in page for v in raw if isinstance(v, (bytes, bytearray, memoryview, str)))
    return max(1, min(PAGE, len(page) * PAGE_BYTES // max(1, size)))


def _first_line(problem: BaseException) -> str:
    text = str(problem).strip().splitlines()
    return text[0] if text else type(problem).__name__


async def _check_columns(db: Db) -> None:
    table = events_table(db)
    if db.dialect == SQLITE:
        sql, params = "SELECT name FROM pragma_table_info(?)", (table,)
    else:
        sql = "SELECT column_name FROM information_schema.columns WHERE table_name = ?"
        sql += " AND table_schema = current_schema()"
        params = (table,)
    try:
        async with db.execute(sql, params) as cursor:
            present = {str(r[0]) for r in await cursor.fetchall()}
    except (sqlite3.Error, UnicodeDecodeError) as problem:
        raise AuditFailure(f"the event table cannot be read ({_first_line(problem)})") from None
    if not present:
        raise AuditFailure(f"the event table {table} is missing")
    missing = [c for c in (*COLUMNS, *(() if db.dialect == SQLITE else ("notification_id",))) if c not in present]
    if missing:
        raise AuditFailure(f"the event table {table} has no column {', '.join(missing)}")


def _checked(db: Db, position: int, raw: Any) -> StoredRow:
    row = raw[0]
    if not isinstance(row, int):
        raise AuditFailure(f"position {position}: the row id is not an integer", position)
    at = f"position {position}: stored row {row}"
    if db.dialect == SQLITE:
        originator = _sqlite_text(raw[1], raw[2], f"{at}: originator_id")
        version = _sqlite_integer(raw[3], raw[4], f"{at}: originator_version")
        topic = _sqlite_text(raw[5], raw[6], f"{at}: topic")
        state = _sqlite_blob(raw[7], raw[8], f"{at}: state")
    else:
        originator = _pg_uuid(raw[1], f"{at}: originator_id")
        version = _pg_value(raw[2], int, "an integer", f"{at}: originator_version")
        topic = _pg_value(raw[3], str, "text", f"{at}: topic")
        state = bytes(_pg_value(raw[4], bytes | memoryview, "bytes", f"{at}: state"))
    if originator.replace("-", "").lower() != LEDGER_ID.hex:
        raise AuditFailure(f"{at} belongs to sequence {originator[:40]!r}, not the ledger's", position)
    return StoredRow(row, position, version, topic, state)


def _sqlite_text(kind: object, value: object, what: str) -> str:
    if kind != "text" or not isinstance(value, bytes):
        raise AuditFailure(f"{what} is {str(kind).upper()}, not TEXT (edited outside the ledger)", _at(what))
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise AuditFailure(f"{what} is not UTF-8 text", _at(what)) from None


def _sqlite_integer(kind: object, value: object, what: str) -> int:
    if kind != "integer" or not isinstance(value, bytes):
        raise AuditFailure(f"{what} is {str(kind).upper()}, not INTEGER (edited outside the ledger)", _at(what))
    return int(value)


def _sqlite_blob(kind: object, value: object, what: str) -> bytes:
    if kind != "blob" or not isinstance(value, bytes):
        raise AuditFailure(f"{what} is {str(kind).upper()}, not BLOB (edited outside the ledger)", _at(what))
    return value


def _pg_uuid(value: object, what: str) -> str:
    if isinstance(value, uuid.UUID):
        return str(value)
    return str(_pg_value(value, str, "a UUID", what))


def _pg_value(value: Any, kind: Any, name: str, what: str) -> Any:
    if value is None or isinstance(value, bool) or not isinstance(value, kind):
        found = "NULL" if value is None else type(value).__name__
        raise AuditFailure(f"{what} is {found}, not {name} (edited outside the ledger)", _at(what))
    return value


def _at(what: str) -> int:
    """The position named at the start of a `position N: ...` message."""
    return int(what.split(":", 1)[0].removeprefix("position "))
