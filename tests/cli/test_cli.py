"""SPEC §7 end to end: the real `exposure` entry point (a few subprocesses) and
click's CliRunner on `cli.main:main` (the many). Exact JSON keys, exit codes
0/1/2, `Error:` lines on stderr, pure JSON on stdout.
"""

from __future__ import annotations

import csv
import io
import json
import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from cli.main import main
from tests.support import (
    EXPOSURE,
    INCIDENT,
    NIR_ALICE,
    NIR_BRUNO,
    Cli,
    error_lines,
    fact,
    ledger_size,
    opening,
    spaced,
    store_exists,
)

pytestmark = pytest.mark.two_backends  # tests/support/__init__.py: on SQLite and on PostgreSQL

SUMMARY_KEYS = {"incident", "as_known_on", "insurers", "members", "fields"}
SUMMARY_INSURERS = {"affected", "ruled_out", "informed", "unknown"}
SUMMARY_MEMBERS = {"confirmed", "presumed", "ruled_out", "affected", "people"}
SUMMARY_FIELDS = {"exposed", "ruled_out", "suspected"}
MEMBERSHIP_KEYS = {"insurer", "ref", "incidents"}
MEMBER_INCIDENT_KEYS = {"incident", "status", "fields", "implied", "because"}
EXPORT_COLUMNS = [
    "incident",
    "insurer",
    "ref",
    "role",
    "contract",
    "from",
    "until",
    "status",
    "fields",
    "implied",
    "notified_at",
]
AUDIT_KEYS = {"id", "kind", "known_on", "occurred_on", "recorded_at", "by", "source", "hash"}

STORY = [
    opening(title="Scraping of the viamedis.net portal", source="FSPF"),
    fact(
        "insurer-informed",
        id="mh-told",
        incident=INCIDENT,
        insurer="mh",
        name="Malakoff Humanis",
        known_on="2024-02-01",
    ),
    fact("insurer-confirmed-affected", id="mh-affected", incident=INCIDENT, insurer="mh", known_on="2024-02-01"),
    fact("insurer-informed", id="lmg-told", incident=INCIDENT, insurer="lmg", known_on="2024-02-01"),
    fact(
        "field-ruled-in",
        id="communique",
        incident=INCIDENT,
        categories=["civil_status", "birth_date", "nir"],
        known_on="2024-02-01",
        source="Viamedis communiqué",
    ),
    fact("field-ruled-out", id="not-stored", incident=INCIDENT, categories=["bank", "health"], known_on="2024-02-01"),
    fact("field-suspected", id="maybe-email", incident=INCIDENT, categories=["email"], known_on="2024-02-07"),
]


def run(*args: str, cwd: Path | None = None, stdin: str | None = None, env: dict[str, str] | None = None):
    """The installed `exposure` script in a real process."""
    return subprocess.run(
        [str(EXPOSURE), *args],
        capture_output=True,
        text=True,
        input=stdin,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=120,
        check=False,
    )


def jsonl(*facts: dict[str, Any]) -> str:
    return "".join(json.dumps(item) + "\n" for item in facts)


def roster_csv(*rows: str, header: str = "ref,role,contract,from,until,nir") -> str:
    return "\n".join([header, *rows]) + "\n"


@pytest.fixture
def story(cli: Cli, write_file) -> Cli:
    """The CLI on a store holding STORY and a roster of three mh members."""
    return seed_story(cli, write_file)


def seed_story(cli: Cli, write_file) -> Cli:
    """Record STORY and a roster of three mh members through `cli`."""
    assert cli("import", str(write_file("story.jsonl", jsonl(*STORY)))).exit_code == 0
    roster = write_file(
        "mh.csv",
        roster_csv(
            f"m1,holder,A,2015-01-01,,{NIR_ALICE}", f"m2,dependant,A,2015-01-01,,{spaced(NIR_BRUNO)}", "m3,holder,B,,,"
        ),
    )
    result = cli("members", "import", "--insurer", "mh", str(roster), "--known-on", "2024-01-01")
    assert result.exit_code == 0, result.stderr
    return cli


