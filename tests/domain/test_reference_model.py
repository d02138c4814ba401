"""The reference model of SPEC §5 answers the Viamedis story the way the SPEC says."""

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest

from tests.support.reference_model import ReferenceModel

VIAMEDIS = "viamedis-2024-01"
ALMERYS = "almerys-2024-02"
MALAKOFF = "malakoff-humanis"
HARMONIE = "harmonie-mutuelle"
MGEN = "mgen"
RECORDING_STARTS = datetime(2024, 3, 1, tzinfo=UTC)


def known(moment: str) -> datetime:
    """A known_on: a date means the start of that day, in UTC."""
    parsed = datetime.fromisoformat(moment)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def on(day: str) -> datetime:
    """As known on a date: the end of that day, in UTC."""
    return datetime.combine(date.fromisoformat(day), time.max, tzinfo=UTC)


def recorded(position: int) -> datetime:
    """The recorded_at the `ledger` helper gives the fact appended at `position`."""
    return RECORDING_STARTS + timedelta(hours=position)


def fact(kind: str, known_on: str, **keys: Any) -> dict[str, Any]:
    return {"kind": kind, "known_on": known(known_on), **keys}


def ledger(*facts: dict[str, Any]) -> ReferenceModel:
    """The facts appended in this order, with ids `fact-N` unless given."""
    return ReferenceModel(
        [
            {"id": f"fact-{position}", "recorded_at": recorded(position), **given, "position": position}
            for position, given in enumerate(facts, start=1)
        ]
    )


ATTACK = fact("attack-discovered", "2024-01-29", incident=VIAMEDIS, operator="viamedis", occurred_on=date(2024, 1, 29))


def enrolled(insurer: str, *members: dict[str, Any], known_on: str = "2024-01-01") -> dict[str, Any]:
    return fact("members-enrolled", known_on, insurer=insurer, members=list(members))


# -- which facts count -----------------------------------------------------------------


def test_fact_is_invisible_before_its_known_on() -> None:
    model = ledger(ATTACK, fact("insurer-informed", "2024-02-01", incident=VIAMEDIS, insurer=MALAKOFF))

    before = model.insurer_status(VIAMEDIS, MALAKOFF, on("2024-01-31"))
    after = model.insurer_status(VIAMEDIS, MALAKOFF, on("2024-02-01"))

    assert (before, after) == ("unknown", "informed")


def test_insurer_moves_from_informed_to_affected_to_ruled_out_as_knowledge_arrives() -> None:
    model = ledger(
        ATTACK,
        fact("insurer-informed", "2024-02-01", incident=VIAMEDIS, insurer=MALAKOFF),
        fact("insurer-confirmed-affected", "2024-02-02", incident=VIAMEDIS, insurer=MALAKOFF),
        fact("insurer-ruled-out", "2024-02-10", incident=VIAMEDIS, insurer=MALAKOFF),
    )

    answers = [model.insurer_status(VIAMEDIS, MALAKOFF, on(day)) for day in ("2024-02-01", "2024-02-02", "2024-02-10")]

    assert answers == ["informed", "affected", "ruled-out"]


def test_later_known_on_wins_over_a_later_append() -> None:
    model = ledger(
        ATTACK,
        fact("insurer-ruled-out", "2024-02-10", incident=VIAMEDIS, insurer=MALAKOFF),
        fact("insurer-confirmed-affected", "2024-02-02", incident=VIAMEDIS, insurer=MALAKOFF),
    )

    on_the_fifth = model.insurer_status(VIAMEDIS, MALAKOFF, on("2024-02-05"))
    on_the_tenth = model.insurer_status(VIAMEDIS, MALAKOFF, on("2024-02-10"))

    assert (on_the_fifth, on_the_tenth) == ("affected", "ruled-out")


def test_tie_on_known_on_is_broken_by_append_order() -> None:
    model = ledger(
        ATTACK,
        fact("insurer-confirmed-affected", "2024-02-02T09:00", incident=VIAMEDIS, insurer=MALAKOFF),
        fact("insurer-ruled-out", "2024-02-02T09:00", incident=VIAMEDIS, insurer=MALAKOFF),
        fact("field-ruled-out", "2024-02-02", incident=VIAMEDIS, categories=["nir"]),
        fact("field-ruled-in", "2024-02-02", incident=VIAMEDIS, categories=["nir"]),
    )

    status = model.insurer_status(VIAMEDIS, MALAKOFF, on("2024-02-02"))
    field = model.field_status(VIAMEDIS, MALAKOFF, "nir", on("2024-02-02"))

    assert (status, field) == ("ruled-out", "exposed")


