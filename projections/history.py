"""Knowledge over time: what changed between two dates, the history of an incident's
answers, and each controller's notification obligations.

Everything here compares point-in-time answers (`queries`) at several horizons. Member
answers are compared in SQL: the member-status query of `queries.member_status_sql` is
bound once per horizon (its parameters renamed with a suffix, see `_bound`) and the two
result sets are joined, one insurer at a time, so that no Python loop ever walks the
members. An insurer whose deciding facts and exposed fields are the same at both horizons
is skipped without touching its members.

A member's answer is "affected or not, and with which fields": a change of status that
keeps the member affected (presumed to confirmed) or not affected (not-affected to
ruled-out) is a refinement, not a change: nobody has to be told anything new.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from typing import Any, Final
from zoneinfo import ZoneInfo

from domain import veris
from domain.categories import implied
from domain.derive import IncidentView, Visible, derive
from domain.errors import UnknownReference
from domain.facts import (
    AttackDiscovered,
    AuthorityNotified,
    CategoryDefined,
    Fact,
    FactRetracted,
    InsurerInformed,
    MembersNotified,
    decode,
    insurer_of,
    kind_of,
)
from domain.obligations import Rule, status
from domain.times import from_micros, iso_utc, to_minute
from projections import queries
from projections.db import SQLITE, Db
from projections.queries import Horizon, visible

AFFECTED_SQL: Final = "('confirmed', 'presumed')"
MEMBER_CHANGES: Final = ("newly_affected", "no_longer_affected", "fields_changed")


# -- binding one member-status query per horizon ---------------------------------------


def _bound(sql: str, h: Horizon, view: IncidentView, tag: str, insurer: str) -> tuple[str, dict[str, Any]]:
    """`sql` (written with the usual horizon parameters) bound to `h` under renamed parameters.

    The horizon's parameters (`Horizon.params`) and `:scopes` become `:name_tag`, so that
    several horizons can meet in one statement; `:incident`, `:insurer` stay shared.
    `:scopes` holds `insurer`'s entry only: the member-status SQL joins every member row
    to every entry, and the statements here are about one insurer's members.
    """
    entries = [e for e in json.loads(queries._scopes_json(view)) if e["insurer"] == insurer]
    own = {**h.params(), "scopes": json.dumps(entries)}
    pattern = re.compile(r":(" + "|".join(re.escape(k) for k in own) + r")\b")
    renamed = pattern.sub(lambda m: f":{m.group(1)}_{tag}", sql)
    return renamed, {f"{k}_{tag}": v for k, v in own.items()}


def _statuses(
    h: Horizon, view: IncidentView, tag: str, insurer: str, where: str = "v.insurer = :insurer"
) -> tuple[str, dict[str, Any]]:
    """(ref, status) of one insurer's members at `h`, as a bound subquery (`where` must keep to `:insurer`)."""
    sql = f"SELECT ref, status FROM ({queries.member_status_sql(where)}) AS s"
    return _bound(sql, h, view, tag, insurer)


def _affected(status_column: str) -> str:
    """1 when the status is an affected one, else 0 (an integer on both engines)."""
    return f"(CASE WHEN COALESCE({status_column}, '') IN {AFFECTED_SQL} THEN 1 ELSE 0 END)"


# -- diff -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Side:
    """One end of a comparison: a horizon and the incident as known there."""

    h: Horizon
    view: IncidentView


async def _side(db: Db, incident: str, h: Horizon) -> _Side:
    return _Side(h, await queries.incident_view(db, incident, h))


def _ruled_out(view: IncidentView) -> set[str]:
    return {i for i, r in view.insurers.items() if r.status == "ruled-out"}


async def _insurers_to_compare(db: Db, old: _Side, new: _Side, only: str | None = None) -> list[str]:
    """Insurers with a roster whose member answers may differ between the two sides."""
    insurers = sorted(set(await queries.roster_insurers(db, old.h)) | set(await queries.roster_insurers(db, new.h)))
    if only is not None:
        insurers = [i for i in insurers if i == only]
    changed = []
    for insurer in insurers:
        # `_state_key` names every fact that decides the insurer's member answers: equal keys, equal answers.
        same_fields = old.view.exposed_fields(insurer) == new.view.exposed_fields(insurer)
        same_state = await queries._state_key(db, old.view, insurer, old.h) == await queries._state_key(
            db, new.view, insurer, new.h
        )
        if same_fields and same_state:
            continue
        changed.append(insurer)
    return changed