def assert_one_error(result, fragment: str) -> None:
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = error_lines(result)
    assert len(lines) == 1, lines
    assert lines[0].startswith("Error: ")
    assert fragment in lines[0]
    assert "Traceback" not in result.stderr


# -- init -----------------------------------------------------------------------------


def test_init_creates_the_store_and_a_key_file_only_its_owner_can_read(tmp_path):
    result = run("--store", "incident.db", "init", "--timezone", "Europe/Paris", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Created incident.db (time zone Europe/Paris")
    key_file = tmp_path / "incident.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert (tmp_path / "incident.db").exists()


def test_init_is_idempotent(new_cli):
    first = new_cli("init", "--timezone", "Europe/Paris", "--json")
    key = new_cli.key_path.read_bytes()

    second = new_cli("init", "--json")

    assert first.exit_code == second.exit_code == 0
    assert json.loads(first.stdout)["created"] is True
    assert json.loads(second.stdout) == {**json.loads(first.stdout), "created": False}
    assert new_cli.key_path.read_bytes() == key


def test_init_refuses_another_time_zone_for_an_existing_store(cli):
    assert_one_error(cli("init", "--timezone", "Asia/Tokyo"), "already exists with time zone Europe/Paris")


def test_init_refuses_an_unknown_time_zone(new_cli):
    assert_one_error(new_cli("init", "--timezone", "Mars/Olympus"), "unknown time zone 'Mars/Olympus'")
    assert not store_exists(new_cli.path)


def test_init_refuses_to_overwrite_a_key_file_without_its_store(new_cli):
    new_cli.key_path.parent.mkdir(parents=True, exist_ok=True)
    new_cli.key_path.write_text("precious", encoding="utf-8")

    assert_one_error(new_cli("init"), "already exists")
    assert new_cli.key_path.read_text(encoding="utf-8") == "precious"
    assert not store_exists(new_cli.path)


def test_the_store_and_key_file_may_come_from_the_environment(tmp_path):
    env = {"EXPOSURE_STORE": str(tmp_path / "env.db"), "EXPOSURE_KEY_FILE": str(tmp_path / "keys" / "env.key")}

    created = run("init", env=env)
    recorded = run(
        "record",
        "attack-discovered",
        "--incident",
        INCIDENT,
        "--operator",
        "Viamedis",
        "--occurred-on",
        "2024-01-22",
        env=env,
    )

    assert created.returncode == recorded.returncode == 0, created.stderr + recorded.stderr
    assert (tmp_path / "keys" / "env.key").exists()
    assert ledger_size(tmp_path / "env.db") == 1


def test_a_command_on_a_missing_store_says_to_run_init(new_cli):
    assert_one_error(new_cli("summary", "--incident", INCIDENT), "run: exposure init")


def test_a_key_file_readable_by_others_is_refused(cli):
    key = cli.key_path
    key.chmod(0o644)

    assert_one_error(cli("summary", "--incident", INCIDENT), f"chmod 600 {key}")


def test_a_key_file_of_another_store_is_refused(cli, tmp_path):
    other = Cli(tmp_path / "other" / "other.db")
    assert other("init").exit_code == 0

    result = cli.runner.invoke(
        main,
        [
            "--store",
            str(cli.path),
            "--key-file",
            str(other.path.with_suffix(".key")),
            "summary",
            "--incident",
            INCIDENT,
        ],
    )

    assert_one_error(result, "does not belong to store")


# -- record ---------------------------------------------------------------------------


def test_record_prints_the_id_of_the_new_fact(store_path):
    result = run(
        "--store",
        str(store_path),
        "record",
        "attack-discovered",
        "--incident",
        INCIDENT,
        "--operator",
        "Viamedis",
        "--occurred-on",
        "2024-01-22",
        "--known-on",
        "2024-01-29",
    )

    assert result.returncode == 0, result.stderr
    (line,) = result.stdout.splitlines()
    assert len(line) == 36  # a generated UUID
    audit = json.loads(run("--store", str(store_path), "audit", "log", "--json").stdout)
    assert audit["id"] == line


def test_record_prints_a_given_id_and_json_on_request(cli):
    plain = cli(
        "record",
        "attack-discovered",
        "--id",
        "open",
        "--incident",
        INCIDENT,
        "--operator",
        "Viamedis",
        "--occurred-on",
        "2024-01-22",
    )
    as_json = cli("record", "insurer-informed", "--incident", INCIDENT, "--insurer", "mh", "--json")
    again = cli(
        "record",
        "attack-discovered",
        "--id",
        "open",
        "--incident",
        INCIDENT,
        "--operator",
        "Viamedis",
        "--occurred-on",
        "2024-01-22",
        "--json",
    )

    assert plain.stdout == "open\n"
    answer = json.loads(as_json.stdout)
    assert set(answer) == {"id", "appended", "position", "recorded_at"}
    assert (answer["appended"], answer["position"]) == (True, 2)
    assert json.loads(again.stdout) == {"id": "open", "appended": False, "position": None, "recorded_at": None}
    assert ledger_size(cli.path) == 2


def test_record_takes_list_values_repeated_or_comma_separated(cli):
    cli("record", "attack-discovered", "--incident", INCIDENT, "--operator", "Viamedis", "--occurred-on", "2024-01-22")

    result = cli(
        "record",
        "field-ruled-in",
        "--incident",
        INCIDENT,
        "--categories",
        "nir,birth_date",
        "--categories",
        "civil_status",
        "--known-on=2024-02-01",
        "--source",
        "Viamedis communiqué",
    )

    assert result.exit_code == 0, result.stderr
    logged = [json.loads(line) for line in cli("audit", "log", "--json").stdout.splitlines()]
    assert logged[-1]["categories"] == ["nir", "birth_date", "civil_status"]
    assert logged[-1]["source"] == "Viamedis communiqué"
    assert logged[-1]["known_on"] == "2024-01-31T23:00:00Z"
    assert logged[-1]["by"] == "tester"


def test_record_enrols_members_given_as_json_objects(cli):
    result = cli(
        "record",
        "members-enrolled",
        "--insurer",
        "mh",
        "--members",
        "m1",
        "--members",
        json.dumps({"ref": "m2", "role": "dependant", "nir": spaced(NIR_ALICE)}),
    )

    assert result.exit_code == 0, result.stderr
    logged = json.loads(cli("audit", "log", "--json").stdout)
    assert [m["ref"] for m in logged["members"]] == ["m1", "m2"]
    assert logged["members"][1]["nir"] not in (NIR_ALICE, spaced(NIR_ALICE))


def test_record_without_a_value_is_rejected(cli):
    assert_one_error(cli("record", "insurer-informed", "--incident"), "--incident needs a value")
    assert ledger_size(cli.path) == 0


# -- import ---------------------------------------------------------------------------


def test_import_reads_standard_input(store_path):
    result = run("--store", str(store_path), "import", "-", "--json", stdin=jsonl(*STORY))

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"appended": len(STORY), "unchanged": 0, "ids": [f["id"] for f in STORY]}


def test_import_is_all_or_nothing_and_names_the_line(store_path, write_file):
    bad = [*STORY[:3], fact("field-ruled-in", incident=INCIDENT, categories=["gossip"]), *STORY[3:]]

    result = run("--store", str(store_path), "import", str(write_file("bad.jsonl", jsonl(*bad))))

    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == "Error: line 4: unknown category 'gossip'\n"
    assert ledger_size(store_path) == 0


def test_import_of_a_missing_file_is_one_error_line(cli, tmp_path):
    assert_one_error(cli("import", str(tmp_path / "nowhere.jsonl")), "no such file")


def test_import_reports_the_number_appended_and_already_recorded(cli, write_file):
    path = write_file("story.jsonl", jsonl(*STORY))

    first = cli("import", str(path))
    second = cli("import", str(path))

    assert first.stdout == f"Appended {len(STORY)} facts\n"
    assert second.stdout == f"Appended 0 facts ({len(STORY)} already recorded)\n"


# -- members import -------------------------------------------------------------------


def test_members_import_appends_a_roster_once(cli, write_file):
    path = write_file("mh.csv", roster_csv(*(f"m{n},holder,A,2015-01-01,," for n in range(12))))

    first = cli("members", "import", "--insurer", "mh", str(path), "--batch-size", "5", "--json")
    size = ledger_size(cli.path)
    second = cli("members", "import", "--insurer", "mh", str(path), "--batch-size", "5", "--json")

    counts = {"insurer": "mh", "rows": 12, "facts": 3, "repeated_rows": 0, "ignored_columns": []}
    assert json.loads(first.stdout) == {**counts, "appended": 3, "unchanged": 0}
    assert json.loads(second.stdout) == {**counts, "appended": 0, "unchanged": 3}
    assert size == ledger_size(cli.path) == 3


def test_members_import_takes_a_partial_header_in_any_order(cli, write_file):
    path = write_file("mh.csv", roster_csv(f"{NIR_ALICE},m1", ",m2", header="nir,ref"))

    result = cli("members", "import", "--insurer", "mh", str(path), "--json")

    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["rows"] == 2


def test_members_import_with_bad_rows_writes_nothing_and_names_each_line(cli, write_file):
    path = write_file(
        "mh.csv",
        roster_csv(
            "m1,holder,A,2015-01-01,,",
            "m2,spouse,A,,,",
            "m3,holder,A,2024-13-01,,",
            f"m4,holder,A,,,{NIR_ALICE[:13]}00",
            "m5,holder",
        ),
    )

    result = cli("members", "import", "--insurer", "mh", str(path))

    assert result.exit_code == 1
    assert error_lines(result) == [
        "Error: line 3: role: 'spouse' is not one of holder, dependant",
        "Error: line 4: from: expected a date YYYY-MM-DD, got '2024-13-01'",
        f"Error: line 5: invalid NIR: wrong key ({NIR_ALICE[0]}{'*' * 12}00)",
        "Error: line 6: expected 6 values, got 2",
    ]
    assert ledger_size(cli.path) == 0


@pytest.mark.parametrize(
    ("text", "fragment"),
    [("", "empty file"), ("colour,role\nred,holder\n", "the header has no ref column"), ("ref,role\n", "no members")],
    ids=["empty", "header", "only-header"],
)
def test_members_import_rejects_a_file_that_is_not_a_roster(cli, write_file, text, fragment):
    assert_one_error(cli("members", "import", "--insurer", "mh", str(write_file("r.csv", text))), fragment)
    assert ledger_size(cli.path) == 0


def test_members_import_json_on_stdout_is_pure_json_in_a_real_process(store_path, write_file):
    path = write_file("mh.csv", roster_csv("m1,holder,A,,,", "m2,dependant,A,,,"))

    result = run("--store", str(store_path), "members", "import", "--insurer", "mh", str(path), "--json")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["appended"] == 1


# -- queries --------------------------------------------------------------------------


def test_summary_json_has_exactly_the_keys_of_the_spec(story):
    result = story("summary", "--incident", INCIDENT, "--as-known-on", "2024-02-07", "--json")

    answer = json.loads(result.stdout)
    assert set(answer) == SUMMARY_KEYS
    assert set(answer["insurers"]) == SUMMARY_INSURERS
    assert set(answer["members"]) == SUMMARY_MEMBERS
    assert set(answer["fields"]) == SUMMARY_FIELDS
    assert answer == {
        "incident": INCIDENT,
        "as_known_on": "2024-02-07T22:59:59.999999Z",
        "insurers": {"affected": ["mh"], "ruled_out": [], "informed": ["lmg"], "unknown": []},
        "members": {"confirmed": 0, "presumed": 3, "ruled_out": 0, "affected": 3, "people": 3},
        "fields": {
            "exposed": ["birth_date", "civil_status", "nir"],
            "ruled_out": ["bank", "health"],
            "suspected": ["email"],
        },
    }


def test_summary_with_as_recorded_at_says_so(story):
    answer = json.loads(story("summary", "--incident", INCIDENT, "--as-recorded-at", "2100-01-01", "--json").stdout)

    assert set(answer) == SUMMARY_KEYS | {"as_recorded_at"}
    assert answer["insurers"]["affected"] == ["mh"]


def test_summary_recorded_before_any_fact_is_not_known_rather_than_zeros(story):
    answer = json.loads(story("summary", "--incident", INCIDENT, "--as-recorded-at", "2000-01-01", "--json").stdout)

    assert answer == {
        "incident": INCIDENT,
        "as_known_on": answer["as_known_on"],
        "as_recorded_at": "2000-01-01T22:59:59.999999Z",
        "known": False,
    }


def test_summary_for_people_is_a_table(story):
    result = story("summary", "--incident", INCIDENT, "--as-known-on", "2024-02-07")

    assert result.exit_code == 0
    assert "Insurers" in result.stdout
    assert "birth_date, civil_status, nir" in result.stdout


def test_insurer_json_has_status_scope_fields_counts_and_dates(story):
    answer = json.loads(
        story("insurer", "--incident", INCIDENT, "--insurer", "mh", "--as-known-on", "2024-02-07", "--json").stdout
    )

    assert {
        "incident",
        "insurer",
        "as_known_on",
        "status",
        "scope",
        "fields",
        "members",
        "informed_at",
        "authority_notified_at",
        "members_notified_at",
    } <= set(answer)
    assert answer["status"] == "affected"
    assert answer["members"] == {
        "memberships": 3,
        "confirmed": 0,
        "presumed": 3,
        "ruled_out": 0,
        "affected": 3,
        "people": 3,
    }
    assert answer["fields"]["nir"] == "exposed"
    assert answer["informed_at"] == "2024-01-31T23:00:00Z"


def test_member_json_has_exactly_the_keys_of_the_spec(story):
    result = story("member", "--nir", spaced(NIR_ALICE), "--as-known-on", "2024-02-07", "--json")

    answer = json.loads(result.stdout)
    assert set(answer) == {"as_known_on", "memberships"}
    (membership,) = answer["memberships"]
    assert set(membership) == MEMBERSHIP_KEYS
    (found,) = membership["incidents"]
    assert set(found) == MEMBER_INCIDENT_KEYS
    assert (membership["insurer"], membership["ref"], found["status"]) == ("mh", "m1", "presumed")
    assert found["fields"] == ["birth_date", "civil_status", "nir"]
    assert found["implied"] == ["birth_month", "birth_year", "birthplace", "sex"]
    assert "mh-affected" in found["because"]
    assert found["because"] == sorted(found["because"])


def test_member_by_insurer_and_ref_for_people_is_a_table(story):
    result = story("member", "--insurer", "mh", "--ref", "m3", "--as-known-on", "2024-02-07")

    assert result.exit_code == 0
    assert "presumed" in result.stdout


def test_members_export_csv_lists_the_affected_members(story):
    result = story("members", "export", "--incident", INCIDENT, "--as-known-on", "2024-02-07")

    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == EXPORT_COLUMNS
    assert [row[2] for row in rows[1:]] == ["m1", "m2", "m3"]
    assert rows[1] == [
        INCIDENT,
        "mh",
        "m1",
        "holder",
        "A",
        "2015-01-01",
        "",
        "presumed",
        "birth_date;civil_status;nir",
        "birth_month;birth_year;birthplace;sex",
        "",
    ]


def test_members_export_jsonl_has_one_object_per_member(story):
    result = story(
        "members",
        "export",
        "--incident",
        INCIDENT,
        "--insurer",
        "mh",
        "--format",
        "jsonl",
        "--as-known-on",
        "2024-02-07",
    )

    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [list(row) for row in rows] == [EXPORT_COLUMNS] * 3
    assert rows[1]["role"] == "dependant"
    assert rows[2]["from"] is None


def test_members_export_before_the_insurer_was_affected_is_empty(story):
    result = story("members", "export", "--incident", INCIDENT, "--as-known-on", "2024-01-31", "--format", "jsonl")

    assert result.exit_code == 0
    assert result.stdout == ""


@pytest.mark.parametrize(
    "args",
    [
        ["summary", "--incident", INCIDENT, "--as-known-on", "2024-02-07"],
        ["insurer", "--incident", INCIDENT, "--insurer", "mh", "--as-known-on", "2024-02-07"],
        ["member", "--insurer", "mh", "--ref", "m1", "--as-known-on", "2024-02-07"],
        ["member", "--nir", NIR_BRUNO],
        ["init"],
        ["import", "-"],
        ["record", "insurer-informed", "--incident", INCIDENT, "--insurer", "alan"],
    ],
    ids=["summary", "insurer", "member-ref", "member-nir", "init", "import", "record"],
)
def test_json_output_is_pure_json(story, args):
    one_fact = jsonl(fact("insurer-informed", incident=INCIDENT, insurer="lmg")) if args[0] == "import" else ""

    result = story(*args, "--json", input=one_fact)

    assert result.exit_code == 0, result.stderr
    assert isinstance(json.loads(result.stdout), dict)


# -- exit codes and errors ------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["summary", "--incident", "almerys-2024-02"], "unknown incident 'almerys-2024-02'"),
        (["insurer", "--incident", INCIDENT, "--insurer", "alan"], "unknown insurer 'alan'"),
        (["summary", "--incident", INCIDENT, "--as-known-on", "2024-02-07T10:00"], "no UTC offset"),
        (["summary", "--incident", INCIDENT, "--as-known-on", "last week"], "not an ISO 8601"),
        (["member", "--nir", NIR_ALICE[:13] + "00"], "invalid NIR: wrong key"),
        (["members", "export", "--incident", "nope"], "unknown incident 'nope'"),
        (["record", "insurer-hacked"], "unknown kind 'insurer-hacked'"),
    ],
    ids=["incident", "insurer", "offset", "date", "nir", "export", "kind"],
)
def test_rejected_input_exits_1_with_one_error_line(story, args, fragment):
    before = ledger_size(story.path)

    assert_one_error(story(*args), fragment)
    assert ledger_size(story.path) == before


