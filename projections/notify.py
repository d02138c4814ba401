"""What the notifications are written from: one controller in one incident, as known on X.

`known` gathers the facts (`domain.notify.Known`); `authority` drafts the Art. 33(3)
notification with `domain.notify.draft`, and for a complementary one also gathers what was
known when the controller last notified and the `diff` between then and X.
"""

from __future__ import annotations

import json
from typing import Any

from domain.derive import Visible, derive
from domain.drafts import Draft, FactCited
from domain.errors import InvalidFact, UnknownReference
from domain.facts import (
    AttackDiscovered,
    AuthorityNotified,
    CategoryDefined,
    InsurerDescribed,
    InsurerInformed,
    MeasureTaken,
    MembersConfirmedAffected,
    MembersRuledOut,
    decode,
    insurer_of,
)
from domain.notify import Contact, Known, Measure, Notice, Phase, draft, previous_notice
from domain.obligations import Rule
from domain.times import from_micros, iso_utc
from projections import history, queries
from projections.db import Db
from projections.queries import Horizon, visible


async def require_insurer(db: Db, incident: str, insurer: str, h: Horizon) -> None:
    """`UnknownReference` unless the incident and the insurer are known to the ledger."""
    await queries.require_incident(db, incident)
    if insurer not in await queries.known_insurers(db, queries.all_time(h)):
        raise UnknownReference(f"unknown insurer {insurer!r}")


async def _visible(db: Db, sql: str, params: dict[str, Any], h: Horizon) -> list[Visible]:
    async with db.execute(sql + f" AND {visible('f')} ORDER BY pos", {**params, **h.params()}) as cursor:
        rows = await cursor.fetchall()
    return [Visible(int(pos), decode(bytes(body))) for pos, body in rows]


async def _roles(db: Db, incident: str, insurer: str, h: Horizon, scopes: str) -> dict[str, int]:
    """Affected memberships of `insurer` by role (one pass over its members)."""
    sql = (
        f"SELECT role, COUNT(*) FROM ({queries.member_status_sql('v.insurer = :insurer')}) AS m"
        f" WHERE status IN {history.AFFECTED_SQL} GROUP BY role"
    )
    params = {"incident": incident, "insurer": insurer, "scopes": scopes, **h.params()}
    async with db.execute(sql, params) as cursor:
        return {str(role): int(n) for role, n in await cursor.fetchall() if role is not None}


