"""The `facts` projection: one row per fact, retractions, member findings and notices,
written with the projection's position in one transaction.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import msgspec

from domain import facts as fact_codec
from domain.facts import (
    Fact,
    FactRetracted,
    MembersConfirmedAffected,
    MembersEnrolled,
    MembersNotified,
    MembersRuledOut,
    incident_of,
    insurer_of,
    kind_of,
)
from domain.times import to_micros
from projections.db import Db

if TYPE_CHECKING:  # a type only: a query on current projections never loads eventsourcing
    pass
from projections.projector.state import (
    ENROLLED_TOPIC,
    FACTS,
    PAGE,
    Ledger,
    Progress,
    abandon,
    check_positions,
    position,
    save_position,
)


async def catch_up_facts(db: Db, ledger: Ledger, progress: Progress | None = None) -> int:
    """Project every fact appended since the `facts` position; return the new position."""
    await check_positions(db, ledger)
    head = ledger.last_notification() if progress is not None else 0
    while True:
        await db.begin(FACTS)
        await db.index_paths_only()
        current = 0
        try:
            notification_id, current = await position(db, FACTS)
            notes = ledger.notifications(start=notification_id + 1, limit=PAGE)
            if not notes:
                await db.rollback()
                return current
            for note in notes:
                if note.topic == ENROLLED_TOPIC:  # its members go to the `members` projection
                    fact: Fact = _roster_head_of(ledger, note.state)
                else:
                    fact = ledger.decode(note.state)
                await process_event(db, note.originator_version, fact)
                notification_id, current = note.id, note.originator_version
            await save_position(db, FACTS, notification_id, current)
            await db.commit()
        except BaseException as problem:
            await abandon(db, FACTS, current, problem)
            raise
        if progress is not None:
            progress(notification_id, max(head, notification_id))


class _RosterHead(MembersEnrolled, frozen=True, tag="members-enrolled"):
    """A `members-enrolled` fact whose member list is left undecoded (the `facts`
    projection stores rosters without their members)."""

    members: msgspec.Raw  # type: ignore[assignment]


_roster_head_decoder = msgspec.json.Decoder(_RosterHead)


def _roster_head_of(ledger: Ledger, state: bytes) -> MembersEnrolled:
    """The roster fact without its members, without decoding them (thousands per fact)."""
    head = _roster_head_decoder.decode(ledger.plain(state))
    return msgspec.structs.replace(head, members=())


async def process_event(db: Db, pos: int, fact: Fact) -> None:
    """Write the rows one fact makes true in the `facts` projection."""
    known_us = to_micros(fact.known_on)
    recorded = fact.recorded_at if fact.recorded_at is not None else fact.known_on
    target = fact.fact if isinstance(fact, FactRetracted) else None
    await db.execute(
        "INSERT INTO facts (pos, id, kind, known_us, occurred_us, recorded_us, incident, insurer, target, body)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            pos,
            fact.id,
            kind_of(fact),
            known_us,
            to_micros(fact.occurred_on),
            to_micros(recorded),
            incident_of(fact),
            insurer_of(fact),
            target,
            fact_codec.encode(_light(fact)),
        ),
    )
    match fact:
        case FactRetracted():
            await db.execute(
                "INSERT INTO retractions (target_pos, pos, known_us) SELECT pos, ?, ? FROM facts WHERE id = ?",
                (pos, known_us, fact.fact),
            )
        case MembersConfirmedAffected() | MembersRuledOut():
            status = "confirmed" if isinstance(fact, MembersConfirmedAffected) else "ruled-out"
            await db.executemany(
                "INSERT INTO member_findings (incident, insurer, ref, pos, known_us, status) VALUES (?, ?, ?, ?, ?, ?)",
                [(fact.incident, fact.insurer, ref, pos, known_us, status) for ref in fact.refs],
            )
            await db.execute(
                "UPDATE member_findings SET multi = 1 WHERE incident = :incident AND insurer = :insurer"
                " AND multi = 0 AND ref IN (SELECT j.value FROM json_each(:refs) j WHERE EXISTS ("
                " SELECT 1 FROM member_findings f WHERE f.incident = :incident AND f.insurer = :insurer"
                " AND f.ref = j.value AND f.pos < :pos))",
                {"incident": fact.incident, "insurer": fact.insurer, "refs": json.dumps(list(fact.refs)), "pos": pos},
            )
        case MembersNotified(refs=refs) if refs:
            occurred_us = to_micros(fact.occurred_on)
            await db.executemany(
                "INSERT INTO member_notices (incident, insurer, ref, pos, known_us, occurred_us)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [(fact.incident, fact.insurer, ref, pos, known_us, occurred_us) for ref in refs],
            )
        case _:
            pass


def _light(fact: Fact) -> Fact:
    """The fact without its member lists (they live in member tables), for `facts.body`."""
    changes: dict[str, Any] = {}
    if isinstance(fact, MembersEnrolled):
        changes["members"] = ()
    elif isinstance(fact, MembersConfirmedAffected | MembersRuledOut | MembersNotified) and fact.refs:
        changes["refs"] = ()
    return msgspec.structs.replace(fact, **changes) if changes else fact
