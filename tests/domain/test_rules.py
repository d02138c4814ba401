"""SPEC §3: what the ledger's knowledge rejects, all or nothing.

First `domain.rules.check` on its own (pure), then every rejection of SPEC §3
end to end: exit code 1, one `Error:` line naming the line, and nothing appended.
"""

from __future__ import annotations

import itertools
import json
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from domain import rules
from domain.errors import ConflictingFact, InvalidFact, UnknownReference
from domain.facts import AttackDiscovered, InsurerInformed, MembersEnrolled
from domain.parse import Context, Parsed, parse_fact
from tests.support import INCIDENT, NIR_ALICE, PARIS, error_lines, fact, ledger_size, opening

NOW = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
_IDS = itertools.count(1)
CTX = Context(tz=ZoneInfo(PARIS), now=NOW, actor="tester", nir_key=b"n" * 32, new_id=lambda: f"generated-{next(_IDS)}")


def parsed(*facts: dict[str, object]) -> list[Parsed]:
    return [parse_fact(item, CTX) for item in facts]


def state_after(*facts: dict[str, object]) -> rules.LedgerState:
    """The ledger state after accepting `facts` (what the store would read back)."""
    accepted = rules.check(parsed(*facts), rules.LedgerState())
    return rules.LedgerState(
        incidents=frozenset(f.incident for f in accepted if isinstance(f, AttackDiscovered)),
        insurers=frozenset(f.insurer for f in accepted if isinstance(f, InsurerInformed | MembersEnrolled)),
        facts={f.id: f for f in accepted},
        enrolled=frozenset((f.insurer, m.ref) for f in accepted if isinstance(f, MembersEnrolled) for m in f.members),
    )


INFORMED = fact("insurer-informed", id="mh-informed", incident=INCIDENT, insurer="mh", known_on="2024-02-01")
ROSTER = fact("members-enrolled", id="mh-roster", insurer="mh", known_on="2024-01-01", members=[{"ref": "m1"}])


# -- rules.check, pure ----------------------------------------------------------------


def test_a_batch_may_open_an_incident_and_then_speak_of_it():
    accepted = rules.check(parsed(opening(), INFORMED), rules.LedgerState())

    assert [f.id for f in accepted] == [f"open-{INCIDENT}", "mh-informed"]


def test_a_fact_about_an_unopened_incident_is_rejected():
    with pytest.raises(UnknownReference, match=f"fact 1: unknown incident '{INCIDENT}'"):
        rules.check(parsed(INFORMED), rules.LedgerState())


def test_an_insurer_named_earlier_in_the_batch_may_be_scoped():
    scope = fact("scope-defined", incident=INCIDENT, insurer="mh", roles=["holder"], known_on="2024-02-08")

    accepted = rules.check(parsed(opening(), INFORMED, scope), rules.LedgerState())

    assert len(accepted) == 3


@pytest.mark.parametrize(
    "naming",
    [
        fact("insurer-confirmed-affected", incident=INCIDENT, insurer="mh"),
        fact("insurer-ruled-out", incident=INCIDENT, insurer="mh"),
        fact("members-enrolled", insurer="mh", members=[{"ref": "m1"}]),
    ],
    ids=["confirmed-affected", "ruled-out", "enrolled"],
)
def test_every_naming_fact_makes_an_insurer_known(naming):
    field = fact("field-ruled-out", incident=INCIDENT, insurer="mh", categories=["bank"])

    assert len(rules.check(parsed(opening(), naming, field), rules.LedgerState())) == 3


def test_an_insurer_only_notified_about_is_not_named():
    notice = fact("authority-notified", incident=INCIDENT, authority="CNIL", insurer="mh")

    with pytest.raises(UnknownReference, match="unknown insurer 'mh'"):
        rules.check(parsed(opening(), notice), rules.LedgerState())


def test_a_category_defined_earlier_in_the_batch_is_known():
    defined = fact("category-defined", category="medical_transport", label="Medical-transport invoices", risk="high")
    ruled_in = fact("field-ruled-in", incident=INCIDENT, categories=["medical_transport"])

    assert len(rules.check(parsed(opening(), defined, ruled_in), rules.LedgerState())) == 3


def test_a_category_cannot_be_defined_twice():
    with pytest.raises(ConflictingFact, match="category 'nir' is already defined"):
        rules.check(parsed(fact("category-defined", category="nir", label="again")), rules.LedgerState())


def test_member_refs_must_be_enrolled_for_that_insurer():
    state = state_after(opening(), INFORMED, ROSTER)
    finding = fact("members-confirmed-affected", incident=INCIDENT, insurer="mh", refs=["m1", "m2", "m3"])

    with pytest.raises(UnknownReference, match="member refs 'm2', 'm3' not enrolled for insurer 'mh'"):
        rules.check(parsed(finding), state)


