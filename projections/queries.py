"""Point-in-time answers: which members, which fields, as known on X (as recorded at Y).

A `Horizon` is (X, P, hidden): knowledge time X in microseconds, the last append
position P recorded at or before Y (the head when Y is not given), and the
positions of facts retracted at that horizon. Every query selects rows with
`known_us <= X AND pos <= P AND pos NOT IN hidden`: indexed, never a replay.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import weakref
from collections import Counter
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import msgspec

from domain.categories import BUILT_IN_NAMES, implied
from domain.derive import IncidentView, Visible, derive
from domain.errors import UnknownReference
from domain.facts import Member, decode
from domain.times import from_micros, iso_utc, to_micros
from projections.db import Db
from projections.scoping import scope_sql

NAMING_KINDS: Final = (
    "insurer-informed",
    "insurer-confirmed-affected",
    "insurer-ruled-out",
    "members-enrolled",
)
AFFECTED: Final = ("confirmed", "presumed")


@dataclass(frozen=True)
class Horizon:
    """What "as known on X, as recorded at Y" selects."""

    as_known_on: datetime
    as_recorded_at: datetime | None
    known_us: int
    position: int
    hidden: tuple[int, ...]

    @property
    def hidden_json(self) -> str:
        """The retracted positions as a JSON array, for `json_each`."""
        return json.dumps(self.hidden)

    def params(self) -> dict[str, Any]:
        """Named SQL parameters common to every visibility test."""
        return {"x": self.known_us, "p": self.position, "hidden": self.hidden_json}

    def header(self) -> dict[str, str]:
        """The horizon as JSON keys of every answer."""
        out = {"as_known_on": iso_utc(self.as_known_on)}
        if self.as_recorded_at is not None:
            out["as_recorded_at"] = iso_utc(self.as_recorded_at)
        return out


VISIBLE: Final = (
    "{t}.known_us <= :x AND {t}.pos <= :p AND {t}.pos NOT IN (SELECT CAST(value AS INTEGER) FROM json_each(:hidden))"
)


def visible(alias: str) -> str:
    """The visibility predicate for table alias `alias`."""
    return VISIBLE.format(t=alias)


async def horizon(db: Db, as_known_on: datetime, as_recorded_at: datetime | None) -> Horizon:
    """Resolve X and Y into positions and the retracted facts."""
    known_us = to_micros(as_known_on)
    args: tuple[int, ...] = ()
    if as_recorded_at is None:
        sql = "SELECT COALESCE(MAX(pos), 0) FROM facts"
    else:
        sql, args = "SELECT COALESCE(MAX(pos), 0) FROM facts WHERE recorded_us <= ?", (to_micros(as_recorded_at),)
    async with db.execute(sql, args) as cursor:
        row = await cursor.fetchone()
    position = int(row[0]) if row else 0
    # Stop before the first roster whose member rows are not projected yet (another writer's
    # append may land between a catch-up and this query): never answer, or cache counts, half-seen.
    async with db.execute(
        "SELECT MIN(pos) - 1 FROM facts WHERE kind = 'members-enrolled' AND pos <= ?"
        " AND pos > COALESCE((SELECT position FROM projection_state WHERE name = 'members'), 0)",
        (position,),
    ) as cursor:
        lagging = await cursor.fetchone()
    if lagging is not None and lagging[0] is not None:
        position = int(lagging[0])
    return Horizon(as_known_on, as_recorded_at, known_us, position, await _hidden(db, known_us, position))


async def horizon_at(db: Db, known_us: int, position: int) -> Horizon:
    """The horizon "as known on `known_us`, with the facts up to `position`" (resolved already)."""
    return Horizon(from_micros(known_us), None, known_us, position, await _hidden(db, known_us, position))


async def _hidden(db: Db, known_us: int, position: int) -> tuple[int, ...]:
    """The positions retracted at that horizon."""
    async with db.execute(
        "SELECT DISTINCT target_pos FROM retractions WHERE known_us <= ? AND pos <= ? ORDER BY target_pos",
        (known_us, position),
    ) as cursor:
        return tuple(int(r[0]) for r in await cursor.fetchall())


async def incidents(db: Db, h: Horizon | None = None) -> list[str]:
    """Incidents opened by an attack-discovered fact (visible at `h` when given)."""
    sql = "SELECT DISTINCT incident FROM facts f WHERE kind = 'attack-discovered'"
    params: dict[str, Any] = {}
    if h is not None:
        sql += " AND " + visible("f")
        params = h.params()
    async with db.execute(sql + " ORDER BY incident", params) as cursor:
        return [str(r[0]) for r in await cursor.fetchall()]


async def require_incident(db: Db, incident: str) -> None:
    """`UnknownReference` unless the ledger has an attack-discovered for `incident`."""
    if incident not in await incidents(db):
        raise UnknownReference(f"unknown incident {incident!r}")


async def require_insurer(db: Db, insurer: str) -> None:
    """`UnknownReference` unless some fact of the ledger names `insurer` (SPEC §3)."""
    marks = ", ".join(f"'{k}'" for k in NAMING_KINDS)
    async with db.execute(
        f"SELECT 1 FROM facts WHERE kind IN ({marks}) AND insurer = :insurer LIMIT 1", {"insurer": insurer}
    ) as cursor:
        if await cursor.fetchone() is None:
            raise UnknownReference(f"unknown insurer {insurer!r}")


async def insurers_ever(db: Db) -> list[str]:
    """Every insurer a fact of the ledger names (SPEC §3), at any time."""
    marks = ", ".join(f"'{k}'" for k in NAMING_KINDS)
    async with db.execute(
        f"SELECT DISTINCT insurer FROM facts WHERE kind IN ({marks}) AND insurer IS NOT NULL ORDER BY insurer"
    ) as cursor:
        return [str(r[0]) for r in await cursor.fetchall()]


async def enrolled_by(db: Db, insurer: str, members: Sequence[Member]) -> list[tuple[str, datetime]]:
    """The roster facts (id, known_on) that enrolled every one of `members` with exactly these
    attributes, earliest first."""
    rows = await db.execute_fetchall(
        "SELECT v.pos, v.ref, v.role, v.contract, v.from_day, v.until_day, v.nir FROM member_versions v"
        " WHERE v.insurer = :insurer AND v.ref IN (SELECT value FROM json_each(:refs))",
        {"insurer": insurer, "refs": json.dumps([m.ref for m in members])},
    )
    wanted = {
        (m.ref, m.role, m.contract, m.from_.isoformat() if m.from_ else None, m.until.isoformat() if m.until else None,
         m.nir)
        for m in members
    }  # fmt: skip
    matches = Counter(int(pos) for pos, *attributes in rows if tuple(attributes) in wanted)
    whole = sorted(pos for pos, count in matches.items() if count == len(wanted))
    found: list[tuple[str, datetime]] = []
    for pos in whole:
        for fact_id, known_us in await db.execute_fetchall(
            "SELECT id, known_us FROM facts WHERE pos = :pos", {"pos": pos}
        ):
            found.append((str(fact_id), from_micros(int(known_us))))
    return found


async def known_at(db: Db, incident: str, h: Horizon) -> bool:
    """Whether any fact about the incident is visible at `h` (else: "not known yet")."""
    async with db.execute(
        f"SELECT 1 FROM facts f WHERE incident = :incident AND {visible('f')} LIMIT 1",
        {"incident": incident, **h.params()},
    ) as cursor:
        return await cursor.fetchone() is not None


def not_known_yet(incident: str, h: Horizon, **keys: str) -> dict[str, Any]:
    """The answer about an incident asked before any of its facts is known: `"known": false`."""
    return {"incident": incident, **keys, **h.header(), "known": False}


async def incident_view(db: Db, incident: str, h: Horizon) -> IncidentView:
    """SPEC §5 for one incident at the horizon (insurers, fields, scopes, notices)."""
    async with db.execute(
        f"SELECT pos, body FROM facts f WHERE incident = :incident AND {visible('f')} ORDER BY pos",
        {"incident": incident, **h.params()},
    ) as cursor:
        rows = await cursor.fetchall()
    return derive(incident, [Visible(int(pos), decode(bytes(body))) for pos, body in rows])


async def known_insurers(db: Db, h: Horizon) -> list[str]:
    """Insurers named by a visible naming fact (SPEC §3)."""
    marks = ", ".join(f"'{k}'" for k in NAMING_KINDS)
    async with db.execute(
        f"SELECT DISTINCT insurer FROM facts f WHERE kind IN ({marks}) AND insurer IS NOT NULL"
        f" AND {visible('f')} ORDER BY insurer",
        h.params(),
    ) as cursor:
        return [str(r[0]) for r in await cursor.fetchall()]


def _scopes_json(view: IncidentView, only: str | None = None) -> str:
    """Per-insurer affected flag and scope, for the member-status SQL.

    `only`: just that insurer's entry. The SQL joins every member row to these entries,
    so a query about one insurer's members runs many times faster with one entry.
    """
    entries = []
    insurers = set(view.insurers) | set(view.scopes)
    if only is not None:
        insurers &= {only}
    for insurer in sorted(insurers):
        scope = view.scopes.get(insurer)
        entries.append(
            {
                "insurer": insurer,
                "affected": 1 if view.insurer_status(insurer) == "affected" else 0,
                "contracts": json.dumps(scope.contracts) if scope and scope.contracts is not None else None,
                "roles": json.dumps(scope.roles) if scope and scope.roles is not None else None,
                "from": scope.enrolled_from.isoformat() if scope and scope.enrolled_from else None,
                "until": scope.enrolled_until.isoformat() if scope and scope.enrolled_until else None,
            }
        )
    return json.dumps(entries)


def member_status_sql(where: str) -> str:
    """Members (current attributes as known) with their status in `:incident`.

    `where` filters the member versions (alias `v`). Status: the latest member-level
    finding; else `presumed` when the insurer is affected and the member matches its
    latest scope; else `not-affected` (SPEC §5). `matched`: 1 when the insurer is affected
    and the member matches its scope, whatever the findings.
    """
    later_version = (
        "SELECT 1 FROM member_versions w WHERE w.insurer = v.insurer AND w.ref = v.ref AND "
        + visible("w")
        + " AND (w.known_us > v.known_us OR (w.known_us = v.known_us AND w.pos > v.pos))"
    )
    later_finding = (
        "SELECT 1 FROM member_findings g WHERE g.incident = f.incident AND g.insurer = f.insurer"
        " AND g.ref = f.ref AND "
        + visible("g")
        + " AND (g.known_us > f.known_us OR (g.known_us = f.known_us AND g.pos > f.pos))"
    )
    matched = "sc.affected = 1 AND " + scope_sql(
        {"contracts": "sc.contracts", "roles": "sc.roles", "enrolled_from": "sc.ef", "enrolled_until": "sc.eu"},
        table="cur",
        nullable=True,
    )
    return f"""
    WITH sc AS (
        SELECT json_extract(value, '$.insurer') AS insurer,
               CAST(json_extract(value, '$.affected') AS INTEGER) AS affected,
               json_extract(value, '$.contracts') AS contracts,
               json_extract(value, '$.roles') AS roles,
               json_extract(value, '$.from') AS ef,
               json_extract(value, '$.until') AS eu
        FROM json_each(:scopes)
    ),
    cur AS (
        SELECT v.insurer, v.ref, v.pos, v.role, v.contract, v.from_day, v.until_day, v.nir
        FROM member_versions v
        WHERE ({where}) AND {visible("v")} AND (v.multi = 0 OR NOT EXISTS ({later_version}))
    ),
    fnd AS (
        SELECT f.insurer, f.ref, f.status, f.pos
        FROM member_findings f
        WHERE f.incident = :incident AND {visible("f")} AND (f.multi = 0 OR NOT EXISTS ({later_finding}))
    )
    SELECT cur.insurer, cur.ref, cur.role, cur.contract, cur.from_day, cur.until_day, cur.nir,
           cur.pos AS enrolled_pos, fnd.pos AS finding_pos,
           COALESCE(fnd.status, CASE WHEN {matched} THEN 'presumed' ELSE 'not-affected' END) AS status,
           CASE WHEN {matched} THEN 1 ELSE 0 END AS matched
    FROM cur
    LEFT JOIN fnd ON fnd.insurer = cur.insurer AND fnd.ref = cur.ref
    LEFT JOIN sc ON sc.insurer = cur.insurer
    """


async def roster_insurers(db: Db, h: Horizon) -> list[str]:
    """Insurers with a visible roster."""
    async with db.execute(
        f"SELECT DISTINCT insurer FROM facts f WHERE kind = 'members-enrolled' AND {visible('f')} ORDER BY insurer",
        h.params(),
    ) as cursor:
        return [str(r[0]) for r in await cursor.fetchall()]


async def _state_key(db: Db, view: IncidentView, insurer: str, h: Horizon) -> str:
    """What decides an insurer's member answers at `h`: its status, its scope, and the
    visible facts that enrol its members or rule on them in this incident."""
    return (await _state_keys(db, view, [insurer], h))[insurer]


async def _state_keys(db: Db, view: IncidentView, insurers: Sequence[str], h: Horizon) -> dict[str, str]:
    """`_state_key` of several insurers, from one query."""
    positions: dict[str, list[int]] = {name: [] for name in insurers}
    async with db.execute(
        "SELECT insurer, pos FROM facts f WHERE insurer IN (SELECT value FROM json_each(:insurers))"
        " AND (kind = 'members-enrolled' OR (incident = :incident"
        " AND kind IN ('members-confirmed-affected', 'members-ruled-out')))"
        f" AND {visible('f')} ORDER BY insurer, pos",
        {"insurers": json.dumps(list(insurers)), "incident": view.incident, **h.params()},
    ) as cursor:
        for name, pos in await cursor.fetchall():
            positions[str(name)].append(int(pos))
    keys = {}
    for name in insurers:
        scope = view.scopes.get(name)
        state = [
            view.incident,
            name,
            view.insurer_status(name) == "affected",
            None
            if scope is None
            else [scope.contracts, scope.roles, str(scope.enrolled_from), str(scope.enrolled_until)],
            positions[name],
        ]
        keys[name] = hashlib.sha256(json.dumps(state).encode()).hexdigest()
    return keys


async def _cached_many(db: Db, keys: Sequence[str]) -> dict[str, dict[str, int]]:
    async with db.execute(
        "SELECT key, counts FROM count_cache WHERE key IN (SELECT value FROM json_each(?))", (json.dumps(list(keys)),)
    ) as cursor:
        rows = await cursor.fetchall()
    return {str(key): {k: int(v) for k, v in json.loads(counts).items()} for key, counts in rows}


async def _cached(db: Db, key: str) -> dict[str, int] | None:
    async with db.execute("SELECT counts FROM count_cache WHERE key = ?", (key,)) as cursor:
        row = await cursor.fetchone()
    return None if row is None else {k: int(v) for k, v in json.loads(row[0]).items()}


def cache_origin(incident: str, insurer: str | None, h: Horizon, *, people: bool) -> str:
    """Where a `count_cache` row comes from: the `member_counts` call that computed it
    (`audit replay` makes the same call on the rebuilt projections and compares)."""
    return json.dumps([incident, insurer, h.known_us, h.position, people])


async def _keep(db: Db, key: str, counts: dict[str, int], origin: str) -> None:
    await _keep_many(db, {key: counts}, origin)


async def _keep_many(db: Db, counts: dict[str, dict[str, int]], origin: str) -> None:
    if db.read_only:  # a replica cannot keep it: the primary's catch-up and its readers do
        return
    await db.executemany(
        "INSERT INTO count_cache (key, counts, origin) VALUES (?, ?, ?)"
        " ON CONFLICT (key) DO UPDATE SET counts = excluded.counts",
        [(key, json.dumps(value), origin) for key, value in counts.items()],
    )
    await db.commit()


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
    params = {"incident": view.incident, "scopes": _scopes_json(view, insurer), "insurer": insurer, **h.params()}
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


async def _duplicates(db: Db, view: IncidentView, h: Horizon, insurers: Sequence[str], key: str, origin: str) -> int:
    """Affected memberships that are not a new person: for each NIR affected k >= 1 times, k - 1.

    From the maintained people tallies when they describe the horizon, else counted over the
    member rows whose NIR is in more than one row (`shared_members`); kept in `count_cache`.
    """
    cached = await _cached(db, key)
    if cached is not None:
        return cached["duplicates"]
    duplicates = await _maintained_repeats(db, view, h, insurers)
    if duplicates is None:
        shared = "v.insurer = :insurer AND v.ref IN (SELECT ref FROM shared_members WHERE insurer = :insurer)"
        duplicates = _repeats(await _affected_nirs(db, view, h, {name: (shared, {}) for name in insurers}))
    await _keep(db, key, {"duplicates": duplicates}, origin)
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
        params = {"incident": view.incident, "scopes": _scopes_json(view, insurer), "insurer": insurer, **h.params()}
        async with db.execute(sql.format(member_status_sql(where)), {**params, **extra}) as cursor:
            found.extend(str(r[0]) for r in await cursor.fetchall())
    return found


async def _maintained_repeats(db: Db, view: IncidentView, h: Horizon, insurers: Sequence[str]) -> int | None:
    """The repeats of `_duplicates` from `people_tallies` (see projections/schema.py): a sum
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
    async with db.execute(
        "SELECT nir, shape FROM nir_groups WHERE shape = '' UNION SELECT g.nir, g.shape FROM member_findings f"
        " JOIN member_versions v ON v.insurer = f.insurer AND v.ref = f.ref JOIN nir_groups g ON g.nir = v.nir"
        " WHERE f.incident = :incident",
        {"incident": view.incident},
    ) as cursor:
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


