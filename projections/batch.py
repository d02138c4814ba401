"""Member answers for many NIRs at once, built set-wise in SQL (`member --nir -`).

`queries.member(nir_pseudonym=...)` answers one NIR with a few statements per incident and
Python around each row. A batch of thousands of NIRs answers the same in **one statement**:
the batch's pseudonyms (a JSON array read as a table by `json_each`, SQLite's and
PostgreSQL's way to bind a set: a hot-standby replica cannot create a temporary table) are
joined to the NIR tables for their memberships, to `member_versions` for each membership's
current version (which must still hold that NIR), to every incident visible at the horizon,
to each membership's latest member-level finding in it and to the incident's scope of the
insurer (one JSON array of (incident, insurer) scopes). Each row is a membership's status in
one incident with the ids of the facts behind it.

What is left to Python is what every member of an insurer with the same status shares: the
incident's part of an answer (a frozen `domain.answers.MemberIncident`: status, exposed and
implied fields, deciding facts) is built once per (incident, insurer, status, enrolling fact,
finding fact) and reused by every membership it fits; at 5,000 members per roster fact, almost
every membership of a batch reuses one. The answers are `queries.member`'s `Member` Structs, in
order (`tests/projections/test_batch_answers.py` compares them on the demo, NIR by NIR).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from domain.answers import Member, MemberIncident, Membership
from domain.derive import IncidentView
from projections.db import Db
from projections.queries.horizons import Horizon, visible
from projections.queries.memberships import incident_answer, incidents_for_lookups, view_for_lookups
from projections.queries.status import scopes_json
from projections.scoping import scope_sql

_SCOPES_CTE: Final = """sc AS (
        SELECT CAST(json_extract(value, '$.incident') AS TEXT) AS incident,
               CAST(json_extract(value, '$.insurer') AS TEXT) AS insurer,
               json_extract(value, '$.contracts') AS contracts,
               json_extract(value, '$.roles') AS roles,
               json_extract(value, '$.from') AS ef,
               json_extract(value, '$.until') AS eu
        FROM json_each(:scopes)
    )"""
"""The scopes of the affected insurers of every incident (an insurer absent is not affected)."""

_MATCHED: Final = scope_sql(
    {"contracts": "sc.contracts", "roles": "sc.roles", "enrolled_from": "sc.ef", "enrolled_until": "sc.eu"},
    table="cur",
    nullable=True,
)
"""The scope rule (`projections.scoping`) over the current version `cur` and the insurer's scope `sc`."""

_PAIRS: Final = """
    SELECT n.nir, n.insurer, n.ref FROM json_each(:nirs) w JOIN nir_members n ON n.nir = w.value
    UNION
    SELECT n.nir, n.insurer, n.ref FROM json_each(:nirs) w JOIN nir_recent n ON n.nir = w.value
"""


def _later(table: str, alias: str, of: str, keys: str) -> str:
    """A visible row of `table` about the same member (`keys`) known later than `of`'s."""
    return (
        f"SELECT 1 FROM {table} {alias} WHERE {keys} AND {visible(alias)}"
        f" AND ({alias}.known_us > {of}.known_us OR ({alias}.known_us = {of}.known_us AND {alias}.pos > {of}.pos))"
    )


_LATER_VERSION: Final = _later("member_versions", "w", "v", "w.insurer = v.insurer AND w.ref = v.ref")

_CUR: Final = f"""cur AS (
        SELECT p.nir, v.insurer, v.ref, v.pos, v.role, v.contract, v.from_day, v.until_day
        FROM pairs p JOIN member_versions v ON v.insurer = p.insurer AND v.ref = p.ref
        WHERE (p.nir IS NULL OR v.nir = p.nir) AND {visible("v")}
          AND (v.multi = 0 OR NOT EXISTS ({_LATER_VERSION}))
    )"""
"""Each membership's current version at the horizon; one found by NIR must still hold that NIR."""

_STATUS: Final = f"""COALESCE(f.status, CASE WHEN sc.insurer IS NOT NULL AND {_MATCHED}
            THEN 'presumed' ELSE 'not-affected' END)"""

_JOINS: Final = f"""FROM cur
LEFT JOIN inc ON 1 = 1
LEFT JOIN member_findings f ON f.incident = inc.incident AND f.insurer = cur.insurer AND f.ref = cur.ref
    AND {visible("f")}
    AND (f.multi = 0 OR NOT EXISTS ({
    _later("member_findings", "g", "f", "g.incident = f.incident AND g.insurer = f.insurer AND g.ref = f.ref")
}))
LEFT JOIN sc ON sc.insurer = cur.insurer AND sc.incident = inc.incident"""
"""Every incident of each membership, with its latest finding and its insurer's scope."""

