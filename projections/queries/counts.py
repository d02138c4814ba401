"""Members per insurer and status at a horizon: maintained tallies, or counted by the scope rule."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from domain.derive import IncidentView
from projections.db import Db
from projections.queries.cache import cache_origin, cached_many, keep_many, state_keys
from projections.queries.duplicates import count_duplicates
from projections.queries.horizons import Horizon, roster_insurers, visible
from projections.queries.status import member_status_sql, scopes_json


async def _status_counts(db: Db, view: IncidentView, insurer: str, h: Horizon, where: str) -> dict[str, int]:
    """Memberships by status among the member rows `where` selects, and how many of them
    have a visible finding and match the scope (`found_matched`)."""
    sql = f"""
    SELECT COUNT(*),
           COALESCE(SUM(CASE WHEN status = 'confirmed' THEN 1 ELSE 0 END), 0),
           COALESCE(SUM(CASE WHEN status = 'presumed' THEN 1 ELSE 0 END), 0),
           COALESCE(SUM(CASE WHEN status = 'ruled-out' THEN 1 ELSE 0 END), 0),
           COALESCE(SUM(CASE WHEN finding_pos IS NOT NULL AND matched = 1 THEN 1 ELSE 0 END), 0)
    FROM ({member_status_sql(where)}) counted
    """
    params = {"incident": view.incident, "scopes": scopes_json(view, insurer), "insurer": insurer, **h.params()}
    async with db.execute(sql, params) as cursor:
        row = await cursor.fetchone()
    names = ("memberships", "confirmed", "presumed", "ruled_out", "found_matched")
    return dict(zip(names, (int(v) for v in row) if row else (0,) * 5, strict=True))


async def _maintained_counts(db: Db, view: IncidentView, insurer: str, h: Horizon) -> dict[str, int] | None:
    """`_maintained_counts_of` for one insurer (None when its scope has no tallies yet)."""
    return (await _maintained_counts_of(db, view, [insurer], h)).get(insurer)


async def _maintained_counts_of(
    db: Db, view: IncidentView, insurers: Sequence[str], h: Horizon
) -> dict[str, dict[str, int]]:
    """Counts from the maintained tallies (see projections/schema.py), reading only the
    members with several versions and those with a finding: never the whole roster. One
    statement of each kind for all `insurers`; an insurer whose scope has no tallies yet is
    left out of the answer."""
    scope_of = {name: (view.scopes[name].fact_id if name in view.scopes else "") for name in insurers}
    async with db.execute(
        "SELECT scope FROM tallied_scopes WHERE scope IN (SELECT value FROM json_each(?))",
        (json.dumps(sorted({s for s in scope_of.values() if s})),),
    ) as cursor:
        tallied = {str(r[0]) for r in await cursor.fetchall()} | {""}
    names = [name for name in insurers if scope_of[name] in tallied]
    if not names:
        return {}
    sums: dict[tuple[str, str], int] = {}
    async with db.execute(
        "SELECT insurer, scope, COALESCE(SUM(members), 0) FROM member_tallies t"
        f" WHERE insurer IN (SELECT value FROM json_each(:insurers)) AND {visible('t')} GROUP BY insurer, scope",
        {"insurers": json.dumps(names), **h.params()},
    ) as cursor:
        for name, scope, members in await cursor.fetchall():
            sums[str(name), str(scope)] = int(members)
    # Only insurers with re-enrolled members, or members with findings, have rows to read.
    empty = dict.fromkeys(("memberships", "confirmed", "presumed", "ruled_out", "found_matched"), 0)
    several = dict.fromkeys(names, empty)
    found = dict.fromkeys(names, empty)
    chosen = {"insurers": json.dumps(names), "incident": view.incident}
    async with db.execute(
        "SELECT DISTINCT insurer FROM multi_members WHERE insurer IN (SELECT value FROM json_each(:insurers))", chosen
    ) as cursor:
        with_several = sorted(str(r[0]) for r in await cursor.fetchall())
    async with db.execute(
        "SELECT DISTINCT insurer FROM member_findings WHERE incident = :incident"
        " AND insurer IN (SELECT value FROM json_each(:insurers))",
        chosen,
    ) as cursor:
        with_findings = sorted(str(r[0]) for r in await cursor.fetchall())
    for name in with_several:
        where = "v.insurer = :insurer AND v.ref IN (SELECT ref FROM multi_members WHERE insurer = :insurer)"
        several[name] = await _status_counts(db, view, name, h, where)
    for name in with_findings:
        where = (
            "v.insurer = :insurer AND v.multi = 0 AND v.ref IN"
            " (SELECT ref FROM member_findings WHERE incident = :incident AND insurer = :insurer)"
        )
        found[name] = await _status_counts(db, view, name, h, where)
    counts = {}
    for name in names:
        many, told = several[name], found[name]
        matching = sums.get((name, scope_of[name]), 0)
        presumed = (matching - told["found_matched"]) if view.insurer_status(name) == "affected" else 0
        counts[name] = {
            "memberships": sums.get((name, ""), 0) + many["memberships"],
            "confirmed": told["confirmed"] + many["confirmed"],
            "presumed": presumed + many["presumed"],
            "ruled_out": told["ruled_out"] + many["ruled_out"],
        }
    return counts


async def counts_of_each(
    db: Db, view: IncidentView, h: Horizon, insurers: Sequence[str], *, single: bool = True
) -> tuple[dict[str, dict[str, int]], dict[str, str]]:
    """Memberships, confirmed, presumed and ruled_out of each of `insurers`, counted once per
    knowledge state (`count_cache`) with one query for their states and one for their cached
    counts, however many insurers. A count computed here is kept under the origin of the call
    that computes it alone, `member_counts(..., insurer)` (`single`), or of the call for every
    insurer, `member_counts(...)`, so that `audit replay` can make that call again. Also
    returns each insurer's state key (`state_keys`)."""
    by_insurer = await state_keys(db, view, insurers, h)
    cached = await cached_many(db, [by_insurer[name] for name in insurers])
    missing = [name for name in insurers if by_insurer[name] not in cached]
    if missing:
        fresh = await _maintained_counts_of(db, view, missing, h)
        for name in missing:
            if name not in fresh:  # a scope not tallied yet: count the rows
                counts = await _status_counts(db, view, name, h, "v.insurer = :insurer")
                del counts["found_matched"]
                fresh[name] = counts
            cached[by_insurer[name]] = fresh[name]
        await keep_many(
            db,
            {by_insurer[name]: fresh[name] for name in missing},
            {
                by_insurer[name]: cache_origin(view.incident, name if single else None, h, people=False)
                for name in missing
            },
        )
    return {name: cached[by_insurer[name]] for name in insurers}, by_insurer


