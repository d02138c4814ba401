"""SPEC §5 for one incident, folded from visible facts (pure: no store).

Later `known_on` wins; on a tie, the later append position.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime

import pytest

from domain.derive import Scope, Visible, derive
from domain.facts import (
    AttackDiscovered,
    Fact,
    FieldRuledIn,
    FieldRuledOut,
    FieldSuspected,
    InsurerConfirmedAffected,
    InsurerInformed,
    InsurerRuledOut,
    ScopeDefined,
)
from tests.support import INCIDENT

_IDS = itertools.count(1)


def on(day: int, hour: int = 9) -> datetime:
    """A time in February 2024."""
    return datetime(2024, 2, day, hour, tzinfo=UTC)


def common(day: int, fact_id: str | None = None) -> dict[str, object]:
    return {"id": fact_id or f"f{next(_IDS)}", "known_on": on(day), "occurred_on": on(day), "by": "tester"}


def visible(*facts: Fact) -> list[Visible]:
    """Facts at positions 1, 2, 3, ... in the order given."""
    return [Visible(position, item) for position, item in enumerate(facts, start=1)]


def affected(insurer: str, day: int, fact_id: str | None = None) -> InsurerConfirmedAffected:
    return InsurerConfirmedAffected(**common(day, fact_id), incident=INCIDENT, insurer=insurer)


def ruled_out(insurer: str, day: int, fact_id: str | None = None) -> InsurerRuledOut:
    return InsurerRuledOut(**common(day, fact_id), incident=INCIDENT, insurer=insurer)


def field(kind: type[Fact], day: int, *categories: str, insurer: str | None = None, fact_id: str | None = None) -> Fact:
    return kind(**common(day, fact_id), incident=INCIDENT, categories=categories, insurer=insurer)


# -- insurers -------------------------------------------------------------------------


def test_an_insurer_nobody_spoke_of_is_unknown():
    assert derive(INCIDENT, []).insurer_status("mh") == "unknown"


def test_an_informed_insurer_is_informed_until_a_ruling():
    informed = InsurerInformed(**common(1), incident=INCIDENT, insurer="mh", name="Malakoff Humanis")

    view = derive(INCIDENT, visible(informed))

    assert view.insurer_status("mh") == "informed"
    assert view.names["mh"] == "Malakoff Humanis"
    assert view.informed_at["mh"] == on(1)


def test_the_later_of_affected_and_ruled_out_wins():
    view = derive(INCIDENT, visible(affected("mh", 1), ruled_out("mh", 5)))

    assert view.insurer_status("mh") == "ruled-out"


def test_a_later_known_on_wins_even_when_appended_earlier():
    late_entry = affected("mh", 1, "back-dated")

    view = derive(INCIDENT, visible(ruled_out("mh", 5, "ruling"), late_entry))

    assert view.insurers["mh"].fact_id == "ruling"
    assert view.insurer_status("mh") == "ruled-out"


def test_a_tie_on_known_on_is_broken_by_append_order():
    first, second = affected("mh", 3, "first"), ruled_out("mh", 3, "second")

    assert derive(INCIDENT, visible(first, second)).insurer_status("mh") == "ruled-out"
    assert derive(INCIDENT, visible(second, first)).insurer_status("mh") == "affected"


def test_the_incident_records_its_operator_and_start():
    opened = AttackDiscovered(**common(1, "open"), incident=INCIDENT, operator="Viamedis", title="Scraping")

    view = derive(INCIDENT, visible(opened))

    assert (view.operator, view.title, view.attack_began, view.opened_by) == ("Viamedis", "Scraping", on(1), "open")


# -- fields ---------------------------------------------------------------------------


def test_an_insurer_scoped_ruling_overrides_the_incident_wide_one_whatever_their_order():
    scoped = field(FieldRuledIn, 2, "health", insurer="mh", fact_id="mh-health")
    wide = field(FieldRuledOut, 7, "health", fact_id="no-health")

    view = derive(INCIDENT, visible(scoped, wide))

    assert view.field_status("mh", "health") == "exposed"
    assert view.field_ruling("mh", "health").fact_id == "mh-health"
    assert view.field_status("alan", "health") == "ruled-out"
    assert view.field_status(None, "health") == "ruled-out"


def test_a_field_nobody_spoke_of_is_unknown():
    assert derive(INCIDENT, []).field_status("mh", "bank") == "unknown"


@pytest.mark.parametrize(
    ("kind", "status"), [(FieldSuspected, "suspected"), (FieldRuledIn, "exposed"), (FieldRuledOut, "ruled-out")]
)
def test_each_field_fact_gives_its_status(kind, status):
    assert derive(INCIDENT, visible(field(kind, 1, "phone"))).field_status("mh", "phone") == status


def test_a_tie_on_field_rulings_is_broken_by_append_order():
    view = derive(INCIDENT, visible(field(FieldRuledIn, 2, "phone"), field(FieldRuledOut, 2, "phone")))

    assert view.field_status(None, "phone") == "ruled-out"


def test_summary_fields_are_incident_wide_while_no_insurer_is_affected():
    view = derive(
        INCIDENT,
        visible(field(FieldRuledIn, 1, "nir"), field(FieldSuspected, 1, "email"), field(FieldRuledOut, 1, "bank")),
    )

    assert view.summary_fields() == {"exposed": ["nir"], "ruled_out": ["bank"], "suspected": ["email"]}


def test_summary_fields_look_at_every_affected_insurer():
    view = derive(
        INCIDENT,
        visible(
            affected("mh", 1),
            affected("alan", 1),
            field(FieldRuledOut, 1, "health", "bank", "phone"),
            field(FieldRuledIn, 8, "health", insurer="mh"),  # exposed for one insurer: exposed
            field(FieldSuspected, 8, "phone", insurer="alan"),  # suspected for one, exposed nowhere
        ),
    )

    assert view.summary_fields() == {"exposed": ["health"], "ruled_out": ["bank"], "suspected": ["phone"]}
    assert view.exposed_fields("mh") == ["health"]
    assert view.exposed_fields("alan") == []


# -- scopes ---------------------------------------------------------------------------


def test_the_latest_scope_replaces_the_earlier_one():
    first = ScopeDefined(**common(2, "wide"), incident=INCIDENT, insurer="mh", contracts=("A", "B"))
    second = ScopeDefined(**common(8, "narrow"), incident=INCIDENT, insurer="mh", contracts=("B",))

    assert derive(INCIDENT, visible(second, first)).scopes["mh"].fact_id == "narrow"


PERIOD = Scope("s", None, None, date(2024, 1, 1), date(2024, 1, 26))


@pytest.mark.parametrize(
    ("start", "end", "matches"),
    [
        (date(2023, 1, 1), date(2023, 12, 31), False),  # ended before the period
        (date(2023, 1, 1), date(2024, 1, 1), True),  # ends on its first day
        (date(2024, 1, 10), date(2024, 1, 12), True),  # inside
        (date(2024, 1, 26), None, True),  # starts on its last day, open-ended
        (date(2024, 1, 27), None, False),  # starts after it
        (None, date(2023, 12, 31), False),  # open start, ended before
        (None, None, True),  # no period at all
    ],
)
def test_membership_periods_match_when_they_overlap_the_scope(start, end, matches):
    assert PERIOD.matches(None, None, start, end) is matches


def test_an_open_ended_scope_matches_every_later_membership():
    since = Scope("s", None, None, date(2024, 1, 1), None)

    assert since.matches(None, None, date(2030, 1, 1), None)
    assert not since.matches(None, None, None, date(2023, 12, 31))


def test_contracts_and_roles_must_all_match():
    scope = Scope("s", ("A",), ("holder",), None, None)

    assert scope.matches("A", "holder", None, None)
    assert not scope.matches("B", "holder", None, None)
    assert not scope.matches("A", "dependant", None, None)
    assert not scope.matches("A", None, None, None)