def _changes_sql(old: _Side, new: _Side, insurer: str) -> tuple[str, dict[str, Any]]:
    """One insurer's members whose answer differs: (ref, before, after, was, now).

    The two sides meet by `GROUP BY ref` over their union (one sort): SQLite cannot index
    a FULL OUTER JOIN of two subqueries and would compare every pair.
    """
    before, before_params = _statuses(old.h, old.view, "a", insurer)
    after, after_params = _statuses(new.h, new.view, "b", insurer)
    sql = f"""
    SELECT ref, before, after, was, now FROM (
        SELECT ref, before, after, {_affected("before")} AS was, {_affected("after")} AS now FROM (
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


async def diff(db: Db, incident: str, before: Horizon, after: Horizon, only: str | None = None) -> dict[str, Any]:
    """SPEC §7 `diff`: insurers, incident-wide fields and member counts that changed from `before` to `after`."""
    await queries.require_incident(db, incident)
    old, new = await _side(db, incident, before), await _side(db, incident, after)
    members = dict.fromkeys(MEMBER_CHANGES, 0)
    for insurer in await _insurers_to_compare(db, old, new, only):
        fields_differ = old.view.exposed_fields(insurer) != new.view.exposed_fields(insurer)
        counted = await _changes_from_counts(db, old, new, insurer, fields_differ)
        if counted is not None:
            for key, value in counted.items():
                members[key] += value
            continue
        changes, params = _changes_sql(old, new, insurer)
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
    recorded = {"as_recorded_at": iso_utc(after.as_recorded_at)} if after.as_recorded_at is not None else {}
    return {
        "incident": incident,
        "from": iso_utc(before.as_known_on),
        "to": iso_utc(after.as_known_on),
        **recorded,
        "insurers": {
            "newly_affected": sorted(set(new.view.affected_insurers()) - set(old.view.affected_insurers())),
            "newly_ruled_out": sorted(_ruled_out(new.view) - _ruled_out(old.view)),
        },
        "fields": {
            "newly_exposed": sorted(set(new_fields["exposed"]) - set(old_fields["exposed"])),
            "newly_ruled_out": sorted(set(new_fields["ruled_out"]) - set(old_fields["ruled_out"])),
        },
        "members": members,
    }


async def _nobody_affected(db: Db, side: _Side, insurer: str) -> bool:
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


async def _affected_count(db: Db, side: _Side, insurer: str) -> int:
    """The insurer's affected memberships at `side`, from the maintained counts."""
    return (await queries.member_counts(db, side.view, side.h, insurer, people=False))["affected"]


async def _changes_from_counts(
    db: Db, old: _Side, new: _Side, insurer: str, fields_differ: bool
) -> dict[str, int] | None:
    """The insurer's member changes from the maintained counts when one side decides every
    member's answer: nobody affected there (every member affected on the other side changed),
    or the same deciding facts on both sides (only the fields can have changed). None when
    the members must be compared one by one."""
    if await _nobody_affected(db, old, insurer):
        return {"newly_affected": await _affected_count(db, new, insurer), "no_longer_affected": 0, "fields_changed": 0}
    if await _nobody_affected(db, new, insurer):
        return {"newly_affected": 0, "no_longer_affected": await _affected_count(db, old, insurer), "fields_changed": 0}
    if await queries._state_key(db, old.view, insurer, old.h) == await queries._state_key(db, new.view, insurer, new.h):
        changed = await _affected_count(db, new, insurer) if fields_differ else 0
        return {"newly_affected": 0, "no_longer_affected": 0, "fields_changed": changed}
    return None


