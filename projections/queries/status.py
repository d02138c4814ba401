"""A member's status in SQL: the incident's scopes (the scope rule) applied to the roster rows."""

from __future__ import annotations

import json

from domain.derive import IncidentView
from projections.queries.horizons import visible
from projections.scoping import scope_sql


def scopes_json(view: IncidentView, only: str | None = None) -> str:
    """Per-insurer affected flag and scope, for the member-status SQL.

    `only`: just that insurer's entry. The SQL joins every member row to these entries,
    so a query about one insurer's members runs many times faster with one entry.
    """
    entries = []
    insurers = set(view.insurers) | set(view.scopes)
    if only is not None:
        insurers &= {only}
    for insurer in sorted(insurers):
        scope = view.scopes.get(insurer)
        entries.append(
            {
                "insurer": insurer,
                "affected": 1 if view.insurer_status(insurer) == "affected" else 0,
                "contracts": json.dumps(scope.contracts) if scope and scope.contracts is not None else None,
                "roles": json.dumps(scope.roles) if scope and scope.roles is not None else None,
                "from": scope.enrolled_from.isoformat() if scope and scope.enrolled_from else None,
                "until": scope.enrolled_until.isoformat() if scope and scope.enrolled_until else None,
            }
        )
    return json.dumps(entries)


def member_status_sql(where: str) -> str:
    """Members (current attributes as known) with their status in `:incident`.

    `where` filters the member versions (alias `v`). Status: the latest member-level
    finding; else `presumed` when the insurer is affected and the member matches its
    latest scope; else `not-affected` (SPEC §5). `matched`: 1 when the insurer is affected
    and the member matches its scope, whatever the findings.
    """
    later_version = (
        "SELECT 1 FROM member_versions w WHERE w.insurer = v.insurer AND w.ref = v.ref AND "
        + visible("w")
        + " AND (w.known_us > v.known_us OR (w.known_us = v.known_us AND w.pos > v.pos))"
    )
    later_finding = (
        "SELECT 1 FROM member_findings g WHERE g.incident = f.incident AND g.insurer = f.insurer"
        " AND g.ref = f.ref AND "
        + visible("g")
        + " AND (g.known_us > f.known_us OR (g.known_us = f.known_us AND g.pos > f.pos))"
    )
    matched = "sc.affected = 1 AND " + scope_sql(
        {"contracts": "sc.contracts", "roles": "sc.roles", "enrolled_from": "sc.ef", "enrolled_until": "sc.eu"},
        table="cur",
        nullable=True,
    )
    return f"""
    WITH sc AS (
        SELECT json_extract(value, '$.insurer') AS insurer,
               CAST(json_extract(value, '$.affected') AS INTEGER) AS affected,
               json_extract(value, '$.contracts') AS contracts,
               json_extract(value, '$.roles') AS roles,
               json_extract(value, '$.from') AS ef,
               json_extract(value, '$.until') AS eu
        FROM json_each(:scopes)
    ),
    cur AS (
        SELECT v.insurer, v.ref, v.pos, v.role, v.contract, v.from_day, v.until_day, v.nir
        FROM member_versions v
        WHERE ({where}) AND {visible("v")} AND (v.multi = 0 OR NOT EXISTS ({later_version}))
    ),
    fnd AS (
        SELECT f.insurer, f.ref, f.status, f.pos
        FROM member_findings f
        WHERE f.incident = :incident AND {visible("f")} AND (f.multi = 0 OR NOT EXISTS ({later_finding}))
    )
    SELECT cur.insurer, cur.ref, cur.role, cur.contract, cur.from_day, cur.until_day, cur.nir,
           cur.pos AS enrolled_pos, fnd.pos AS finding_pos,
           COALESCE(fnd.status, CASE WHEN {matched} THEN 'presumed' ELSE 'not-affected' END) AS status,
           CASE WHEN {matched} THEN 1 ELSE 0 END AS matched
    FROM cur
    LEFT JOIN fnd ON fnd.insurer = cur.insurer AND fnd.ref = cur.ref
    LEFT JOIN sc ON sc.insurer = cur.insurer
    """