def test_retraction_restores_the_earlier_ruling_from_its_known_date() -> None:
    model = ledger(
        ATTACK,
        fact("field-ruled-out", "2024-02-01", incident=VIAMEDIS, categories=["bank"]),
        fact("field-ruled-in", "2024-02-03", incident=VIAMEDIS, categories=["bank"], id="bank-in"),
        fact("fact-retracted", "2024-02-06", fact="bank-in", reason="misread communiqué"),
    )

    answers = [
        model.field_status(VIAMEDIS, MALAKOFF, "bank", on(day)) for day in ("2024-02-01", "2024-02-05", "2024-02-06")
    ]

    assert answers == ["ruled-out", "exposed", "ruled-out"]


def test_retraction_itself_stays_visible_and_hides_only_its_target() -> None:
    model = ledger(
        ATTACK,
        fact("insurer-informed", "2024-02-01", incident=VIAMEDIS, insurer=MALAKOFF, id="wrong"),
        fact("insurer-informed", "2024-02-01", incident=VIAMEDIS, insurer=HARMONIE, id="right"),
        fact("fact-retracted", "2024-02-02", fact="wrong", id="undo"),
    )

    ids = [visible["id"] for visible in model.visible(on("2024-02-02"))]

    assert ids == ["fact-1", "right", "undo"]


def test_late_entry_is_invisible_as_recorded_before_it() -> None:
    model = ledger(
        ATTACK,
        fact("insurer-informed", "2024-02-05", incident=VIAMEDIS, insurer=MALAKOFF),
        fact("insurer-confirmed-affected", "2024-02-02", incident=VIAMEDIS, insurer=MALAKOFF),
    )

    as_recorded_before = model.insurer_status(VIAMEDIS, MALAKOFF, on("2024-02-05"), recorded(2))
    as_recorded_after = model.insurer_status(VIAMEDIS, MALAKOFF, on("2024-02-05"), recorded(3))
    as_known_now = model.insurer_status(VIAMEDIS, MALAKOFF, on("2024-02-05"))

    assert (as_recorded_before, as_recorded_after, as_known_now) == ("informed", "affected", "affected")


def test_retraction_recorded_later_does_not_hide_its_target_as_recorded_before_it() -> None:
    model = ledger(
        ATTACK,
        fact("insurer-confirmed-affected", "2024-02-02", incident=VIAMEDIS, insurer=MALAKOFF, id="affected"),
        fact("fact-retracted", "2024-02-03", fact="affected"),
    )

    before_retraction_was_recorded = model.insurer_status(VIAMEDIS, MALAKOFF, on("2024-02-03"), recorded(2))
    after_it_was_recorded = model.insurer_status(VIAMEDIS, MALAKOFF, on("2024-02-03"), recorded(3))

    assert (before_retraction_was_recorded, after_it_was_recorded) == ("affected", "unknown")


# -- fields ----------------------------------------------------------------------------


def test_field_status_follows_the_latest_incident_wide_fact() -> None:
    model = ledger(
        ATTACK,
        fact("field-suspected", "2024-01-30", incident=VIAMEDIS, categories=["nir", "phone"]),
        fact("field-ruled-in", "2024-02-01", incident=VIAMEDIS, categories=["nir"]),
        fact("field-ruled-out", "2024-02-01", incident=VIAMEDIS, categories=["phone"]),
    )

    statuses = {
        category: model.field_status(VIAMEDIS, MALAKOFF, category, on("2024-02-01"))
        for category in ("nir", "phone", "email")
    }
    suspected_first = model.field_status(VIAMEDIS, MALAKOFF, "nir", on("2024-01-31"))

    assert statuses == {"nir": "exposed", "phone": "ruled-out", "email": "unknown"}
    assert suspected_first == "suspected"


def test_insurer_scoped_field_overrides_incident_wide() -> None:
    model = ledger(
        ATTACK,
        fact("field-ruled-out", "2024-02-01", incident=VIAMEDIS, categories=["postal_address"], insurer=MALAKOFF),
        fact("field-ruled-in", "2024-02-05", incident=VIAMEDIS, categories=["postal_address"]),
    )

    for_malakoff = model.field_status(VIAMEDIS, MALAKOFF, "postal_address", on("2024-02-05"))
    for_harmonie = model.field_status(VIAMEDIS, HARMONIE, "postal_address", on("2024-02-05"))

    assert (for_malakoff, for_harmonie) == ("ruled-out", "exposed")