def _change_name(was: bool, now: bool) -> str:
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
    old, new = await _side(db, incident, before), await _side(db, incident, after)
    for insurer in await _insurers_to_compare(db, old, new):
        old_fields, new_fields = old.view.exposed_fields(insurer), new.view.exposed_fields(insurer)
        changes, params = _changes_sql(old, new, insurer)
        args = {**params, "incident": incident, "insurer": insurer, "fields_differ": int(old_fields != new_fields)}
        async with db.execute(changes + " ORDER BY ref", args) as cursor:
            async for ref, status_before, status_after, was, now in cursor:
                yield {
                    "incident": incident,
                    "insurer": insurer,
                    "ref": ref,
                    "change": _change_name(bool(was), bool(now)),
                    "before": {"status": status_before, "fields": old_fields if was else []},
                    "after": {"status": status_after, "fields": new_fields if now else []},
                }


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
        (tuple(view.affected_insurers()), tuple(sorted(_ruled_out(view))), informed),
    )


async def timeline(db: Db, incident: str, h: Horizon) -> list[dict[str, Any]]:
    """SPEC §7 `timeline`: one entry per knowledge time (up to `h`) that changed the incident's answer.

    Each entry lists every fact bearing on the incident known at that time (`facts`), the
    facts hidden by the retractions among them (`retracted`), and the answer from then on.
    """
    await queries.require_incident(db, incident)
    facts = await relevant_facts(db, incident, h)
    entries: list[dict[str, Any]] = []
    previous = CLOSED
    for known_us, group in groupby(facts, key=lambda row: row.known_us):
        rows = list(group)
        at = await queries.horizon(db, from_micros(known_us), h.as_recorded_at)
        current = await answer_at(db, incident, at)
        if current == previous:
            continue
        previous = current
        entries.append(
            {
                "known_on": iso_utc(from_micros(known_us)),
                "facts": sorted(row.fact.id for row in rows),
                "retracted": sorted(r.fact.fact for r in rows if isinstance(r.fact, FactRetracted)),
                "members_affected": current.members_affected,
                "fields_exposed": list(current.fields_exposed),
                "insurers": {
                    "affected": list(current.insurers[0]),
                    "ruled_out": list(current.insurers[1]),
                    "informed": list(current.insurers[2]),
                },
            }
        )
    return entries


async def notifications(db: Db, incident: str, h: Horizon) -> list[dict[str, Any]]:
    """The notifications (authority and members) known by `h`, in knowledge order.

    They change no count, so `timeline` has no entry for them; the human timeline shows
    them as rows of their own (a history without them hides what was done and when).
    """
    rows = await relevant_facts(db, incident, h)
    hidden = set(h.hidden)
    found: list[dict[str, Any]] = []
    whom: dict[str, Any]
    for row in rows:
        fact = row.fact
        if isinstance(fact, AuthorityNotified):
            whom = {"authority": fact.authority, "phase": fact.phase}
        elif isinstance(fact, MembersNotified):
            whom = {"channel": fact.channel, "every_member": fact.refs is None}
        else:
            continue
        found.append(
            {
                "known_on": iso_utc(from_micros(row.known_us)),
                "occurred_on": iso_utc(fact.occurred_on),
                "id": fact.id,
                "kind": row.kind,
                "insurer": insurer_of(fact),
                "retracted": row.position in hidden,
                **whom,
            }
        )
    return found


# -- obligations ----------------------------------------------------------------------


async def _visible_incident_facts(db: Db, incident: str, h: Horizon) -> list[Visible]:
    async with db.execute(
        f"SELECT pos, body FROM facts f WHERE incident = :incident AND {visible('f')} ORDER BY pos",
        {"incident": incident, **h.params()},
    ) as cursor:
        rows = await cursor.fetchall()
    return [Visible(int(pos), decode(bytes(body))) for pos, body in rows]


@dataclass(frozen=True, slots=True)
class _Notice:
    """A members-notified fact: when, and whether it names refs (else: every affected member)."""

    position: int
    occurred_on: datetime
    blanket: bool


def _notices(items: Sequence[Visible]) -> list[_Notice]:
    notices = [
        # The facts projection stores notices without their refs: () means "had refs", None "every member".
        _Notice(v.position, v.fact.occurred_on, v.fact.refs is None)
        for v in items
        if isinstance(v.fact, MembersNotified)
    ]
    return sorted(notices, key=lambda n: (n.occurred_on, n.position))


