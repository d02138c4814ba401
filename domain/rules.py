"""What the ledger's knowledge decides: may this batch of facts be appended?

`check` is a pure function of the batch and a `LedgerState` (what the ledger
knew before the batch). Facts earlier in the same batch count as known, so a
file may open an incident and then speak of it. Every problem is reported, one
line each, with its label (line or row number); a batch with any problem is
rejected whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import msgspec

from domain.categories import BUILT_IN_NAMES
from domain.errors import ConflictingFact, InvalidFact, LedgerError, UnknownReference
from domain.facts import (
    AttackDiscovered,
    CategoryDefined,
    Fact,
    FactRetracted,
    MembersConfirmedAffected,
    MembersEnrolled,
    MembersNotified,
    MembersRuledOut,
    ScopeDefined,
    incident_of,
    insurer_of,
    kind_of,
)
from domain.parse import DEFAULTED, Parsed

_NAMES_INSURER = ("insurer-informed", "insurer-confirmed-affected", "insurer-ruled-out", "members-enrolled")


@dataclass(frozen=True)
class Needs:
    """What `check` must know about the ledger to judge a batch."""

    fact_ids: frozenset[str]
    members: frozenset[tuple[str, str]]


@dataclass(frozen=True)
class LedgerState:
    """What the ledger knew before the batch (only the parts the batch refers to)."""

    incidents: frozenset[str] = frozenset()
    insurers: frozenset[str] = frozenset()
    categories: frozenset[str] = BUILT_IN_NAMES
    facts: Mapping[str, Fact] = field(default_factory=dict)
    enrolled: frozenset[tuple[str, str]] = frozenset()


def needs(batch: Iterable[Parsed]) -> Needs:
    """The fact ids and (insurer, ref) pairs a batch refers to."""
    ids: set[str] = set()
    members: set[tuple[str, str]] = set()
    for parsed in batch:
        fact = parsed.fact
        ids.add(fact.id)
        if isinstance(fact, FactRetracted):
            ids.add(fact.fact)
        refs = _member_refs(fact)
        if refs:
            insurer = insurer_of(fact) or ""
            members.update((insurer, ref) for ref in refs)
    return Needs(fact_ids=frozenset(ids), members=frozenset(members))


def check(batch: Sequence[Parsed], state: LedgerState, labels: Sequence[str] | None = None) -> list[Fact]:
    """The facts to append, in order, without exact re-imports; or `LedgerError` with every problem."""
    labels = labels if labels is not None else [f"fact {n}" for n in range(1, len(batch) + 1)]
    incidents = set(state.incidents)
    insurers = set(state.insurers)
    categories = set(state.categories)
    facts: dict[str, Fact] = dict(state.facts)
    enrolled = set(state.enrolled)
    accepted: list[Fact] = []
    problems: list[tuple[str, LedgerError]] = []
    # Rosters of thousands of members are learnt only when a fact of the batch names members.
    learnt = enrolled if any(_member_refs(parsed.fact) for parsed in batch) else None
    for label, parsed in zip(labels, batch, strict=True):
        fact = parsed.fact
        try:
            if fact.id in facts:
                if not same_content(facts[fact.id], parsed):
                    raise ConflictingFact(f"id {fact.id!r} is already used by a different fact")
                continue
            _check_references(fact, incidents, insurers, categories, facts, enrolled)
        except LedgerError as problem:
            problems.append((label, problem))
            continue
        accepted.append(fact)
        facts[fact.id] = fact
        _learn(fact, incidents, insurers, categories, learnt)
    if problems:
        first_type = type(problems[0][1])
        raise first_type(*(f"{label}: {problem}" if label else str(problem) for label, problem in problems))
    return accepted


def same_content(stored: Fact, new: Parsed) -> bool:
    """True when `new` is a re-import of `stored`: equal on every key except the
    ledger's own `recorded_at` and the defaults (`known_on`, ...) `new` did not give."""
    if type(stored) is not type(new.fact):
        return False
    for name in stored.__struct_fields__:
        if name == "recorded_at":
            continue
        if name in DEFAULTED and name not in new.given:
            continue
        if not _same_value(getattr(stored, name), getattr(new.fact, name)):
            return False
    return True


def _same_value(stored: object, new: object) -> bool:
    """Equal values; a member list given as its JSON (`msgspec.Raw`: a roster import writes
    the check's JSON as it is) equals the members it encodes."""
    if isinstance(new, msgspec.Raw) or isinstance(stored, msgspec.Raw):
        return bool(msgspec.json.encode(stored) == msgspec.json.encode(new))
    return stored == new


def _check_references(
    fact: Fact,
    incidents: set[str],
    insurers: set[str],
    categories: set[str],
    facts: Mapping[str, Fact],
    enrolled: set[tuple[str, str]],
) -> None:
    incident = incident_of(fact)
    if incident is not None and not isinstance(fact, AttackDiscovered) and incident not in incidents:
        raise UnknownReference(f"unknown incident {incident!r}: record its attack-discovered fact first")
    insurer = insurer_of(fact)
    if insurer is not None and kind_of(fact) not in _NAMES_INSURER and insurer not in insurers:
        raise UnknownReference(f"unknown insurer {insurer!r}: no earlier fact names it")
    unknown = [c for c in getattr(fact, "categories", None) or () if c not in categories]
    if unknown:
        raise UnknownReference(f"unknown categor{'ies' if len(unknown) > 1 else 'y'} {', '.join(map(repr, unknown))}")
    if isinstance(fact, CategoryDefined) and fact.category in categories:
        raise ConflictingFact(f"category {fact.category!r} is already defined")
    refs = _member_refs(fact)
    if refs:
        missing = [ref for ref in refs if (insurer or "", ref) not in enrolled]
        if missing:
            shown = ", ".join(map(repr, missing[:5])) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            raise UnknownReference(
                f"member ref{'s' if len(missing) > 1 else ''} {shown} not enrolled for insurer {insurer!r}"
            )
    if isinstance(fact, FactRetracted):
        target = facts.get(fact.fact)
        if target is None:
            raise UnknownReference(f"cannot retract {fact.fact!r}: no such fact")
        if isinstance(target, FactRetracted):
            raise ConflictingFact(f"cannot retract {fact.fact!r}: it is itself a retraction")
    if isinstance(fact, ScopeDefined) and not (
        fact.contracts or fact.roles or fact.enrolled_from or fact.enrolled_until
    ):
        raise InvalidFact("scope-defined needs at least one of contracts, roles, enrolled_from, enrolled_until")


def _learn(
    fact: Fact,
    incidents: set[str],
    insurers: set[str],
    categories: set[str],
    enrolled: set[tuple[str, str]] | None,
) -> None:
    if isinstance(fact, AttackDiscovered):
        incidents.add(fact.incident)
    if kind_of(fact) in _NAMES_INSURER:
        insurer = insurer_of(fact)
        if insurer is not None:
            insurers.add(insurer)
    if isinstance(fact, CategoryDefined):
        categories.add(fact.category)
    if enrolled is not None and isinstance(fact, MembersEnrolled):
        enrolled.update((fact.insurer, m.ref) for m in fact.members)


def _member_refs(fact: Fact) -> tuple[str, ...]:
    if isinstance(fact, MembersConfirmedAffected | MembersRuledOut | MembersNotified):
        return fact.refs or ()
    return ()
