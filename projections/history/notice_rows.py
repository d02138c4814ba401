"""The mail-merge rows of the members an insurer must still notify, in chunks."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

from domain.categories import implied
from domain.derive import derive
from domain.facts import (
    insurer_of,
)
from domain.times import iso_utc
from projections import queries
from projections.db import SQLITE, Db
from projections.history.notices import Notice, notices_of, told_by, visible_incident_facts
from projections.history.sides import Side, affected_when, bound_sql, side_at
from projections.queries import Horizon


@dataclass(frozen=True, slots=True)
class NoticeQuery:
    """Every member of one insurer that is affected now or was told before: one SQL statement.

    Columns: `ref`, `role`, `contract`, `from_day`, `until_day`, `status` (now; NULL for a member
    told before but no longer enrolled), `j` (index in `notices` of the member's latest covering notice, or NULL),
    `affected` (1 when affected now) and `notice`: `initial` when affected now and never
    covered by a notice; `complementary` when covered and the answer it was given has changed
    since (affected then and not now or the reverse, or its exposed fields changed); else `none`.
    """

    sql: str
    params: dict[str, Any]
    notices: tuple[Notice, ...]
    merged: bool = False
    """True when the answers at the notices and now are merged by ref (a sort); else one pass."""


async def notice_query(db: Db, incident: str, insurer: str, now: Side, notices: Sequence[Notice]) -> NoticeQuery:
    """The `NoticeQuery` of `insurer` at `now`.

    A notice with refs covers those refs; one without covers every member affected as known
    when it was given (its `occurred_on`). A member's latest covering notice is compared with
    the answer now. Unions grouped by ref, never joins of subqueries: SQLite would compare every pair.
    """
    current = (
        "SELECT ref, role, contract, from_day, until_day, status"
        f" FROM ({queries.member_status_sql('v.insurer = :insurer')}) AS s"
    )
    current, params = bound_sql(current, now.h, now.view, "now", insurer)
    params |= {"incident": incident, "insurer": insurer}
    now_fields = now.view.exposed_fields(insurer)
    sides = [
        await side_at(db, incident, await queries.horizon(db, notice.occurred_on, now.h.as_recorded_at))
        for notice in notices
    ]
    stale = [number for number, then in enumerate(sides) if then.view.exposed_fields(insurer) != now_fields]
    if notices and all(n.blanket for n in notices):
        now_key = await queries.state_key(db, now.view, insurer, now.h)
        if all([await queries.state_key(db, then.view, insurer, then.h) == now_key for then in sides]):
            # The facts that decide who is affected are the same at every notice and now
            # (`state_key`, as `diff` uses it): whoever is affected now was affected, and
            # told, at the last notice; whoever is not was never told. One pass, as export.
            last = len(notices) - 1
            told = "'complementary'" if last in stale else "'none'"
            sql = (
                f"SELECT ref, role, contract, from_day, until_day, status,"
                f" CASE WHEN {affected_when('status')} = 1 THEN {last} END AS j,"
                f" {affected_when('status')} AS affected,"
                f" CASE WHEN {affected_when('status')} = 1 THEN {told} ELSE 'none' END AS notice FROM ({current}) AS c"
            )
            return NoticeQuery(sql, params, tuple(notices))
    covered: list[str] = []
    for number, (notice, then) in enumerate(zip(notices, sides, strict=True)):
        covers, _, bound = told_by(number, notice, then, insurer)
        covered.append(covers)
        params |= bound
    if not covered:
        sql = (
            f"SELECT ref, role, contract, from_day, until_day, status, NULL AS j,"
            f" {affected_when('status')} AS affected,"
            f" CASE WHEN {affected_when('status')} = 1 THEN 'initial' ELSE 'none' END AS notice FROM ({current}) AS c"
        )
        return NoticeQuery(sql, params, tuple(notices))
    # `latest`: each ref's last covering notice j with its `aff` (0 or 1), as one MAX(2j + aff).
    sql = f"""
    WITH told AS ({" UNION ALL ".join(covered)}),
    latest AS (
        SELECT ref, code / 2 AS j, code % 2 AS aff
        FROM (SELECT ref, MAX(j * 2 + aff) AS code FROM told GROUP BY ref) AS l
    ),
    paired AS (
        SELECT ref, MAX(role) AS role, MAX(contract) AS contract, MAX(from_day) AS from_day,
               MAX(until_day) AS until_day, MAX(st) AS status, MAX(j) AS j,
               MAX(aff) AS aff, MAX(told) AS told FROM (
            SELECT ref, NULL AS role, NULL AS contract, NULL AS from_day, NULL AS until_day, NULL AS st, j, aff,
                   1 AS told FROM latest
            UNION ALL
            SELECT ref, role, contract, from_day, until_day, status, NULL, NULL, 0 FROM ({current}) AS c
        ) AS u GROUP BY ref
    )
    SELECT ref, role, contract, from_day, until_day, status, j, {affected_when("status")} AS affected,
           CASE WHEN told = 0 THEN (CASE WHEN {affected_when("status")} = 1 THEN 'initial' ELSE 'none' END)
                WHEN aff != {affected_when("status")} OR (aff = 1 AND {affected_when("status")} = 1
                     AND j IN (SELECT CAST(value AS INTEGER) FROM json_each(:stale))) THEN 'complementary'
                ELSE 'none' END AS notice
    FROM paired
    """
    return NoticeQuery(sql, {**params, "stale": json.dumps(stale)}, tuple(notices), merged=True)


SORTER_CACHE_KIB: Final = 16 * 1024
"""The connection's cache while a merged `NoticeQuery` runs on SQLite: each of SQLite's sorters
keeps up to the connection's cache size in memory before it spills to a temporary file, so
this caps the memory of the sort whatever the roster (the store's own 256 MiB cache would let
each of the statement's sorters grow to 256 MiB)."""


@contextlib.asynccontextmanager
async def _sorting_on_disk(db: Db, query: NoticeQuery) -> AsyncIterator[None]:
    """SQLite sorts in its temp store, which the store keeps in memory: a merged `NoticeQuery`
    over millions of members sorts in temporary files instead, each sorter holding at most
    `SORTER_CACHE_KIB` in memory, so memory stays flat whatever the roster."""
    spill = query.merged and db.dialect == SQLITE
    cache = -SORTER_CACHE_KIB
    if spill:
        async with db.execute("PRAGMA cache_size") as cursor:
            row = await cursor.fetchone()
        cache = int(row[0]) if row else cache
        await db.execute("PRAGMA temp_store = FILE")
        await db.execute(f"PRAGMA cache_size = -{SORTER_CACHE_KIB}")
    try:
        yield
    finally:
        if spill:
            await db.execute("PRAGMA temp_store = MEMORY")
            await db.execute(f"PRAGMA cache_size = {cache}")


NOTICE_COLUMNS: Final = ("ref", "role", "contract", "status", "fields", "implied", "notified_at", "notice")
"""The mail-merge columns of `notify members`; `fields` and `implied` are `;`-separated."""


async def member_notice_chunks(
    db: Db, incident: str, insurer: str, h: Horizon, *, since_last: bool = False
) -> AsyncGenerator[list[tuple[Any, ...]], None]:
    """The mail-merge rows of `insurer` (`NOTICE_COLUMNS`, by ref), `queries.EXPORT_CHUNK` at a time:
    every member affected at `h` and every member told before who is no longer affected, with
    the notice each needs (see `NoticeQuery`); `since_last`: only those whose notice is not `none`.

    The rows are finished in SQL (fields, notified_at) so that writing them costs what
    `members export` costs; the next chunk is read while the caller writes this one.
    """
    await queries.require_incident(db, incident)
    items = await visible_incident_facts(db, incident, h)
    view = derive(incident, items)
    own = [v for v in items if insurer_of(v.fact) == insurer]
    query = await notice_query(db, incident, insurer, Side(h, view), notices_of(own))
    fields = view.exposed_fields(insurer)
    wanted = "notice != 'none'" if since_last else "(affected = 1 OR notice = 'complementary')"
    times = {f"told_{j}": iso_utc(n.occurred_on) for j, n in enumerate(query.notices)}
    told_at = "CASE j " + "".join(f"WHEN {j} THEN :told_{j} " for j in range(len(times))) + "END" if times else "NULL"
    sql = (
        "SELECT ref, role, contract, COALESCE(status, 'not-affected'),"
        " CASE WHEN affected = 1 THEN :fields_text ELSE '' END,"
        " CASE WHEN affected = 1 THEN :implied_text ELSE '' END,"
        f" {told_at}, notice"
        f" FROM ({query.sql}) AS r WHERE {wanted} ORDER BY ref"
    )
    params = {
        **query.params,
        "fields_text": ";".join(fields),
        "implied_text": ";".join(implied(fields)),
        **times,
    }
    chunks = _chunks(db, query, sql, params)
    async with contextlib.aclosing(chunks):
        async for rows in chunks:
            yield rows


async def affected_notified_chunks(
    db: Db, incident: str, insurer: str, h: Horizon
) -> AsyncGenerator[list[tuple[Any, ...]], None]:
    """`members export`'s rows of one insurer with notices: its affected members in ref order
    as (ref, role, contract, from, until, status, notified_at), `queries.EXPORT_CHUNK` at a time.

    `notified_at` is the `occurred_on` of the member's latest covering notice (`NoticeQuery`'s
    `j`): the same SQL as `notify members`, streamed, never a map of every member told."""
    items = await visible_incident_facts(db, incident, h)
    view = derive(incident, items)
    own = [v for v in items if insurer_of(v.fact) == insurer]
    query = await notice_query(db, incident, insurer, Side(h, view), notices_of(own))
    times = {f"told_{j}": iso_utc(n.occurred_on) for j, n in enumerate(query.notices)}
    told_at = "CASE j " + "".join(f"WHEN {j} THEN :told_{j} " for j in range(len(times))) + "END" if times else "NULL"
    sql = (
        f"SELECT ref, role, contract, from_day, until_day, status, {told_at}"
        f" FROM ({query.sql}) AS r WHERE affected = 1 ORDER BY ref"
    )
    chunks = _chunks(db, query, sql, {**query.params, **times})
    async with contextlib.aclosing(chunks):
        async for rows in chunks:
            yield rows


async def _chunks(
    db: Db, query: NoticeQuery, sql: str, params: dict[str, Any]
) -> AsyncGenerator[list[tuple[Any, ...]], None]:
    """The rows of `sql` (over `query`), `queries.EXPORT_CHUNK` at a time, the next chunk read
    while the caller writes this one (PostgreSQL: a server-side cursor)."""
    async with _sorting_on_disk(db, query), db.stream(sql, params) as cursor:
        ahead = asyncio.ensure_future(cursor.fetchmany(queries.EXPORT_CHUNK))
        try:
            while rows := await ahead:
                ahead = asyncio.ensure_future(cursor.fetchmany(queries.EXPORT_CHUNK))
                yield [tuple(row) for row in rows]
        finally:
            if not ahead.done():
                with contextlib.suppress(Exception):
                    await ahead


async def has_member_notices(db: Db, incident: str, insurer: str, h: Horizon) -> bool:
    """Whether `insurer` has a visible `members-notified` fact in `incident`."""
    sql = (
        "SELECT 1 FROM facts f WHERE incident = :incident AND insurer = :insurer AND kind = 'members-notified'"
        f" AND {queries.visible('f')} LIMIT 1"
    )
    async with db.execute(sql, {"incident": incident, "insurer": insurer, **h.params()}) as cursor:
        return await cursor.fetchone() is not None


def notice_row(row: tuple[Any, ...]) -> dict[str, Any]:
    """One mail-merge row as JSON (lists for `fields` and `implied`)."""
    found = dict(zip(NOTICE_COLUMNS, row, strict=True))
    for key in ("fields", "implied"):
        found[key] = found[key].split(";") if found[key] else []
    return found
