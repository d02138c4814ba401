"""`audit replay`: the projections rebuilt from the facts alone give the stored answers.

The stored projections (the read side of the store: tables in the SQLite file, or in
the PostgreSQL database) are edited with sqlite3 or psycopg as a careless migration or
a hand "fix" would; replay must name the first answer that differs, at the horizon
where it differs.
"""

from __future__ import annotations

import json
import sqlite3

import psycopg
import pytest

from tests.support import is_postgres
from tests.support.audit_story import SIZE, STORY, assert_fails_at, build, rewrite

pytestmark = pytest.mark.two_backends  # tests/support/__init__.py: on SQLite and on PostgreSQL


@pytest.fixture
def ledger(cli, write_file):
    """The CLI on a store holding the audit story (10 facts), projections caught up."""
    built = build(cli, write_file)
    assert built("audit", "log", "--json").exit_code == 0
    return built


def edit_views(path, sql: str, *params: object) -> None:
    if is_postgres(path):
        with psycopg.connect(str(path)) as conn:
            changed = conn.execute(sql.replace("?", "%s"), params).rowcount
        assert changed > 0, sql
        return
    db = sqlite3.connect(path)
    try:
        changed = db.execute(sql, params).rowcount
        db.commit()
    finally:
        db.close()
    assert changed > 0, sql


def test_replaying_an_untouched_ledger_finds_every_answer_identical(ledger):
    result = ledger("audit", "replay", "--json")

    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    known_on_days = {f["known_on"] for f in STORY} | {"2024-01-01"}
    assert report["facts"] == SIZE
    assert report["knowledge_times"] == len(known_on_days)
    assert report["recording_times"] == SIZE
    assert (report["incidents"], report["insurers"], report["members"]) == (1, 2, 3)
    horizons = len(known_on_days) + SIZE
    assert report["answers"] == horizons * (1 + 2 + 3)  # a summary, two insurers, three members each


def test_a_replay_is_deterministic(ledger):
    first = ledger("audit", "replay")
    second = ledger("audit", "replay")

    assert first.exit_code == second.exit_code == 0
    assert first.stdout == second.stdout


def test_a_member_missing_from_the_stored_projections_is_caught_by_its_answer(ledger):
    edit_views(ledger.path, "DELETE FROM member_versions WHERE insurer = 'mh' AND ref = 'm2'")

    assert_fails_at(
        ledger("audit", "replay"),
        "replay differs: member mh/m2 in viamedis-2024-01 as known on 2023-12-31T23:00:00Z is only in the replay",
    )


def test_a_maintained_member_count_that_drifted_is_caught_by_the_first_count_it_changes(ledger):
    edit_views(ledger.path, "UPDATE member_tallies SET members = members + 1 WHERE insurer = 'mh' AND scope = ''")

    assert_fails_at(
        ledger("audit", "replay"),
        "replay differs: insurer mh in viamedis-2024-01 as known on 2024-01-28T23:00:00Z at members.memberships:"
        " stored 4, replayed 3",
    )


def test_a_member_whose_stored_attributes_changed_is_named_with_the_attribute(ledger):
    edit_views(ledger.path, "UPDATE member_versions SET contract = 'Z' WHERE ref = 'm3'")

    assert_fails_at(
        ledger("audit", "replay"),
        'member mh/m3 in viamedis-2024-01 as known on 2023-12-31T23:00:00Z at contract: stored "Z", replayed "B"',
    )


def test_a_stored_member_finding_that_no_fact_supports_is_caught(ledger):
    edit_views(ledger.path, "UPDATE member_findings SET status = 'ruled-out' WHERE ref = 'm1'")

    assert_fails_at(
        ledger("audit", "replay"),
        "summary of viamedis-2024-01 as known on 2024-02-07T23:00:00Z at members.affected: stored 2, replayed 3",
    )


def test_a_projected_fact_moved_to_another_day_is_caught_on_the_first_day_it_matters(ledger):
    edit_views(ledger.path, "UPDATE facts SET known_us = known_us + 86400000000 WHERE id = 'affected-mh'")

    result = ledger("audit", "replay")

    assert_fails_at(result, "summary of viamedis-2024-01 as known on 2024-01-31T23:00:00Z")
    assert "insurers.affected" in result.stderr


def test_a_lost_retraction_is_caught(ledger):
    edit_views(ledger.path, "DELETE FROM retractions")

    assert_fails_at(ledger("audit", "replay"), "replay differs: the facts visible as known on 2024-02-08T23:00:00Z")


def test_a_projection_that_misdates_a_recording_is_caught_at_the_recording_horizons(ledger):
    edit_views(ledger.path, "UPDATE facts SET recorded_us = recorded_us + 1000000000 WHERE pos = 3")

    result = ledger("audit", "replay")

    assert_fails_at(result, "replay differs: the facts visible as known on")
    assert ", as recorded at " in result.stderr


def test_facts_that_fail_verification_are_not_replayed(ledger):
    rewrite(ledger.path, 5, b'{"kind"', b'["kind"')

    assert_fails_at(ledger("audit", "replay"), "position 5: the stored fact does not decode")
