"""`exposure diff` and `exposure timeline` on small stories told through the CLI, on real
SQLite files (ledger zone Europe/Paris): exact JSON, the members list of a diff, and
"as recorded at" reproducing what the ledger could say before a late entry.

The story: Malakoff Humanis (`mh`, members m1 m2 on contract A, m3 on contract B) is
affected on 1 February; its member number is exposed on 6 February; on 8 February its
scope narrows to contract A and La Mutuelle Générale (`lmg`, l1 l2) is affected; on
12 February the scope is retracted.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest

from tests.support import INCIDENT, Cli, error_lines, fact, opening

pytestmark = pytest.mark.two_backends  # tests/support/__init__.py: on SQLite and on PostgreSQL

CIVIL = ["birth_date", "civil_status", "nir"]
WITH_NUMBER = ["birth_date", "civil_status", "member_number", "nir"]

BEFORE_FEBRUARY = [
    opening(),
    fact("insurer-informed", id="mh-told", incident=INCIDENT, insurer="mh", known_on="2024-02-01"),
    fact("insurer-confirmed-affected", id="mh-affected", incident=INCIDENT, insurer="mh", known_on="2024-02-01"),
    fact(
        "field-ruled-in",
        id="communique",
        incident=INCIDENT,
        categories=["civil_status", "birth_date", "nir"],
        known_on="2024-02-01",
        source="Viamedis communiqué",
    ),
    fact("field-ruled-out", id="not-stored", incident=INCIDENT, categories=["bank", "health"], known_on="2024-02-01"),
    fact("authority-notified", id="mh-cnil", incident=INCIDENT, authority="CNIL", insurer="mh", known_on="2024-02-03"),
]
NUMBER = fact(
    "field-ruled-in",
    id="mh-number",
    incident=INCIDENT,
    insurer="mh",
    categories=["member_number"],
    known_on="2024-02-06",
    source="MSP notice",
)
NARROWING = [
    fact("scope-defined", id="mh-scope", incident=INCIDENT, insurer="mh", contracts=["A"], known_on="2024-02-08"),
    fact("insurer-confirmed-affected", id="lmg-affected", incident=INCIDENT, insurer="lmg", known_on="2024-02-08"),
]
RETRACTION = fact("fact-retracted", id="mh-scope-wrong", fact="mh-scope", known_on="2024-02-12", reason="all contracts")


def jsonl(*facts: dict[str, Any]) -> str:
    return "".join(json.dumps(item) + "\n" for item in facts)


def ok(result) -> Any:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result.stdout


def json_of(result) -> Any:
    return json.loads(ok(result))


def load(cli: Cli, write_file, name: str, *facts: dict[str, Any]) -> None:
    ok(cli("import", str(write_file(name, jsonl(*facts)))))


def enrol(cli: Cli, write_file, insurer: str, *rows: str) -> None:
    roster = write_file(f"{insurer}.csv", "\n".join(["ref,role,contract", *rows]) + "\n")
    ok(cli("members", "import", "--insurer", insurer, str(roster), "--known-on", "2024-01-01"))


@pytest.fixture
def story(cli: Cli, write_file) -> Cli:
    """The whole story, recorded in one go."""
    enrol(cli, write_file, "mh", "m1,holder,A", "m2,dependant,A", "m3,holder,B")
    enrol(cli, write_file, "lmg", "l1,holder,X", "l2,holder,Y")
    load(cli, write_file, "story.jsonl", *BEFORE_FEBRUARY, NUMBER, *NARROWING, RETRACTION)
    return cli


# -- diff -------------------------------------------------------------------------------


def test_diff_names_what_changed_between_two_knowledge_dates(story):
    result = json_of(story("diff", "--incident", INCIDENT, "--from", "2024-02-01", "--to", "2024-02-08", "--json"))

    assert result == {
        "incident": INCIDENT,
        "from": "2024-02-01T22:59:59.999999Z",
        "to": "2024-02-08T22:59:59.999999Z",
        "insurers": {"newly_affected": ["lmg"], "newly_ruled_out": []},
        "fields": {"newly_exposed": ["member_number"], "newly_ruled_out": []},
        "members": {"newly_affected": 2, "no_longer_affected": 1, "fields_changed": 2},
    }


def test_diff_after_a_retraction_counts_the_member_back_in(story):
    result = json_of(story("diff", "--incident", INCIDENT, "--from", "2024-02-08", "--to", "2024-02-12", "--json"))

    assert result["members"] == {"newly_affected": 1, "no_longer_affected": 0, "fields_changed": 0}
    assert result["insurers"] == {"newly_affected": [], "newly_ruled_out": []}


def test_diff_over_a_quiet_period_changes_nothing(story):
    result = json_of(story("diff", "--incident", INCIDENT, "--from", "2024-02-02", "--to", "2024-02-05", "--json"))

    assert result["members"] == {"newly_affected": 0, "no_longer_affected": 0, "fields_changed": 0}
    assert result["fields"] == {"newly_exposed": [], "newly_ruled_out": []}


def test_diff_members_lists_each_changed_member_with_its_answer_before_and_after(story):
    out = ok(
        story(
            "diff",
            "--incident",
            INCIDENT,
            "--from",
            "2024-02-01",
            "--to",
            "2024-02-08",
            "--members",
            "--format",
            "jsonl",
        )
    )

    rows = [json.loads(line) for line in out.splitlines()]
    assert [(r["insurer"], r["ref"], r["change"]) for r in rows] == [
        ("lmg", "l1", "newly-affected"),
        ("lmg", "l2", "newly-affected"),
        ("mh", "m1", "fields-changed"),
        ("mh", "m2", "fields-changed"),
        ("mh", "m3", "no-longer-affected"),
    ]
    assert rows[0]["before"] == {"status": "not-affected", "fields": []}
    assert rows[0]["after"] == {"status": "presumed", "fields": CIVIL}
    assert rows[2]["before"] == {"status": "presumed", "fields": CIVIL}
    assert rows[2]["after"] == {"status": "presumed", "fields": WITH_NUMBER}
    assert rows[4]["after"] == {"status": "not-affected", "fields": []}


def test_diff_members_as_csv_has_one_row_per_changed_member(story):
    out = ok(story("diff", "--incident", INCIDENT, "--from", "2024-02-01", "--to", "2024-02-08", "--members"))

    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 5
    assert rows[4] == {
        "incident": INCIDENT,
        "insurer": "mh",
        "ref": "m3",
        "change": "no-longer-affected",
        "before_status": "presumed",
        "before_fields": "birth_date;civil_status;nir",
        "after_status": "not-affected",
        "after_fields": "",
    }


def test_diff_members_counts_a_member_enrolled_after_the_first_date_as_newly_affected(story, write_file):
    roster = write_file("late.csv", "ref,role,contract\nm4,holder,A\n")
    ok(story("members", "import", "--insurer", "mh", str(roster), "--known-on", "2024-02-10"))

    out = ok(
        story(
            "diff",
            "--incident",
            INCIDENT,
            "--from",
            "2024-02-09",
            "--to",
            "2024-02-10",
            "--members",
            "--format",
            "jsonl",
        )
    )

    (row,) = [json.loads(line) for line in out.splitlines()]
    assert (row["ref"], row["change"], row["before"]["status"], row["after"]["status"]) == (
        "m4",
        "newly-affected",
        None,
        "presumed",
    )


def test_diff_refuses_a_from_date_after_the_to_date(story):
    result = story("diff", "--incident", INCIDENT, "--from", "2024-02-08", "--to", "2024-02-01", "--json")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert error_lines(result) == ["Error: --from must not be later than --to"]


def test_diff_names_the_bad_option_in_its_error(story):
    result = story("diff", "--incident", INCIDENT, "--from", "2024-02-01T10:00", "--json")

    assert result.exit_code == 1
    (line,) = error_lines(result)
    assert line.startswith("Error: --from: ")
    assert "no UTC offset" in line


def test_diff_of_an_unknown_incident_is_rejected_without_output(story):
    result = story("diff", "--incident", "nope", "--from", "2024-02-01", "--members")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert error_lines(result) == ["Error: unknown incident 'nope'"]


def test_diff_format_without_members_is_a_usage_error(story):
    result = story("diff", "--incident", INCIDENT, "--from", "2024-02-01", "--format", "csv")

    assert result.exit_code == 2


# -- timeline ---------------------------------------------------------------------------


def entry(
    known_on: str,
    facts: list[str],
    members: int,
    fields: list[str],
    affected: list[str],
    *,
    retracted: tuple[str, ...] = (),
    informed: tuple[str, ...] = (),
) -> dict[str, Any]:
    return {
        "known_on": known_on,
        "facts": facts,
        "retracted": list(retracted),
        "members_affected": members,
        "fields_exposed": fields,
        "insurers": {"affected": affected, "ruled_out": [], "informed": list(informed)},
    }


OPENED = entry("2024-01-28T23:00:00Z", [f"open-{INCIDENT}"], 0, [], [])
FEBRUARY_1 = entry("2024-01-31T23:00:00Z", ["communique", "mh-affected", "mh-told", "not-stored"], 3, CIVIL, ["mh"])
FEBRUARY_6 = entry("2024-02-05T23:00:00Z", ["mh-number"], 3, WITH_NUMBER, ["mh"])
FEBRUARY_8 = entry("2024-02-07T23:00:00Z", ["lmg-affected", "mh-scope"], 4, WITH_NUMBER, ["lmg", "mh"])
FEBRUARY_12 = entry("2024-02-11T23:00:00Z", ["mh-scope-wrong"], 5, WITH_NUMBER, ["lmg", "mh"], retracted=("mh-scope",))


def test_timeline_has_one_entry_per_knowledge_time_that_changed_an_answer(story):
    result = json_of(story("timeline", "--incident", INCIDENT, "--json"))

    # The rosters (1 January, before the incident was known) and the CNIL notice (3 February)
    # changed no answer: no entry.
    assert result == [OPENED, FEBRUARY_1, FEBRUARY_6, FEBRUARY_8, FEBRUARY_12]


def test_timeline_stops_at_the_as_known_on_date(story):
    result = json_of(story("timeline", "--incident", INCIDENT, "--as-known-on", "2024-02-07", "--json"))

    assert result == [OPENED, FEBRUARY_1, FEBRUARY_6]


def test_timeline_as_recorded_at_ignores_a_later_back_dated_fact(cli, write_file):
    enrol(cli, write_file, "mh", "m1,holder,A", "m2,dependant,A", "m3,holder,B")
    enrol(cli, write_file, "lmg", "l1,holder,X", "l2,holder,Y")
    load(cli, write_file, "first.jsonl", *BEFORE_FEBRUARY, *NARROWING)
    last = json_of(
        cli(
            "record",
            "fact-retracted",
            "--id",
            "mh-scope-wrong",
            "--fact",
            "mh-scope",
            "--known-on",
            "2024-02-12",
            "--json",
        )
    )
    load(cli, write_file, "late.jsonl", NUMBER)  # recorded after, but known since 6 February

    then = json_of(cli("timeline", "--incident", INCIDENT, "--as-recorded-at", last["recorded_at"], "--json"))
    now = json_of(cli("timeline", "--incident", INCIDENT, "--json"))

    assert [e["known_on"] for e in then] == [
        OPENED["known_on"],
        FEBRUARY_1["known_on"],
        FEBRUARY_8["known_on"],
        FEBRUARY_12["known_on"],
    ]
    assert then[2]["fields_exposed"] == CIVIL
    assert [e["known_on"] for e in now] == [
        e["known_on"] for e in (OPENED, FEBRUARY_1, FEBRUARY_6, FEBRUARY_8, FEBRUARY_12)
    ]
    assert now[2]["facts"] == ["mh-number"]
    assert now[3]["fields_exposed"] == WITH_NUMBER


def test_timeline_shows_a_retraction_and_the_fact_it_hid(story):
    result = json_of(story("timeline", "--incident", INCIDENT, "--json"))

    last = result[-1]
    assert last["facts"] == ["mh-scope-wrong"]
    assert last["retracted"] == ["mh-scope"]
    assert last["members_affected"] == 5


def test_timeline_counts_an_insurer_informed_as_a_change(cli, write_file):
    load(
        cli,
        write_file,
        "facts.jsonl",
        opening(),
        fact("insurer-informed", id="told", incident=INCIDENT, insurer="mh", known_on="2024-01-30"),
    )

    result = json_of(cli("timeline", "--incident", INCIDENT, "--json"))

    assert result == [OPENED, entry("2024-01-29T23:00:00Z", ["told"], 0, [], [], informed=("mh",))]


def test_timeline_for_people_is_a_table(story):
    out = ok(story("timeline", "--incident", INCIDENT))

    assert "2024-02-12 00:00" in out
    assert "mh-scope-wrong" in out


def test_timeline_of_an_unknown_incident_is_rejected(story):
    result = story("timeline", "--incident", "nope", "--json")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert error_lines(result) == ["Error: unknown incident 'nope'"]


def test_diff_as_recorded_at_ignores_a_later_back_dated_fact(cli, write_file):
    enrol(cli, write_file, "mh", "m1,holder,A", "m2,dependant,A", "m3,holder,B")
    load(cli, write_file, "first.jsonl", *BEFORE_FEBRUARY)
    last = json_of(
        cli(
            "record",
            "insurer-informed",
            "--incident",
            INCIDENT,
            "--insurer",
            "lmg",
            "--known-on",
            "2024-02-02",
            "--json",
        )
    )
    load(cli, write_file, "late.jsonl", NUMBER)  # recorded after, but known since 6 February
    span = ("diff", "--incident", INCIDENT, "--from", "2024-02-01", "--to", "2024-02-08", "--json")

    then = json_of(cli(*span, "--as-recorded-at", last["recorded_at"]))
    now = json_of(cli(*span))

    assert then["as_recorded_at"] == last["recorded_at"]
    assert then["fields"]["newly_exposed"] == []
    assert then["members"]["fields_changed"] == 0
    assert now["fields"]["newly_exposed"] == ["member_number"]
    assert now["members"]["fields_changed"] == 3
