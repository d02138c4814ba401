"""A fact's times are the times the user entered (issue 10 §1).

Without `--occurred-on`, a fact happened at its `known_on` instant: a datetime stays
that datetime, a date-only `known_on` is the start of that day in the ledger's zone
(Europe/Paris here). Every answer (obligations, the report's tables, the audit log)
shows the hours that were entered, never midnight.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.support import INCIDENT, Cli

pytestmark = pytest.mark.two_backends  # tests/support: on SQLite and on PostgreSQL

INFORMED_AT = "2024-01-30T10:00:00+01:00"
NOTIFIED_AT = "2024-02-02T16:00:00+01:00"


def record(cli: Cli, kind: str, *keys: str) -> str:
    result = cli("record", kind, *keys)
    assert result.exit_code == 0, result.stderr
    return result.stdout.strip()


def open_incident(cli: Cli, occurred_on: str = "2024-01-22", known_on: str = "2024-01-29") -> None:
    keys = ("--incident", INCIDENT, "--operator", "Viamedis", "--occurred-on", occurred_on, "--known-on", known_on)
    record(cli, "attack-discovered", *keys)


def informed(insurer: str, at: str) -> tuple[str, ...]:
    """`record` arguments: the operator informed `insurer` at `at` (no --occurred-on)."""
    return ("insurer-informed", "--incident", INCIDENT, "--insurer", insurer, "--known-on", at)


def notified(insurer: str, at: str) -> tuple[str, ...]:
    """`record` arguments: `insurer` notified the CNIL at `at` (no --occurred-on)."""
    return ("authority-notified", "--incident", INCIDENT, "--authority", "CNIL", "--insurer", insurer, "--known-on", at)


def readme_chain(cli: Cli) -> None:
    """The README's chain: informed at 10:00, the CNIL notified at 16:00 three days later, no --occurred-on."""
    open_incident(cli)
    record(cli, *informed("malakoff-humanis", INFORMED_AT))
    record(cli, *notified("malakoff-humanis", NOTIFIED_AT))


def logged(cli: Cli, kind: str) -> dict[str, dict[str, Any]]:
    """The `audit log --json` rows of one kind, by insurer."""
    result = cli("audit", "log", "--json")
    assert result.exit_code == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    return {row["insurer"]: row for row in rows if row["kind"] == kind}


def test_the_readme_chain_is_late_by_six_hours(cli):
    readme_chain(cli)

    result = cli("obligations", "--incident", INCIDENT, "--json")

    (mh,) = json.loads(result.stdout)["insurers"]
    assert (mh["aware_at"], mh["deadline"], mh["authority_notified_at"], mh["status"]) == (
        "2024-01-30T09:00:00Z",
        "2024-02-02T09:00:00Z",
        "2024-02-02T15:00:00Z",
        "late",
    )


def test_an_insurer_informed_before_the_spring_dst_change_has_72_real_hours(cli):
    open_incident(cli, occurred_on="2024-03-20", known_on="2024-03-28")
    record(cli, *informed("mh", "2024-03-29T12:00:00+01:00"))

    result = cli("obligations", "--incident", INCIDENT, "--as-known-on", "2024-03-30", "--json")

    (mh,) = json.loads(result.stdout)["insurers"]
    assert (mh["aware_at"], mh["deadline"]) == ("2024-03-29T11:00:00Z", "2024-04-01T11:00:00Z")


def test_occurred_on_defaults_to_the_known_on_instant_and_a_date_to_the_start_of_that_day(cli):
    readme_chain(cli)
    record(cli, *informed("lmg", "2024-02-01"))

    told = logged(cli, "insurer-informed")
    cnil = logged(cli, "authority-notified")["malakoff-humanis"]

    assert cnil["occurred_on"] == cnil["known_on"] == "2024-02-02T15:00:00Z"
    assert told["malakoff-humanis"]["occurred_on"] == "2024-01-30T09:00:00Z"
    assert told["lmg"]["occurred_on"] == told["lmg"]["known_on"] == "2024-01-31T23:00:00Z"  # Paris midnight


def test_without_known_on_a_fact_happened_when_it_was_recorded(cli):
    open_incident(cli)
    before = datetime.now(UTC).replace(microsecond=0)

    record(cli, "insurer-informed", "--incident", INCIDENT, "--insurer", "mh")

    told = logged(cli, "insurer-informed")["mh"]
    assert told["occurred_on"] == told["known_on"]
    assert datetime.fromisoformat(told["occurred_on"]) >= before  # not the start of today


def test_the_report_shows_the_entered_hours_in_both_tables(cli, tmp_path: Path):
    readme_chain(cli)
    target = tmp_path / "report.html"

    result = cli("report", "--incident", INCIDENT, "--html", str(target), "--as-known-on", "2024-02-10")

    assert result.exit_code == 0, result.stderr
    page = target.read_text(encoding="utf-8")
    start = page.index('<section id="obligations">')
    obligations = page[start : page.index("</section>", start)]
    sources = page[page.index('<section id="sources">') :]
    for table in (obligations, sources):
        assert "2024-01-30 10:00" in table
        assert "2024-02-02 16:00" in table
        assert "2024-01-30 00:00" not in table
        assert "2024-02-02 00:00" not in table


def test_a_midnight_fact_is_corrected_by_retracting_and_recording_it_again(cli):
    open_incident(cli)
    old = [
        record(cli, *informed("mh", INFORMED_AT), "--occurred-on", "2024-01-30"),  # as stored before: midnight
        record(cli, *notified("mh", NOTIFIED_AT), "--occurred-on", "2024-02-02"),
    ]
    assert by_status(cli) == ("2024-01-29T23:00:00Z", "on-time")

    for fact_id in old:
        record(cli, "fact-retracted", "--fact", fact_id, "--reason", "occurred_on was midnight")
    record(cli, *informed("mh", INFORMED_AT))
    record(cli, *notified("mh", NOTIFIED_AT))

    assert by_status(cli) == ("2024-01-30T09:00:00Z", "late")
    assert by_status(cli, "--as-known-on", "2024-02-05") == ("2024-01-29T23:00:00Z", "on-time")  # as known then


def by_status(cli: Cli, *args: str) -> tuple[str, str]:
    (mh,) = json.loads(cli("obligations", "--incident", INCIDENT, "--json", *args).stdout)["insurers"]
    return mh["aware_at"], mh["status"]