def test_an_invalid_nir_is_not_echoed_in_the_error(story):
    wrong = NIR_ALICE[:13] + "00"

    result = story("member", "--nir", wrong)

    assert NIR_ALICE[:13] not in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["summary"],
        ["insurer", "--incident", INCIDENT],
        ["member"],
        ["member", "--nir", NIR_ALICE, "--ref", "m1"],
        ["members", "export", "--incident", INCIDENT, "--format", "xml"],
        ["members", "import", "--insurer", "mh"],
        ["no-such-command"],
    ],
    ids=["summary", "insurer", "member", "member-both", "format", "file", "command"],
)
def test_usage_errors_exit_2(story, args):
    result = story(*args)

    assert result.exit_code == 2
    assert result.stdout == ""
    assert "Error:" in result.stderr


def test_usage_errors_exit_2_in_a_real_process(store_path):
    result = run("--store", str(store_path), "summary")

    assert result.returncode == 2
    assert "Missing option '--incident'" in result.stderr


def test_errors_go_to_stderr_in_a_real_process(store_path):
    result = run("--store", str(store_path), "summary", "--incident", "nope", "--json")

    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == "Error: unknown incident 'nope'\n"


# -- audit log ------------------------------------------------------------------------


def test_audit_log_json_prints_every_fact_in_append_order_with_the_spec_keys(story):
    result = story("audit", "log", "--json")

    logged = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(logged) == len(STORY) + 1
    assert all(set(entry) >= AUDIT_KEYS for entry in logged)
    assert [entry["id"] for entry in logged[: len(STORY)]] == [f["id"] for f in STORY]
    assert logged[-1]["kind"] == "members-enrolled"
    first = logged[0]
    assert (first["incident"], first["operator"], first["title"]) == (INCIDENT, "Viamedis", STORY[0]["title"])
    assert (first["known_on"], first["occurred_on"], first["source"]) == (
        "2024-01-28T23:00:00Z",
        "2024-01-21T23:00:00Z",
        "FSPF",
    )
    assert sorted(entry["recorded_at"] for entry in logged) == [entry["recorded_at"] for entry in logged]
    assert len({entry["hash"] for entry in logged}) == len(logged)
    assert all(len(entry["hash"]) == 64 for entry in logged)