_decode_shape = msgspec.json.Decoder(list[tuple[str, list[str]]]).decode
"""A NIR group's shape (projections/schema.py): [insurer, [scopes matched]] per member row."""


async def member_counts(
    db: Db, view: IncidentView, h: Horizon, insurer: str | None = None, *, people: bool = True
) -> dict[str, int]:
    """Counts of SPEC §5: memberships, confirmed, presumed, ruled_out, affected, people.

    Counted per insurer once per knowledge state (`count_cache`); people = affected
    memberships minus repeated NIRs (see `_duplicates`). Without `people`, the answer has
    no `people` key and costs no more than the membership counts.
    """
    insurers = [insurer] if insurer is not None else await roster_insurers(db, h)
    totals = {"memberships": 0, "confirmed": 0, "presumed": 0, "ruled_out": 0}
    by_insurer = await _state_keys(db, view, insurers, h)
    keys = [by_insurer[name] for name in insurers]
    cached = await _cached_many(db, keys)
    missing = [name for name in insurers if by_insurer[name] not in cached]
    if missing:
        fresh = await _maintained_counts_of(db, view, missing, h)
        for name in missing:
            if name not in fresh:  # a scope not tallied yet: count the rows
                counts = await _status_counts(db, view, name, h, "v.insurer = :insurer")
                del counts["found_matched"]
                fresh[name] = counts
            cached[by_insurer[name]] = fresh[name]
        await _keep_many(
            db,
            {by_insurer[name]: fresh[name] for name in missing},
            cache_origin(view.incident, insurer, h, people=False),
        )
    for name in insurers:
        for k, v in cached[by_insurer[name]].items():
            totals[k] += v
    affected = totals["confirmed"] + totals["presumed"]
    if not people:
        return {**totals, "affected": affected}
    people_key = hashlib.sha256(json.dumps(["people", insurer, keys]).encode()).hexdigest()
    origin = cache_origin(view.incident, insurer, h, people=True)
    duplicates = await _duplicates(db, view, h, insurers, people_key, origin) if affected else 0
    return {**totals, "affected": affected, "people": affected - duplicates}