def test_field_facts_of_another_incident_do_not_apply() -> None:
    model = ledger(
        ATTACK,
        fact("field-ruled-in", "2024-02-06", incident=ALMERYS, categories=["nir"]),
    )

    status = model.field_status(VIAMEDIS, MALAKOFF, "nir", on("2024-02-06"))

    assert status == "unknown"


# -- members ---------------------------------------------------------------------------


def test_re_enrolling_a_ref_replaces_its_attributes() -> None:
    model = ledger(
        enrolled(
            MALAKOFF, {"ref": "A1", "role": "holder", "contract": "santé-pro"}, {"ref": "A2", "role": "dependant"}
        ),
        enrolled(MALAKOFF, {"ref": "A1", "role": "dependant"}, known_on="2024-01-15"),
    )

    roster = model.members(MALAKOFF, on("2024-01-15"))
    earlier = model.members(MALAKOFF, on("2024-01-14"))

    assert roster == {"A1": {"ref": "A1", "role": "dependant"}, "A2": {"ref": "A2", "role": "dependant"}}
    assert earlier["A1"]["contract"] == "santé-pro"


def test_without_scope_every_member_of_an_affected_insurer_is_presumed() -> None:
    model = ledger(
        ATTACK,
        enrolled(MALAKOFF, {"ref": "A1"}, {"ref": "A2", "role": "dependant"}),
        fact("insurer-confirmed-affected", "2024-02-02", incident=VIAMEDIS, insurer=MALAKOFF),
    )

    statuses = [model.member_status(VIAMEDIS, MALAKOFF, ref, on("2024-02-02")) for ref in ("A1", "A2")]
    before = model.member_status(VIAMEDIS, MALAKOFF, "A1", on("2024-02-01"))

    assert statuses == ["presumed", "presumed"]
    assert before == "not-affected"


@pytest.mark.parametrize(
    ("member", "expected"),
    [
        ({"ref": "in", "role": "holder", "contract": "C1", "from": date(2023, 6, 1)}, "presumed"),
        ({"ref": "other-contract", "role": "holder", "contract": "C9"}, "not-affected"),
        ({"ref": "no-contract", "role": "holder"}, "not-affected"),
        ({"ref": "dependant", "role": "dependant", "contract": "C1"}, "not-affected"),
        (
            {
                "ref": "left-before",
                "role": "holder",
                "contract": "C2",
                "from": date(2020, 1, 1),
                "until": date(2022, 12, 31),
            },
            "not-affected",
        ),
        (
            {
                "ref": "left-on-first-day",
                "role": "holder",
                "contract": "C2",
                "from": date(2020, 1, 1),
                "until": date(2023, 1, 1),
            },
            "presumed",
        ),
        ({"ref": "joined-after", "role": "holder", "contract": "C2", "from": date(2024, 2, 1)}, "not-affected"),
        ({"ref": "open-period", "role": "holder", "contract": "C2"}, "presumed"),
    ],
    ids=lambda value: value["ref"] if isinstance(value, dict) else str(value),
)
def test_scope_by_contract_role_and_period(member: dict[str, Any], expected: str) -> None:
    model = ledger(
        ATTACK,
        enrolled(MALAKOFF, member),
        fact("insurer-confirmed-affected", "2024-02-02", incident=VIAMEDIS, insurer=MALAKOFF),
        fact(
            "scope-defined",
            "2024-02-03",
            incident=VIAMEDIS,
            insurer=MALAKOFF,
            contracts=["C1", "C2"],
            roles=["holder"],
            enrolled_from=date(2023, 1, 1),
            enrolled_until=date(2024, 1, 31),
        ),
    )

    status = model.member_status(VIAMEDIS, MALAKOFF, member["ref"], on("2024-02-03"))

    assert status == expected