def test_audit_log_for_people_is_a_table(story):
    result = story("audit", "log")

    assert result.exit_code == 0
    assert "attack-discovered" in result.stdout


# -- demo -----------------------------------------------------------------------------


def test_the_demo_runs_and_its_answers_change_across_dates(tmp_path):
    result = run("demo", "--members", "6", "--dir", str(tmp_path / "demo"), "--json")

    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    summaries = [s for s in answer["summaries"] if s.get("known", True)]
    assert all(set(s) == SUMMARY_KEYS for s in summaries)
    by_incident: dict[str, list[dict[str, Any]]] = {}
    for summary in summaries:
        by_incident.setdefault(summary["incident"], []).append(summary)
    for answers in by_incident.values():
        views = [json.dumps({k: s[k] for k in ("insurers", "members", "fields")}, sort_keys=True) for s in answers]
        assert len(set(views)) > 1
    assert any(s["members"]["affected"] > 0 for s in summaries)


def test_the_demo_refuses_a_folder_that_already_holds_one(tmp_path):
    folder = tmp_path / "demo"
    folder.mkdir()
    (folder / "demo.db").write_bytes(b"")

    result = CliRunner().invoke(main, ["demo", "--dir", str(folder), "--members", "2"])

    assert result.exit_code == 2
    assert "give an empty --dir" in result.stderr


