"""Answers read from a hot-standby replica of a PostgreSQL store (`--read-store URL`).

The primary takes every write: appends, and the projections' catch-up (a hot standby is
read-only). A streaming replica replays the primary's WAL, projections included, so it
can answer every query. Before a read answers, the primary's projections catch up with
the ledger's head (a no-op when `exposure follow` keeps them current) and the read waits
until the replica has replayed the same projection positions. So a reader never misses a
fact committed before its read began, its own included (read-your-writes, and more).

The wait is bounded (`--max-lag` seconds, `$EXPOSURE_MAX_LAG`): a replica that is
behind, paused or stopped gives a clear error, never a stale answer without warning.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Final

from domain.errors import StoreError
from ledger import backends
from projections.db import Db, PostgresDb

DEFAULT_MAX_LAG: Final = 10.0
"""Seconds a read waits for the replica before it refuses to answer."""
POLL_SECONDS: Final = 0.02


async def projected(db: Db) -> dict[str, int]:
    """Each projection's position (notification id) as `db` sees it."""
    rows = await db.execute_fetchall("SELECT name, notification_id FROM projection_state")
    return {str(name): int(position) for name, position in rows}


@dataclass
class Replica:
    """An open connection to a replica, checked to hold the same store as the primary."""

    db: PostgresDb
    display: str
    max_lag: float

    @classmethod
    async def open(cls, primary: backends.Location, text: str, store_id: str, max_lag: float) -> Replica:
        """Connect to the replica at `text`; refuse anything that is not a copy of `primary`."""
        if not primary.is_postgres:
            raise StoreError("--read-store needs a PostgreSQL store (--store postgresql://...)")
        location = backends.parse_location(text)
        if not location.is_postgres:
            raise StoreError(f"--read-store must be a postgresql:// URL, not {text!r}")
        if max_lag < 0:
            raise StoreError(f"--max-lag must be a number of seconds >= 0, not {max_lag:g}")
        import psycopg  # noqa: PLC0415 - only PostgreSQL stores need psycopg

        try:
            db = await PostgresDb.connect(location.text, read_only=True)
        except psycopg.Error as problem:
            raise StoreError(f"cannot connect to read store {location.display}: {_first_line(problem)}") from None
        replica = cls(db, location.display, max_lag)
        try:
            found = await replica._store_id()
        except BaseException:
            await db.close()
            raise
        if found != store_id:
            await db.close()
            raise StoreError(f"read store {location.display} is not a replica of store {primary.display}")
        return replica

    async def _store_id(self) -> str | None:
        import psycopg  # noqa: PLC0415

        try:
            rows = list(await self.db.execute_fetchall("SELECT value FROM exposure_settings WHERE key = 'store_id'"))
        except psycopg.errors.UndefinedTable:
            return None
        except psycopg.Error as problem:
            raise StoreError(f"read store {self.display} does not answer: {_first_line(problem)}") from None
        return str(rows[0][0]) if rows else None

    async def wait_for(self, target: dict[str, int]) -> None:
        """Return once the replica's projections are at least at `target`; a clear error when
        `max_lag` seconds pass first, or when the replica stops answering."""
        import psycopg  # noqa: PLC0415

        deadline = time.monotonic() + self.max_lag
        while True:
            try:
                have = await projected(self.db)
            except psycopg.Error as problem:
                raise StoreError(f"read store {self.display} stopped answering: {_first_line(problem)}") from None
            behind = {name: pos for name, pos in target.items() if have.get(name, 0) < pos}
            if not behind:
                return
            if time.monotonic() >= deadline:
                where = ", ".join(f"{name} {have.get(name, 0)} of {pos}" for name, pos in sorted(behind.items()))
                raise StoreError(
                    f"read store {self.display} is behind the primary after {self.max_lag:g} s (--max-lag):"
                    f" projections at {where}; no answer given from a stale replica"
                )
            await asyncio.sleep(POLL_SECONDS)


def _first_line(problem: BaseException) -> str:
    text = str(problem).strip()
    return text.splitlines()[0] if text else type(problem).__name__
