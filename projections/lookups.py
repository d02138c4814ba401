"""Batch member lookups for the lookup service: one query per batch, hit or miss.

`answer` takes up to a thousand lookups (a NIR pseudonym, or an insurer and a member
ref) and answers each with its memberships in every incident the ledger knows at the
horizon, as `queries.member` does for one, with two differences that the service needs:

- **one code path for a hit and a miss.** Whatever the lookups find, the batch runs the
  same single query (the memberships the pseudonyms and refs name, then every member
  version, finding and named notice of those memberships) and the same Python fold over
  its rows; a miss is a fold over no rows. No query depends on what an earlier one found.
- **scoped to one insurer.** With `insurer` given, the query itself selects that insurer's
  rows only: a NIR enrolled at another insurer finds no row, exactly as a NIR enrolled
  nowhere.

Statuses follow SPEC §5 (`member_status` below, the same rules `queries.member_status_sql`
writes in SQL); `notified_at` is the latest `members-notified` visible at the horizon that
covers the membership: one naming its ref, or one without refs given while it was affected
as known then (the notice's `occurred_on`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Final

import msgspec

from domain.categories import implied
from domain.derive import IncidentView
from domain.times import from_micros, iso_utc, to_micros
from projections.db import Db
from projections.queries import AFFECTED, Horizon, incident_view, incidents

MAX_BATCH: Final = 1_000

_PAIRS: Final = """
    SELECT insurer, ref FROM nir_members
    WHERE nir IN (SELECT value FROM json_each(:nirs)) AND (:every = 1 OR insurer = :insurer)
    UNION
    SELECT insurer, ref FROM nir_recent
    WHERE nir IN (SELECT value FROM json_each(:nirs)) AND (:every = 1 OR insurer = :insurer)
    UNION
    SELECT DISTINCT insurer, ref FROM member_versions
    WHERE insurer IN (SELECT value FROM json_each(:ref_insurers)) AND ref IN (SELECT value FROM json_each(:refs))
      AND (:every = 1 OR insurer = :insurer)
"""

ROWS_SQL: Final = f"""
WITH pairs AS ({_PAIRS})
SELECT 'v' AS tag, v.insurer, v.ref, v.pos, v.known_us, v.role AS a, v.contract AS b, v.from_day AS c,
       v.until_day AS d, v.nir AS e, CAST(NULL AS INTEGER) AS n
FROM pairs p JOIN member_versions v ON v.insurer = p.insurer AND v.ref = p.ref
WHERE v.pos <= :p
UNION ALL
SELECT 'f', f.insurer, f.ref, f.pos, f.known_us, f.incident, f.status, NULL, NULL, NULL, NULL
FROM pairs p CROSS JOIN member_findings f
WHERE f.insurer = p.insurer AND f.ref = p.ref AND f.incident IN (SELECT value FROM json_each(:incidents))
  AND f.pos <= :p
UNION ALL
SELECT 'n', m.insurer, m.ref, m.pos, m.known_us, m.incident, NULL, NULL, NULL, NULL, m.occurred_us
FROM pairs p CROSS JOIN member_notices m
WHERE m.insurer = p.insurer AND m.ref = p.ref AND m.incident IN (SELECT value FROM json_each(:incidents))
  AND m.pos <= :p
"""
"""Every row that can decide the answers of a batch, up to the horizon's position (`CROSS JOIN`
keeps SQLite from reading an incident's findings first: the pairs lead, each read by key); which of
them are visible at a knowledge time is decided in Python (`_Rows.visible`), so the same
rows also answer "was this member affected when that notice was given"."""


class IncidentAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """One membership in one incident."""

    incident: str
    status: str
    """`confirmed`, `presumed`, `ruled-out` or `not-affected` (SPEC §5)."""
    fields: list[str]
    implied: list[str]
    notified_at: str | None
    """The latest notice to the member about this incident (UTC), if any."""


class Membership(msgspec.Struct, frozen=True, kw_only=True):
    """One membership found, with its answer in every incident the ledger knows."""

    insurer: str
    ref: str
    role: str | None
    incidents: list[IncidentAnswer]


@dataclass(frozen=True)
class Lookup:
    """One lookup: by NIR pseudonym, or by (insurer, ref). `insurer` None: the token's insurer."""

    nir: str | None = None
    ref: str | None = None
    insurer: str | None = None


