"""Each controller's notification obligations: who was told what, and who must still be."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from domain.answers import Duty, Obligations
from domain.answers import Rule as RuleAnswer
from domain.derive import Visible, derive
from domain.facts import (
    AuthorityNotified,
    InsurerInformed,
    MembersNotified,
    decode,
    insurer_of,
)
from domain.obligations import Rule, status
from domain.times import iso_utc
from projections import queries
from projections.db import Db
from projections.history.sides import (
    AFFECTED_SQL,
    Side,
    affected_count,
    affected_when,
    bound_sql,
    count_affected,
    count_rows,
    side_at,
    statuses_sql,
)
from projections.queries import Horizon, visible

# -- obligations ----------------------------------------------------------------------


async def visible_incident_facts(db: Db, incident: str, h: Horizon) -> list[Visible]:
    async with db.execute(
        f"SELECT pos, body FROM facts f WHERE incident = :incident AND {visible('f')} ORDER BY pos",
        {"incident": incident, **h.params()},
    ) as cursor:
        rows = await cursor.fetchall()
    return [Visible(int(pos), decode(bytes(body))) for pos, body in rows]


@dataclass(frozen=True, slots=True)
class Notice:
    """A members-notified fact: when, and whether it names refs (else: every affected member)."""

    position: int
    occurred_on: datetime
    blanket: bool


def notices_of(items: Sequence[Visible]) -> list[Notice]:
    notices = [
        # The facts projection stores notices without their refs: () means "had refs", None "every member".
        Notice(v.position, v.fact.occurred_on, v.fact.refs is None)
        for v in items
        if isinstance(v.fact, MembersNotified)
    ]
    return sorted(notices, key=lambda n: (n.occurred_on, n.position))


NOTIFIED_REFS: Final = (
    "v.insurer = :insurer AND v.ref IN"
    " (SELECT ref FROM member_notices WHERE incident = :incident AND insurer = :insurer)"
)
"""The member rows of refs named by a notice (the only members a notice with refs can have told)."""


def told_by(number: int, notice: Notice, then: Side, insurer: str) -> tuple[str, str, dict[str, Any]]:
    """The members notice `number` told, as `SELECT ref, j, aff` (aff: told they were affected),
    the member statuses as they were then, and the parameters both need."""
    tag = f"n{number}"
    if notice.blanket:
        members, bound = statuses_sql(then.h, then.view, tag, insurer)
        return (
            f"SELECT ref, {number} AS j, 1 AS aff FROM ({members}) AS m WHERE status IN {AFFECTED_SQL}",
            members,
            bound,
        )
    named = (
        "v.insurer = :insurer AND v.ref IN (SELECT ref FROM member_notices WHERE incident = :incident"
        f" AND insurer = :insurer AND pos = :pos_{tag})"
    )
    members, bound = statuses_sql(then.h, then.view, tag, insurer, named)
    bound[f"pos_{tag}"] = notice.position
    told = (  # a named ref not enrolled then was told it was not affected
        f"SELECT ref, {number} AS j, MAX(aff) AS aff FROM ("
        f" SELECT ref, 0 AS aff FROM member_notices WHERE incident = :incident AND insurer = :insurer"
        f" AND pos = :pos_{tag} UNION ALL SELECT ref, {affected_when('status')} AS aff FROM ({members}) AS m"
        ") AS u GROUP BY ref"
    )
    return told, members, bound


async def notice_counts(
    db: Db, incident: str, insurer: str, now: Side, notices: Sequence[Notice], *, where: str | None = None
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
    current, params = statuses_sql(now.h, now.view, "now", insurer, where or "v.insurer = :insurer")
    told_sql = (
        f"SELECT n.ref FROM member_notices n WHERE n.incident = :incident AND n.insurer = :insurer AND {visible('n')}"
    )
    told, told_params = bound_sql(told_sql, now.h, now.view, "now", insurer)
    parts = [f"SELECT ref FROM ({current}) AS c WHERE status IN {AFFECTED_SQL}", told]
    params |= told_params
    covered: list[str] = []
    stale: list[int] = []
    now_fields = now.view.exposed_fields(insurer)
    for number, notice in enumerate(notices):
        then = await side_at(db, incident, await queries.horizon(db, notice.occurred_on, now.h.as_recorded_at))
        if then.view.exposed_fields(insurer) != now_fields:
            stale.append(number)
        covers, members, bound = told_by(number, notice, then, insurer)
        if notice.blanket:
            parts.append(f"SELECT ref FROM ({members}) AS m WHERE status IN {AFFECTED_SQL}")
        covered.append(covers)
        params |= bound
    never = await count_rows(db, f"SELECT COUNT(*) FROM ({' EXCEPT '.join(parts)}) AS e", {**base, **params})
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
    WHERE told = 1 AND (aff != {affected_when("st")}
       OR (aff = 1 AND {affected_when("st")} = 1 AND j IN (SELECT CAST(value AS INTEGER) FROM json_each(:stale))))
    """
    changed = await count_rows(db, sql, {**base, **params, "stale": json.dumps(stale)})
    return never, changed