def test_a_scope_needs_a_criterion():
    state = state_after(opening(), INFORMED)

    with pytest.raises(InvalidFact, match="needs at least one of"):
        rules.check(parsed(fact("scope-defined", incident=INCIDENT, insurer="mh")), state)


def test_the_same_id_with_the_same_content_is_skipped():
    state = state_after(opening(), INFORMED)

    assert rules.check(parsed(INFORMED), state) == []


def test_a_re_import_without_the_defaults_it_was_given_is_the_same_content():
    first = fact("insurer-informed", id="no-time", incident=INCIDENT, insurer="mh")
    state = state_after(opening(), first)
    later = Context(
        tz=CTX.tz, now=NOW + timedelta(days=1), actor="someone-else", nir_key=CTX.nir_key, new_id=CTX.new_id
    )

    assert rules.check([parse_fact(first, later)], state) == []


def test_the_same_id_with_different_content_is_a_conflict():
    state = state_after(opening(), INFORMED)
    changed = {**INFORMED, "insurer": "other"}

    with pytest.raises(ConflictingFact, match="id 'mh-informed' is already used by a different fact"):
        rules.check(parsed(changed), state)


def test_every_problem_of_a_batch_is_reported_with_its_label():
    bad = parsed(
        opening(),
        fact("insurer-informed", incident="almerys-2024-02", insurer="alan"),
        fact("scope-defined", incident=INCIDENT, insurer="nobody", roles=["holder"]),
        fact("field-ruled-in", incident=INCIDENT, categories=["gossip"]),
    )

    with pytest.raises(UnknownReference) as problem:
        rules.check(bad, rules.LedgerState(), ["line 1", "line 2", "line 3", "line 4"])

    assert problem.value.problems == (
        "line 2: unknown incident 'almerys-2024-02': record its attack-discovered fact first",
        "line 3: unknown insurer 'nobody': no earlier fact names it",
        "line 4: unknown category 'gossip'",
    )


def test_needs_lists_the_ids_and_members_a_batch_refers_to():
    batch = parsed(
        fact("fact-retracted", id="r", fact="target"),
        fact("members-ruled-out", incident=INCIDENT, insurer="mh", refs=["m1", "m2"]),
    )

    wanted = rules.needs(batch)

    assert {"r", "target"} <= wanted.fact_ids
    assert wanted.members == {("mh", "m1"), ("mh", "m2")}


# -- every rejection of SPEC §3, end to end -------------------------------------------

BASE = [
    opening(),
    INFORMED,
    ROSTER,
    fact("field-suspected", id="maybe-health", incident=INCIDENT, categories=["health"], known_on="2024-02-01"),
    fact("fact-retracted", id="retract-maybe-health", fact="maybe-health", known_on="2024-02-07"),
]

TOMORROW = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()

REJECTIONS = {
    "unknown kind": (fact("insurer-hacked", incident=INCIDENT, insurer="mh"), "unknown kind 'insurer-hacked'"),
    "unknown key": (fact("insurer-informed", incident=INCIDENT, insurer="mh", colour="red"), "unknown key 'colour'"),
    "missing required key": (fact("insurer-informed", incident=INCIDENT), "missing required key 'insurer'"),
    "attack without occurred_on": (
        fact("attack-discovered", incident="almerys-2024-02", operator="Almerys"),
        "missing required key 'occurred_on'",
    ),
    "no attack-discovered": (
        fact("insurer-informed", incident="almerys-2024-02", insurer="alan"),
        "unknown incident 'almerys-2024-02'",
    ),
    "scope for an unnamed insurer": (
        fact("scope-defined", incident=INCIDENT, insurer="mutame", contracts=["MP-SANTE-PRO"]),
        "unknown insurer 'mutame'",
    ),
    "insurer-scoped field for an unnamed insurer": (
        fact("field-ruled-in", incident=INCIDENT, insurer="mutame", categories=["member_number"]),
        "unknown insurer 'mutame'",
    ),
    "member ref not enrolled": (
        fact("members-confirmed-affected", incident=INCIDENT, insurer="mh", refs=["m1", "m404"]),
        "member ref 'm404' not enrolled for insurer 'mh'",
    ),
    "ref enrolled for another insurer": (
        fact("members-notified", incident=INCIDENT, insurer="mh", refs=["x1"]),
        "member ref 'x1' not enrolled",
    ),
    "unknown category": (
        fact("field-ruled-out", incident=INCIDENT, categories=["bank", "gossip"]),
        "unknown category 'gossip'",
    ),
    "malformed known_on": (
        fact("insurer-informed", incident=INCIDENT, insurer="mh", known_on="1st of February"),
        "known_on: '1st of February' is not an ISO 8601 date or datetime",
    ),
    "known_on without offset": (
        fact("insurer-informed", incident=INCIDENT, insurer="mh", known_on="2024-02-01T10:00:00"),
        "has no UTC offset",
    ),
    "future known_on": (
        fact("insurer-informed", incident=INCIDENT, insurer="mh", known_on=TOMORROW),
        "is in the future",
    ),
    "known_on before occurred_on": (
        fact("insurer-informed", incident=INCIDENT, insurer="mh", occurred_on="2024-02-03", known_on="2024-02-02"),
        "is before occurred_on",
    ),
    "invalid NIR": (
        fact("members-enrolled", insurer="mh", members=[{"ref": "m2", "nir": NIR_ALICE[:13] + "00"}]),
        r"members\[1\]: invalid NIR: wrong key",
    ),
    "retraction of a missing fact": (
        fact("fact-retracted", fact="never-recorded"),
        "cannot retract 'never-recorded': no such fact",
    ),
    "retraction of a retraction": (
        fact("fact-retracted", fact="retract-maybe-health"),
        "cannot retract 'retract-maybe-health': it is itself a retraction",
    ),
    "id reused with different content": (
        {**INFORMED, "known_on": "2024-02-02"},
        "id 'mh-informed' is already used by a different fact",
    ),
}