BATCH_SQL: Final = f"""
WITH pairs AS ({_PAIRS}),
    {_CUR},
    inc AS (SELECT value AS incident FROM json_each(:incidents)),
    {_SCOPES_CTE}
SELECT cur.nir, cur.insurer, cur.ref, inc.incident,
       (SELECT id FROM facts WHERE pos = cur.pos) AS enrolled,
       (SELECT id FROM facts WHERE pos = f.pos) AS finding,
       {_STATUS} AS status
{_JOINS}
"""
"""Every membership's status in every incident, for a batch of NIR pseudonyms: one statement.
A membership without incidents yet comes once, with `incident` NULL. Status as
`queries.member_status_sql` (SPEC §5): the latest finding, else `presumed` when the insurer is
affected and the member matches its scope, else `not-affected`. (The scopes' columns are
cast to TEXT so that SQLite indexes them on (incident, insurer): `json_extract` has no affinity,
and compared with a TEXT column it could only be indexed on the incident, and every member
would be compared with every insurer's entry.)"""

_THEN: Final = (
    "{t}.known_us <= bn.x AND {t}.pos <= :p"
    " AND {t}.pos NOT IN (SELECT CAST(value AS INTEGER) FROM json_each(bn.hidden))"
)
"""Visible as known when the blanket notice `bn` was given (the same position, its retractions)."""

_THEN_MATCHED: Final = scope_sql(
    {"contracts": "bn.contracts", "roles": "bn.roles", "enrolled_from": "bn.ef", "enrolled_until": "bn.eu"},
    table="t",
    nullable=True,
)

_BLANKET_CTE: Final = """,
    bn AS MATERIALIZED (
        SELECT CAST(json_extract(value, '$.incident') AS TEXT) AS incident,
               CAST(json_extract(value, '$.insurer') AS TEXT) AS insurer,
               CAST(json_extract(value, '$.at') AS BIGINT) AS at,
               CAST(json_extract(value, '$.x') AS BIGINT) AS x,
               json_extract(value, '$.hidden') AS hidden,
               CAST(json_extract(value, '$.affected') AS INTEGER) AS affected,
               json_extract(value, '$.contracts') AS contracts,
               json_extract(value, '$.roles') AS roles,
               json_extract(value, '$.from') AS ef,
               json_extract(value, '$.until') AS eu
        FROM json_each(:blanket)
    )"""
"""The blanket notices (`members-notified` without refs) of the insurers asked."""

_TOLD_BLANKET: Final = f"""(SELECT MAX(bn.at) FROM bn
        JOIN member_versions t ON t.insurer = cur.insurer AND t.ref = cur.ref
        WHERE bn.incident = inc.incident AND bn.insurer = cur.insurer AND {_THEN.format(t="t")}
          AND NOT EXISTS (SELECT 1 FROM member_versions u WHERE u.insurer = t.insurer AND u.ref = t.ref
                          AND {_THEN.format(t="u")}
                          AND (u.known_us > t.known_us OR (u.known_us = t.known_us AND u.pos > t.pos)))
          AND COALESCE(
                (SELECT g.status FROM member_findings g
                 WHERE g.incident = bn.incident AND g.insurer = t.insurer AND g.ref = t.ref AND {_THEN.format(t="g")}
                 ORDER BY g.known_us DESC, g.pos DESC LIMIT 1),
                CASE WHEN bn.affected = 1 AND {_THEN_MATCHED} THEN 'presumed' ELSE 'not-affected' END
              ) IN ('confirmed', 'presumed'))"""
"""The latest blanket notice (`bn`) under which the membership was affected as known then."""


def lookups_sql(*, blanket: bool, named: bool, findings: bool) -> str:
    """`LOOKUPS_SQL`, leaving out what the horizon cannot hold for the insurers asked (each
    left-out part answers NULL): blanket notices (`blanket`), notices naming refs (`named`),
    member-level findings (`findings`). Which parts a statement reads depends on the horizon
    only, never on the lookups: a hit and a miss run the same statement."""
    pairs = " UNION ALL ".join(
        f"SELECT n.nir, n.insurer, n.ref FROM json_each(:nirs) w JOIN {table} n ON n.nir = w.value"
        " WHERE :every = 1 OR n.insurer = :insurer"
        for table in ("nir_members", "nir_recent")
    )
    told_named = f"""(SELECT MAX(m.occurred_us) FROM member_notices m
        WHERE m.incident = inc.incident AND m.insurer = cur.insurer AND m.ref = cur.ref AND {visible("m")})"""
    later_finding = _later(
        "member_findings", "g", "f", "g.incident = f.incident AND g.insurer = f.insurer AND g.ref = f.ref"
    )
    finding = f"""
LEFT JOIN member_findings f ON f.incident = inc.incident AND f.insurer = cur.insurer AND f.ref = cur.ref
    AND {visible("f")} AND (f.multi = 0 OR NOT EXISTS ({later_finding}))"""
    return f"""
WITH pairs AS (
    {pairs}
    UNION ALL
    SELECT NULL, CAST(json_extract(w.value, '$[0]') AS TEXT), CAST(json_extract(w.value, '$[1]') AS TEXT)
    FROM json_each(:refs) w WHERE :every = 1 OR json_extract(w.value, '$[0]') = :insurer
),
    {_CUR},
    inc AS (SELECT value AS incident FROM json_each(:incidents)){_BLANKET_CTE if blanket else ""}
SELECT cur.nir, cur.insurer, cur.ref, cur.role, cur.contract, cur.from_day, cur.until_day, inc.incident,
       {"f.status" if findings else "NULL"} AS finding,
       {told_named if named else "NULL"} AS named,
       {_TOLD_BLANKET if blanket else "NULL"} AS blanket
FROM cur
LEFT JOIN inc ON 1 = 1{finding if findings else ""}
"""


