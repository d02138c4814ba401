"""One member's memberships and status in every incident known at the horizon."""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any, Final

from domain.answers import Member, MemberIncident, Membership
from domain.categories import implied
from domain.derive import IncidentView
from projections.db import Db
from projections.queries.horizons import AFFECTED, Horizon, incident_view, incidents, visible
from projections.queries.status import member_status_sql, scopes_json


async def member(
    db: Db,
    h: Horizon,
    *,
    insurer_id: str | None = None,
    ref: str | None = None,
    nir_pseudonym: str | None = None,
) -> Member:
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
    memberships: dict[tuple[str, str], list[MemberIncident]] = {}
    sql = (
        "SELECT m.*, (SELECT id FROM facts WHERE pos = m.enrolled_pos),"
        " (SELECT id FROM facts WHERE pos = m.finding_pos)"
        f" FROM ({member_status_sql(where)}) m"
    )
    for incident in await incidents_for_lookups(db, h):
        view = await view_for_lookups(db, incident, h)
        for pair_insurer, pair_ref in pairs:
            filters = {"insurer": pair_insurer, "ref": pair_ref, **extra}
            params = {"incident": incident, "scopes": scopes_json(view, pair_insurer), **filters, **h.params()}
            for row in await db.fetch_point(sql, params):
                key = (str(row[0]), str(row[1]))
                memberships.setdefault(key, []).append(_membership_answer(view, row))
    if not memberships:
        # Enrolled but no incident yet: the membership still exists.
        for pair_insurer, pair_ref in pairs:
            filters = {"insurer": pair_insurer, "ref": pair_ref, **extra}
            memberships |= {k: [] for k in await _enrolled_keys(db, where, filters, h)}
    return Member(
        as_known_on=h.known_on,
        as_recorded_at=h.recorded_at,
        memberships=[
            Membership(
                insurer=ins,
                ref=r,
                incidents=sorted(found, key=lambda a: a.incident),
            )
            for (ins, r), found in sorted(memberships.items())
        ],
    )


_VIEWS: weakref.WeakKeyDictionary[Db, dict[tuple[Any, ...], IncidentView]] = weakref.WeakKeyDictionary()
VIEWS_KEPT: Final = 16


async def incidents_for_lookups(db: Db, h: Horizon) -> list[str]:
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


async def view_for_lookups(db: Db, incident: str, h: Horizon) -> IncidentView:
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


def _membership_answer(view: IncidentView, row: Sequence[Any]) -> MemberIncident:
    """One membership in one incident from a member-status row (`matched` last) followed by the ids of the
    facts at its `enrolled_pos` and `finding_pos`."""
    finding = str(row[12]) if row[12] is not None else None
    return incident_answer(view, str(row[0]), str(row[9]), str(row[11]), finding)


def incident_answer(
    view: IncidentView,
    insurer_id: str,
    status: str,
    enrolled: str,
    finding: str | None,
    kept: dict[tuple[str, str], tuple[list[str], set[str]]] | None = None,
) -> MemberIncident:
    """A membership of `insurer_id` with `status` in `view`'s incident, enrolled by the fact `enrolled`
    and with the member-level finding `finding` (if any). `kept`: the per-(insurer, status) part
    (`status_part`), shared by a batch."""
    shared = kept.get((insurer_id, status)) if kept is not None else None
    if shared is None:
        shared = status_part(view, insurer_id, status)
        if kept is not None:
            kept[(insurer_id, status)] = shared
    fields, reasons = shared
    because = reasons | {enrolled} | ({finding} if finding is not None else set())
    return MemberIncident(
        incident=view.incident, status=status, fields=fields, implied=implied(fields), because=sorted(because)
    )


def status_part(view: IncidentView, insurer_id: str, status: str) -> tuple[list[str], set[str]]:
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
