"""NIRs affected more than once across an incident's insurers (SPEC: people, not memberships)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

import msgspec

from domain.derive import IncidentView
from projections.db import Db
from projections.queries.cache import cached_counts, keep
from projections.queries.horizons import Horizon, visible
from projections.queries.status import member_status_sql, scopes_json


async def count_duplicates(
    db: Db, view: IncidentView, h: Horizon, insurers: Sequence[str], key: str, origin: str
) -> int:
    """Affected memberships that are not a new person: for each NIR affected k >= 1 times, k - 1.

    From the maintained people tallies when they describe the horizon, else counted over the
    member rows whose NIR is in more than one row (`shared_members`); kept in `count_cache`.
    """
    cached = await cached_counts(db, key)
    if cached is not None:
        return cached["duplicates"]
    duplicates = await _maintained_repeats(db, view, h, insurers)
    if duplicates is None:
        shared = "v.insurer = :insurer AND v.ref IN (SELECT ref FROM shared_members WHERE insurer = :insurer)"
        duplicates = _repeats(await _affected_nirs(db, view, h, {name: (shared, {}) for name in insurers}))
    await keep(db, key, {"duplicates": duplicates}, origin)
    return duplicates


def _repeats(nirs: Sequence[str]) -> int:
    """For each NIR that occurs k >= 1 times, k - 1."""
    return sum(n - 1 for n in Counter(nirs).values())


async def _affected_nirs(
    db: Db, view: IncidentView, h: Horizon, wheres: dict[str, tuple[str, dict[str, Any]]]
) -> list[str]:
    """The NIRs of the affected memberships that each insurer's `where` (with its extra
    parameters) selects: one query per insurer, each with that insurer's scope only."""
    sql = "SELECT nir FROM ({}) AS m WHERE status IN ('confirmed', 'presumed') AND nir IS NOT NULL"
    found: list[str] = []
    for insurer, (where, extra) in wheres.items():
        params = {"incident": view.incident, "scopes": scopes_json(view, insurer), "insurer": insurer, **h.params()}
        async with db.execute(sql.format(member_status_sql(where)), {**params, **extra}) as cursor:
            found.extend(str(r[0]) for r in await cursor.fetchall())
    return found


async def _maintained_repeats(db: Db, view: IncidentView, h: Horizon, insurers: Sequence[str]) -> int | None:
    """The repeats of `count_duplicates` from `people_tallies` (see projections/schema.py): a sum
    over group shapes, then the groups that hold a member enrolled twice or a member with a
    finding in the incident, counted from their rows. None when the tallies do not describe
    the horizon: a roster not visible there, or a scope not tallied yet."""
    async with db.execute(
        f"SELECT 1 FROM facts f WHERE kind = 'members-enrolled' AND NOT ({visible('f')}) LIMIT 1", h.params()
    ) as cursor:
        if await cursor.fetchone() is not None:
            return None
    async with db.execute("SELECT position FROM projection_state WHERE name = 'members'") as cursor:
        row = await cursor.fetchone()
    if row is not None and int(row[0]) > h.position:
        return None
    current: dict[str, str | None] = {}
    """Affected insurers among `insurers` -> the id of their scope (None: every member)."""
    for name in insurers:
        if view.insurer_status(name) == "affected":
            scope = view.scopes.get(name)
            current[name] = scope.fact_id if scope is not None else None
    scopes = sorted({s for s in current.values() if s is not None})
    if scopes:
        async with db.execute(
            "SELECT COUNT(*) FROM tallied_scopes WHERE scope IN (SELECT value FROM json_each(?))",
            (json.dumps(scopes),),
        ) as cursor:
            row = await cursor.fetchone()
        if row is None or int(row[0]) != len(scopes):
            return None

    def repeats(shape: str) -> int:
        affected = 0
        for name, matched in _decode_shape(shape):
            if name in current and (current[name] is None or current[name] in matched):
                affected += 1
        return affected - 1 if affected > 1 else 0

    async with db.execute("SELECT shape, groups FROM people_tallies WHERE groups > 0") as cursor:
        total = sum(repeats(str(shape)) * int(groups) for shape, groups in await cursor.fetchall())
    async with db.execute(UNCOUNTED_GROUPS, {"incident": view.incident}) as cursor:
        exact = {str(nir): str(shape) for nir, shape in await cursor.fetchall()}
    if not exact:
        return total
    # Those groups are counted from their rows instead (their shape does not say it all).
    total -= sum(repeats(shape) for shape in exact.values() if shape)
    refs: dict[str, set[str]] = {}
    for table in ("nir_recent", "nir_members"):
        async with db.execute(
            f"SELECT t.insurer, t.ref FROM json_each(:nirs) j JOIN {table} t ON t.nir = j.value",
            {"nirs": json.dumps(sorted(exact))},
        ) as cursor:
            for name, ref in await cursor.fetchall():
                refs.setdefault(str(name), set()).add(str(ref))
    named = "v.insurer = :insurer AND v.ref IN (SELECT value FROM json_each(:refs))"
    wheres = {name: (named, {"refs": json.dumps(sorted(refs[name]))}) for name in insurers if name in refs}
    return total + _repeats(await _affected_nirs(db, view, h, wheres))


UNCOUNTED_GROUPS = (
    "SELECT nir, shape FROM nir_groups WHERE shape = '' UNION SELECT g.nir, g.shape FROM member_findings f"
    " JOIN member_versions v ON v.insurer = f.insurer AND v.ref = f.ref JOIN nir_groups g ON g.nir = v.nir"
    " WHERE f.incident = :incident"
)
"""The NIR groups whose shape does not say how many of their rows are affected: those holding a
member enrolled more than once (through the partial index `nir_groups_unshaped`, not a scan of
every group) and those with a finding in the incident."""

_decode_shape = msgspec.json.Decoder(list[tuple[str, list[str]]]).decode
"""A NIR group's shape (projections/schema.py): [insurer, [scopes matched]] per member row."""
