"""The projections' tables and positions (`projection_state`), the fact log they read
(`Ledger`), and a damaged projection told from a behind one.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Final, Protocol

from domain.errors import StoreError
from domain.facts import (
    TOPIC_PREFIX,
    AnyFact,
)
from projections.db import Db
from projections.schema import DDL, PROJECTION_TABLES, SCHEMA_VERSION

if TYPE_CHECKING:  # a type only: a query on current projections never loads eventsourcing
    from eventsourcing.persistence import Notification


FACTS: Final = "facts"
MEMBERS: Final = "members"
PAGE: Final = 64
ENROLLED_TOPIC: Final = TOPIC_PREFIX + "members-enrolled"
SCOPE_TOPIC: Final = TOPIC_PREFIX + "scope-defined"

Progress = Callable[[int, int], None]


class Ledger(Protocol):
    """What the projector reads of the write side: its notifications and their plain bytes."""

    def notifications(
        self, start: int, limit: int, stop: int | None = None, topics: Sequence[str] = ()
    ) -> Sequence[Notification]: ...

    def last_notification(self) -> int: ...

    def plain(self, state: bytes) -> bytes: ...

    def decode(self, state: bytes) -> AnyFact: ...


async def create_tables(db: Db) -> None:
    """Create the view tables if absent; projections of another schema version are
    dropped first (they are rebuilt from the facts by the next catch-up)."""
    await db.ensure_schema(DDL)
    async with db.execute("SELECT 1 FROM projection_state WHERE schema_version <> ? LIMIT 1", (SCHEMA_VERSION,)) as c:
        outdated = await c.fetchone() is not None
    await db.commit()
    if outdated:
        await drop_tables(db)
        await db.ensure_schema(DDL)


async def drop_tables(db: Db) -> None:
    """Drop every view table (the facts are untouched)."""
    for table in PROJECTION_TABLES:
        await db.execute(f"DROP TABLE IF EXISTS {table}")
    await db.commit()


async def position(db: Db, name: str = FACTS) -> tuple[int, int]:
    """(notification id, ledger position) the named projection has processed."""
    async with db.execute("SELECT notification_id, position FROM projection_state WHERE name = ?", (name,)) as cursor:
        row = await cursor.fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


async def save_position(db: Db, name: str, notification_id: int, pos: int) -> None:
    await db.execute(
        "INSERT INTO projection_state (name, notification_id, position, schema_version)"
        " VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET"
        " notification_id = excluded.notification_id, position = excluded.position",
        (name, notification_id, pos, SCHEMA_VERSION),
    )


REBUILD_HINT: Final = "rebuild them from the facts with: exposure store rebuild"


class ProjectionDamaged(StoreError):
    """A projection's position or rows disagree with the facts: only a rebuild helps."""


async def check_positions(db: Db, ledger: Ledger) -> None:
    """Refuse positions no catch-up comes back from: past the last fact (new facts would never
    be projected), or a `facts` position that is not the version of the fact it names (facts
    would be projected twice, or skipped)."""
    positions = {name: await position(db, name) for name in (FACTS, MEMBERS)}
    head = ledger.last_notification()  # read after the positions: a concurrent append only raises it
    for name, (notification_id, pos) in positions.items():
        if not (0 <= notification_id <= head and 0 <= pos <= head):
            raise ProjectionDamaged(
                f"the {name} projection is at position {pos} (notification {notification_id})"
                f" but the ledger holds {head} facts: {REBUILD_HINT}"
            )
    notification_id, pos = positions[FACTS]
    if notification_id:
        notes = ledger.notifications(start=notification_id, limit=1)
        if not notes or notes[0].id != notification_id or notes[0].originator_version != pos:
            raise ProjectionDamaged(
                f"the facts projection is at position {pos} but notification {notification_id}"
                f" holds another fact: {REBUILD_HINT}"
            )


def damage_of(problem: BaseException, name: str, where: int) -> ProjectionDamaged | None:
    """A projection row that already exists (or breaks a constraint) where a fact goes."""
    errors = sys.modules.get("psycopg.errors")
    if isinstance(problem, sqlite3.IntegrityError) or (
        errors is not None and isinstance(problem, errors.IntegrityError)
    ):
        return ProjectionDamaged(
            f"the {name} projection disagrees with the facts after position {where}"
            f" ({str(problem).splitlines()[0]}): {REBUILD_HINT}"
        )
    return None


async def abandon(db: Db, name: str, where: int, problem: BaseException) -> None:
    """Roll a projector's failed transaction back; `ProjectionDamaged` when a row broke a
    constraint (`damage_of`: the projection disagrees with the facts after position `where`).
    Any other `problem` is the caller's to re-raise."""
    await db.rollback()
    damaged = damage_of(problem, name, where)
    if damaged is not None:
        raise damaged from None
