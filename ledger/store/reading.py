"""A store's read path: the projections caught up with the fact log (and a replica with
the primary) before any answer, and the horizon of a question.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from domain import times
from ledger import backends, guards, replicas
from ledger.replicas import Replica
from ledger.store.files import connect_postgres
from projections import projector, queries
from projections.db import SQLITE, Db

if TYPE_CHECKING:  # the write side's modules load when a command writes or catches up (start-up time)
    from ledger.application import Ledger


class Reading:
    """A store's read path: the projections caught up with the fact log before any answer."""

    tz: ZoneInfo
    db: Db
    write_db: Db
    replica: Replica | None
    location: backends.Location
    _ledger: Ledger | None
    _aside_db: Db | None

    if TYPE_CHECKING:

        @property
        def ledger(self) -> Ledger: ...

    async def catch_up(self, progress: projector.Progress | None = None) -> int:
        """Bring the projections up to the ledger's head; return the position."""
        if self._ledger is None:
            current = await self._current_position()
            if current is not None:
                return current
        return await projector.catch_up(self.write_db, self.ledger, progress)

    async def _current_position(self) -> int | None:
        """The facts projection's position when both projections have read exactly the last
        stored fact (one statement on the primary: the fact log is not opened), else None
        (behind, or a position the full catch-up must refuse: `projector.check_positions`)."""
        events = (
            f"SELECT MAX(rowid) FROM {guards.EVENTS_TABLE}"
            if self.write_db.dialect == SQLITE
            else f"SELECT MAX(notification_id) FROM {backends.POSTGRES_EVENTS_TABLE}"
        )
        loaded = [sys.modules.get(name) for name in ("sqlcipher3", "psycopg")]  # those not loaded raised nothing
        errors = (sqlite3.Error, *(module.Error for module in loaded if module is not None))
        try:
            async with self.write_db.execute(
                "SELECT COUNT(*), MAX(CASE WHEN name = 'facts' THEN position END) FROM projection_state"
                f" WHERE name IN ('facts', 'members') AND notification_id = COALESCE(({events}), 0)"
            ) as cursor:
                row = await cursor.fetchone()
        except errors:  # no event table: the full catch-up says what is wrong
            return None
        return int(row[1]) if row is not None and int(row[0]) == 2 else None

    @property
    def projects_aside(self) -> bool:
        """Whether the members projection can run beside this store's other work, on a connection
        of its own (PostgreSQL: the server works while this process goes on; SQLite has one writer)."""
        return self.location.is_postgres

    async def catch_up_members_aside(self, head: int) -> int:
        """Project the rosters appended up to `head` on a connection of its own (PostgreSQL),
        opened on first use: the event loop appends meanwhile. Exactly once as any catch-up
        (the members projection's advisory lock, its position re-read in the transaction)."""
        if self._aside_db is None:
            self._aside_db = await connect_postgres(self.location)
        return await projector.catch_up_members(self._aside_db, self.ledger, head=head)

    async def members_behind(self) -> int:
        """How many facts were appended that the members projection has not read yet."""
        notification_id, _ = await projector.position(self.write_db, projector.MEMBERS)
        return max(0, self.ledger.last_notification() - notification_id)

    async def rebuild(self, progress: Callable[[str, int, int], None] | None = None) -> int:
        """Drop the projections and project every fact again; `progress(phase, done, total)`
        hears of each pass (`facts`, then `members`), in notifications."""

        def phase(name: str) -> projector.Progress | None:
            return None if progress is None else lambda done, total: progress(name, done, total)

        await projector.drop_tables(self.write_db)
        await projector.create_tables(self.write_db)
        position = await projector.catch_up_facts(self.write_db, self.ledger, phase("facts"))
        await projector.catch_up_members(self.write_db, self.ledger, phase("members"))
        return position

    async def ready_for_reads(self) -> int:
        """The one rule before any answer: the projections are caught up with the ledger's
        head, on the primary; with a replica, the replica has replayed them too (bounded
        wait, `--max-lag`), so a reader never misses a fact written before the read."""
        position = await self.catch_up()
        if self.replica is not None:
            await self.replica.wait_for(await replicas.projected(self.write_db))
        return position

    async def horizon(
        self, as_known_on: str | None = None, as_recorded_at: str | None = None, *, known_name: str = "--as-known-on"
    ) -> queries.Horizon:
        """Be ready for reads, then resolve `--as-known-on` (date: end of that day; named
        `known_name` in errors) and `--as-recorded-at`."""
        await self.ready_for_reads()
        now = datetime.now(UTC)
        known = times.parse_instant(as_known_on, known_name, self.tz, date_means="end") if as_known_on else now
        recorded = (
            times.parse_instant(as_recorded_at, "--as-recorded-at", self.tz, date_means="end")
            if as_recorded_at
            else None
        )
        return await queries.horizon(self.db, known, recorded)

    def facts(self, after: int = 0) -> Any:
        """Every recorded fact in append order (an iterator of `Recorded`)."""
        return self.ledger.read(after=after)
