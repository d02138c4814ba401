"""One member-status query per horizon, bound with suffixed parameters, and two horizons joined.

Member answers are compared in SQL: the member-status query of
`projections.queries.status.member_status_sql` is bound once per horizon (its parameters
renamed with a suffix, see `bound_sql`) and the two result sets are joined, one insurer at
a time, so that no Python loop ever walks the members. An insurer whose deciding facts and
exposed fields are the same at both horizons is skipped without touching its members.

A member's answer is "affected or not, and with which fields": a change of status that
keeps the member affected (presumed to confirmed) or not affected (not-affected to
ruled-out) is a refinement, not a change: nobody has to be told anything new.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from domain.derive import IncidentView
from projections import queries
from projections.db import Db
from projections.queries import Horizon, visible

AFFECTED_SQL: Final = "('confirmed', 'presumed')"


# -- binding one member-status query per horizon ---------------------------------------


def bound_sql(sql: str, h: Horizon, view: IncidentView, tag: str, insurer: str) -> tuple[str, dict[str, Any]]:
    """`sql` (written with the usual horizon parameters) bound to `h` under renamed parameters.

    The horizon's parameters (`Horizon.params`) and `:scopes` become `:name_tag`, so that
    several horizons can meet in one statement; `:incident`, `:insurer` stay shared.
    `:scopes` holds `insurer`'s entry only: the member-status SQL joins every member row
    to every entry, and the statements here are about one insurer's members.
    """
    entries = [e for e in json.loads(queries.scopes_json(view)) if e["insurer"] == insurer]
    own = {**h.params(), "scopes": json.dumps(entries)}
    pattern = re.compile(r":(" + "|".join(re.escape(k) for k in own) + r")\b")
    renamed = pattern.sub(lambda m: f":{m.group(1)}_{tag}", sql)
    return renamed, {f"{k}_{tag}": v for k, v in own.items()}


def statuses_sql(
    h: Horizon, view: IncidentView, tag: str, insurer: str, where: str = "v.insurer = :insurer"
) -> tuple[str, dict[str, Any]]:
    """(ref, status) of one insurer's members at `h`, as a bound subquery (`where` must keep to `:insurer`)."""
    sql = f"SELECT ref, status FROM ({queries.member_status_sql(where)}) AS s"
    return bound_sql(sql, h, view, tag, insurer)


def affected_when(status_column: str) -> str:
    """1 when the status is an affected one, else 0 (an integer on both engines)."""
    return f"(CASE WHEN COALESCE({status_column}, '') IN {AFFECTED_SQL} THEN 1 ELSE 0 END)"


# -- diff -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Side:
    """One end of a comparison: a horizon and the incident as known there."""

    h: Horizon
    view: IncidentView
    affected: dict[str, int] = field(default_factory=dict)
    """Insurer -> affected memberships at this side, counted ahead in one batch (`count_affected`)."""


async def count_affected(db: Db, side: Side, insurers: Sequence[str]) -> None:
    """Count the affected memberships of `insurers` at `side` in one batch (two queries, not two
    per insurer: `obligations` at 20 M members asked 84 insurers one by one), kept in
    `side.affected` for `affected_count`."""
    counts, _ = await queries.counts_of_each(db, side.view, side.h, insurers)
    side.affected.update({name: c["confirmed"] + c["presumed"] for name, c in counts.items()})


async def side_at(db: Db, incident: str, h: Horizon) -> Side:
    return Side(h, await queries.incident_view(db, incident, h))


def ruled_out_fields(view: IncidentView) -> set[str]:
    return {i for i, r in view.insurers.items() if r.status == "ruled-out"}


async def insurers_to_compare(db: Db, old: Side, new: Side, only: str | None = None) -> list[str]:
    """Insurers with a roster whose member answers may differ between the two sides."""
    insurers = sorted(set(await queries.roster_insurers(db, old.h)) | set(await queries.roster_insurers(db, new.h)))
    if only is not None:
        insurers = [i for i in insurers if i == only]
    changed = []
    for insurer in insurers:
        # `state_key` names every fact that decides the insurer's member answers: equal keys, equal answers.
        same_fields = old.view.exposed_fields(insurer) == new.view.exposed_fields(insurer)
        same_state = await queries.state_key(db, old.view, insurer, old.h) == await queries.state_key(
            db, new.view, insurer, new.h
        )
        if same_fields and same_state:
            continue
        changed.append(insurer)
    return changed


def changes_sql(old: Side, new: Side, insurer: str) -> tuple[str, dict[str, Any]]:
    """One insurer's members whose answer differs: (ref, before, after, was, now).

    The two sides meet by `GROUP BY ref` over their union (one sort): SQLite cannot index
    a FULL OUTER JOIN of two subqueries and would compare every pair.
    """
    before, before_params = statuses_sql(old.h, old.view, "a", insurer)
    after, after_params = statuses_sql(new.h, new.view, "b", insurer)
    sql = f"""
    SELECT ref, before, after, was, now FROM (
        SELECT ref, before, after, {affected_when("before")} AS was, {affected_when("after")} AS now FROM (
            SELECT ref, MAX(before) AS before, MAX(after) AS after FROM (
                SELECT ref, status AS before, NULL AS after FROM ({before}) AS a
                UNION ALL
                SELECT ref, NULL AS before, status AS after FROM ({after}) AS b
            ) AS u GROUP BY ref
        ) AS g
    ) AS c
    WHERE was != now OR (was = 1 AND now = 1 AND :fields_differ = 1)
    """
    return sql, {**before_params, **after_params}


async def nobody_affected(db: Db, side: Side, insurer: str) -> bool:
    """True when no member of `insurer` can be affected at `side`: the insurer is not
    affected there and no member-level finding about it is visible."""
    if side.view.insurer_status(insurer) == "affected":
        return False
    async with db.execute(
        "SELECT 1 FROM facts f WHERE insurer = :insurer AND incident = :incident"
        f" AND kind IN ('members-confirmed-affected', 'members-ruled-out') AND {visible('f')} LIMIT 1",
        {"insurer": insurer, "incident": side.view.incident, **side.h.params()},
    ) as cursor:
        return await cursor.fetchone() is None


async def affected_count(db: Db, side: Side, insurer: str) -> int:
    """The insurer's affected memberships at `side`, from the maintained counts."""
    if insurer in side.affected:
        return side.affected[insurer]
    return (await queries.member_counts(db, side.view, side.h, insurer, people=False))["affected"]


async def count_rows(db: Db, sql: str, params: dict[str, Any]) -> int:
    async with db.execute(sql, params) as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row and row[0] is not None else 0
