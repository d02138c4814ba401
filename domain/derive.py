"""SPEC §5 for one incident: statuses derived from the facts visible at a horizon.

The read side selects, with indexed queries, the facts visible "as known on X"
(and "as recorded at Y") for an incident; `derive` turns them into answers.
Between facts on the same subject the later `known_on` wins, and on a tie the
later append: facts are folded in (known_on, position) order, so the last
write on each subject is the answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime

from domain import scope
from domain.facts import (
    FIELD_STATUS,
    AttackDiscovered,
    AuthorityNotified,
    Fact,
    FieldRuledIn,
    FieldRuledOut,
    FieldSuspected,
    InsurerConfirmedAffected,
    InsurerInformed,
    InsurerRuledOut,
    MembersNotified,
    ScopeDefined,
)


@dataclass(frozen=True, slots=True)
class Visible:
    """A fact visible at the horizon, with its append position."""

    position: int
    fact: Fact


@dataclass(frozen=True, slots=True)
class Ruling:
    """A derived status and the fact behind it."""

    status: str
    fact_id: str


@dataclass(frozen=True, slots=True)
class Scope:
    """Which of an insurer's members are exposed (None: no criterion)."""

    fact_id: str
    contracts: tuple[str, ...] | None
    roles: tuple[str, ...] | None
    enrolled_from: date | None
    enrolled_until: date | None

    def matches(self, contract: str | None, role: str | None, start: date | None, end: date | None) -> bool:
        """True when the member matches every given criterion (`domain.scope.RULE`)."""
        given = {
            "contracts": self.contracts,
            "roles": self.roles,
            "enrolled_from": self.enrolled_from,
            "enrolled_until": self.enrolled_until,
        }
        return scope.predicate(given)((contract, role, start, end))


@dataclass
class IncidentView:
    """Everything SPEC §5 derives for one incident, except member rows."""

    incident: str
    operator: str | None = None
    title: str | None = None
    attack_began: datetime | None = None
    opened_by: str | None = None
    insurers: dict[str, Ruling] = field(default_factory=dict)
    informed: dict[str, Ruling] = field(default_factory=dict)
    informed_at: dict[str, datetime] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    estimates: dict[str, int] = field(default_factory=dict)
    incident_fields: dict[str, Ruling] = field(default_factory=dict)
    insurer_fields: dict[str, dict[str, Ruling]] = field(default_factory=dict)
    scopes: dict[str, Scope] = field(default_factory=dict)
    authority_notices: list[tuple[str | None, datetime, str]] = field(default_factory=list)
    member_notices: list[tuple[str, datetime, str, tuple[str, ...] | None]] = field(default_factory=list)
    categories: set[str] = field(default_factory=set)

    def insurer_status(self, insurer: str) -> str:
        """`affected`, `ruled-out`, `informed` or `unknown`."""
        ruling = self.insurers.get(insurer)
        if ruling is not None:
            return ruling.status
        return "informed" if insurer in self.informed else "unknown"

    def field_ruling(self, insurer: str | None, category: str) -> Ruling | None:
        """The insurer-scoped ruling if any, else the incident-wide one."""
        if insurer is not None:
            scoped = self.insurer_fields.get(insurer, {}).get(category)
            if scoped is not None:
                return scoped
        return self.incident_fields.get(category)

    def field_status(self, insurer: str | None, category: str) -> str:
        """`exposed`, `ruled-out`, `suspected` or `unknown`."""
        ruling = self.field_ruling(insurer, category)
        return ruling.status if ruling else "unknown"

    def exposed_fields(self, insurer: str | None) -> list[str]:
        """Sorted categories exposed for the insurer (or incident-wide)."""
        return sorted(c for c in self.categories if self.field_status(insurer, c) == "exposed")

    def affected_insurers(self) -> list[str]:
        """Sorted insurers whose status is `affected`."""
        return sorted(i for i, r in self.insurers.items() if r.status == "affected")

    def summary_fields(self) -> dict[str, list[str]]:
        """Incident-wide fields: exposed somewhere, ruled out everywhere, suspected but nowhere exposed.

        The places are the affected insurers, or the incident-wide level when none is affected.
        """
        places: list[str | None] = list(self.affected_insurers()) or [None]
        exposed, ruled_out, suspected = [], [], []
        for category in sorted(self.categories):
            statuses = [self.field_status(place, category) for place in places]
            if "exposed" in statuses:
                exposed.append(category)
            elif "suspected" in statuses:
                suspected.append(category)
            elif all(s == "ruled-out" for s in statuses):
                ruled_out.append(category)
        return {"exposed": exposed, "ruled_out": ruled_out, "suspected": suspected}


def ordered(facts: Iterable[Visible]) -> list[Visible]:
    """Facts in the order in which later ones win: (known_on, position)."""
    return sorted(facts, key=lambda v: (v.fact.known_on, v.position))


def derive(incident: str, facts: Iterable[Visible]) -> IncidentView:
    """Fold the visible facts of one incident into its derived state."""
    view = IncidentView(incident=incident)
    for item in ordered(facts):
        _apply(view, item.fact)
    return view


def _apply(view: IncidentView, fact: Fact) -> None:
    if isinstance(fact, AttackDiscovered):
        view.operator, view.title = fact.operator, fact.title
        view.attack_began, view.opened_by = fact.occurred_on, fact.id
    elif isinstance(fact, InsurerInformed):
        view.informed[fact.insurer] = Ruling("informed", fact.id)
        earliest = view.informed_at.get(fact.insurer)
        if earliest is None or fact.occurred_on < earliest:
            view.informed_at[fact.insurer] = fact.occurred_on
        if fact.name:
            view.names[fact.insurer] = fact.name
    elif isinstance(fact, InsurerConfirmedAffected):
        view.insurers[fact.insurer] = Ruling("affected", fact.id)
        if fact.name:
            view.names[fact.insurer] = fact.name
        if fact.estimate is not None:
            view.estimates[fact.insurer] = fact.estimate
    elif isinstance(fact, InsurerRuledOut):
        view.insurers[fact.insurer] = Ruling("ruled-out", fact.id)
    elif isinstance(fact, ScopeDefined):
        view.scopes[fact.insurer] = Scope(fact.id, fact.contracts, fact.roles, fact.enrolled_from, fact.enrolled_until)
    elif isinstance(fact, FieldSuspected | FieldRuledIn | FieldRuledOut):
        ruling = Ruling(FIELD_STATUS[type(fact)], fact.id)
        target = view.insurer_fields.setdefault(fact.insurer, {}) if fact.insurer else view.incident_fields
        for category in fact.categories:
            target[category] = ruling
            view.categories.add(category)
    elif isinstance(fact, AuthorityNotified):
        view.authority_notices.append((fact.insurer, fact.occurred_on, fact.id))
    elif isinstance(fact, MembersNotified):
        view.member_notices.append((fact.insurer, fact.occurred_on, fact.id, fact.refs))
