"""The catch-up projector: reads the ledger's notification log after its tracked
position and writes view rows and the new position in one transaction.

Exactly once: a crash before COMMIT leaves neither rows nor position, a crash
after leaves both; the next catch-up resumes after the last committed position.
Two processes catching up at once serialise on `BEGIN IMMEDIATE` and each
re-reads the position inside its transaction.

eventsourcing's SQLite recorder cannot `subscribe()`, so the projector polls
`select_notifications` (queries call `catch_up` before answering).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

import aiosqlite
import msgspec

from domain import facts as fact_codec
from domain.facts import (
    Fact,
    FactRetracted,
    MembersConfirmedAffected,
    MembersEnrolled,
    MembersNotified,
    MembersRuledOut,
    incident_of,
    insurer_of,
    kind_of,
)
from domain.ledger import Ledger, Recorded
from domain.times import to_micros
from projections.schema import DDL, PROJECTION_TABLES, SCHEMA_VERSION

NAME: Final = "views"
PAGE: Final = 64

Progress = Callable[[int, int], None]


async def create_tables(db: aiosqlite.Connection) -> None:
    """Create the view tables if absent."""
    for statement in DDL:
        await db.execute(statement)
    await db.commit()


async def drop_tables(db: aiosqlite.Connection) -> None:
    """Drop every view table (the facts are untouched)."""
    for table in PROJECTION_TABLES:
        await db.execute(f"DROP TABLE IF EXISTS {table}")
    await db.commit()


async def position(db: aiosqlite.Connection) -> tuple[int, int]:
    """(notification id, ledger position) the views have processed."""
    async with db.execute(
        "SELECT notification_id, position FROM projection_state WHERE name = ?", (NAME,)
    ) as cursor:
        row = await cursor.fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


async def catch_up(db: aiosqlite.Connection, ledger: Ledger, progress: Progress | None = None) -> int:
    """Project every fact appended since the tracked position; return the new position."""
    head = ledger.recorder.max_notification_id() or 0
    while True:
        await db.execute("BEGIN IMMEDIATE")
        try:
            notification_id, current = await position(db)
            notes = ledger.recorder.select_notifications(start=notification_id + 1, limit=PAGE)
            if not notes:
                await db.rollback()
                return current
            for note in notes:
                fact = ledger.mapper.decode_state(note.state)  # type: ignore[attr-defined]
                await process_event(db, note.originator_version, fact)
                notification_id, current = note.id, note.originator_version
            await db.execute(
                "INSERT INTO projection_state (name, notification_id, position, schema_version)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET"
                " notification_id = excluded.notification_id, position = excluded.position",
                (NAME, notification_id, current, SCHEMA_VERSION),
            )
            await db.commit()
        except BaseException:
            await db.rollback()
            raise
        if progress is not None:
            progress(notification_id, head)


async def process_event(db: aiosqlite.Connection, pos: int, fact: Fact) -> None:
    """Write the rows one fact makes true. Every fact gets a `facts` row."""
    known_us = to_micros(fact.known_on)
    recorded = fact.recorded_at if fact.recorded_at is not None else fact.known_on
    target = fact.fact if isinstance(fact, FactRetracted) else None
    await db.execute(
        "INSERT INTO facts (pos, id, kind, known_us, occurred_us, recorded_us, incident, insurer, target, body)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            pos,
            fact.id,
            kind_of(fact),
            known_us,
            to_micros(fact.occurred_on),
            to_micros(recorded),
            incident_of(fact),
            insurer_of(fact),
            target,
            fact_codec.encode(_light(fact)),
        ),
    )
    match fact:
        case FactRetracted():
            await db.execute(
                "INSERT INTO retractions (target_pos, pos, known_us)"
                " SELECT pos, ?, ? FROM facts WHERE id = ?",
                (pos, known_us, fact.fact),
            )
        case MembersEnrolled():
            await db.executemany(
                "INSERT INTO member_versions (insurer, ref, pos, known_us, role, contract, from_day, until_day, nir)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        fact.insurer,
                        m.ref,
                        pos,
                        known_us,
                        m.role,
                        m.contract,
                        m.from_.isoformat() if m.from_ else None,
                        m.until.isoformat() if m.until else None,
                        m.nir,
                    )
                    for m in fact.members
                ],
            )
        case MembersConfirmedAffected() | MembersRuledOut():
            status = "confirmed" if isinstance(fact, MembersConfirmedAffected) else "ruled-out"
            await db.executemany(
                "INSERT INTO member_findings (incident, insurer, ref, pos, known_us, status)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [(fact.incident, fact.insurer, ref, pos, known_us, status) for ref in fact.refs],
            )
        case MembersNotified(refs=refs) if refs:
            occurred_us = to_micros(fact.occurred_on)
            await db.executemany(
                "INSERT INTO member_notices (incident, insurer, ref, pos, known_us, occurred_us)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [(fact.incident, fact.insurer, ref, pos, known_us, occurred_us) for ref in refs],
            )
        case _:
            pass


def _light(fact: Fact) -> Fact:
    """The fact without its member lists (they live in member tables), for `facts.body`."""
    changes: dict[str, Any] = {}
    if isinstance(fact, MembersEnrolled):
        changes["members"] = ()
    elif isinstance(fact, MembersConfirmedAffected | MembersRuledOut | MembersNotified) and fact.refs:
        changes["refs"] = ()
    return msgspec.structs.replace(fact, **changes) if changes else fact


def decode_bodies(rows: Sequence[tuple[int, bytes]]) -> list[tuple[int, Fact]]:
    """(position, fact) from `facts.body` rows."""
    return [(int(pos), fact_codec.decode(bytes(body))) for pos, body in rows]


__all__ = ["Recorded", "catch_up", "create_tables", "drop_tables", "position", "process_event"]