async def known(db: Db, incident: str, insurer: str, h: Horizon) -> Known:
    """Everything the drafts say about `insurer` in `incident`, as known at `h`."""
    items = await _visible(db, "SELECT pos, body FROM facts f WHERE incident = :incident", {"incident": incident}, h)
    own_kinds = "('insurer-described', 'category-defined')"
    others = await _visible(
        db,
        f"SELECT pos, body FROM facts f WHERE kind IN {own_kinds} AND (insurer = :insurer OR insurer IS NULL)",
        {"insurer": insurer},
        h,
    )
    view = derive(incident, items)
    opening = next((v.fact for v in items if isinstance(v.fact, AttackDiscovered)), None)
    own = [v for v in items if insurer_of(v.fact) == insurer]
    informed = [v for v in own if isinstance(v.fact, InsurerInformed)]
    aware = min(informed or own, key=lambda v: (v.fact.occurred_on, v.position), default=None)
    counts = await queries.member_counts(db, view, h, insurer)
    roles = await _roles(db, incident, insurer, h, queries.scopes_json(view, insurer))
    ruling = view.insurers.get(insurer) or view.informed.get(insurer)
    scope = view.scopes.get(insurer)
    findings = [v.fact.id for v in own if isinstance(v.fact, MembersConfirmedAffected | MembersRuledOut)]
    fields: dict[str, tuple[str, str]] = {}
    for category in sorted(view.categories):
        found = view.field_ruling(insurer, category)
        if found is not None:
            fields[category] = (found.status, found.fact_id)
    described = [v for v in others if isinstance(v.fact, InsurerDescribed)]
    latest = max(described, key=lambda v: (v.fact.known_on, v.position), default=None)
    contact = None
    if latest is not None and isinstance(latest.fact, InsurerDescribed):
        contact = Contact(latest.fact.id, latest.fact.dpo_contact, latest.fact.name, latest.fact.country)
    return Known(
        incident=incident,
        insurer=insurer,
        as_known_on=h.as_known_on,
        name=view.names.get(insurer),
        operator=view.operator,
        title=view.title,
        attack_began=view.attack_began,
        discovered=opening.known_on if opening else None,
        opened_by=view.opened_by,
        aware_at=aware.fact.occurred_on if aware else None,
        aware_because=aware.fact.id if aware else None,
        insurer_status=view.insurer_status(insurer),
        status_because=ruling.fact_id if ruling else None,
        scope_because=scope.fact_id if scope else None,
        estimate=view.estimates.get(insurer),
        counts={
            "people": counts["people"],
            "memberships": counts["affected"],
            "holders": roles.get("holder", 0),
            "dependants": roles.get("dependant", 0),
            "confirmed": counts["confirmed"],
            "presumed": counts["presumed"],
        },
        counts_because=tuple(i for i in (ruling and ruling.fact_id, scope and scope.fact_id, *findings) if i),
        fields=fields,
        notices=tuple(
            Notice(v.fact.id, v.fact.occurred_on, v.fact.known_on, v.fact.phase, v.fact.reference, v.fact.note)
            for v in own
            if isinstance(v.fact, AuthorityNotified)
        ),
        measures=tuple(
            Measure(v.fact.id, v.fact.measure, v.fact.measure_kind, v.fact.known_on, v.fact.occurred_on, v.fact.insurer)
            for v in items
            if isinstance(v.fact, MeasureTaken) and v.fact.insurer in (None, insurer)
        ),
        contact=contact,
        labels={v.fact.category: v.fact.label for v in others if isinstance(v.fact, CategoryDefined)},
    )


async def authority(db: Db, incident: str, insurer: str, h: Horizon, rule: Rule, phase: Phase) -> Draft:
    """The Art. 33(3) draft (see `domain.notify.draft`)."""
    await require_insurer(db, incident, insurer, h)
    now = await known(db, incident, insurer, h)
    if phase == "initial":
        return draft(now, rule, phase)
    previous = previous_notice(now)
    if previous is None:
        raise InvalidFact(
            f"no authority-notified fact of insurer {insurer!r} in {incident!r} as known on {iso_utc(h.as_known_on)}:"
            " draft the initial notification (--phase initial)"
        )
    then = await queries.horizon(db, previous.known_on, h.as_recorded_at)
    before = await known(db, incident, insurer, then)
    diff = await history.diff(db, incident, then, h, only=insurer)
    return draft(now, rule, phase, before, diff)


async def fact_details(db: Db, ids: list[str]) -> dict[str, FactCited]:
    """Kind, knowledge time and source of each fact named (for a draft's appendix)."""
    async with db.execute(
        "SELECT id, kind, known_us, body FROM facts WHERE id IN (SELECT value FROM json_each(:ids))",
        {"ids": json.dumps(ids)},
    ) as cursor:
        rows = await cursor.fetchall()
    return {
        str(fact_id): FactCited(
            kind=str(kind), known_on=iso_utc(from_micros(int(known))), source=decode(bytes(body)).source
        )
        for fact_id, kind, known, body in rows
    }


async def category_labels(db: Db, h: Horizon) -> dict[str, str]:
    """Labels of the categories defined in the ledger, as known at `h`."""
    found = await _visible(db, "SELECT pos, body FROM facts f WHERE kind = 'category-defined'", {}, h)
    return {v.fact.category: v.fact.label for v in found if isinstance(v.fact, CategoryDefined)}
