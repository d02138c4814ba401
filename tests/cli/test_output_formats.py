"""One output option set for every query (issue 11), through the real `exposure` command:
--jsonl prints one compact object per row of the answer (or the answer on one line),
--csv a header and one line per row; both carry what --json carries.
"""

from __future__ import annotations

import csv
import io
import json

import pytest

from tests.cli.test_cli import run, seed_story
from tests.support import INCIDENT, NIR_ALICE, Cli, spaced

KNOWN = ("--as-known-on", "2024-02-07")


@pytest.fixture
def story(cli: Cli, write_file) -> Cli:
    """A store holding STORY and a roster of three mh members."""
    return seed_story(cli, write_file)


def exposure(cli: Cli, *args: str):
    """`exposure --store STORE ARGS` in a real process; it must succeed."""
    result = run("--store", str(cli.path), "--key-file", str(cli.key_path), *args)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result


def json_answer(cli: Cli, *args: str):
    return json.loads(exposure(cli, *args, "--json").stdout)


def lines(cli: Cli, *args: str) -> list[dict]:
    text = exposure(cli, *args, "--jsonl").stdout
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def csv_rows(cli: Cli, *args: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(exposure(cli, *args, "--csv").stdout)))


def test_timeline_jsonl_has_one_compact_line_per_entry_of_the_json_answer(story: Cli):
    args = ("timeline", "--incident", INCIDENT, *KNOWN)
    text = exposure(story, *args, "--jsonl").stdout

    assert [json.loads(line) for line in text.splitlines()] == json_answer(story, *args)
    assert all(": " not in line and line.startswith("{") for line in text.splitlines())


def test_timeline_csv_has_a_header_and_one_line_per_entry(story: Cli):
    args = ("timeline", "--incident", INCIDENT, *KNOWN)
    entries = json_answer(story, *args)

    header, *rows = csv_rows(story, *args)

    assert header[:5] == ["known_on", "facts", "retracted", "members_affected", "fields_exposed"]
    assert header[5:] == ["insurers_affected", "insurers_ruled_out", "insurers_informed"]
    assert len(rows) == len(entries)
    for row, entry in zip(rows, entries, strict=True):
        assert row[0] == entry["known_on"]
        assert row[1].split(";") == entry["facts"]
        assert int(row[3]) == entry["members_affected"]
        assert row[4] == ";".join(entry["fields_exposed"])
        assert row[5] == ";".join(entry["insurers"]["affected"])


def test_obligations_jsonl_and_csv_have_one_row_per_insurer(story: Cli):
    args = ("obligations", "--incident", INCIDENT, *KNOWN)
    insurers = json_answer(story, *args)["insurers"]

    assert lines(story, *args) == insurers
    header, *rows = csv_rows(story, *args)
    assert header[0] == "insurer"
    assert [row[0] for row in rows] == [entry["insurer"] for entry in insurers]
    status = header.index("status")
    assert [row[status] for row in rows] == [entry["status"] for entry in insurers]
    notified = header.index("authority_notified_at")
    assert [row[notified] for row in rows] == [entry["authority_notified_at"] or "" for entry in insurers]


def test_member_jsonl_and_csv_have_one_row_per_membership_and_incident(story: Cli):
    args = ("member", "--nir", spaced(NIR_ALICE), *KNOWN)
    (membership,) = json_answer(story, *args)["memberships"]
    (found,) = membership["incidents"]

    assert lines(story, *args) == [{"insurer": membership["insurer"], "ref": membership["ref"], **found}]
    header, row = csv_rows(story, *args)
    assert header == ["insurer", "ref", "incident", "status", "fields", "implied", "because"]
    assert row[:4] == ["mh", "m1", INCIDENT, "presumed"]
    assert row[4] == "birth_date;civil_status;nir"
    assert row[6].split(";") == found["because"]