@dataclass(frozen=True)
class Moment:
    """An incident's view at one horizon, and the horizons of its blanket member notices."""

    view: IncidentView
    notices: tuple[tuple[str, int, Horizon], ...] = ()
    """(insurer, occurred_us, the horizon as known then) of each `members-notified` without refs."""
    then: dict[int, IncidentView] = field(default_factory=dict)
    """The incident's view at each blanket notice's horizon, by its knowledge time."""


@dataclass
class _Version:
    pos: int
    known_us: int
    role: str | None
    contract: str | None
    start: str | None
    end: str | None
    nir: str | None


@dataclass
class _Rows:
    versions: list[_Version] = field(default_factory=list)
    findings: dict[str, list[tuple[int, int, str]]] = field(default_factory=dict)
    """incident -> (known_us, pos, status)."""
    notices: list[tuple[str, int, int, int]] = field(default_factory=list)
    """(incident, pos, known_us, occurred_us)."""

    def version(self, h: Horizon) -> _Version | None:
        seen = [v for v in self.versions if _visible(v.known_us, v.pos, h)]
        return max(seen, key=lambda v: (v.known_us, v.pos)) if seen else None

    def finding(self, incident: str, h: Horizon) -> str | None:
        found = self.findings.get(incident)
        if not found:
            return None
        seen = [f for f in found if _visible(f[0], f[1], h)]
        return max(seen)[2] if seen else None


def _visible(known_us: int, pos: int, h: Horizon) -> bool:
    return known_us <= h.known_us and pos <= h.position and pos not in h.hidden


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def member_status(view: IncidentView, insurer: str, version: _Version, finding: str | None) -> str:
    """SPEC §5: the latest finding; else `presumed` when the insurer is affected and the member
    matches its latest scope; else `not-affected`."""
    if finding is not None:
        return finding
    if view.insurer_status(insurer) != "affected":
        return "not-affected"
    scope = view.scopes.get(insurer)
    if scope is None or scope.matches(version.contract, version.role, _day(version.start), _day(version.end)):
        return "presumed"
    return "not-affected"


async def rows(
    db: Db,
    lookups: Sequence[Lookup],
    insurer: str | None,
    incidents: Sequence[str],
    h: Horizon,
    *,
    inline: bool = False,
) -> dict[tuple[str, str], _Rows]:
    """The one query of a batch: every row of every membership its lookups name.

    `inline`: on SQLite, run it on the connection's synchronous twin in the caller's thread
    (`Db.fetch_point`) rather than through aiosqlite's thread (see docs/SERVICE.md)."""
    nirs = sorted({x.nir for x in lookups if x.nir is not None})
    refs = sorted({x.ref for x in lookups if x.ref is not None})
    ref_insurers = sorted({x.insurer or insurer or "" for x in lookups if x.ref is not None})
    params = {
        "nirs": json.dumps(nirs),
        "refs": json.dumps(refs),
        "ref_insurers": json.dumps(ref_insurers),
        "every": 1 if insurer is None else 0,
        "insurer": insurer or "",
        "incidents": json.dumps(list(incidents)),
        "p": h.position,
    }
    found: dict[tuple[str, str], _Rows] = {}
    read = db.fetch_point if inline else db.execute_fetchall
    for tag, ins, ref, pos, known_us, a, b, c, d, e, n in await read(ROWS_SQL, params):
        entry = found.setdefault((str(ins), str(ref)), _Rows())
        if tag == "v":
            entry.versions.append(_Version(int(pos), int(known_us), a, b, c, d, e))
        elif tag == "f":
            entry.findings.setdefault(str(a), []).append((int(known_us), int(pos), str(b)))
        else:
            entry.notices.append((str(a), int(pos), int(known_us), int(n)))
    return found