async def summary(db: Db, incident: str, h: Horizon) -> dict[str, Any]:
    """SPEC §7 `summary`: insurers by status, member counts, incident-wide fields."""
    await require_incident(db, incident)
    if not await known_at(db, incident, h):
        return not_known_yet(incident, h)
    view = await incident_view(db, incident, h)
    groups: dict[str, list[str]] = {"affected": [], "ruled_out": [], "informed": [], "unknown": []}
    for insurer in await known_insurers(db, h):
        groups[view.insurer_status(insurer).replace("-", "_")].append(insurer)
    counts = await member_counts(db, view, h)
    counts.pop("memberships")
    return {
        "incident": incident,
        **h.header(),
        "insurers": {k: sorted(v) for k, v in groups.items()},
        "members": counts,
        "fields": view.summary_fields(),
    }


async def insurer(db: Db, incident: str, insurer_id: str, h: Horizon) -> dict[str, Any]:
    """One insurer in one incident: status, scope, fields, counts, notification dates."""
    await require_incident(db, incident)
    if not await known_at(db, incident, h):
        await require_insurer(db, insurer_id)
        return not_known_yet(incident, h, insurer=insurer_id)
    if insurer_id not in await known_insurers(db, _all_time(h)):
        raise UnknownReference(f"unknown insurer {insurer_id!r}")
    view = await incident_view(db, incident, h)
    status = view.insurer_status(insurer_id)
    ruling = view.insurers.get(insurer_id) or view.informed.get(insurer_id)
    scope = view.scopes.get(insurer_id)
    categories = sorted(view.categories | BUILT_IN_NAMES)
    authority = sorted(t for i, t, _ in view.authority_notices if i == insurer_id)
    members_told = sorted(t for i, t, _, _ in view.member_notices if i == insurer_id)
    return {
        "incident": incident,
        "insurer": insurer_id,
        "name": view.names.get(insurer_id),
        **h.header(),
        "status": status,
        "because": [ruling.fact_id] if ruling else [],
        "estimate": view.estimates.get(insurer_id),
        "scope": None
        if scope is None
        else {
            "contracts": sorted(scope.contracts) if scope.contracts is not None else None,
            "roles": sorted(scope.roles) if scope.roles is not None else None,
            "enrolled_from": scope.enrolled_from.isoformat() if scope.enrolled_from else None,
            "enrolled_until": scope.enrolled_until.isoformat() if scope.enrolled_until else None,
            "fact": scope.fact_id,
        },
        "fields": {c: view.field_status(insurer_id, c) for c in categories},
        "exposed": view.exposed_fields(insurer_id),
        "implied": implied(view.exposed_fields(insurer_id)),
        "members": await member_counts(db, view, h, insurer_id),
        "informed_at": iso_utc(view.informed_at[insurer_id]) if insurer_id in view.informed_at else None,
        "authority_notified_at": iso_utc(authority[0]) if authority else None,
        "members_notified_at": iso_utc(members_told[0]) if members_told else None,
    }