@pytest.mark.parametrize(
    "args",
    [
        ("summary", "--incident", INCIDENT, *KNOWN),
        ("insurer", "--incident", INCIDENT, "--insurer", "mh", *KNOWN),
        ("diff", "--incident", INCIDENT, "--from", "2024-02-01", "--to", "2024-02-07"),
    ],
    ids=["summary", "insurer", "diff"],
)
def test_an_answer_without_rows_is_one_jsonl_line_equal_to_its_json(story: Cli, args):
    text = exposure(story, *args, "--jsonl").stdout

    assert text.count("\n") == 1
    assert json.loads(text) == json_answer(story, *args)


@pytest.mark.parametrize(
    "args",
    [("summary", "--incident", INCIDENT), ("insurer", "--incident", INCIDENT, "--insurer", "mh")],
    ids=["summary", "insurer"],
)
def test_csv_is_offered_only_where_the_answer_has_rows(story: Cli, args):
    result = run("--store", str(story.path), *args, "--csv")

    assert result.returncode == 2
    assert "--csv" in result.stderr
    assert result.stdout == ""


def test_diff_csv_without_members_is_a_usage_error_and_with_members_lists_them(story: Cli):
    args = ("diff", "--incident", INCIDENT, "--from", "2024-01-01", "--to", "2024-02-07")
    refused = run("--store", str(story.path), *args, "--csv")

    header, *rows = csv_rows(story, *args, "--members")

    assert refused.returncode == 2
    assert "--members" in refused.stderr
    assert header == [
        "incident",
        "insurer",
        "ref",
        "change",
        "before_status",
        "before_fields",
        "after_status",
        "after_fields",
    ]
    assert rows == list(csv.reader(io.StringIO(exposure(story, *args, "--members", "--format", "csv").stdout)))[1:]
    assert lines(story, *args, "--members") == [
        json.loads(line) for line in exposure(story, *args, "--members", "--format", "jsonl").stdout.splitlines()
    ]


def test_a_csv_cell_a_spreadsheet_would_run_is_written_as_text(story: Cli, write_file):
    formula = "=HYPERLINK(1)"
    roster = write_file("formula.csv", f"ref\n{formula}\n")
    assert story("members", "import", "--insurer", "mh", str(roster), "--known-on", "2024-01-02").exit_code == 0

    header, *rows = csv_rows(story, "member", "--insurer", "mh", "--ref", formula, *KNOWN)

    assert rows
    assert all(row[header.index("ref")] == "'" + formula for row in rows)


def test_members_export_takes_the_common_csv_and_jsonl_options_as_the_spec_s_format(story: Cli):
    args = ("members", "export", "--incident", INCIDENT, *KNOWN)

    as_csv = exposure(story, *args, "--csv").stdout
    as_jsonl = exposure(story, *args, "--jsonl").stdout

    assert as_csv == exposure(story, *args).stdout == exposure(story, *args, "--format", "csv").stdout
    assert as_jsonl == exposure(story, *args, "--format", "jsonl").stdout
    assert len(as_jsonl.splitlines()) == len(as_csv.splitlines()) - 1 > 0


def test_members_export_offers_no_single_json_document(story: Cli):
    result = run(
        "--store",
        str(story.path),
        "--key-file",
        str(story.key_path),
        "members",
        "export",
        "--incident",
        INCIDENT,
        "--json",
    )

    assert result.returncode == 2
    assert "--json" in result.stderr


def test_audit_log_jsonl_is_its_json_and_csv_has_one_row_per_fact(story: Cli):
    lines_of_json = exposure(story, "audit", "log", "--json").stdout
    facts = [json.loads(line) for line in lines_of_json.splitlines()]

    header, *rows = csv_rows(story, "audit", "log")

    assert exposure(story, "audit", "log", "--jsonl").stdout == lines_of_json
    assert header == [
        "position",
        "id",
        "kind",
        "known_on",
        "occurred_on",
        "recorded_at",
        "by",
        "source",
        "hash",
        "late",
    ]
    assert [row[:3] for row in rows] == [[str(f["position"]), f["id"], f["kind"]] for f in facts]
    assert [row[8] for row in rows] == [f["hash"] for f in facts]