def test_latest_scope_replaces_the_earlier_scope() -> None:
    model = ledger(
        ATTACK,
        enrolled(MALAKOFF, {"ref": "A1", "contract": "C1"}, {"ref": "A2", "contract": "C2"}),
        fact("insurer-confirmed-affected", "2024-02-02", incident=VIAMEDIS, insurer=MALAKOFF),
        fact("scope-defined", "2024-02-03", incident=VIAMEDIS, insurer=MALAKOFF, contracts=["C1"]),
        fact("scope-defined", "2024-02-04", incident=VIAMEDIS, insurer=MALAKOFF, contracts=["C2"]),
    )

    on_the_third = [model.member_status(VIAMEDIS, MALAKOFF, ref, on("2024-02-03")) for ref in ("A1", "A2")]
    on_the_fourth = [model.member_status(VIAMEDIS, MALAKOFF, ref, on("2024-02-04")) for ref in ("A1", "A2")]

    assert on_the_third == ["presumed", "not-affected"]
    assert on_the_fourth == ["not-affected", "presumed"]


def test_member_finding_overrides_presumption() -> None:
    model = ledger(
        ATTACK,
        enrolled(MALAKOFF, {"ref": "A1"}, {"ref": "A2"}, {"ref": "A3", "contract": "C9"}),
        fact("insurer-confirmed-affected", "2024-02-02", incident=VIAMEDIS, insurer=MALAKOFF),
        fact("scope-defined", "2024-02-03", incident=VIAMEDIS, insurer=MALAKOFF, contracts=["C1"]),
        fact("members-ruled-out", "2024-02-04", incident=VIAMEDIS, insurer=MALAKOFF, refs=["A1"]),
        fact("members-confirmed-affected", "2024-02-05", incident=VIAMEDIS, insurer=MALAKOFF, refs=["A1", "A3"]),
    )

    on_the_fourth = [model.member_status(VIAMEDIS, MALAKOFF, ref, on("2024-02-04")) for ref in ("A1", "A2", "A3")]
    on_the_fifth = [model.member_status(VIAMEDIS, MALAKOFF, ref, on("2024-02-05")) for ref in ("A1", "A2", "A3")]

    assert on_the_fourth == ["ruled-out", "not-affected", "not-affected"]
    assert on_the_fifth == ["confirmed", "not-affected", "confirmed"]


def test_member_not_enrolled_as_known_is_not_affected() -> None:
    model = ledger(
        ATTACK,
        fact("insurer-confirmed-affected", "2024-02-02", incident=VIAMEDIS, insurer=MALAKOFF),
        enrolled(MALAKOFF, {"ref": "A1"}, known_on="2024-02-10"),
        fact("members-confirmed-affected", "2024-02-10", incident=VIAMEDIS, insurer=MALAKOFF, refs=["A1"]),
    )

    before_enrolment = model.member_status(VIAMEDIS, MALAKOFF, "A1", on("2024-02-09"))
    after_enrolment = model.member_status(VIAMEDIS, MALAKOFF, "A1", on("2024-02-10"))

    assert (before_enrolment, after_enrolment) == ("not-affected", "confirmed")


def test_member_fields_are_the_exposed_categories_of_an_affected_member_only() -> None:
    model = ledger(
        ATTACK,
        enrolled(MALAKOFF, {"ref": "A1"}, {"ref": "A2"}),
        fact("insurer-confirmed-affected", "2024-02-02", incident=VIAMEDIS, insurer=MALAKOFF),
        fact("field-ruled-in", "2024-02-02", incident=VIAMEDIS, categories=["nir", "birth_date", "civil_status"]),
        fact("field-suspected", "2024-02-02", incident=VIAMEDIS, categories=["phone"]),
        fact("field-ruled-out", "2024-02-03", incident=VIAMEDIS, insurer=MALAKOFF, categories=["civil_status"]),
        fact("members-ruled-out", "2024-02-03", incident=VIAMEDIS, insurer=MALAKOFF, refs=["A2"]),
    )

    affected = model.member_fields(VIAMEDIS, MALAKOFF, "A1", on("2024-02-03"))
    ruled_out = model.member_fields(VIAMEDIS, MALAKOFF, "A2", on("2024-02-03"))

    assert affected == ["birth_date", "nir"]
    assert ruled_out == []


# -- summary ---------------------------------------------------------------------------


def test_summary_classifies_every_insurer_the_ledger_knows() -> None:
    model = ledger(
        ATTACK,
        fact("insurer-informed", "2024-02-01", incident=VIAMEDIS, insurer=MGEN),
        fact("insurer-confirmed-affected", "2024-02-02", incident=VIAMEDIS, insurer=MALAKOFF),
        fact("insurer-ruled-out", "2024-02-02", incident=VIAMEDIS, insurer=HARMONIE),
        enrolled("apivia", {"ref": "P1"}),
        fact("insurer-confirmed-affected", "2024-02-06", incident=ALMERYS, insurer="axa"),
    )

    insurers = model.summary(VIAMEDIS, on("2024-02-06"))["insurers"]

    assert insurers == {
        "affected": [MALAKOFF],
        "ruled_out": [HARMONIE],
        "informed": [MGEN],
        "unknown": ["apivia", "axa"],
    }


