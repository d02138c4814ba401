"""From user input to a `Fact`: what one fact can be checked for on its own (SPEC §3)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from domain import nir
from domain.errors import InvalidFact, InvalidTime
from domain.facts import KINDS, AttackDiscovered, MembersEnrolled, kind_of
from domain.parse import Context, input_keys, parse_fact, roster_member
from tests.support import INCIDENT, NIR_ALICE, NIR_CORSE, PARIS, fact, spaced

NIR_KEY = b"n" * 32
NOW = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def context(actor: str = "tester") -> Context:
    return Context(tz=ZoneInfo(PARIS), now=NOW, actor=actor, nir_key=NIR_KEY, new_id=lambda: "generated-id")


def parse(obj: object) -> object:
    return parse_fact(obj, context()).fact


def enrolled(*members: dict[str, object]) -> dict[str, object]:
    return fact("members-enrolled", insurer="mh", known_on="2024-01-01", members=list(members))


# -- kinds and keys -------------------------------------------------------------------


def test_every_kind_of_spec_section_3_is_known():
    assert set(KINDS) == {
        "attack-discovered",
        "insurer-informed",
        "insurer-confirmed-affected",
        "insurer-ruled-out",
        "scope-defined",
        "field-suspected",
        "field-ruled-in",
        "field-ruled-out",
        "members-enrolled",
        "members-confirmed-affected",
        "members-ruled-out",
        "authority-notified",
        "members-notified",
        "fact-retracted",
        "category-defined",
        "measure-taken",
        "insurer-described",
    }


@pytest.mark.parametrize(
    ("kind", "required"),
    [
        ("attack-discovered", {"incident", "operator", "occurred_on"}),
        ("insurer-informed", {"incident", "insurer"}),
        ("scope-defined", {"incident", "insurer"}),
        ("field-ruled-in", {"incident", "categories"}),
        ("members-enrolled", {"insurer", "members"}),
        ("members-confirmed-affected", {"incident", "insurer", "refs"}),
        ("authority-notified", {"incident", "authority"}),
        ("members-notified", {"incident", "insurer"}),
        ("fact-retracted", {"fact"}),
        ("category-defined", {"category", "label"}),
        ("measure-taken", {"incident", "measure"}),
        ("insurer-described", {"insurer"}),
    ],
)
def test_required_keys_are_those_of_the_spec(kind, required):
    assert set(input_keys(kind)[0]) == required


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_takes_the_common_keys_and_never_recorded_at(kind):
    required, optional = input_keys(kind)
    keys = set(required) | set(optional)

    assert {"id", "known_on", "occurred_on", "source", "by", "confidence", "note"} <= keys
    assert "recorded_at" not in keys


def test_an_unknown_kind_is_rejected_by_name():
    with pytest.raises(InvalidFact, match="unknown kind 'insurer-hacked'"):
        parse(fact("insurer-hacked", incident=INCIDENT))


def test_a_fact_without_kind_is_rejected():
    with pytest.raises(InvalidFact, match="missing required key 'kind'"):
        parse({"incident": INCIDENT})


def test_something_other_than_an_object_is_rejected():
    with pytest.raises(InvalidFact, match="expected a JSON object, got a list"):
        parse(["insurer-informed"])


def test_an_unknown_key_is_rejected_by_name_and_kind():
    with pytest.raises(InvalidFact, match="unknown key 'colour' for kind 'insurer-informed'"):
        parse(fact("insurer-informed", incident=INCIDENT, insurer="mh", colour="red"))


def test_recorded_at_cannot_be_supplied():
    with pytest.raises(InvalidFact, match="unknown key 'recorded_at'"):
        parse(fact("insurer-informed", incident=INCIDENT, insurer="mh", recorded_at="2024-02-01T00:00:00Z"))


def test_missing_required_keys_are_all_named():
    with pytest.raises(InvalidFact, match="missing required keys 'operator', 'occurred_on'"):
        parse(fact("attack-discovered", incident=INCIDENT))


def test_a_null_value_counts_as_absent():
    with pytest.raises(InvalidFact, match="missing required key 'insurer'"):
        parse(fact("insurer-informed", incident=INCIDENT, insurer=None))


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"insurer": 3}, "insurer: expected str, got int"),
        ({"insurer": "   "}, "insurer: must not be empty"),
        ({"insurer": "mh\x00"}, "insurer: control characters are not allowed"),
        ({"insurer": "m" * 201}, "insurer: text longer than 200 characters"),
        ({"insurer": "mh", "confidence": "sure"}, "confidence: 'sure' is not one of low, medium, high"),
    ],
)
def test_wrong_values_are_rejected_with_the_key_named(keys, message):
    with pytest.raises(InvalidFact, match=message):
        parse(fact("insurer-informed", incident=INCIDENT, **keys))


def test_other_identifiers_are_stripped():
    parsed = parse(fact("members-ruled-out", id=" finding-1 ", incident=INCIDENT, insurer="mh", refs=[" m1 "]))

    assert (parsed.id, parsed.refs) == ("finding-1", ("m1",))


@pytest.mark.parametrize("key", ["incident", "insurer"])
@pytest.mark.parametrize("value", [" mh", "mh ", "\tmh"], ids=["leading", "trailing", "tab"])
def test_an_incident_or_insurer_id_with_surrounding_spaces_is_rejected(key, value):
    keys = {"incident": INCIDENT, "insurer": "mh", key: value}

    with pytest.raises(InvalidFact, match=f"{key}: surrounding spaces are not allowed"):
        parse(fact("insurer-informed", **keys))


@pytest.mark.parametrize(
    "char", ["\u200b", "\u200d", "\ufeff", "\u2060", "\u00a0", "\u202e", "\u3164", "\u00ad", "\u2028"]
)
@pytest.mark.parametrize("key", ["incident", "insurer", "ref"])
def test_an_id_with_an_invisible_character_is_rejected(key, char):
    keys = {"incident": INCIDENT, "insurer": "mh", "refs": ["m1"]}
    if key == "ref":
        keys["refs"] = [f"m{char}1"]
    else:
        keys[key] = f"{keys[key]}{char}x"

    with pytest.raises(InvalidFact, match=f"{key}: invisible character U\\+{ord(char):04X} is not allowed"):
        parse(fact("members-ruled-out", **keys))


@pytest.mark.parametrize("shown", [NIR_ALICE, spaced(NIR_ALICE), NIR_CORSE])
def test_a_nir_as_a_ref_is_refused_and_masked(shown):
    with pytest.raises(InvalidFact) as refused:
        parse(enrolled({"ref": shown, "role": "holder"}))

    message = str(refused.value)
    assert "is a NIR" in message
    assert NIR_ALICE not in message.replace(" ", "")
    assert NIR_CORSE not in message


def test_a_nir_as_a_roster_ref_is_refused():
    with pytest.raises(InvalidFact, match=r"line 2: ref: .* is a NIR"):
        roster_member(NIR_ALICE, "", "", "", "", "", lambda n: n, "line 2")


def test_a_missing_id_is_generated_and_by_defaults_to_the_actor():
    parsed = parse_fact(fact("insurer-informed", incident=INCIDENT, insurer="mh"), context(actor="dpo@mh"))

    assert parsed.fact.id == "generated-id"
    assert parsed.fact.by == "dpo@mh"
    assert parsed.given == frozenset({"incident", "insurer"})


def test_an_explicit_by_is_kept():
    assert parse(fact("insurer-informed", incident=INCIDENT, insurer="mh", by="cnil-watch")).by == "cnil-watch"


# -- lists ----------------------------------------------------------------------------


def test_a_single_category_may_be_given_as_text():
    assert parse(fact("field-ruled-in", incident=INCIDENT, categories="nir")).categories == ("nir",)


@pytest.mark.parametrize(
    ("categories", "message"),
    [([], "categories: expected a non-empty list"), (["nir", "nir"], "'nir' appears twice"), ([""], "non-empty texts")],
)
def test_bad_category_lists_are_rejected(categories, message):
    with pytest.raises(InvalidFact, match=message):
        parse(fact("field-ruled-in", incident=INCIDENT, categories=categories))


@pytest.mark.parametrize("estimate", [-1, True, "many"])
def test_an_estimate_is_a_whole_number(estimate):
    with pytest.raises(InvalidFact, match="estimate"):
        parse(fact("insurer-confirmed-affected", incident=INCIDENT, insurer="mh", estimate=estimate))


def test_a_scope_role_must_be_holder_or_dependant():
    with pytest.raises(InvalidFact, match=r"roles\[0\]: 'boss' is not one of holder, dependant"):
        parse(fact("scope-defined", incident=INCIDENT, insurer="mh", roles=["boss"]))


def test_a_scope_period_must_not_end_before_it_starts():
    with pytest.raises(InvalidFact, match="enrolled_until 2024-01-01 is before enrolled_from 2024-02-01"):
        parse(
            fact(
                "scope-defined",
                incident=INCIDENT,
                insurer="mh",
                enrolled_from="2024-02-01",
                enrolled_until="2024-01-01",
            )
        )


def test_a_fact_cannot_retract_itself():
    with pytest.raises(InvalidFact, match="cannot retract itself"):
        parse(fact("fact-retracted", id="oops", fact="oops"))


# -- members and NIRs -----------------------------------------------------------------


def test_an_enrolled_nir_is_replaced_by_its_pseudonym():
    parsed = parse(enrolled({"ref": "m1", "role": "holder", "from": "2020-01-01", "nir": spaced(NIR_ALICE)}))

    assert isinstance(parsed, MembersEnrolled)
    member = parsed.members[0]
    assert member.nir == nir.pseudonymise(NIR_ALICE, NIR_KEY)
    assert member.from_ == date(2020, 1, 1)
    assert NIR_ALICE[:13] not in repr(parsed)


def test_empty_member_values_are_absent():
    member = parse(enrolled({"ref": "m1", "role": "", "contract": "", "nir": ""})).members[0]

    assert (member.role, member.contract, member.nir) == (None, None, None)


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ([{"ref": "a"}, {"ref": "b", "nir": NIR_ALICE[:13] + "00"}], r"members\[2\]: invalid NIR: wrong key"),
        ([{"ref": "a", "role": "boss"}], r"members\[1\]: role: 'boss' is not one of holder, dependant"),
        ([{"ref": "a", "colour": "x"}], r"members\[1\]: unknown key 'colour'"),
        ([{"ref": "a", "from": "2024-02-01", "until": "2024-01-01"}], "until 2024-01-01 is before from 2024-02-01"),
        ([{"ref": "a", "from": "01/02/2024"}], r"members\[1\]: from: expected a date"),
        ([{"ref": "a"}, {"ref": "a"}], "ref 'a' appears twice"),
        ([{"role": "holder"}], "missing member 'ref'"),
        ([], "members: expected a non-empty list"),
    ],
    ids=["nir", "role", "key", "period", "date", "twice", "ref", "empty"],
)
def test_bad_members_are_rejected_with_their_position(members, message):
    with pytest.raises(InvalidFact, match=message):
        parse(enrolled(*members) if members else fact("members-enrolled", insurer="mh", members=[]))


def test_the_roster_fast_path_applies_the_same_rules():
    pseudonymise = nir.pseudonymiser(NIR_KEY)

    member = roster_member("m1", "dependant", "C1", "2020-01-01", "", spaced(NIR_CORSE), pseudonymise, "line 2")

    assert member.nir == nir.pseudonymise(NIR_CORSE, NIR_KEY)
    assert (member.role, member.contract, member.from_, member.until) == ("dependant", "C1", date(2020, 1, 1), None)
    with pytest.raises(InvalidFact, match="line 3: invalid NIR"):
        roster_member("m2", "", "", "", "", NIR_CORSE[:14], pseudonymise, "line 3")
    with pytest.raises(InvalidFact, match="line 4: role"):
        roster_member("m3", "spouse", "", "", "", "", pseudonymise, "line 4")
    with pytest.raises(InvalidTime, match=r"line 5: until:"):
        roster_member("m4", "", "", "", "2024-02-30", "", pseudonymise, "line 5")
    with pytest.raises(InvalidFact, match="line 6: missing member 'ref'"):
        roster_member("", "", "", "", "", "", pseudonymise, "line 6")


def test_parsed_facts_carry_their_kind():
    parsed = parse(
        fact(
            "attack-discovered",
            incident=INCIDENT,
            operator="Viamedis",
            occurred_on="2024-01-22",
            known_on="2024-01-29",
            title="Portal scraping",
        )
    )

    assert isinstance(parsed, AttackDiscovered)
    assert kind_of(parsed) == "attack-discovered"
    assert parsed.title == "Portal scraping"