def _all_time(h: Horizon) -> Horizon:
    """The same position, any knowledge time (to tell unknown ids from not-yet-known ones)."""
    return Horizon(h.as_known_on, h.as_recorded_at, 2**62, h.position, ())


async def member(
    db: Db,
    h: Horizon,
    *,
    insurer_id: str | None = None,
    ref: str | None = None,
    nir_pseudonym: str | None = None,
) -> dict[str, Any]:
    """Every membership found (by insurer + ref, or by NIR pseudonym), per incident."""
    where = "v.insurer = :insurer AND v.ref = :ref"
    pairs: list[tuple[str | None, str | None]] = [(insurer_id, ref)]
    extra: dict[str, str] = {}
    if nir_pseudonym is not None:
        # The memberships that ever had this NIR (two indexed reads), then each one as by ref
        # with its current version still holding the NIR.
        where += " AND v.nir = :nir"
        extra = {"nir": nir_pseudonym}
        pairs = [
            (str(a), str(b))
            for a, b in await db.fetch_point(
                "SELECT insurer, ref FROM nir_members WHERE nir = :nir"
                " UNION SELECT insurer, ref FROM nir_recent WHERE nir = :nir ORDER BY 1, 2",
                extra,
            )
        ]
    memberships: dict[tuple[str, str], list[dict[str, Any]]] = {}
    sql = (
        "SELECT m.*, (SELECT id FROM facts WHERE pos = m.enrolled_pos),"
        " (SELECT id FROM facts WHERE pos = m.finding_pos)"
        f" FROM ({member_status_sql(where)}) m"
    )
    for incident in await _incidents_for_lookups(db, h):
        view = await _view_for_lookups(db, incident, h)
        for pair_insurer, pair_ref in pairs:
            filters = {"insurer": pair_insurer, "ref": pair_ref, **extra}
            params = {"incident": incident, "scopes": _scopes_json(view, pair_insurer), **filters, **h.params()}
            for row in await db.fetch_point(sql, params):
                key = (str(row[0]), str(row[1]))
                memberships.setdefault(key, []).append(_membership_answer(view, row))
    if not memberships:
        # Enrolled but no incident yet: the membership still exists.
        for pair_insurer, pair_ref in pairs:
            filters = {"insurer": pair_insurer, "ref": pair_ref, **extra}
            memberships |= {k: [] for k in await _enrolled_keys(db, where, filters, h)}
    return {
        **h.header(),
        "memberships": [
            {"insurer": ins, "ref": r, "incidents": sorted(found, key=lambda a: str(a["incident"]))}
            for (ins, r), found in sorted(memberships.items())
        ],
    }