@pytest.fixture
def ledger(cli, write_file):
    """A store holding the BASE facts, and the CLI on it."""
    result = cli("import", str(write_file("base.jsonl", _jsonl(BASE))))
    assert result.exit_code == 0, result.stderr
    return cli


def _jsonl(facts: list[dict[str, object]]) -> str:
    return "".join(json.dumps(item) + "\n" for item in facts)


@pytest.mark.parametrize(("bad", "message"), list(REJECTIONS.values()), ids=list(REJECTIONS))
def test_an_import_with_a_rejected_fact_exits_1_and_appends_nothing(ledger, write_file, bad, message):
    good = fact("insurer-confirmed-affected", id="mh-affected", incident=INCIDENT, insurer="mh", known_on="2024-02-01")
    before = ledger_size(ledger.path)

    result = ledger("import", str(write_file("facts.jsonl", _jsonl([good, bad]))))

    assert result.exit_code == 1
    assert result.stdout == ""
    lines = error_lines(result)
    assert len(lines) == 1, lines
    assert lines[0].startswith("Error: line 2: ")
    assert re.search(message, lines[0]), lines[0]
    assert "Traceback" not in result.stderr
    assert ledger_size(ledger.path) == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["insurer-hacked", "--incident", INCIDENT], "unknown kind 'insurer-hacked'"),
        (["insurer-informed", "--incident", INCIDENT, "--insurer", "mh", "--colour", "red"], "unknown key '--colour'"),
        (["scope-defined", "--incident", INCIDENT, "--insurer", "mutame", "--roles", "holder"], "unknown insurer"),
        (["field-ruled-in", "--incident", INCIDENT, "--categories", "nir,gossip"], "unknown category 'gossip'"),
        (["members-enrolled", "--insurer", "mh", "--members", json.dumps({"ref": "m9", "nir": "123"})], "invalid NIR"),
        (["fact-retracted", "--fact", "retract-maybe-health"], "itself a retraction"),
        (["insurer-informed", "--incident", INCIDENT, "--insurer", "mh", "--known-on", TOMORROW], "in the future"),
    ],
    ids=["kind", "key", "insurer", "category", "nir", "retraction", "future"],
)
def test_a_rejected_record_exits_1_with_one_error_line_and_appends_nothing(ledger, args, message):
    before = ledger_size(ledger.path)

    result = ledger("record", *args)

    assert result.exit_code == 1
    assert result.stdout == ""
    assert len(error_lines(result)) == 1
    assert error_lines(result)[0].startswith("Error: ")
    assert message in result.stderr
    assert ledger_size(ledger.path) == before


def test_a_category_defined_first_is_accepted(ledger, write_file):
    facts = [
        fact(
            "category-defined",
            id="cat-transport",
            category="medical_transport",
            label="Medical-transport invoices",
            risk="high",
            special=True,
            known_on="2024-02-08",
        ),
        fact(
            "field-ruled-in",
            id="transport-in",
            incident=INCIDENT,
            categories=["medical_transport"],
            known_on="2024-02-08",
        ),
    ]

    result = ledger("import", str(write_file("transport.jsonl", _jsonl(facts))))
    later = ledger("record", "field-ruled-out", "--incident", INCIDENT, "--categories", "medical_transport")

    assert result.exit_code == 0, result.stderr
    assert later.exit_code == 0, later.stderr