async def _count(db: Db, sql: str, params: dict[str, Any]) -> int:
    async with db.execute(sql, params) as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row and row[0] is not None else 0


NOTIFIED_REFS: Final = (
    "v.insurer = :insurer AND v.ref IN"
    " (SELECT ref FROM member_notices WHERE incident = :incident AND insurer = :insurer)"
)
"""The member rows of refs named by a notice (the only members a notice with refs can have told)."""


def _told(number: int, notice: _Notice, then: _Side, insurer: str) -> tuple[str, str, dict[str, Any]]:
    """The members notice `number` told, as `SELECT ref, j, aff` (aff: told they were affected),
    the member statuses as they were then, and the parameters both need."""
    tag = f"n{number}"
    if notice.blanket:
        members, bound = _statuses(then.h, then.view, tag, insurer)
        return (
            f"SELECT ref, {number} AS j, 1 AS aff FROM ({members}) AS m WHERE status IN {AFFECTED_SQL}",
            members,
            bound,
        )
    named = (
        "v.insurer = :insurer AND v.ref IN (SELECT ref FROM member_notices WHERE incident = :incident"
        f" AND insurer = :insurer AND pos = :pos_{tag})"
    )
    members, bound = _statuses(then.h, then.view, tag, insurer, named)
    bound[f"pos_{tag}"] = notice.position
    told = (  # a named ref not enrolled then was told it was not affected
        f"SELECT ref, {number} AS j, MAX(aff) AS aff FROM ("
        f" SELECT ref, 0 AS aff FROM member_notices WHERE incident = :incident AND insurer = :insurer"
        f" AND pos = :pos_{tag} UNION ALL SELECT ref, {_affected('status')} AS aff FROM ({members}) AS m"
        ") AS u GROUP BY ref"
    )
    return told, members, bound


async def _notice_counts(
    db: Db, incident: str, insurer: str, now: _Side, notices: Sequence[_Notice], *, where: str | None = None
) -> tuple[int, int]:
    """(members never notified, members notified before their answer changed) for one insurer.

    A notice with refs covers those refs; one without covers every member affected as
    known when it was given (its `occurred_on`). A member's latest covering notice is
    compared with the answer now. `where` narrows the members compared (the counts are
    then about those members only).
    """
    if where is None:
        shortcut = await _notice_counts_from_counts(db, incident, insurer, now, notices)
        if shortcut is not None:
            return shortcut
    base = {"incident": incident, "insurer": insurer}
    current, params = _statuses(now.h, now.view, "now", insurer, where or "v.insurer = :insurer")
    told_sql = (
        f"SELECT n.ref FROM member_notices n WHERE n.incident = :incident AND n.insurer = :insurer AND {visible('n')}"
    )
    told, told_params = _bound(told_sql, now.h, now.view, "now", insurer)
    parts = [f"SELECT ref FROM ({current}) AS c WHERE status IN {AFFECTED_SQL}", told]
    params |= told_params
    covered: list[str] = []
    stale: list[int] = []
    now_fields = now.view.exposed_fields(insurer)
    for number, notice in enumerate(notices):
        then = await _side(db, incident, await queries.horizon(db, notice.occurred_on, now.h.as_recorded_at))
        if then.view.exposed_fields(insurer) != now_fields:
            stale.append(number)
        covers, members, bound = _told(number, notice, then, insurer)
        if notice.blanket:
            parts.append(f"SELECT ref FROM ({members}) AS m WHERE status IN {AFFECTED_SQL}")
        covered.append(covers)
        params |= bound
    never = await _count(db, f"SELECT COUNT(*) FROM ({' EXCEPT '.join(parts)}) AS e", {**base, **params})
    if not covered:
        return never, 0
    # Unions grouped by ref, never joins of subqueries: SQLite would compare every pair.
    # `latest`: each ref's last covering notice j with its `aff` (0 or 1), as one MAX(2j + aff).
    sql = f"""
    WITH told AS ({" UNION ALL ".join(covered)}),
    latest AS (
        SELECT ref, code / 2 AS j, code % 2 AS aff
        FROM (SELECT ref, MAX(j * 2 + aff) AS code FROM told GROUP BY ref) AS l
    ),
    paired AS (
        SELECT ref, MAX(j) AS j, MAX(aff) AS aff, MAX(st) AS st, MAX(told) AS told FROM (
            SELECT ref, j, aff, NULL AS st, 1 AS told FROM latest
            UNION ALL
            SELECT ref, NULL, NULL, status, 0 FROM ({current}) AS c
        ) AS u GROUP BY ref
    )
    SELECT COUNT(*) FROM paired
    WHERE told = 1 AND (aff != {_affected("st")}
       OR (aff = 1 AND {_affected("st")} = 1 AND j IN (SELECT CAST(value AS INTEGER) FROM json_each(:stale))))
    """
    changed = await _count(db, sql, {**base, **params, "stale": json.dumps(stale)})
    return never, changed