# -- help -----------------------------------------------------------------------------


def _subcommands(group: click.Group) -> dict[str, click.Command]:
    """A group's commands, loaded as `--help` loads them (the root group's are lazy)."""
    ctx = click.Context(group)
    found = {name: group.get_command(ctx, name) for name in group.list_commands(ctx)}
    return {name: command for name, command in found.items() if command is not None}


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    for name, command in sorted(_subcommands(group).items()):
        found.append((*prefix, name))
        if isinstance(command, click.Group):
            found.extend(_commands(command, (*prefix, name)))
    return found


def _command(path: tuple[str, ...]) -> click.Command:
    command: click.Command = main
    for name in path:
        assert isinstance(command, click.Group)
        command = _subcommands(command)[name]
    return command


ALL_COMMANDS = _commands(main)


def test_the_command_list_holds_the_spec_commands():
    assert {
        ("init",),
        ("record",),
        ("import",),
        ("summary",),
        ("insurer",),
        ("member",),
        ("members", "import"),
        ("members", "export"),
        ("audit", "log"),
        ("demo",),
    } <= set(ALL_COMMANDS)


@pytest.mark.parametrize("path", [(), *ALL_COMMANDS], ids=lambda p: " ".join(p) or "exposure")
def test_every_command_has_help_with_an_example(path):
    command = _command(path)

    result = CliRunner().invoke(main, [*path, "--help"])

    assert result.exit_code == 0
    assert command.help, f"`exposure {' '.join(path)}` has no help text"
    assert "Example" in result.stdout, f"`exposure {' '.join(path)} --help` shows no example"


@pytest.mark.parametrize("path", [p for p in ALL_COMMANDS if isinstance(_command(p), click.Group)], ids=" ".join)
def test_every_group_lists_its_commands_with_a_short_help(path):
    group = _command(path)

    assert isinstance(group, click.Group)
    for name, command in _subcommands(group).items():
        assert command.get_short_help_str(), f"`exposure {' '.join(path)} {name}` has no short help"


def test_dash_h_is_help(tmp_path):
    result = run("record", "-h", cwd=tmp_path)

    assert result.returncode == 0
    assert "Example" in result.stdout
    assert "members-enrolled: --insurer --members" in result.stdout


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_after_a_kind_shows_the_record_help(cli, flag):
    result = cli("record", "insurer-informed", "--incident", INCIDENT, flag)

    assert result.exit_code == 0
    assert "insurer-informed: --incident --insurer" in result.stdout
    assert ledger_size(cli.path) == 0
