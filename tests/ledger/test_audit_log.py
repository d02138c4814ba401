"""`audit log`: filters by kind and recording time, and late entries flagged."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.support import INCIDENT
from tests.support.audit_story import SIZE, assert_fails_at, build, rewrite


@pytest.fixture
def ledger(cli, write_file):
    """The audit story (every fact known weeks before it was recorded), then one fact known now."""
    built = build(cli, write_file)
    result = built("record", "insurer-informed", "--incident", INCIDENT, "--insurer", "harmonie", "--id", "fresh")
    assert result.exit_code == 0, result.stderr
    return built


def logged(ledger, *args: str) -> list[dict[str, object]]:
    result = ledger("audit", "log", "--json", *args)
    assert result.exit_code == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_a_fact_recorded_long_after_it_was_known_is_flagged_late(ledger):
    entries = logged(ledger)

    assert len(entries) == SIZE + 1
    assert all(entry["late"] is True for entry in entries[:SIZE])
    assert entries[-1]["id"] == "fresh"
    assert entries[-1]["late"] is False


def test_the_table_for_people_marks_late_entries(ledger):
    result = ledger("audit", "log")

    assert result.exit_code == 0
    rows = [line for line in result.stdout.splitlines() if "insurer-informed" in line]
    assert len(rows) == 3
    assert ["late" in row for row in rows] == [True, True, False]


def test_kind_filters_the_log_and_repeats(ledger):
    entries = logged(ledger, "--kind", "insurer-informed", "--kind", "fact-retracted")

    assert [e["id"] for e in entries] == ["informed-mh", "informed-mgen", "retract-not-bank", "fresh"]
    assert [e["position"] for e in entries] == [3, 6, 10, 11]


def test_from_and_to_select_by_recording_time(ledger):
    entries = logged(ledger)
    fifth = entries[4]["recorded_at"]
    sixth = entries[5]["recorded_at"]

    selected = logged(ledger, "--from", str(fifth), "--to", str(sixth))

    assert [e["position"] for e in selected] == [5, 6]


def test_a_date_means_the_whole_day_in_the_ledgers_zone(ledger):
    later = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()  # after now in every time zone

    assert logged(ledger, "--from", later) == []
    assert len(logged(ledger, "--to", later)) == SIZE + 1


def test_an_unreadable_time_is_rejected(ledger):
    result = ledger("audit", "log", "--from", "last week")

    assert result.exit_code == 1
    assert result.stderr.startswith("Error: --from: ")


def test_a_fact_that_does_not_decode_is_named_not_a_crash(ledger):
    rewrite(ledger.path, 6, b'{"kind"', b'["kind"')

    assert_fails_at(ledger("audit", "log"), "position 6: the stored fact does not decode")