async def _notice_counts_from_counts(
    db: Db, incident: str, insurer: str, now: _Side, notices: Sequence[_Notice]
) -> tuple[int, int] | None:
    """`_notice_counts` from the maintained counts, without reading the insurer's members,
    when the notices decide it: none given (every affected member was never told); only
    notices naming refs (the members never named were never told: only the named ones are
    compared); or only notices to every affected member given when the insurer's members
    had the answers they have now (all of them told; changed only if the fields told have
    changed since). None when members must be compared one by one."""
    if not notices:
        return await _affected_count(db, now, insurer), 0
    if not any(n.blanket for n in notices):  # only named refs were told: compare those members alone
        never_among_named, changed = await _notice_counts(db, incident, insurer, now, notices, where=NOTIFIED_REFS)
        named, params = _statuses(now.h, now.view, "now", insurer, NOTIFIED_REFS)
        affected_named = await _count(
            db,
            f"SELECT COUNT(*) FROM ({named}) AS c WHERE status IN {AFFECTED_SQL}",
            {"incident": incident, "insurer": insurer, **params},
        )
        never = await _affected_count(db, now, insurer) - affected_named + never_among_named
        return never, changed
    if not all(n.blanket for n in notices):
        return None
    key = await queries._state_key(db, now.view, insurer, now.h)
    for notice in notices:
        then = await _side(db, incident, await queries.horizon(db, notice.occurred_on, now.h.as_recorded_at))
        if await queries._state_key(db, then.view, insurer, then.h) != key:
            return None
    fields_then = then.view.exposed_fields(insurer)  # the last notice: every member's latest
    stale = fields_then != now.view.exposed_fields(insurer)
    return 0, await _affected_count(db, now, insurer) if stale else 0


@dataclass(frozen=True, slots=True)
class NoticeQuery:
    """Every member of one insurer that is affected now or was told before: one SQL statement.

    Columns: `ref`, `role`, `contract`, `from_day`, `until_day`, `status` (now; NULL for a member
    told before but no longer enrolled), `j` (index in `notices` of the member's latest covering notice, or NULL),
    `affected` (1 when affected now) and `notice`: `initial` when affected now and never
    covered by a notice; `complementary` when covered and the answer it was given has changed
    since (affected then and not now or the reverse, or its exposed fields changed); else `none`.
    """

    sql: str
    params: dict[str, Any]
    notices: tuple[_Notice, ...]
    merged: bool = False
    """True when the answers at the notices and now are merged by ref (a sort); else one pass."""


