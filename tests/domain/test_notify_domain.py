"""The pure rules of the notifications: consequences as data, gaps, complementary changes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import msgspec

from domain.answers import Diff, FieldChanges, InsurerChanges, MemberChanges
from domain.consequences import CONSEQUENCES, likely
from domain.drafts import CategoryMoved
from domain.notify import Contact, Known, Measure, Notice, draft, previous_notice
from domain.obligations import rule

AWARE = datetime(2024, 1, 30, 9, tzinfo=UTC)
GDPR = rule("gdpr-72h")
NO_CHANGE = Diff(
    incident="viamedis-2024-01",
    start="2024-02-01T22:59:59.999999Z",
    end="2024-02-07T22:59:59.999999Z",
    insurers=InsurerChanges(newly_affected=[], newly_ruled_out=[]),
    fields=FieldChanges(newly_exposed=[], newly_ruled_out=[]),
    members=MemberChanges(newly_affected=0, no_longer_affected=0, fields_changed=0),
)
"""The `diff` answer of a complementary draft where no member changed."""


def known(**changes: object) -> Known:
    base = Known(
        incident="viamedis-2024-01",
        insurer="mh",
        as_known_on=datetime(2024, 2, 1, 23, tzinfo=UTC),
        name="Malakoff Humanis",
        operator="Viamedis",
        title=None,
        attack_began=datetime(2024, 1, 22, tzinfo=UTC),
        discovered=datetime(2024, 1, 29, 14, tzinfo=UTC),
        opened_by="open",
        aware_at=AWARE,
        aware_because="informed",
        insurer_status="affected",
        status_because="affected",
        scope_because=None,
        estimate=None,
        counts={"people": 9, "memberships": 10, "holders": 6, "dependants": 4, "confirmed": 0, "presumed": 10},
        counts_because=("affected",),
        fields={
            "nir": ("exposed", "in"),
            "civil_status": ("exposed", "in"),
            "birth_date": ("exposed", "in"),
            "health": ("ruled-out", "out"),
        },
        notices=(),
        measures=(),
        contact=None,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_a_consequence_is_likely_when_all_its_categories_are_exposed_and_possible_when_some_are_suspected():
    found = {item.consequence.id: item.status for item in likely(["nir", "civil_status"], ["birth_date", "bank"])}

    assert found["identity-theft"] == "suspected"
    assert found["nir-permanent"] == "exposed"
    assert found["financial-fraud"] == "suspected"
    assert "health-disclosure" not in found


def test_every_consequence_has_both_texts_and_known_categories():
    from domain.categories import BUILT_IN_NAMES  # noqa: PLC0415

    assert len({c.id for c in CONSEQUENCES}) == len(CONSEQUENCES)
    for entry in CONSEQUENCES:
        assert entry.categories <= BUILT_IN_NAMES
        assert entry.fr
        assert entry.en != entry.fr


def test_an_initial_draft_without_contact_measures_or_notification_names_its_gaps():
    found = draft(known(as_known_on=datetime(2024, 2, 5, tzinfo=UTC)), GDPR, "initial")

    assert found.status == "overdue"
    assert found.gaps == ["contact", "delay_reason", "measures"]
    assert found.categories.exposed == ["birth_date", "civil_status", "nir"]
    assert found.categories.because == ["in", "out"]


def test_a_late_notification_with_a_note_gives_the_reason_for_the_delay():
    late = Notice(
        "cnil",
        datetime(2024, 2, 4, tzinfo=UTC),
        datetime(2024, 2, 4, tzinfo=UTC),
        "initial",
        "R-1",
        "forensic report awaited",
    )

    found = draft(known(notices=(late,), as_known_on=datetime(2024, 2, 5, tzinfo=UTC)), GDPR, "initial")

    assert found.status == "late"
    assert found.timing.delay_reason == "forensic report awaited"
    assert "delay_reason" not in found.gaps
    assert found.timing.because == ["cnil", "informed"]


def test_a_complementary_draft_lists_only_what_changed_since_the_last_notification():
    first = Notice("cnil-1", datetime(2024, 2, 1, tzinfo=UTC), datetime(2024, 2, 1, tzinfo=UTC), "initial", "R-1", None)
    measure = Measure(
        "reset",
        "Accounts reset",
        "mitigation",
        datetime(2024, 2, 6, tzinfo=UTC),
        datetime(2024, 2, 6, tzinfo=UTC),
        "mh",
    )
    before = known(notices=(first,))
    now = known(
        notices=(first,),
        measures=(measure,),
        fields={**before.fields, "health": ("suspected", "press")},
        contact=Contact("desc", "dpo@mh.example", None, "FR"),
    )

    found = draft(now, GDPR, "complementary", before, NO_CHANGE)

    assert previous_notice(now) == first
    assert found.changes is not None
    assert found.changes.categories == [
        CategoryMoved(category="health", before="ruled-out", after="suspected", because=["press"])
    ]
    assert found.changes.measures == ["reset"]
    assert found.changes.consequences == ["health-disclosure"]
    assert found.changes.contact == "dpo@mh.example"
    assert found.changes.data_subjects is None
    assert found.changes.members == NO_CHANGE.members
    assert found.previous is not None
    assert found.previous.reference == "R-1"
    assert "previous_reference" not in found.gaps


def test_a_complementary_draft_starts_its_changes_with_the_diff_answer_in_its_json():
    first = Notice("cnil-1", datetime(2024, 2, 1, tzinfo=UTC), datetime(2024, 2, 1, tzinfo=UTC), "initial", "R-1", None)
    now = known(notices=(first,), counts={**known().counts, "people": 12, "memberships": 13})

    changes = msgspec.to_builtins(draft(now, GDPR, "complementary", known(notices=(first,)), NO_CHANGE))["changes"]

    assert list(changes) == [
        *msgspec.to_builtins(NO_CHANGE),
        "categories",
        "data_subjects",
        "measures",
        "consequences",
        "contact",
    ]
    assert changes["data_subjects"]["after"]["people"] == 12


def test_an_initial_draft_has_no_changes_even_with_a_diff():
    assert draft(known(), GDPR, "initial", known(), NO_CHANGE).changes is None
