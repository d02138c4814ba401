"""The notification to the supervisory authority (GDPR Art. 33(3)), drafted from the facts.

`draft` is a pure function of what the ledger knew about one controller in one incident
(`Known`, gathered by `projections.notify`), the deadline rule and, for a complementary
notification (Art. 33(4)), what was known when the controller last notified. It returns the
draft as a frozen `domain.drafts.Draft`: every statement carries the ids of the facts behind it, and
`gaps` names what a person must still fill in. The wording (French or English) is the
renderer's (`cli/commands/notify.py`); the consequences come from `domain.consequences`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Literal

from domain.answers import Diff
from domain.categories import implied
from domain.consequences import likely
from domain.drafts import (
    Categories,
    CategoryMoved,
    Changes,
    Consequence,
    Counts,
    CountsMoved,
    DataSubjects,
    Draft,
    MeasureStated,
    Nature,
    Previous,
    Timing,
)
from domain.obligations import Rule, status
from domain.times import iso_utc

Phase = Literal["initial", "complementary"]
PHASES: Final = ("initial", "complementary")

GAPS: Final = ("contact", "data_subjects", "delay_reason", "measures", "previous_reference")
"""What a draft may leave to a person: no DPO contact recorded, no member counts (no roster),
a late notification without the reasons for the delay, no measure recorded, a complementary
notification whose earlier one has no reference."""

COUNT_KEYS: Final = ("people", "memberships", "holders", "dependants", "confirmed", "presumed")


@dataclass(frozen=True, slots=True)
class Notice:
    """An `authority-notified` fact of the controller."""

    id: str
    occurred_on: datetime
    known_on: datetime
    phase: str | None
    reference: str | None
    note: str | None


@dataclass(frozen=True, slots=True)
class Measure:
    """A `measure-taken` fact of the incident (incident-wide or the controller's own)."""

    id: str
    text: str
    kind: str | None
    known_on: datetime
    occurred_on: datetime
    insurer: str | None


@dataclass(frozen=True, slots=True)
class Contact:
    """The latest `insurer-described` fact of the controller."""

    id: str
    dpo_contact: str | None
    name: str | None
    country: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Known:
    """What the ledger knew about one controller in one incident at one horizon."""

    incident: str
    insurer: str
    as_known_on: datetime
    name: str | None
    operator: str | None
    title: str | None
    attack_began: datetime | None
    discovered: datetime | None
    opened_by: str | None
    aware_at: datetime | None
    aware_because: str | None
    insurer_status: str
    status_because: str | None
    scope_because: str | None
    estimate: int | None
    counts: dict[str, int]
    counts_because: tuple[str, ...]
    fields: dict[str, tuple[str, str]]
    """category -> (status, id of the fact behind it), for every category with a ruling."""
    notices: tuple[Notice, ...]
    measures: tuple[Measure, ...]
    contact: Contact | None
    labels: dict[str, str] = field(default_factory=dict)
    """Labels of categories defined in the ledger (built-in ones are the renderer's)."""

    def with_status(self, wanted: str) -> list[str]:
        """Sorted categories whose status is `wanted`."""
        return sorted(c for c, (s, _) in self.fields.items() if s == wanted)

    def field_ids(self, categories: list[str] | tuple[str, ...] | frozenset[str]) -> list[str]:
        """The ids of the facts behind these categories' statuses."""
        return sorted({self.fields[c][1] for c in categories if c in self.fields})


def previous_notice(known: Known) -> Notice | None:
    """The controller's latest notification to the authority, as known (later known_on wins)."""
    return max(known.notices, key=lambda n: (n.known_on, n.occurred_on), default=None)


def _timing(known: Known, rule: Rule) -> Timing:
    first = min(known.notices, key=lambda n: (n.occurred_on, n.known_on), default=None)
    aware = [known.aware_because] if known.aware_because else []
    notified = [first.id] if first else []
    because = sorted(aware + notified)
    if known.aware_at is None:
        return Timing(aware_because=aware, notified_because=notified, because=because)
    deadline = rule.deadline(known.aware_at)
    state = status(deadline, first.occurred_on if first else None, known.as_known_on)
    return Timing(
        aware_at=iso_utc(known.aware_at),
        deadline=iso_utc(deadline),
        status=state,
        notified_at=iso_utc(first.occurred_on) if first else None,
        delay_reason=first.note if first is not None and state == "late" else None,
        aware_because=aware,
        notified_because=notified,
        because=because,
    )


def _counts(known: Known) -> dict[str, int]:
    """The controller's counts under `COUNT_KEYS` (0 for a count the ledger has not)."""
    return {k: known.counts.get(k, 0) for k in COUNT_KEYS}


def _data_subjects(known: Known) -> DataSubjects:
    return DataSubjects(**_counts(known), estimate=known.estimate, because=sorted(set(known.counts_because)))


def _categories(known: Known) -> Categories:
    exposed, suspected, ruled_out = (known.with_status(s) for s in ("exposed", "suspected", "ruled-out"))
    return Categories(
        exposed=exposed,
        implied=implied(exposed),
        suspected=suspected,
        ruled_out=ruled_out,
        because=known.field_ids(exposed + suspected + ruled_out),
        rulings={c: fact_id for c, (_, fact_id) in sorted(known.fields.items())},
    )


def _consequences(known: Known) -> list[Consequence]:
    found = likely(known.with_status("exposed"), known.with_status("suspected"))
    return [
        Consequence(
            id=item.consequence.id,
            categories=sorted(item.consequence.categories),
            status=item.status,
            text=item.consequence.en,
            text_fr=item.consequence.fr,
            because=known.field_ids(item.consequence.categories),
        )
        for item in found
    ]


def _measures(known: Known) -> list[MeasureStated]:
    return [
        MeasureStated(
            id=m.id,
            text=m.text,
            kind=m.kind,
            known_on=iso_utc(m.known_on),
            occurred_on=iso_utc(m.occurred_on),
            insurer=m.insurer,
        )
        for m in sorted(known.measures, key=lambda m: (m.occurred_on, m.known_on, m.id))
    ]


def _changes(known: Known, before: Known, diff: Diff) -> Changes:
    """What is new since `before`: `diff`'s answer and this controller's own changes."""
    categories = []
    for category in sorted(set(known.fields) | set(before.fields)):
        was = before.fields.get(category, ("unknown", ""))[0]
        now, because = known.fields.get(category, ("unknown", ""))
        if was != now:
            categories.append(
                CategoryMoved(category=category, before=was, after=now, because=[because] if because else [])
            )
    counts_before, counts_after = Counts(**_counts(before)), Counts(**_counts(known))
    old_measures = {m.id for m in before.measures}
    old_consequences = {(c.id, c.status) for c in _consequences(before)}
    contact_before = before.contact.dpo_contact if before.contact else None
    contact_after = known.contact.dpo_contact if known.contact else None
    return Changes(
        incident=diff.incident,
        start=diff.start,
        end=diff.end,
        as_recorded_at=diff.as_recorded_at,
        insurers=diff.insurers,
        fields=diff.fields,
        members=diff.members,
        categories=categories,
        data_subjects=None if counts_before == counts_after else CountsMoved(before=counts_before, after=counts_after),
        measures=sorted(m.id for m in known.measures if m.id not in old_measures),
        consequences=[c.id for c in _consequences(known) if (c.id, c.status) not in old_consequences],
        contact=contact_after if contact_after != contact_before else None,
    )


def draft(known: Known, rule: Rule, phase: Phase, before: Known | None = None, diff: Diff | None = None) -> Draft:
    """The Art. 33(3) draft (`changes` only for a complementary notification, from `before`,
    the controller as known when it last notified, and `diff`, the `diff` answer since then)."""
    timing = _timing(known, rule)
    nature = Nature(
        operator=known.operator,
        title=known.title,
        attack_began=iso_utc(known.attack_began) if known.attack_began else None,
        discovered=iso_utc(known.discovered) if known.discovered else None,
        because=[known.opened_by] if known.opened_by else [],
    )
    subjects = _data_subjects(known)
    categories = _categories(known)
    measures = _measures(known)
    previous = previous_notice(known) if phase == "complementary" else None
    changes = _changes(known, before, diff) if phase == "complementary" and before and diff else None
    contact = known.contact.dpo_contact if known.contact else None
    gaps = []
    if contact is None:
        gaps.append("contact")
    if known.counts.get("memberships", 0) == 0:
        gaps.append("data_subjects")
    if timing.status in ("late", "overdue") and not timing.delay_reason:
        gaps.append("delay_reason")
    if not measures:
        gaps.append("measures")
    if phase == "complementary" and (previous is None or not previous.reference):
        gaps.append("previous_reference")
    because = set(timing.because) | set(nature.because) | set(subjects.because) | set(categories.because)
    because |= {m.id for m in measures}
    if known.contact:
        because.add(known.contact.id)
    if previous:
        because.add(previous.id)
    if changes:
        because |= {i for c in changes.categories for i in c.because}
    return Draft(
        incident=known.incident,
        insurer=known.insurer,
        name=(known.contact.name if known.contact and known.contact.name else None) or known.name,
        phase=phase,
        as_known_on=iso_utc(known.as_known_on),
        rules=rule.id,
        insurer_status=known.insurer_status,
        aware_at=timing.aware_at,
        deadline=timing.deadline,
        status=timing.status,
        timing=timing,
        nature=nature,
        data_subjects=subjects,
        categories=categories,
        consequences=_consequences(known),
        measures=measures,
        contact=contact,
        contact_because=[known.contact.id] if known.contact else [],
        previous=None
        if previous is None
        else Previous(
            id=previous.id,
            notified_at=iso_utc(previous.occurred_on),
            known_on=iso_utc(previous.known_on),
            phase=previous.phase,
            reference=previous.reference,
        ),
        changes=changes,
        because=sorted(because),
        gaps=sorted(gaps),
    )