async def notice_query(db: Db, incident: str, insurer: str, now: _Side, notices: Sequence[_Notice]) -> NoticeQuery:
    """The `NoticeQuery` of `insurer` at `now`.

    A notice with refs covers those refs; one without covers every member affected as known
    when it was given (its `occurred_on`). A member's latest covering notice is compared with
    the answer now. Unions grouped by ref, never joins of subqueries: SQLite would compare every pair.
    """
    current = (
        "SELECT ref, role, contract, from_day, until_day, status"
        f" FROM ({queries.member_status_sql('v.insurer = :insurer')}) AS s"
    )
    current, params = _bound(current, now.h, now.view, "now", insurer)
    params |= {"incident": incident, "insurer": insurer}
    now_fields = now.view.exposed_fields(insurer)
    sides = [
        await _side(db, incident, await queries.horizon(db, notice.occurred_on, now.h.as_recorded_at))
        for notice in notices
    ]
    stale = [number for number, then in enumerate(sides) if then.view.exposed_fields(insurer) != now_fields]
    if notices and all(n.blanket for n in notices):
        now_key = await queries._state_key(db, now.view, insurer, now.h)
        if all([await queries._state_key(db, then.view, insurer, then.h) == now_key for then in sides]):
            # The facts that decide who is affected are the same at every notice and now
            # (`_state_key`, as `diff` uses it): whoever is affected now was affected, and
            # told, at the last notice; whoever is not was never told. One pass, as export.
            last = len(notices) - 1
            told = "'complementary'" if last in stale else "'none'"
            sql = (
                f"SELECT ref, role, contract, from_day, until_day, status,"
                f" CASE WHEN {_affected('status')} = 1 THEN {last} END AS j,"
                f" {_affected('status')} AS affected,"
                f" CASE WHEN {_affected('status')} = 1 THEN {told} ELSE 'none' END AS notice FROM ({current}) AS c"
            )
            return NoticeQuery(sql, params, tuple(notices))
    covered: list[str] = []
    for number, (notice, then) in enumerate(zip(notices, sides, strict=True)):
        covers, _, bound = _told(number, notice, then, insurer)
        covered.append(covers)
        params |= bound
    if not covered:
        sql = (
            f"SELECT ref, role, contract, from_day, until_day, status, NULL AS j, {_affected('status')} AS affected,"
            f" CASE WHEN {_affected('status')} = 1 THEN 'initial' ELSE 'none' END AS notice FROM ({current}) AS c"
        )
        return NoticeQuery(sql, params, tuple(notices))
    # `latest`: each ref's last covering notice j with its `aff` (0 or 1), as one MAX(2j + aff).
    sql = f"""
    WITH told AS ({" UNION ALL ".join(covered)}),
    latest AS (
        SELECT ref, code / 2 AS j, code % 2 AS aff
        FROM (SELECT ref, MAX(j * 2 + aff) AS code FROM told GROUP BY ref) AS l
    ),
    paired AS (
        SELECT ref, MAX(role) AS role, MAX(contract) AS contract, MAX(from_day) AS from_day,
               MAX(until_day) AS until_day, MAX(st) AS status, MAX(j) AS j,
               MAX(aff) AS aff, MAX(told) AS told FROM (
            SELECT ref, NULL AS role, NULL AS contract, NULL AS from_day, NULL AS until_day, NULL AS st, j, aff,
                   1 AS told FROM latest
            UNION ALL
            SELECT ref, role, contract, from_day, until_day, status, NULL, NULL, 0 FROM ({current}) AS c
        ) AS u GROUP BY ref
    )
    SELECT ref, role, contract, from_day, until_day, status, j, {_affected("status")} AS affected,
           CASE WHEN told = 0 THEN (CASE WHEN {_affected("status")} = 1 THEN 'initial' ELSE 'none' END)
                WHEN aff != {_affected("status")} OR (aff = 1 AND {_affected("status")} = 1
                     AND j IN (SELECT CAST(value AS INTEGER) FROM json_each(:stale))) THEN 'complementary'
                ELSE 'none' END AS notice
    FROM paired
    """
    return NoticeQuery(sql, {**params, "stale": json.dumps(stale)}, tuple(notices), merged=True)


SORTER_CACHE_KIB: Final = 16 * 1024
"""The connection's cache while a merged `NoticeQuery` runs on SQLite: each of SQLite's sorters
keeps up to the connection's cache size in memory before it spills to a temporary file, so
this caps the memory of the sort whatever the roster (the store's own 256 MiB cache would let
each of the statement's sorters grow to 256 MiB)."""


@contextlib.asynccontextmanager
async def _sorting_on_disk(db: Db, query: NoticeQuery) -> AsyncIterator[None]:
    """SQLite sorts in its temp store, which the store keeps in memory: a merged `NoticeQuery`
    over millions of members sorts in temporary files instead, each sorter holding at most
    `SORTER_CACHE_KIB` in memory, so memory stays flat whatever the roster."""
    spill = query.merged and db.dialect == SQLITE
    if spill:
        async with db.execute("PRAGMA cache_size") as cursor:
            row = await cursor.fetchone()
        cache = int(row[0]) if row else -SORTER_CACHE_KIB
        await db.execute("PRAGMA temp_store = FILE")
        await db.execute(f"PRAGMA cache_size = -{SORTER_CACHE_KIB}")
    try:
        yield
    finally:
        if spill:
            await db.execute("PRAGMA temp_store = MEMORY")
            await db.execute(f"PRAGMA cache_size = {cache}")


