"""The incident's answers: `summary` (every insurer) and `insurer` (one insurer, with its fields)."""

from __future__ import annotations

from domain.answers import (
    Insurer,
    InsurersByStatus,
    MemberCounts,
    Memberships,
    NotKnown,
    Scope,
    Summary,
    SummaryFields,
)
from domain.categories import BUILT_IN_NAMES, implied
from domain.errors import UnknownReference
from domain.times import iso_utc
from projections.db import Db
from projections.queries.counts import member_counts
from projections.queries.horizons import (
    Horizon,
    all_time,
    incident_view,
    known_at,
    known_insurers,
    not_known_yet,
    require_incident,
    require_insurer,
)


async def summary(db: Db, incident: str, h: Horizon) -> Summary | NotKnown:
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
    return Summary(
        incident=incident,
        as_known_on=h.known_on,
        as_recorded_at=h.recorded_at,
        insurers=InsurersByStatus(**{k: sorted(v) for k, v in groups.items()}),
        members=MemberCounts(**counts),
        fields=SummaryFields(**view.summary_fields()),
    )


async def insurer(db: Db, incident: str, insurer_id: str, h: Horizon) -> Insurer | NotKnown:
    """One insurer in one incident: status, scope, fields, counts, notification dates."""
    await require_incident(db, incident)
    if not await known_at(db, incident, h):
        await require_insurer(db, insurer_id)
        return not_known_yet(incident, h, insurer=insurer_id)
    if insurer_id not in await known_insurers(db, all_time(h)):
        raise UnknownReference(f"unknown insurer {insurer_id!r}")
    view = await incident_view(db, incident, h)
    status = view.insurer_status(insurer_id)
    ruling = view.insurers.get(insurer_id) or view.informed.get(insurer_id)
    scope = view.scopes.get(insurer_id)
    categories = sorted(view.categories | BUILT_IN_NAMES)
    authority = sorted(t for i, t, _ in view.authority_notices if i == insurer_id)
    members_told = sorted(t for i, t, _, _ in view.member_notices if i == insurer_id)
    return Insurer(
        incident=incident,
        insurer=insurer_id,
        name=view.names.get(insurer_id),
        as_known_on=h.known_on,
        as_recorded_at=h.recorded_at,
        status=status,
        because=[ruling.fact_id] if ruling else [],
        estimate=view.estimates.get(insurer_id),
        scope=None
        if scope is None
        else Scope(
            contracts=sorted(scope.contracts) if scope.contracts is not None else None,
            roles=sorted(scope.roles) if scope.roles is not None else None,
            enrolled_from=scope.enrolled_from.isoformat() if scope.enrolled_from else None,
            enrolled_until=scope.enrolled_until.isoformat() if scope.enrolled_until else None,
            fact=scope.fact_id,
        ),
        fields={c: view.field_status(insurer_id, c) for c in categories},
        exposed=view.exposed_fields(insurer_id),
        implied=implied(view.exposed_fields(insurer_id)),
        members=Memberships(**await member_counts(db, view, h, insurer_id)),
        informed_at=iso_utc(view.informed_at[insurer_id]) if insurer_id in view.informed_at else None,
        authority_notified_at=iso_utc(authority[0]) if authority else None,
        members_notified_at=iso_utc(members_told[0]) if members_told else None,
    )
