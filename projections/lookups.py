"""Batch member lookups for the lookup service: one statement per batch, hit or miss.

`answer` takes up to a thousand lookups (a NIR pseudonym, or an insurer and a member
ref) and answers each with its memberships in every incident the ledger knows at the
horizon, as `queries.member` does for one, with two differences that the service needs:

- **one code path for a hit and a miss.** Whatever the lookups find, the batch runs the
  same single statement (`projections.batch.LOOKUPS_SQL`, the set-wise batch that `member
  --nir -` uses, with refs, roles and notices) and the same short fold over its rows; a
  miss is a fold over no rows. No statement depends on what an earlier one found.
- **scoped to one insurer.** With `insurer` given, the statement itself selects that
  insurer's rows only: a NIR enrolled at another insurer finds no row, exactly as a NIR
  enrolled nowhere.

Statuses follow SPEC §5 (the rules `queries.member_status_sql` writes); `notified_at` is the
latest `members-notified` visible at the horizon that covers the membership: one naming its
ref, or one without refs given while it was affected as known then (the notice's
`occurred_on`), both decided in SQL.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import msgspec

from domain.categories import implied
from domain.derive import IncidentView
from domain.times import from_micros, iso_utc, to_micros
from projections.batch import LOOKUPS_SQL, _scopes
from projections.db import Db
from projections.queries import AFFECTED, Horizon, incident_view, incidents, scopes_json

MAX_BATCH: Final = 1_000


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


@dataclass(frozen=True)
class Prepared:
    """The parameters of `LOOKUPS_SQL` that depend on the incidents only (kept with a horizon):
    the scopes and blanket notices of every insurer (key None), and of each insurer alone (a
    scoped token's batch reads its own insurer's entries only: SQLite builds the scopes' index
    for every statement, which for one lookup costs more than the lookup)."""

    incidents: str
    scopes: dict[str | None, str]
    blanket: dict[str | None, str]

    def of(self, insurer: str | None) -> tuple[str, str]:
        """(scopes, blanket notices) as JSON, for `insurer` (None: every insurer)."""
        return self.scopes.get(insurer, "[]"), self.blanket.get(insurer, "[]")


def _by_insurer(entries: list[dict[str, Any]]) -> dict[str | None, str]:
    grouped: dict[str | None, list[dict[str, Any]]] = {None: entries}
    for entry in entries:
        grouped.setdefault(entry["insurer"], []).append(entry)
    return {insurer: json.dumps(kept) for insurer, kept in grouped.items()}


def prepare(found: dict[str, Moment]) -> Prepared:
    """The incidents, the affected insurers' scopes and the blanket notices of `found`, as JSON."""
    blanket = []
    for incident, moment in sorted(found.items()):
        for insurer, occurred_us, then in moment.notices:
            view = moment.then.get(then.known_us)
            if view is None:
                continue
            entries = json.loads(scopes_json(view, insurer))
            scope = entries[0] if entries else {"affected": 0}
            blanket.append(
                {
                    "incident": incident,
                    "insurer": insurer,
                    "at": occurred_us,
                    "x": then.known_us,
                    "hidden": json.dumps(list(then.hidden)),
                    **{key: scope.get(key) for key in ("affected", "contracts", "roles", "from", "until")},
                }
            )
    return Prepared(
        incidents=json.dumps(sorted(found)),
        scopes=_by_insurer(json.loads(_scopes([m.view for m in found.values()]))),
        blanket=_by_insurer(blanket),
    )


async def answer(
    db: Db,
    lookups: Sequence[Lookup | None],
    insurer: str | None,
    found: dict[str, Moment],
    prepared: Prepared,
    h: Horizon,
    *,
    inline: bool = False,
) -> list[list[Membership] | None]:
    """Each lookup's memberships, in order (None for an invalid lookup: `None` in `lookups`).

    `inline`: on SQLite, run the statement on the connection's synchronous twin in the
    caller's thread (`Db.fetch_point`) rather than through aiosqlite's thread (see docs/SERVICE.md)."""
    valid = [x for x in lookups if x is not None]
    scopes, blanket = prepared.of(insurer)
    params = {
        "nirs": json.dumps(sorted({x.nir for x in valid if x.nir is not None})),
        "refs": json.dumps(sorted({(x.insurer or insurer or "", x.ref) for x in valid if x.ref is not None})),
        "every": 1 if insurer is None else 0,
        "insurer": insurer or "",
        "incidents": prepared.incidents,
        "scopes": scopes,
        "blanket": blanket,
        **h.params(),
    }
    read = db.fetch_point if inline else db.execute_fetchall
    held: dict[tuple[str, str], tuple[str | None, dict[str, IncidentAnswer]]] = {}
    by_nir: dict[str, set[tuple[str, str]]] = {}
    parts: dict[tuple[str, str, str, int | None], IncidentAnswer] = {}
    for nir, ins, ref, role, incident, status, named, blanket in await read(LOOKUPS_SQL, params):
        pair = (str(ins), str(ref))
        _, answers = held.setdefault(pair, (role, {}))
        if nir is not None:
            by_nir.setdefault(str(nir), set()).add(pair)
        if incident is None or incident in answers:  # no incident yet; or found by NIR and by ref
            continue
        told = max((int(t) for t in (named, blanket) if t is not None), default=None)
        key = (str(incident), pair[0], str(status), told)
        part = parts.get(key)
        if part is None:
            fields = found[key[0]].view.exposed_fields(pair[0]) if status in AFFECTED else []
            part = parts[key] = IncidentAnswer(
                incident=key[0],
                status=key[2],
                fields=fields,
                implied=implied(fields),
                notified_at=iso_utc(from_micros(told)) if told is not None else None,
            )
        answers[key[0]] = part
    results: list[list[Membership] | None] = []
    for lookup in lookups:
        if lookup is None:
            results.append(None)
            continue
        if lookup.nir is not None:
            pairs = sorted(by_nir.get(lookup.nir, ()))
        else:
            pairs = [(lookup.insurer or insurer or "", lookup.ref or "")]
        memberships = []
        for pair in pairs:
            entry = held.get(pair)
            if entry is None or (insurer is not None and pair[0] != insurer):
                continue
            role, answers = entry
            memberships.append(
                Membership(insurer=pair[0], ref=pair[1], role=role, incidents=[answers[i] for i in sorted(answers)])
            )
        results.append(memberships)
    return results


async def moments(db: Db, h: Horizon) -> dict[str, Moment]:
    """Every incident visible at `h` with its view, and the views its blanket notices need."""
    found: dict[str, Moment] = {}
    for incident in await incidents(db, h):
        view = await incident_view(db, incident, h)
        notices: list[tuple[str, int, Horizon]] = []
        then: dict[int, IncidentView] = {}
        for notice_insurer, occurred_on, _, refs in view.member_notices:
            if refs is not None:  # a notice naming refs (kept apart from its body: `()` here) covers those only
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