def test_a_re_import_of_the_same_file_appends_nothing(ledger, write_file):
    before = ledger_size(ledger.path)

    result = ledger("import", "--json", str(write_file("base.jsonl", _jsonl(BASE))))

    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"appended": 0, "unchanged": len(BASE), "ids": []}
    assert ledger_size(ledger.path) == before


def test_a_file_with_one_bad_line_appends_none_of_its_good_lines(ledger, write_file):
    lines = [
        fact("insurer-confirmed-affected", id="a1", incident=INCIDENT, insurer="mh", known_on="2024-02-01"),
        fact("field-ruled-in", id="a2", incident=INCIDENT, categories=["nir"], known_on="2024-02-01"),
        fact("field-ruled-in", id="a3", incident=INCIDENT, categories=["gossip"], known_on="2024-02-01"),
        fact("field-ruled-out", id="a4", incident=INCIDENT, categories=["bank"], known_on="2024-02-01"),
    ]
    before = ledger_size(ledger.path)

    result = ledger("import", str(write_file("one-bad.jsonl", _jsonl(lines))))

    assert result.exit_code == 1
    assert error_lines(result) == ["Error: line 3: unknown category 'gossip'"]
    assert ledger_size(ledger.path) == before


def test_several_lines_of_broken_json_give_one_error_line_each(ledger, write_file):
    text = (
        "\n".join(
            [
                json.dumps(fact("insurer-informed", incident=INCIDENT, insurer="alan")),
                "{not json",
                json.dumps(fact("insurer-informed", incident=INCIDENT, insurer="alan")),
                "",
                '{"kind": "insurer-informed",}',
            ]
        )
        + "\n"
    )
    before = ledger_size(ledger.path)

    result = ledger("import", str(write_file("broken.jsonl", text)))

    assert result.exit_code == 1
    lines = error_lines(result)
    assert len(lines) == 2
    assert lines[0].startswith("Error: line 2: invalid JSON")
    assert lines[1].startswith("Error: line 5: invalid JSON")
    assert ledger_size(ledger.path) == before


def test_several_malformed_facts_give_one_error_line_each(ledger, write_file):
    text = (
        "\n".join(
            [
                json.dumps(fact("insurer-informed", incident=INCIDENT, insurer="alan", colour="red")),
                json.dumps(fact("insurer-informed", incident=INCIDENT, insurer="alan")),
                '["a list"]',
                json.dumps(fact("insurer-informed", incident=INCIDENT, insurer="alan", known_on="2024-02-01T10:00")),
            ]
        )
        + "\n"
    )
    before = ledger_size(ledger.path)

    result = ledger("import", str(write_file("malformed.jsonl", text)))

    assert result.exit_code == 1
    assert error_lines(result) == [
        "Error: line 1: unknown key 'colour' for kind 'insurer-informed'",
        "Error: line 3: expected a JSON object, got a list",
        "Error: line 4: known_on: '2024-02-01T10:00' has no UTC offset (add Z or +01:00, or give a date)",
    ]
    assert ledger_size(ledger.path) == before


def test_several_rule_violations_give_one_error_line_each(ledger, write_file):
    lines = [
        fact("insurer-informed", incident="almerys-2024-02", insurer="alan"),
        fact("insurer-informed", incident=INCIDENT, insurer="alan", known_on="2024-02-01"),
        fact("scope-defined", incident=INCIDENT, insurer="nobody", roles=["holder"]),
        fact("members-ruled-out", incident=INCIDENT, insurer="alan", refs=["a1"]),
    ]
    before = ledger_size(ledger.path)

    result = ledger("import", str(write_file("rules.jsonl", _jsonl(lines))))

    assert result.exit_code == 1
    assert error_lines(result) == [
        "Error: line 1: unknown incident 'almerys-2024-02': record its attack-discovered fact first",
        "Error: line 3: unknown insurer 'nobody': no earlier fact names it",
        "Error: line 4: member ref 'a1' not enrolled for insurer 'alan'",
    ]
    assert ledger_size(ledger.path) == before


def test_the_same_id_twice_in_one_file_with_different_content_is_rejected(ledger, write_file):
    lines = [
        fact("insurer-informed", id="dup", incident=INCIDENT, insurer="alan", known_on="2024-02-02"),
        fact("insurer-informed", id="dup", incident=INCIDENT, insurer="alan", known_on="2024-02-03"),
    ]
    before = ledger_size(ledger.path)

    result = ledger("import", str(write_file("dup.jsonl", _jsonl(lines))))

    assert result.exit_code == 1
    assert error_lines(result) == ["Error: line 2: id 'dup' is already used by a different fact"]
    assert ledger_size(ledger.path) == before