def answer(
    lookups: Sequence[Lookup | None],
    insurer: str | None,
    found: dict[tuple[str, str], _Rows],
    moments: dict[str, Moment],
    h: Horizon,
) -> list[list[Membership] | None]:
    """Each lookup's memberships (None for a lookup that was invalid: `None` in `lookups`)."""
    by_nir: dict[str, list[tuple[str, str]]] = {}
    for (ins, ref), entry in found.items():
        for version in entry.versions:
            if version.nir is not None:
                by_nir.setdefault(version.nir, []).append((ins, ref))
    fields: dict[tuple[str, str], tuple[list[str], list[str]]] = {}
    results: list[list[Membership] | None] = []
    for lookup in lookups:
        if lookup is None:
            results.append(None)
            continue
        if lookup.nir is not None:
            pairs = sorted(set(by_nir.get(lookup.nir, ())))
        else:
            pairs = [(lookup.insurer or insurer or "", lookup.ref or "")]
        memberships = []
        for pair in pairs:
            if insurer is not None and pair[0] != insurer:
                continue
            membership = _membership(pair, found.get(pair), lookup.nir, moments, h, fields)
            if membership is not None:
                memberships.append(membership)
        results.append(memberships)
    return results


def _membership(
    pair: tuple[str, str],
    entry: _Rows | None,
    nir: str | None,
    moments: dict[str, Moment],
    h: Horizon,
    fields: dict[tuple[str, str], tuple[list[str], list[str]]],
) -> Membership | None:
    """One membership's answer; `fields` keeps each (incident, insurer)'s exposed and implied fields."""
    if entry is None:
        return None
    version = entry.version(h)
    if version is None or (nir is not None and version.nir != nir):
        return None
    insurer, ref = pair
    incidents = []
    for incident, moment in sorted(moments.items()):
        status = member_status(moment.view, insurer, version, entry.finding(incident, h))
        exposed: list[str] = []
        implies: list[str] = []
        if status in AFFECTED:
            kept = fields.get((incident, insurer))
            if kept is None:
                exposed = moment.view.exposed_fields(insurer)
                kept = fields[(incident, insurer)] = (exposed, implied(exposed))
            exposed, implies = kept
        notified = _notified_at(entry, incident, insurer, moment, h)
        incidents.append(
            IncidentAnswer(
                incident=incident,
                status=status,
                fields=exposed,
                implied=implies,
                notified_at=iso_utc(from_micros(notified)) if notified is not None else None,
            )
        )
    return Membership(insurer=insurer, ref=ref, role=version.role, incidents=incidents)


def _notified_at(entry: _Rows, incident: str, insurer: str, moment: Moment, h: Horizon) -> int | None:
    """The latest visible notice covering the membership (see the module's docstring)."""
    times = [t for i, p, k, t in entry.notices if i == incident and _visible(k, p, h)]
    for notice_insurer, occurred_us, then in moment.notices:
        if notice_insurer != insurer:
            continue
        version = entry.version(then)
        view = moment.then.get(then.known_us)
        if version is None or view is None:
            continue
        if member_status(view, insurer, version, entry.finding(incident, then)) in AFFECTED:
            times.append(occurred_us)
    return max(times) if times else None


async def moments(db: Db, h: Horizon) -> dict[str, Moment]:
    """Every incident visible at `h` with its view, and the views its blanket notices need."""
    found: dict[str, Moment] = {}
    for incident in await incidents(db, h):
        view = await incident_view(db, incident, h)
        notices: list[tuple[str, int, Horizon]] = []
        then: dict[int, IncidentView] = {}
        for notice_insurer, occurred_on, _, refs in view.member_notices:
            if refs:
                continue
            at = await _horizon_at(db, occurred_on, h)
            notices.append((notice_insurer, at.known_us, at))
            if at.known_us not in then:
                then[at.known_us] = await incident_view(db, incident, at)
        found[incident] = Moment(view, tuple(notices), then)
    return found


async def _horizon_at(db: Db, moment: datetime, h: Horizon) -> Horizon:
    """`h` as known at `moment`: the same position, the retractions known by then."""
    known_us = to_micros(moment)
    hidden = tuple(
        int(r[0])
        for r in await db.execute_fetchall(
            "SELECT DISTINCT target_pos FROM retractions WHERE known_us <= ? AND pos <= ? ORDER BY target_pos",
            (known_us, h.position),
        )
    )
    return Horizon(moment, h.as_recorded_at, known_us, h.position, hidden)
