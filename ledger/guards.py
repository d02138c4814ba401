"""Append-only guards: the stored facts and the verified audit leaves refuse UPDATE and DELETE.

`protect` makes `stored_events` and `audit_leaves` append-only with SQLite triggers
(PostgreSQL stores get theirs, on the events and on `audit_leaves`, from
`backends.postgres_append_only`).
"""

from __future__ import annotations

from typing import Final

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


async def protect(db: Db) -> None:
    """Refuse UPDATE and DELETE on the facts (and on the remembered leaves).

    Triggers stop mistakes and casual edits; they do not stop someone who can
    write the file and drop them first. That is what `verify --expect` is for.
    """
    if db.dialect != SQLITE:
        await db.ensure_schema([LEAVES_TABLE])
        return
    present = await db.names()
    wanted = [] if "audit_leaves" in present else [LEAVES_TABLE]
    for name, (table, statement) in GUARDS.items():
        if name not in present and (table in present or table == "audit_leaves"):
            wanted.append(statement)
    if not wanted:
        return
    for statement in wanted:
        await db.execute(statement)
    await db.commit()