_VIEWS: weakref.WeakKeyDictionary[Db, dict[tuple[Any, ...], IncidentView]] = weakref.WeakKeyDictionary()
VIEWS_KEPT: Final = 16


async def _incidents_for_lookups(db: Db, h: Horizon) -> list[str]:
    """`incidents(db, h)`, kept like the views below."""
    key = ("", h.known_us, h.position, h.hidden)
    kept = _INCIDENTS.setdefault(db, {})
    found = kept.get(key)
    if found is None:
        found = await incidents(db, h)
        if len(kept) >= VIEWS_KEPT:
            kept.pop(next(iter(kept)))
        kept[key] = found
    return found


_INCIDENTS: weakref.WeakKeyDictionary[Db, dict[tuple[Any, ...], list[str]]] = weakref.WeakKeyDictionary()


async def _view_for_lookups(db: Db, incident: str, h: Horizon) -> IncidentView:
    """The incident's view at `h`, kept per connection for the next lookups.

    A process answering many member lookups at one horizon derives each incident once. The
    facts at or before a position never change (the ledger is append-only), so the view at
    (incident, X, P, retracted positions) is the same for as long as the connection lives.
    """
    key = (incident, h.known_us, h.position, h.hidden)
    kept = _VIEWS.setdefault(db, {})
    found = kept.get(key)
    if found is None:
        found = await incident_view(db, incident, h)
        if len(kept) >= VIEWS_KEPT:
            kept.pop(next(iter(kept)))
        kept[key] = found
    return found