def test_people_counts_distinct_nirs() -> None:
    model = ledger(
        ATTACK,
        enrolled(
            MALAKOFF,
            {"ref": "A1", "nir": "person-1"},
            {"ref": "A2", "nir": "person-2"},
            {"ref": "A3"},
            {"ref": "A4"},
            {"ref": "A5", "nir": "person-3"},
        ),
        enrolled(HARMONIE, {"ref": "H1", "nir": "person-1"}, {"ref": "H2", "nir": "person-4"}),
        fact("insurer-confirmed-affected", "2024-02-02", incident=VIAMEDIS, insurer=MALAKOFF),
        fact("insurer-confirmed-affected", "2024-02-02", incident=VIAMEDIS, insurer=HARMONIE),
        fact("members-ruled-out", "2024-02-03", incident=VIAMEDIS, insurer=MALAKOFF, refs=["A5"]),
        fact("members-confirmed-affected", "2024-02-03", incident=VIAMEDIS, insurer=HARMONIE, refs=["H2"]),
    )

    members = model.summary(VIAMEDIS, on("2024-02-03"))["members"]

    # person-1 twice, person-2, person-4, and A3 and A4 without NIR: five people
    assert members == {"confirmed": 1, "presumed": 5, "ruled_out": 1, "affected": 6, "people": 5}


def test_summary_fields_weigh_every_affected_insurer() -> None:
    model = ledger(
        ATTACK,
        fact("insurer-confirmed-affected", "2024-02-02", incident=VIAMEDIS, insurer=MALAKOFF),
        fact("insurer-confirmed-affected", "2024-02-02", incident=VIAMEDIS, insurer=HARMONIE),
        fact("insurer-ruled-out", "2024-02-02", incident=VIAMEDIS, insurer=MGEN),
        fact("field-ruled-in", "2024-02-03", incident=VIAMEDIS, categories=["nir"]),
        fact("field-ruled-out", "2024-02-03", incident=VIAMEDIS, categories=["bank", "health", "phone"]),
        fact("field-suspected", "2024-02-03", incident=VIAMEDIS, categories=["email"]),
        fact("field-ruled-in", "2024-02-04", incident=VIAMEDIS, insurer=HARMONIE, categories=["phone"]),
        fact("field-suspected", "2024-02-04", incident=VIAMEDIS, insurer=MALAKOFF, categories=["health"]),
        fact("field-ruled-in", "2024-02-04", incident=VIAMEDIS, insurer=MGEN, categories=["bank"]),
    )

    fields = model.summary(VIAMEDIS, on("2024-02-04"))["fields"]

    assert fields == {"exposed": ["nir", "phone"], "ruled_out": ["bank"], "suspected": ["email", "health"]}


def test_summary_fields_use_the_incident_wide_level_when_no_insurer_is_affected() -> None:
    model = ledger(
        ATTACK,
        fact("insurer-informed", "2024-02-01", incident=VIAMEDIS, insurer=MALAKOFF),
        fact("field-ruled-in", "2024-02-01", incident=VIAMEDIS, categories=["nir"]),
        fact("field-ruled-out", "2024-02-01", incident=VIAMEDIS, categories=["bank"]),
        fact("field-ruled-in", "2024-02-01", incident=VIAMEDIS, insurer=MALAKOFF, categories=["phone"]),
    )

    summary = model.summary(VIAMEDIS, on("2024-02-01"))

    assert summary == {
        "incident": VIAMEDIS,
        "insurers": {"affected": [], "ruled_out": [], "informed": [MALAKOFF], "unknown": []},
        "members": {"confirmed": 0, "presumed": 0, "ruled_out": 0, "affected": 0, "people": 0},
        "fields": {"exposed": ["nir"], "ruled_out": ["bank"], "suspected": []},
    }


# -- input checks ----------------------------------------------------------------------


def test_model_refuses_facts_out_of_append_order() -> None:
    first = {**ATTACK, "id": "a", "position": 2, "recorded_at": recorded(2)}
    second = {**ATTACK, "id": "b", "position": 1, "recorded_at": recorded(3)}

    with pytest.raises(ValueError, match="positions must increase"):
        ReferenceModel([first, second])
