"""What changed between two horizons: per insurer and per member (`diff`, `changed_members`)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any, Final

from domain.answers import Diff, FieldChanges, InsurerChanges, MemberChanges
from projections import queries
from projections.db import Db
from projections.history.sides import (
    Side,
    affected_count,
    changes_sql,
    insurers_to_compare,
    nobody_affected,
    ruled_out_fields,
    side_at,
)
from projections.queries import Horizon

MEMBER_CHANGES: Final = ("newly_affected", "no_longer_affected", "fields_changed")


async def diff(db: Db, incident: str, before: Horizon, after: Horizon, only: str | None = None) -> Diff:
    """SPEC §7 `diff`: insurers, incident-wide fields and member counts that changed from `before` to `after`."""
    await queries.require_incident(db, incident)
    old, new = await side_at(db, incident, before), await side_at(db, incident, after)
    members = dict.fromkeys(MEMBER_CHANGES, 0)
    for insurer in await insurers_to_compare(db, old, new, only):
        fields_differ = old.view.exposed_fields(insurer) != new.view.exposed_fields(insurer)
        counted = await _changes_from_counts(db, old, new, insurer, fields_differ)
        if counted is not None:
            for key, value in counted.items():
                members[key] += value
            continue
        changes, params = changes_sql(old, new, insurer)
        sql = (
            "SELECT COALESCE(SUM(CASE WHEN was = 0 AND now = 1 THEN 1 ELSE 0 END), 0),"
            " COALESCE(SUM(CASE WHEN was = 1 AND now = 0 THEN 1 ELSE 0 END), 0),"
            f" COALESCE(SUM(CASE WHEN was = 1 AND now = 1 THEN 1 ELSE 0 END), 0) FROM ({changes}) AS d"
        )
        args = {**params, "incident": incident, "insurer": insurer, "fields_differ": int(fields_differ)}
        async with db.execute(sql, args) as cursor:
            row = await cursor.fetchone()
        for key, value in zip(MEMBER_CHANGES, row or (0, 0, 0), strict=True):
            members[key] += int(value)
    old_fields, new_fields = old.view.summary_fields(), new.view.summary_fields()
    return Diff(
        incident=incident,
        start=before.known_on,
        end=after.known_on,
        as_recorded_at=after.recorded_at,
        insurers=InsurerChanges(
            newly_affected=sorted(set(new.view.affected_insurers()) - set(old.view.affected_insurers())),
            newly_ruled_out=sorted(ruled_out_fields(new.view) - ruled_out_fields(old.view)),
        ),
        fields=FieldChanges(
            newly_exposed=sorted(set(new_fields["exposed"]) - set(old_fields["exposed"])),
            newly_ruled_out=sorted(set(new_fields["ruled_out"]) - set(old_fields["ruled_out"])),
        ),
        members=MemberChanges(**members),
    )


async def _changes_from_counts(
    db: Db, old: Side, new: Side, insurer: str, fields_differ: bool
) -> dict[str, int] | None:
    """The insurer's member changes from the maintained counts when one side decides every
    member's answer: nobody affected there (every member affected on the other side changed),
    or the same deciding facts on both sides (only the fields can have changed). None when
    the members must be compared one by one."""
    if await nobody_affected(db, old, insurer):
        return {"newly_affected": await affected_count(db, new, insurer), "no_longer_affected": 0, "fields_changed": 0}
    if await nobody_affected(db, new, insurer):
        return {"newly_affected": 0, "no_longer_affected": await affected_count(db, old, insurer), "fields_changed": 0}
    if await queries.state_key(db, old.view, insurer, old.h) == await queries.state_key(db, new.view, insurer, new.h):
        changed = await affected_count(db, new, insurer) if fields_differ else 0
        return {"newly_affected": 0, "no_longer_affected": 0, "fields_changed": changed}
    return None


def change_name(was: bool, now: bool) -> str:
    if now and not was:
        return "newly-affected"
    if was and not now:
        return "no-longer-affected"
    return "fields-changed"


async def changed_members(
    db: Db, incident: str, before: Horizon, after: Horizon
) -> AsyncGenerator[dict[str, Any], None]:
    """Stream the members whose answer changed, by insurer then ref: the list for a complementary notice."""
    await queries.require_incident(db, incident)
    old, new = await side_at(db, incident, before), await side_at(db, incident, after)
    for insurer in await insurers_to_compare(db, old, new):
        old_fields, new_fields = old.view.exposed_fields(insurer), new.view.exposed_fields(insurer)
        changes, params = changes_sql(old, new, insurer)
        args = {**params, "incident": incident, "insurer": insurer, "fields_differ": int(old_fields != new_fields)}
        async with db.execute(changes + " ORDER BY ref", args) as cursor:
            async for ref, status_before, status_after, was, now in cursor:
                yield {
                    "incident": incident,
                    "insurer": insurer,
                    "ref": ref,
                    "change": change_name(bool(was), bool(now)),
                    "before": {"status": status_before, "fields": old_fields if was else []},
                    "after": {"status": status_after, "fields": new_fields if now else []},
                }