NOTICE_COLUMNS: Final = ("ref", "role", "contract", "status", "fields", "implied", "notified_at", "notice")
"""The mail-merge columns of `notify members`; `fields` and `implied` are `;`-separated."""


async def member_notice_chunks(
    db: Db, incident: str, insurer: str, h: Horizon, *, since_last: bool = False
) -> AsyncGenerator[list[tuple[Any, ...]], None]:
    """The mail-merge rows of `insurer` (`NOTICE_COLUMNS`, by ref), `queries.EXPORT_CHUNK` at a time:
    every member affected at `h` and every member told before who is no longer affected, with
    the notice each needs (see `NoticeQuery`); `since_last`: only those whose notice is not `none`.

    The rows are finished in SQL (fields, notified_at) so that writing them costs what
    `members export` costs; the next chunk is read while the caller writes this one.
    """
    await queries.require_incident(db, incident)
    items = await _visible_incident_facts(db, incident, h)
    view = derive(incident, items)
    own = [v for v in items if insurer_of(v.fact) == insurer]
    query = await notice_query(db, incident, insurer, _Side(h, view), _notices(own))
    fields = view.exposed_fields(insurer)
    wanted = "notice != 'none'" if since_last else "(affected = 1 OR notice = 'complementary')"
    times = {f"told_{j}": iso_utc(n.occurred_on) for j, n in enumerate(query.notices)}
    told_at = "CASE j " + "".join(f"WHEN {j} THEN :told_{j} " for j in range(len(times))) + "END" if times else "NULL"
    sql = (
        "SELECT ref, role, contract, COALESCE(status, 'not-affected'),"
        " CASE WHEN affected = 1 THEN :fields_text ELSE '' END,"
        " CASE WHEN affected = 1 THEN :implied_text ELSE '' END,"
        f" {told_at}, notice"
        f" FROM ({query.sql}) AS r WHERE {wanted} ORDER BY ref"
    )
    params = {
        **query.params,
        "fields_text": ";".join(fields),
        "implied_text": ";".join(implied(fields)),
        **times,
    }
    async with _sorting_on_disk(db, query), db.stream(sql, params) as cursor:  # PostgreSQL: server-side cursor
        ahead = asyncio.ensure_future(cursor.fetchmany(queries.EXPORT_CHUNK))
        try:
            while rows := await ahead:
                ahead = asyncio.ensure_future(cursor.fetchmany(queries.EXPORT_CHUNK))
                yield [tuple(row) for row in rows]
        finally:
            if not ahead.done():
                with contextlib.suppress(Exception):
                    await ahead


async def affected_notified_chunks(
    db: Db, incident: str, insurer: str, h: Horizon
) -> AsyncGenerator[list[tuple[Any, ...]], None]:
    """`members export`'s rows of one insurer with notices: its affected members in ref order
    as (ref, role, contract, from, until, status, notified_at), `queries.EXPORT_CHUNK` at a time.

    `notified_at` is the `occurred_on` of the member's latest covering notice (`NoticeQuery`'s
    `j`): the same SQL as `notify members`, streamed, never a map of every member told."""
    items = await _visible_incident_facts(db, incident, h)
    view = derive(incident, items)
    query = await notice_query(db, incident, insurer, _Side(h, view), _notices(own_facts(items, insurer)))
    times = {f"told_{j}": iso_utc(n.occurred_on) for j, n in enumerate(query.notices)}
    told_at = "CASE j " + "".join(f"WHEN {j} THEN :told_{j} " for j in range(len(times))) + "END" if times else "NULL"
    sql = (
        f"SELECT ref, role, contract, from_day, until_day, status, {told_at}"
        f" FROM ({query.sql}) AS r WHERE affected = 1 ORDER BY ref"
    )
    async with _sorting_on_disk(db, query), db.stream(sql, {**query.params, **times}) as cursor:
        ahead = asyncio.ensure_future(cursor.fetchmany(queries.EXPORT_CHUNK))
        try:
            while rows := await ahead:
                ahead = asyncio.ensure_future(cursor.fetchmany(queries.EXPORT_CHUNK))
                yield [tuple(row) for row in rows]
        finally:
            if not ahead.done():
                with contextlib.suppress(Exception):
                    await ahead


