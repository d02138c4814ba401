"""The horizon of a question, and the incidents, insurers and incident view visible at it.

A `Horizon` is (X, P, hidden): knowledge time X in microseconds, the last append
position P recorded at or before Y (the head when Y is not given), and the
positions of facts retracted at that horizon. Every query selects rows with
`known_us <= X AND pos <= P AND pos NOT IN hidden`: indexed, never a replay.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from msgspec import UNSET, UnsetType

from domain.answers import NotKnown
from domain.derive import IncidentView, Visible, derive
from domain.errors import UnknownReference
from domain.facts import Member, decode
from domain.times import from_micros, iso_utc, to_micros
from projections.db import Db

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

    @property
    def known_on(self) -> str:
        """`as_known_on` of every answer."""
        return iso_utc(self.as_known_on)

    @property
    def recorded_at(self) -> str | UnsetType:
        """`as_recorded_at` of every answer: no key (`UNSET`) without `--as-recorded-at`."""
        return UNSET if self.as_recorded_at is None else iso_utc(self.as_recorded_at)

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
    if not rows:  # a new insurer's roster, or new refs: nothing to compare
        return []
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


def not_known_yet(incident: str, h: Horizon, insurer: str | UnsetType = UNSET) -> NotKnown:
    """The answer about an incident asked before any of its facts is known: `"known": false`."""
    return NotKnown(
        incident=incident, insurer=insurer, as_known_on=h.known_on, as_recorded_at=h.recorded_at, known=False
    )


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


async def roster_insurers(db: Db, h: Horizon) -> list[str]:
    """Insurers with a visible roster."""
    async with db.execute(
        f"SELECT DISTINCT insurer FROM facts f WHERE kind = 'members-enrolled' AND {visible('f')} ORDER BY insurer",
        h.params(),
    ) as cursor:
        return [str(r[0]) for r in await cursor.fetchall()]


def all_time(h: Horizon) -> Horizon:
    """The same position, any knowledge time (to tell unknown ids from not-yet-known ones)."""
    return Horizon(h.as_known_on, h.as_recorded_at, 2**62, h.position, ())
