"""Append-only guards: the stored facts and the verified audit leaves refuse UPDATE and DELETE.

`protect` makes `stored_events` and `audit_leaves` append-only with SQLite triggers at
`init` (PostgreSQL stores get theirs, on the events and on `audit_leaves`, from
`backends.postgres_append_only`); `check` is the part of `audit verify` that fails when
one was dropped, altered or disabled.
"""

from __future__ import annotations

from typing import Final

from domain.errors import AuditFailure
from projections.db import SQLITE, Db

EVENTS_TABLE: Final = "stored_events"
LEAVES_TABLE: Final = (
    "CREATE TABLE IF NOT EXISTS audit_leaves (ledger TEXT NOT NULL, position INTEGER NOT NULL, leaf BLOB NOT NULL,"
    " PRIMARY KEY (ledger, position)) WITHOUT ROWID"
)
"""The leaf hashes earlier verifications saw, per ledger origin (a store copied with the same key
file has the same origin): a later edit of a fact is then named by position. On PostgreSQL the
table lives beside the facts, append-only like them (`backends.postgres_append_only`)."""


def _refuse(name: str, verb: str, table: str, what: str) -> tuple[str, str]:
    return table, (
        f"CREATE TRIGGER IF NOT EXISTS {name} BEFORE {verb} ON {table}"
        f" BEGIN SELECT RAISE(ABORT, 'exposure: {what} are append-only ({verb} refused)'); END"
    )


GUARDS: Final = {
    "exposure_facts_no_update": _refuse("exposure_facts_no_update", "UPDATE", EVENTS_TABLE, "facts"),
    "exposure_facts_no_delete": _refuse("exposure_facts_no_delete", "DELETE", EVENTS_TABLE, "facts"),
    "audit_leaves_no_update": _refuse("audit_leaves_no_update", "UPDATE", "audit_leaves", "verified leaves"),
    "audit_leaves_no_delete": _refuse("audit_leaves_no_delete", "DELETE", "audit_leaves", "verified leaves"),
}


POSTGRES_EVENTS: Final = "exposure_events"
POSTGRES_GUARDS: Final = {
    "exposure_events_append_only": POSTGRES_EVENTS,
    "audit_leaves_append_only": "audit_leaves",
}
"""The append-only triggers of a PostgreSQL store (see `backends.postgres_append_only`): name -> table."""


async def protect(db: Db) -> None:
    """Create the remembered leaves' table and refuse UPDATE and DELETE on the facts and on it (at `init`).

    Triggers stop mistakes and casual edits; they do not stop someone who can
    write the file and drop them first. That is what `verify --expect` is for;
    `verify` also fails when a trigger is missing (`check`): opening a store
    never puts one back silently, which would hide that it was dropped.
    """
    await db.ensure_schema([LEAVES_TABLE])
    if db.dialect != SQLITE:
        return  # PostgreSQL: `backends.postgres_append_only`
    for _table, statement in GUARDS.values():
        await db.execute(statement)
    await db.commit()


async def missing(db: Db) -> list[str]:
    """The append-only triggers (and the tables they guard) that are missing, altered or disabled."""
    if db.dialect == SQLITE:
        async with db.execute("SELECT type, name, sql FROM sqlite_master WHERE type IN ('table', 'trigger')") as c:
            found = {(str(kind), str(name)): str(sql or "") for kind, name, sql in await c.fetchall()}
        problems = [f"table {table}" for table in (EVENTS_TABLE, "audit_leaves") if ("table", table) not in found]
        for name, (_table, statement) in GUARDS.items():
            sql = found.get(("trigger", name))
            if sql is None:
                problems.append(f"trigger {name}")
            elif " ".join(sql.split()) != statement.replace("IF NOT EXISTS ", ""):
                problems.append(f"trigger {name} (altered)")
        return problems
    async with db.execute(
        "SELECT c.relname, t.tgname, t.tgenabled FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
        " WHERE c.relnamespace = current_schema()::regnamespace AND NOT t.tgisinternal"
    ) as cursor:
        triggers = {str(name): (str(table), str(enabled)) for table, name, enabled in await cursor.fetchall()}
    async with db.execute(
        "SELECT relname FROM pg_class WHERE relnamespace = current_schema()::regnamespace AND relkind = 'r'"
    ) as cursor:
        tables = {str(r[0]) for r in await cursor.fetchall()}
    problems = [f"table {table}" for table in (POSTGRES_EVENTS, "audit_leaves") if table not in tables]
    for name, table in POSTGRES_GUARDS.items():
        found_trigger = triggers.get(name)
        if found_trigger is None or found_trigger[0] != table:
            problems.append(f"trigger {name}")
        elif found_trigger[1] == "D":
            problems.append(f"trigger {name} (disabled)")
    return problems


async def check(db: Db) -> None:
    """`AuditFailure` naming every append-only trigger (or guarded table) missing, altered or disabled."""
    problems = await missing(db)
    if problems:
        raise AuditFailure(
            "the append-only guards were removed (the store was edited outside the ledger): missing "
            + ", ".join(problems)
        )
