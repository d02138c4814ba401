"""Affected members, in chunks (members export, notify), and the notices told per member ref."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from typing import Any, Final

from domain.categories import implied
from domain.times import to_micros
from projections.db import Db
from projections.queries.horizons import Horizon, horizon, incident_view, require_incident, roster_insurers, visible
from projections.queries.status import member_status_sql, scopes_json

EXPORT_COLUMNS: Final = (
    "incident", "insurer", "ref", "role", "contract", "from", "until", "status", "fields", "implied", "notified_at"
)  # fmt: skip


async def notices_by_ref(db: Db, incident: str, h: Horizon, insurer: str) -> dict[str, int]:
    """ref -> when (microseconds) the member was last told, by the insurer's visible notices.

    A notice with refs tells those refs; one without tells every member affected as known
    at that moment (its `occurred_on`, as recorded at the same Y): those are read at that
    horizon, so an insurer with such a notice costs one more pass over its affected members.
    """
    told: dict[str, int] = {}
    async with db.execute(
        "SELECT ref, MAX(occurred_us) FROM member_notices n WHERE incident = :incident AND insurer = :insurer"
        f" AND {visible('n')} GROUP BY ref",
        {"incident": incident, "insurer": insurer, **h.params()},
    ) as cursor:
        async for ref, occurred in cursor:
            told[str(ref)] = int(occurred)
    view = await incident_view(db, incident, h)
    blanket = sorted({at for who, at, _, refs in view.member_notices if who == insurer and refs is None})
    for at in blanket:
        then = await horizon(db, at, h.as_recorded_at)
        at_us = to_micros(at)
        chunks = affected_chunks(db, incident, then, insurer)
        async with contextlib.aclosing(chunks):
            async for _insurer, _fields, _implied, rows in chunks:
                for row in rows:
                    ref = str(row[0])
                    if told.get(ref, -1) < at_us:
                        told[ref] = at_us
    return told


EXPORT_CHUNK: Final = 10_000

Chunk = tuple[str, list[str], list[str], list[tuple[str, str | None, str | None, str | None, str | None, str]]]
"""(insurer, exposed fields, implied fields, rows of (ref, role, contract, from, until, status))."""


async def affected_chunks(
    db: Db, incident: str, h: Horizon, insurer_id: str | None = None
) -> AsyncGenerator[Chunk, None]:
    """The affected members (confirmed or presumed) in (insurer, ref) order, in chunks.

    One query per insurer, each with that insurer's scope only, read `EXPORT_CHUNK` rows
    at a time: the fast path of `members export`.
    """
    await require_incident(db, incident)
    view = await incident_view(db, incident, h)
    insurers = [insurer_id] if insurer_id is not None else await roster_insurers(db, h)
    sql = (
        "SELECT ref, role, contract, from_day, until_day, status"
        f" FROM ({member_status_sql('v.insurer = :insurer')}) AS m"
        " WHERE status IN ('confirmed', 'presumed') ORDER BY ref"
    )
    for insurer in insurers:
        fields = view.exposed_fields(insurer)
        params = {"incident": incident, "scopes": scopes_json(view, insurer), "insurer": insurer, **h.params()}
        async with db.stream(sql, params) as cursor:
            # Read the next chunk (SQLite, in aiosqlite's thread) while the caller writes this one.
            ahead = asyncio.ensure_future(cursor.fetchmany(EXPORT_CHUNK))
            try:
                while rows := await ahead:
                    ahead = asyncio.ensure_future(cursor.fetchmany(EXPORT_CHUNK))
                    yield insurer, fields, implied(fields), [tuple(r) for r in rows]
            finally:
                if not ahead.done():
                    with contextlib.suppress(Exception):
                        await ahead


async def affected_members(
    db: Db, incident: str, h: Horizon, insurer_id: str | None = None
) -> AsyncGenerator[dict[str, Any], None]:
    """Stream the affected members (confirmed or presumed) with their exposed fields."""
    chunks = affected_chunks(db, incident, h, insurer_id)
    async with contextlib.aclosing(chunks):
        async for insurer, fields, _, rows in chunks:
            for ref, role, contract, start, end, status in rows:
                yield {
                    "incident": incident,
                    "insurer": insurer,
                    "ref": ref,
                    "role": role,
                    "contract": contract,
                    "from": start,
                    "until": end,
                    "status": status,
                    "fields": fields,
                    "implied": implied(fields),
                }