async def _notice_counts_from_counts(
    db: Db, incident: str, insurer: str, now: Side, notices: Sequence[Notice]
) -> tuple[int, int] | None:
    """`notice_counts` from the maintained counts, without reading the insurer's members,
    when the notices decide it: none given (every affected member was never told); only
    notices naming refs (the members never named were never told: only the named ones are
    compared); or only notices to every affected member given when the insurer's members
    had the answers they have now (all of them told; changed only if the fields told have
    changed since). None when members must be compared one by one."""
    if not notices:
        return await affected_count(db, now, insurer), 0
    if not any(n.blanket for n in notices):  # only named refs were told: compare those members alone
        never_among_named, changed = await notice_counts(db, incident, insurer, now, notices, where=NOTIFIED_REFS)
        named, params = statuses_sql(now.h, now.view, "now", insurer, NOTIFIED_REFS)
        affected_named = await count_rows(
            db,
            f"SELECT COUNT(*) FROM ({named}) AS c WHERE status IN {AFFECTED_SQL}",
            {"incident": incident, "insurer": insurer, **params},
        )
        never = await affected_count(db, now, insurer) - affected_named + never_among_named
        return never, changed
    if not all(n.blanket for n in notices):
        return None
    key = await queries.state_key(db, now.view, insurer, now.h)
    for notice in notices:
        then = await side_at(db, incident, await queries.horizon(db, notice.occurred_on, now.h.as_recorded_at))
        if await queries.state_key(db, then.view, insurer, then.h) != key:
            return None
    fields_then = then.view.exposed_fields(insurer)  # the last notice: every member's latest
    stale = fields_then != now.view.exposed_fields(insurer)
    return 0, await affected_count(db, now, insurer) if stale else 0


async def obligations(db: Db, incident: str, h: Horizon, rule: Rule) -> Obligations:
    """SPEC §7 `obligations`: per insurer, awareness, deadline, notifications and status under `rule`.

    - `aware_at`: the earliest `insurer-informed` (its `occurred_on`); without one, the
      insurer's earliest fact in the incident;
    - `authority_notified_at`: the earliest `authority-notified` naming the insurer (a
      notice by the operator without `insurer` is the processor's, not the controller's);
    - insurers ruled out that never notified have nothing to notify: listed in `ruled_out`.
    """
    await queries.require_incident(db, incident)
    items = await visible_incident_facts(db, incident, h)
    view = derive(incident, items)
    now = Side(h, view)
    by_insurer: dict[str, list[Visible]] = {}
    for item in items:
        name = insurer_of(item.fact)
        if name is not None:
            by_insurer.setdefault(name, []).append(item)
    # The insurers listed whose notices (none, or only to named members) leave their affected
    # count to decide: counted in one batch rather than one insurer at a time.
    listed = [
        name
        for name, own in by_insurer.items()
        if view.insurer_status(name) != "ruled-out" or any(isinstance(v.fact, AuthorityNotified) for v in own)
    ]
    await count_affected(db, now, sorted(n for n in listed if not any(x.blanket for x in notices_of(by_insurer[n]))))
    entries: list[Duty] = []
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
        notices = notices_of(own)
        never, changed = await notice_counts(db, incident, insurer, now, notices)
        entries.append(
            Duty(
                insurer=insurer,
                insurer_status=view.insurer_status(insurer),
                aware_at=iso_utc(aware.fact.occurred_on),
                aware_because=aware.fact.id,
                deadline=iso_utc(deadline),
                authority_notified_at=iso_utc(notified) if notified else None,
                members_notified_at=iso_utc(notices[0].occurred_on) if notices else None,
                status=status(deadline, notified, h.as_known_on),
                members_never_notified=never,
                members_notified_before_change=changed,
            )
        )
    return Obligations(
        incident=incident,
        as_known_on=h.known_on,
        as_recorded_at=h.recorded_at,
        rules=rule.id,
        rule=RuleAnswer(
            id=rule.id,
            article=rule.article,
            hours=rule.hours,
            description=rule.description,
            valid_from=rule.valid_from.isoformat() if rule.valid_from else None,
        ),
        insurers=entries,
        ruled_out=ruled_out,
        members_never_notified=sum(e.members_never_notified for e in entries),
        members_notified_before_change=sum(e.members_notified_before_change for e in entries),
    )