async def member_counts(
    db: Db, view: IncidentView, h: Horizon, insurer: str | None = None, *, people: bool = True
) -> dict[str, int]:
    """Counts of SPEC §5: memberships, confirmed, presumed, ruled_out, affected, people.

    Counted per insurer once per knowledge state (`count_cache`); people = affected
    memberships minus repeated NIRs (see `count_duplicates`). Without `people`, the answer has
    no `people` key and costs no more than the membership counts.
    """
    insurers = [insurer] if insurer is not None else await roster_insurers(db, h)
    totals = {"memberships": 0, "confirmed": 0, "presumed": 0, "ruled_out": 0}
    each, by_insurer = await counts_of_each(db, view, h, insurers, single=insurer is not None)
    for name in insurers:
        for k, v in each[name].items():
            totals[k] += v
    affected = totals["confirmed"] + totals["presumed"]
    if not people:
        return {**totals, "affected": affected}
    keys = [by_insurer[name] for name in insurers]
    people_key = hashlib.sha256(json.dumps(["people", insurer, keys]).encode()).hexdigest()
    origin = cache_origin(view.incident, insurer, h, people=True)
    duplicates = await count_duplicates(db, view, h, insurers, people_key, origin) if affected else 0
    return {**totals, "affected": affected, "people": affected - duplicates}
