"""An incident in VERIS terms (the sensitive categories among the exposed fields)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from domain import veris
from domain.derive import derive
from domain.errors import UnknownReference
from domain.facts import (
    AttackDiscovered,
    CategoryDefined,
    decode,
)
from domain.times import to_minute
from projections import queries
from projections.db import Db
from projections.history.notices import visible_incident_facts
from projections.queries import Horizon, visible

# -- VERIS ----------------------------------------------------------------------------


async def _sensitive_categories(db: Db, h: Horizon) -> frozenset[str]:
    """Categories defined (and visible at `h`) as special or high risk."""
    async with db.execute(
        f"SELECT body FROM facts f WHERE kind = 'category-defined' AND {visible('f')}", h.params()
    ) as cursor:
        rows = await cursor.fetchall()
    found = set()
    for (body,) in rows:
        fact = decode(bytes(body))
        if isinstance(fact, CategoryDefined) and (fact.special or fact.risk == "high"):
            found.add(fact.category)
    return frozenset(found)


async def veris_incident(
    db: Db, incident: str, h: Horizon, tz: ZoneInfo, *, country: str, industry: str
) -> veris.Incident:
    """What `domain.veris.record` needs about `incident`, as known at `h`."""
    await queries.require_incident(db, incident)
    items = await visible_incident_facts(db, incident, h)
    opening = next((v.fact for v in items if isinstance(v.fact, AttackDiscovered)), None)
    if opening is None:
        raise UnknownReference(f"incident {incident!r} was not known as of {to_minute(h.as_known_on, tz)} ({tz.key})")
    view = derive(incident, items)
    affected = []
    for insurer in view.affected_insurers():
        counts = await queries.member_counts(db, view, h, insurer)
        affected.append(
            veris.Insurer(
                id=insurer,
                name=view.names.get(insurer),
                memberships=counts["affected"],
                exposed=tuple(view.exposed_fields(insurer)),
            )
        )
    fields = view.summary_fields()
    statuses = [view.insurer_status(i) for i in set(view.insurers) | set(view.informed)]
    return veris.Incident(
        incident=incident,
        operator=opening.operator,
        title=opening.title,
        note=opening.note,
        action=opening.action or (),
        vector=opening.vector or (),
        confidence=opening.confidence,
        attack_began=opening.occurred_on,
        discovered=opening.known_on,
        as_known_on=h.as_known_on,
        tz=tz,
        insurers=tuple(affected),
        exposed=tuple(fields["exposed"]),
        suspected=tuple(fields["suspected"]),
        ruled_out=tuple(fields["ruled_out"]),
        insurers_ruled_out=statuses.count("ruled-out"),
        insurers_pending=statuses.count("informed"),
        people=(await queries.member_counts(db, view, h))["people"] if affected else 0,
        sources=tuple(sorted({v.fact.source for v in items if v.fact.source})),
        sensitive=await _sensitive_categories(db, h),
        country=country,
        industry=industry,
    )
