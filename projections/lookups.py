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

import functools
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, NamedTuple

import msgspec
from msgspec.structs import asdict

from domain import scope
from domain.categories import implied
from domain.derive import IncidentView
from domain.times import from_micros, iso_utc, to_micros
from projections.batch import lookups_sql
from projections.db import Db
from projections.queries import AFFECTED, Horizon, incident_view, incidents, scopes_json, visible

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


class Lookup(NamedTuple):
    """One lookup: by NIR pseudonym, or by (insurer, ref). `insurer` None: the token's insurer.
    (A named tuple: a batch makes a thousand of them.)"""

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
    named: frozenset[str] = frozenset()
    """The insurers with a visible `members-notified` naming refs."""
    findings: frozenset[str] = frozenset()
    """The insurers with a visible member-level finding (`members-confirmed-affected`, `members-ruled-out`)."""


@dataclass(frozen=True)
class Prepared:
    """The parameters of `LOOKUPS_SQL` that depend on the incidents only (kept with a horizon):
    the incidents, and the blanket notices of every insurer (key None) and of each insurer
    alone (a scoped token's batch reads its own insurer's notices only); and the insurers with
    notices naming refs and with member-level findings: a statement for an insurer without any
    leaves those parts out (`batch.lookups_sql`)."""

    incidents: str
    blanket: dict[str | None, str]
    named: frozenset[str] = frozenset()
    findings: frozenset[str] = frozenset()

    def sql(self, insurer: str | None) -> str:
        """The statement for `insurer`'s token (None: all insurers)."""
        return _statement(
            blanket=self.blanket.get(insurer, "[]") != "[]",
            named=bool(self.named) if insurer is None else insurer in self.named,
            findings=bool(self.findings) if insurer is None else insurer in self.findings,
        )


@functools.cache
def _statement(*, blanket: bool, named: bool, findings: bool) -> str:
    return lookups_sql(blanket=blanket, named=named, findings=findings)


class _Scope(msgspec.Struct, frozen=True, kw_only=True, rename={"start": "from", "end": "until"}):
    """One entry of `queries.scopes_json`: the insurer's status, its scope's contracts and roles
    (JSON text) and enrolment dates (ISO days)."""

    affected: int
    contracts: str | None = None
    roles: str | None = None
    start: str | None = None
    end: str | None = None


class _Blanket(_Scope, frozen=True, kw_only=True):
    """A blanket notice as `LOOKUPS_SQL` reads it (`:blanket`): when it was given (`at`), the
    horizon as known then (`x`, `hidden`), and the insurer's status and scope then."""

    incident: str
    insurer: str
    at: int
    x: int
    hidden: str


_SCOPES: Final = msgspec.json.Decoder(list[_Scope])


def _by_insurer(entries: list[_Blanket]) -> dict[str | None, str]:
    grouped: dict[str | None, list[_Blanket]] = {None: entries}
    for entry in entries:
        grouped.setdefault(entry.insurer, []).append(entry)
    return {insurer: msgspec.json.encode(kept).decode() for insurer, kept in grouped.items()}


def prepare(found: dict[str, Moment]) -> Prepared:
    """The incidents and the blanket notices of `found`, as JSON."""
    blanket = []
    for incident, moment in sorted(found.items()):
        for insurer, occurred_us, then in moment.notices:
            view = moment.then.get(then.known_us)
            if view is None:
                continue
            entries = _SCOPES.decode(scopes_json(view, insurer))
            scope = entries[0] if entries else _Scope(affected=0)
            hidden = json.dumps(list(then.hidden))
            blanket.append(
                _Blanket(
                    **asdict(scope), incident=incident, insurer=insurer, at=occurred_us, x=then.known_us, hidden=hidden
                )
            )
    return Prepared(
        incidents=json.dumps(sorted(found)),
        blanket=_by_insurer(blanket),
        named=frozenset(i for m in found.values() for i in m.named),
        findings=frozenset(i for m in found.values() for i in m.findings),
    )