def own_facts(items: Sequence[Visible], insurer: str) -> list[Visible]:
    """The facts of `items` about `insurer`."""
    return [v for v in items if insurer_of(v.fact) == insurer]


async def has_member_notices(db: Db, incident: str, insurer: str, h: Horizon) -> bool:
    """Whether `insurer` has a visible `members-notified` fact in `incident`."""
    sql = (
        "SELECT 1 FROM facts f WHERE incident = :incident AND insurer = :insurer AND kind = 'members-notified'"
        f" AND {visible('f')} LIMIT 1"
    )
    async with db.execute(sql, {"incident": incident, "insurer": insurer, **h.params()}) as cursor:
        return await cursor.fetchone() is not None


def notice_row(row: tuple[Any, ...]) -> dict[str, Any]:
    """One mail-merge row as JSON (lists for `fields` and `implied`)."""
    found = dict(zip(NOTICE_COLUMNS, row, strict=True))
    for key in ("fields", "implied"):
        found[key] = found[key].split(";") if found[key] else []
    return found


async def obligations(db: Db, incident: str, h: Horizon, rule: Rule) -> dict[str, Any]:
    """SPEC §7 `obligations`: per insurer, awareness, deadline, notifications and status under `rule`.

    - `aware_at`: the earliest `insurer-informed` (its `occurred_on`); without one, the
      insurer's earliest fact in the incident;
    - `authority_notified_at`: the earliest `authority-notified` naming the insurer (a
      notice by the operator without `insurer` is the processor's, not the controller's);
    - insurers ruled out that never notified have nothing to notify: listed in `ruled_out`.
    """
    await queries.require_incident(db, incident)
    items = await _visible_incident_facts(db, incident, h)
    view = derive(incident, items)
    now = _Side(h, view)
    by_insurer: dict[str, list[Visible]] = {}
    for item in items:
        name = insurer_of(item.fact)
        if name is not None:
            by_insurer.setdefault(name, []).append(item)
    entries: list[dict[str, Any]] = []
    ruled_out: list[str] = []
    for insurer, own in sorted(by_insurer.items()):
        authority = sorted(v.fact.occurred_on for v in own if isinstance(v.fact, AuthorityNotified))
        if view.insurer_status(insurer) == "ruled-out" and not authority:
            ruled_out.append(insurer)
            continue
        informed = [v for v in own if isinstance(v.fact, InsurerInformed)]
        aware = min(informed or own, key=lambda v: (v.fact.occurred_on, v.position))
        deadline = rule.deadline(aware.fact.occurred_on)
        notified = authority[0] if authority else None
        notices = _notices(own)
        never, changed = await _notice_counts(db, incident, insurer, now, notices)
        entries.append(
            {
                "insurer": insurer,
                "insurer_status": view.insurer_status(insurer),
                "aware_at": iso_utc(aware.fact.occurred_on),
                "aware_because": aware.fact.id,
                "deadline": iso_utc(deadline),
                "authority_notified_at": iso_utc(notified) if notified else None,
                "members_notified_at": iso_utc(notices[0].occurred_on) if notices else None,
                "status": status(deadline, notified, h.as_known_on),
                "members_never_notified": never,
                "members_notified_before_change": changed,
            }
        )
    return {
        "incident": incident,
        **h.header(),
        "rules": rule.id,
        "rule": rule.as_json(),
        "insurers": entries,
        "ruled_out": ruled_out,
        "members_never_notified": sum(e["members_never_notified"] for e in entries),
        "members_notified_before_change": sum(e["members_notified_before_change"] for e in entries),
    }


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
    items = await _visible_incident_facts(db, incident, h)
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