LOOKUPS_SQL: Final = lookups_sql(blanket=True, named=True, findings=True)
"""The lookup service's batch (`projections.lookups.answer`): each membership of the NIR
pseudonyms and (insurer, ref) pairs asked, scoped to one insurer unless `:every`, in every
incident, with its current role, contract and enrolment period, its latest member-level
finding (NULL without one: the service applies the insurer's status and scope in Python,
`domain.scope`, so the statement reads no scopes at all and costs the same for one insurer's
token as for an all-insurer token), and when it was last told: the latest visible notice naming
it (`named`), and the latest blanket notice (`:blanket`, one entry per `members-notified`
without refs: when it was given, the horizon as known then, the insurer's status and scope
then) under which the membership was affected as known then (`blanket`). The pairs are a
UNION ALL: a membership found twice is folded once. `lookups_sql` leaves out the parts a
horizon cannot need."""


_ENROLLED_SQL: Final = f"""
SELECT DISTINCT p.nir, v.insurer, v.ref
FROM ({_PAIRS}) p JOIN member_versions v ON v.insurer = p.insurer AND v.ref = p.ref
WHERE v.nir = p.nir AND {visible("v")}
"""
"""The memberships that ever held each NIR (visible at the horizon): the answer of a NIR none of
whose memberships has a status row (no incident yet, or its current version holds another NIR)."""


@dataclass
class Pieces:
    """The incident parts of answers, kept across the batches of one horizon."""

    parts: dict[tuple[str, str, str, str, str | None], MemberIncident] = field(default_factory=dict)
    shared: dict[str, dict[tuple[str, str], tuple[list[str], set[str]]]] = field(default_factory=dict)

    def part(self, view: IncidentView, insurer: str, status: str, enrolled: str, finding: str | None) -> MemberIncident:
        key = (view.incident, insurer, status, enrolled, finding)
        found = self.parts.get(key)
        if found is None:
            kept = self.shared.setdefault(view.incident, {})
            found = self.parts[key] = incident_answer(view, insurer, status, enrolled, finding, kept)
        return found


def _scopes(views: Sequence[IncidentView]) -> str:
    """(incident, insurer) scopes of the insurers affected in each incident, as one JSON array
    (`queries.scopes_json`'s entries, with their incident)."""
    return json.dumps(
        [
            {**entry, "incident": view.incident}
            for view in views
            for entry in json.loads(scopes_json(view))
            if entry["affected"]
        ]
    )


async def members_by_nir(db: Db, h: Horizon, pseudonyms: Sequence[str], pieces: Pieces | None = None) -> list[Member]:
    """`queries.member(nir_pseudonym=p)` for each of `pseudonyms`, in order, in one statement
    (two when some NIR's memberships have no status row). `pieces`: kept by a caller that
    answers several batches at the same horizon."""
    pieces = pieces or Pieces()
    incidents = await incidents_for_lookups(db, h)
    views = {incident: await view_for_lookups(db, incident, h) for incident in incidents}
    wanted = json.dumps(sorted(set(pseudonyms)))
    params = {
        "nirs": wanted,
        "incidents": json.dumps(incidents),
        "scopes": _scopes(list(views.values())),
        **h.params(),
    }
    found: dict[str, dict[tuple[str, str], dict[str, MemberIncident]]] = {}
    for nir, insurer, ref, incident, enrolled, finding, status in await db.fetch_point(BATCH_SQL, params):
        if incident is None:
            continue
        part = pieces.part(views[incident], insurer, status, enrolled, finding)
        found.setdefault(nir, {}).setdefault((insurer, ref), {})[incident] = part
    bare: dict[str, list[tuple[str, str]]] = {}
    missing = sorted(set(pseudonyms) - set(found))
    if missing:
        for nir, insurer, ref in await db.fetch_point(_ENROLLED_SQL, {"nirs": json.dumps(missing), **h.params()}):
            bare.setdefault(str(nir), []).append((str(insurer), str(ref)))
    known_on, recorded_at = h.known_on, h.recorded_at
    order = sorted(incidents)
    answers = []
    for pseudonym in pseudonyms:
        held = found.get(pseudonym)
        if held is not None:
            memberships = [
                Membership(insurer=ins, ref=ref, incidents=[parts[i] for i in order if i in parts])
                for (ins, ref), parts in (sorted(held.items()) if len(held) > 1 else held.items())
            ]
        else:
            memberships = [Membership(insurer=i, ref=r, incidents=[]) for i, r in sorted(bare.get(pseudonym, ()))]
        answers.append(Member(as_known_on=known_on, as_recorded_at=recorded_at, memberships=memberships))
    return answers