def _scope_rule(view: IncidentView, insurer: str) -> Callable[[tuple[Any, ...]], bool] | bool:
    """Whether `insurer`'s members without a finding are presumed affected in `view` (SPEC §5):
    False when the insurer is not affected, True when it is with no scope, else the scope's
    test (`domain.scope.predicate`) over (contract, role, from, until) as the rows hold them."""
    if view.insurer_status(insurer) != "affected":
        return False
    found = view.scopes.get(insurer)
    if found is None:
        return True
    given = {
        "contracts": found.contracts,
        "roles": found.roles,
        "enrolled_from": found.enrolled_from.isoformat() if found.enrolled_from else None,
        "enrolled_until": found.enrolled_until.isoformat() if found.enrolled_until else None,
    }
    if all(value is None for value in given.values()):
        return True
    return scope.predicate(given)


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
    nirs: set[str] = set()
    refs: set[tuple[str, str]] = set()
    for x in lookups:
        if x is not None and x.nir is not None:
            nirs.add(x.nir)
        elif x is not None and x.ref is not None:
            refs.add((x.insurer or insurer or "", x.ref))
    blanket = prepared.blanket.get(insurer, "[]")
    params = {
        "nirs": json.dumps(sorted(nirs)),
        "refs": json.dumps(sorted(refs)),
        "every": 1 if insurer is None else 0,
        "insurer": insurer or "",
        "incidents": prepared.incidents,
        **({"blanket": blanket} if blanket != "[]" else {}),
        **h.params(),
    }
    read = db.fetch_point if inline else db.execute_fetchall
    held, by_nir = _fold(await read(prepared.sql(insurer), params), found)
    built: dict[tuple[str, str], Membership] = {}
    for pair, (role, answers) in held.items():  # each membership once, whichever lookups found it
        if insurer is None or pair[0] == insurer:
            ordered = list(answers.values()) if len(answers) < 2 else [answers[i] for i in sorted(answers)]
            built[pair] = Membership(insurer=pair[0], ref=pair[1], role=role, incidents=ordered)
    results: list[list[Membership] | None] = []
    append, membership = results.append, built.get
    for lookup in lookups:
        if lookup is None:
            append(None)
            continue
        if lookup.nir is not None:
            pairs = by_nir.get(lookup.nir, ())
        else:
            pairs = [(lookup.insurer or insurer or "", lookup.ref or "")]
        if len(pairs) == 1:  # the usual case, without a comprehension's frame
            one = membership(pairs[0])
            append([one] if one is not None else [])
        else:
            append([m for m in map(membership, sorted(set(pairs))) if m is not None])
    return results


_Held = dict[tuple[str, str], tuple[str | None, dict[str, IncidentAnswer]]]


def _fold(rows: Iterable[Sequence[Any]], found: dict[str, Moment]) -> tuple[_Held, dict[str, list[tuple[str, str]]]]:
    """The statement's rows as (each membership's role and answer per incident, the memberships
    of each NIR). A membership without a finding is presumed affected when its insurer is
    affected and it matches the insurer's scope (`_scope_rule`, decided once per insurer); the
    answer of each (incident, insurer, status, notice time) is built once and shared."""
    held: _Held = {}
    by_nir: dict[str, list[tuple[str, str]]] = {}
    parts: dict[tuple[str, str, str, int | None], IncidentAnswer] = {}
    rules: dict[tuple[str, str], Callable[[tuple[Any, ...]], bool] | bool] = {}
    for nir, ins, ref, role, contract, start, end, incident, finding, named, blanket in rows:
        pair = (ins, ref)
        entry = held.get(pair)
        if entry is None:
            entry = held[pair] = (role, {})
        if nir is not None:
            by_nir.setdefault(nir, []).append(pair)
        answers = entry[1]
        if incident is None or incident in answers:  # no incident yet; or found twice
            continue
        status = finding
        if status is None:  # no finding: the insurer's status and scope decide
            rule = rules.get((incident, ins))
            if rule is None:
                rule = rules[(incident, ins)] = _scope_rule(found[incident].view, ins)
            matched = rule if isinstance(rule, bool) else rule((contract, role, start, end))
            status = "presumed" if matched else "not-affected"
        told = named if blanket is None or (named is not None and named > blanket) else blanket
        key = (incident, ins, status, told)
        part = parts.get(key)
        if part is None:
            fields = found[incident].view.exposed_fields(ins) if status in AFFECTED else []
            part = parts[key] = IncidentAnswer(
                incident=incident,
                status=status,
                fields=fields,
                implied=implied(fields),
                notified_at=iso_utc(from_micros(int(told))) if told is not None else None,
            )
        answers[incident] = part
    return held, by_nir


async def moments(db: Db, h: Horizon) -> dict[str, Moment]:
    """Every incident visible at `h` with its view, and the views its blanket notices need."""
    found: dict[str, Moment] = {}
    for incident in await incidents(db, h):
        view = await incident_view(db, incident, h)
        notices: list[tuple[str, int, Horizon]] = []
        then: dict[int, IncidentView] = {}
        named: set[str] = set()
        for notice_insurer, occurred_on, _, refs in view.member_notices:
            if refs is not None:  # a notice naming refs (kept apart from its body: `()` here) covers those only
                named.add(notice_insurer)
                continue
            at = await _horizon_at(db, occurred_on, h)
            notices.append((notice_insurer, at.known_us, at))
            if at.known_us not in then:
                then[at.known_us] = await incident_view(db, incident, at)
        findings = await db.execute_fetchall(_FINDINGS_SQL, {"incident": incident, **h.params()})
        found[incident] = Moment(view, tuple(notices), then, frozenset(named), frozenset(str(r[0]) for r in findings))
    return found


_FINDINGS_SQL: Final = f"""SELECT DISTINCT insurer FROM facts f
WHERE incident = :incident AND kind IN ('members-confirmed-affected', 'members-ruled-out') AND {visible("f")}"""
"""The insurers with a member-level finding visible at the horizon (their members have finding rows)."""


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
