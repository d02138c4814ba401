"""Stored facts are forever: facts encoded by released schemas still decode.

`fixtures/facts-v1.jsonl` holds one fact of every kind exactly as
`domain.facts.encode` wrote them for schema v1 (with `recorded_at`, as stored);
`facts-v2.jsonl` one fact of each kind schema v2 added (`measure-taken`,
`insurer-described`). Never edit a fixture line: add a `facts-v3.jsonl` when the schema evolves.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from domain.facts import KINDS, Member, decode, encode, kind_of

FIXTURES = Path(__file__).with_name("fixtures")
V1 = FIXTURES / "facts-v1.jsonl"
V2 = FIXTURES / "facts-v2.jsonl"
PARIS_WINTER = timezone(timedelta(hours=1))

KEY_FIELDS = {
    "attack-discovered": ("operator", "Viamedis"),
    "insurer-informed": ("name", "Malakoff Humanis"),
    "insurer-confirmed-affected": ("estimate", 120000),
    "insurer-ruled-out": ("insurer", "alan"),
    "scope-defined": ("contracts", ("MP-SANTE-PRO", "MP-TNS")),
    "field-suspected": ("categories", ("health",)),
    "field-ruled-in": ("categories", ("civil_status", "birth_date", "nir", "insurer_name", "contract_guarantees")),
    "field-ruled-out": ("insurer", "msp"),
    "members-enrolled": ("insurer", "malakoff-humanis"),
    "members-confirmed-affected": ("refs", ("MH-000001",)),
    "members-ruled-out": ("refs", ("MH-000002",)),
    "authority-notified": ("phase", "initial"),
    "members-notified": ("channel", "e-mail"),
    "fact-retracted": ("fact", "v1-health-suspected"),
    "category-defined": ("special", True),
}


def fixture_lines(path: Path) -> list[bytes]:
    return [line for line in path.read_bytes().splitlines() if line.strip()]


V1_LINES = fixture_lines(V1)
V2_LINES = fixture_lines(V2)
V2_KEY_FIELDS = {
    "measure-taken": ("measure_kind", "containment"),
    "insurer-described": ("dpo_contact", "DPO, dpo@malakoff-humanis.example"),
}


def test_the_v1_fixture_holds_one_fact_of_every_v1_kind():
    kinds = [kind_of(decode(line)) for line in V1_LINES]

    assert sorted(kinds) == sorted(KEY_FIELDS)
    assert len(kinds) == len(set(kinds))


def test_every_kind_the_ledger_knows_has_a_stored_example():
    kinds = {kind_of(decode(line)) for path in sorted(FIXTURES.glob("facts-v*.jsonl")) for line in fixture_lines(path)}

    assert set(KINDS) <= kinds, f"add a fixture line for {sorted(set(KINDS) - kinds)}"


@pytest.mark.parametrize("line", V1_LINES, ids=[line.split(b'"')[3].decode() for line in V1_LINES])
def test_a_v1_fact_still_decodes_with_its_kind_and_keys(line):
    fact = decode(line)

    field, expected = KEY_FIELDS[kind_of(fact)]
    assert getattr(fact, field) == expected
    assert fact.id
    assert fact.recorded_at is not None
    assert fact.recorded_at.utcoffset() == timedelta(0)
    assert fact.known_on >= fact.occurred_on


@pytest.mark.parametrize("line", V1_LINES, ids=[line.split(b'"')[3].decode() for line in V1_LINES])
def test_a_v1_fact_encodes_back_to_the_same_bytes(line):
    assert encode(decode(line)) == line


def test_v1_times_keep_their_offsets():
    attack = decode(V1_LINES[0])

    assert attack.known_on == datetime(2024, 1, 29, 15, 0, tzinfo=PARIS_WINTER)
    assert attack.occurred_on == datetime(2024, 1, 21, 23, 0, tzinfo=UTC)
    assert attack.recorded_at == datetime(2024, 3, 1, 9, 0, tzinfo=UTC)


def test_v1_members_keep_their_period_and_pseudonym():
    (roster,) = [decode(line) for line in V1_LINES if b'"members-enrolled"' in line]

    first, second = roster.members
    assert first == Member(
        ref="MH-000001",
        role="holder",
        contract="SANTE-ESSENTIEL",
        from_=date(2015, 1, 1),
        until=date(2024, 12, 31),
        nir="29239331c364b68211928687bfe9e456",
    )
    assert second == Member(ref="MH-000002")


@pytest.mark.parametrize("line", V2_LINES, ids=[line.split(b'"')[3].decode() for line in V2_LINES])
def test_a_v2_fact_still_decodes_and_encodes_back_to_the_same_bytes(line):
    fact = decode(line)

    field, expected = V2_KEY_FIELDS[kind_of(fact)]
    assert getattr(fact, field) == expected
    assert fact.recorded_at is not None
    assert encode(fact) == line


def test_the_v2_fixture_holds_exactly_the_kinds_v2_added():
    assert sorted(kind_of(decode(line)) for line in V2_LINES) == sorted(V2_KEY_FIELDS)
    assert not set(V2_KEY_FIELDS) & set(KEY_FIELDS)


@pytest.mark.parametrize("line", V1_LINES, ids=[line.split(b'"')[3].decode() for line in V1_LINES])
def test_a_stored_fact_with_a_key_this_version_does_not_know_still_decodes(line):
    newer = line[:-1] + b',"added_by_a_later_version":{"nested":[1,2]}}'

    assert decode(newer) == decode(line)


def test_a_stored_member_with_a_key_this_version_does_not_know_still_decodes():
    enrolled = next(line for line in V1_LINES if b'"members-enrolled"' in line)
    newer = enrolled.replace(b'"ref":', b'"added_by_a_later_version":true,"ref":', 1)

    assert newer != enrolled
    assert decode(newer) == decode(enrolled)