async def _enrolled_keys(db: Db, where: str, filters: dict[str, Any], h: Horizon) -> list[tuple[str, str]]:
    rows = await db.execute_fetchall(
        f"SELECT DISTINCT v.insurer, v.ref FROM member_versions v WHERE ({where}) AND {visible('v')}",
        {**filters, **h.params()},
    )
    return [(str(a), str(b)) for a, b in rows]


def _membership_answer(
    view: IncidentView, row: Sequence[Any], kept: dict[tuple[str, str], tuple[list[str], set[str]]] | None = None
) -> dict[str, Any]:
    """One membership in one incident from a member-status row (`matched` last) followed by the ids of the
    facts at its `enrolled_pos` and `finding_pos`. `kept`: the per-(insurer, status) part, shared by a batch."""
    insurer_id, status = str(row[0]), str(row[9])
    shared = kept.get((insurer_id, status)) if kept is not None else None
    if shared is None:
        shared = _status_part(view, insurer_id, status)
        if kept is not None:
            kept[(insurer_id, status)] = shared
    fields, reasons = shared
    because = reasons | {str(row[11])} | ({str(row[12])} if row[12] is not None else set())
    return {
        "incident": view.incident,
        "status": status,
        "fields": fields,
        "implied": implied(fields),
        "because": sorted(because),
    }


def _status_part(view: IncidentView, insurer_id: str, status: str) -> tuple[list[str], set[str]]:
    """The fields and deciding facts every member of `insurer_id` with `status` shares."""
    because: set[str] = set()
    fields: list[str] = []
    if status in AFFECTED:
        fields = view.exposed_fields(insurer_id)
        for category in fields:
            ruling = view.field_ruling(insurer_id, category)
            if ruling:
                because.add(ruling.fact_id)
    if status == "presumed":
        ruling = view.insurers.get(insurer_id)
        if ruling:
            because.add(ruling.fact_id)
        scope = view.scopes.get(insurer_id)
        if scope:
            because.add(scope.fact_id)
    return fields, because


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
        params = {"incident": incident, "scopes": _scopes_json(view, insurer), "insurer": insurer, **h.params()}
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


__all__ = ["from_micros"]
