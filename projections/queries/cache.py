"""Counts kept between questions: keyed by the state they were counted from."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence

from domain.derive import IncidentView
from projections.db import Db
from projections.queries.horizons import Horizon, visible


async def state_key(db: Db, view: IncidentView, insurer: str, h: Horizon) -> str:
    """What decides an insurer's member answers at `h`: its status, its scope, and the
    visible facts that enrol its members or rule on them in this incident."""
    return (await state_keys(db, view, [insurer], h))[insurer]


async def state_keys(db: Db, view: IncidentView, insurers: Sequence[str], h: Horizon) -> dict[str, str]:
    """`state_key` of several insurers, from one query."""
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


async def cached_many(db: Db, keys: Sequence[str]) -> dict[str, dict[str, int]]:
    async with db.execute(
        "SELECT key, counts FROM count_cache WHERE key IN (SELECT value FROM json_each(?))", (json.dumps(list(keys)),)
    ) as cursor:
        rows = await cursor.fetchall()
    return {str(key): {k: int(v) for k, v in json.loads(counts).items()} for key, counts in rows}


async def cached_counts(db: Db, key: str) -> dict[str, int] | None:
    async with db.execute("SELECT counts FROM count_cache WHERE key = ?", (key,)) as cursor:
        row = await cursor.fetchone()
    return None if row is None else {k: int(v) for k, v in json.loads(row[0]).items()}


def cache_origin(incident: str, insurer: str | None, h: Horizon, *, people: bool) -> str:
    """Where a `count_cache` row comes from: the `member_counts` call that computed it
    (`audit replay` makes the same call on the rebuilt projections and compares)."""
    return json.dumps([incident, insurer, h.known_us, h.position, people])


async def keep(db: Db, key: str, counts: dict[str, int], origin: str) -> None:
    await keep_many(db, {key: counts}, origin)


async def keep_many(db: Db, counts: dict[str, dict[str, int]], origin: str | Mapping[str, str]) -> None:
    """Keep counts by key; `origin`: one for all, or each key's own."""
    if db.read_only:  # a replica cannot keep it: the primary's catch-up and its readers do
        return
    await db.executemany(
        "INSERT INTO count_cache (key, counts, origin) VALUES (?, ?, ?)"
        " ON CONFLICT (key) DO UPDATE SET counts = excluded.counts",
        [(key, json.dumps(value), origin if isinstance(origin, str) else origin[key]) for key, value in counts.items()],
    )
    await db.commit()
