"""The history of an incident's answers: one entry per fact that changed it, and the notifications recorded."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby
from typing import Final

from domain.answers import InsurersThen, NotificationShown, TimelineEntry
from domain.facts import (
    AuthorityNotified,
    Fact,
    FactRetracted,
    MembersNotified,
    decode,
    insurer_of,
    kind_of,
)
from domain.times import from_micros, iso_utc
from projections import queries
from projections.db import Db
from projections.history.sides import ruled_out_fields
from projections.queries import Horizon

# -- the facts that bear on an incident ----------------------------------------------


@dataclass(frozen=True, slots=True)
class FactRow:
    """A fact that bears on an incident, with its append position and knowledge time."""

    position: int
    known_us: int
    recorded_us: int
    fact: Fact

    @property
    def kind(self) -> str:
        """The fact's kind tag."""
        return kind_of(self.fact)


async def relevant_facts(db: Db, incident: str, h: Horizon) -> list[FactRow]:
    """Facts known by `h` (and recorded by its position) that bear on `incident`, in (known, position) order.

    Those are the incident's own facts, the rosters of the insurers it names, and the
    retractions of any of them. Retracted facts are included: a history shows them.
    """
    sql = """
    WITH named AS (
        SELECT DISTINCT insurer FROM facts WHERE incident = :incident AND insurer IS NOT NULL
        AND known_us <= :x AND pos <= :p
    ),
    rel AS (
        SELECT pos, id FROM facts WHERE pos <= :p AND known_us <= :x AND (incident = :incident
        OR (kind = 'members-enrolled' AND insurer IN (SELECT insurer FROM named)))
    )
    SELECT pos, known_us, recorded_us, body FROM facts f
    WHERE f.pos <= :p AND f.known_us <= :x
      AND (f.pos IN (SELECT pos FROM rel) OR (f.kind = 'fact-retracted' AND f.target IN (SELECT id FROM rel)))
    ORDER BY f.known_us, f.pos
    """
    params = {"incident": incident, "x": h.known_us, "p": h.position}
    async with db.execute(sql, params) as cursor:
        rows = await cursor.fetchall()
    return [FactRow(int(pos), int(known), int(recorded), decode(bytes(body))) for pos, known, recorded, body in rows]


# -- timeline -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Answer:
    """What the timeline compares from one knowledge time to the next."""

    opened: bool
    members_affected: int
    fields_exposed: tuple[str, ...]
    insurers: tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]
    """(affected, ruled out, informed only)."""


CLOSED: Final = Answer(False, 0, (), ((), (), ()))


async def answer_at(db: Db, incident: str, h: Horizon) -> Answer:
    """The incident's answer at `h`: opened?, members affected, fields exposed, insurer statuses."""
    view = await queries.incident_view(db, incident, h)
    if view.opened_by is None:
        return CLOSED
    counts = await queries.member_counts(db, view, h, people=False)  # a timeline shows memberships
    informed = tuple(sorted(i for i in view.informed if i not in view.insurers))
    return Answer(
        True,
        counts["affected"],
        tuple(view.summary_fields()["exposed"]),
        (tuple(view.affected_insurers()), tuple(sorted(ruled_out_fields(view))), informed),
    )


async def timeline(db: Db, incident: str, h: Horizon) -> list[TimelineEntry]:
    """SPEC §7 `timeline`: one entry per knowledge time (up to `h`) that changed the incident's answer.

    Each entry lists every fact bearing on the incident known at that time (`facts`), the
    facts hidden by the retractions among them (`retracted`), and the answer from then on.
    """
    await queries.require_incident(db, incident)
    facts = await relevant_facts(db, incident, h)
    entries: list[TimelineEntry] = []
    previous = CLOSED
    for known_us, group in groupby(facts, key=lambda row: row.known_us):
        rows = list(group)
        at = await queries.horizon(db, from_micros(known_us), h.as_recorded_at)
        current = await answer_at(db, incident, at)
        if current == previous:
            continue
        previous = current
        entries.append(
            TimelineEntry(
                known_on=iso_utc(from_micros(known_us)),
                facts=sorted(row.fact.id for row in rows),
                retracted=sorted(r.fact.fact for r in rows if isinstance(r.fact, FactRetracted)),
                members_affected=current.members_affected,
                fields_exposed=list(current.fields_exposed),
                insurers=InsurersThen(
                    affected=list(current.insurers[0]),
                    ruled_out=list(current.insurers[1]),
                    informed=list(current.insurers[2]),
                ),
            )
        )
    return entries


async def notifications(db: Db, incident: str, h: Horizon) -> list[NotificationShown]:
    """The notifications (authority and members) known by `h`, in knowledge order.

    They change no count, so `timeline` has no entry for them; the human timeline shows
    them as rows of their own (a history without them hides what was done and when).
    """
    rows = await relevant_facts(db, incident, h)
    hidden = set(h.hidden)
    found: list[NotificationShown] = []
    for row in rows:
        fact = row.fact
        if not isinstance(fact, AuthorityNotified | MembersNotified):
            continue
        found.append(
            NotificationShown(
                known_on=iso_utc(from_micros(row.known_us)),
                occurred_on=iso_utc(fact.occurred_on),
                id=fact.id,
                kind=row.kind,
                insurer=insurer_of(fact),
                retracted=row.position in hidden,
                authority=fact.authority if isinstance(fact, AuthorityNotified) else None,
                phase=fact.phase if isinstance(fact, AuthorityNotified) else None,
                channel=fact.channel if isinstance(fact, MembersNotified) else None,
                every_member=isinstance(fact, MembersNotified) and fact.refs is None,
            )
        )
    return found
