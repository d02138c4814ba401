"""`audit replay`: the projections rebuilt from the facts alone are the stored projections.

The stored projections (the read side of the store: tables in the SQLite file, or in
the PostgreSQL database) are edited with sqlite3 or psycopg as a careless migration, a hand
"fix" or an intruder would. `replay` (and `verify --projections`) must name the first
differing table and row; `replay --answers` must also name the first answer that differs,
at the horizon where it differs.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3

import psycopg
import pytest

from ledger import audit as auditing
from tests.support import INCIDENT, NIR_ALICE, NIR_BRUNO, PARIS, Cli, is_postgres, opened
from tests.support.audit_story import SIZE, STORY, assert_fails_at, build, rewrite

pytestmark = pytest.mark.two_backends  # tests/support/__init__.py: on SQLite and on PostgreSQL


@pytest.fixture
def ledger(cli, write_file):
    """The CLI on a store holding the audit story (10 facts), projections caught up and counts cached."""
    built = build(cli, write_file)
    assert built("summary", "--incident", INCIDENT, "--as-known-on", "2024-02-08").exit_code == 0
    return built


def edit_views(path, sql: str, *params: object) -> None:
    """Run one statement on the stored projections (they have no triggers: they are disposable)."""
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


# -- the untouched ledger ----------------------------------------------------------------


def test_replaying_an_untouched_ledger_finds_every_projection_table_identical(ledger):
    result = ledger("audit", "replay", "--json")

    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["facts"] == SIZE
    tables = {t["table"]: t for t in report["tables"]}
    assert {"facts", "member_versions", "member_tallies", "count_cache", "nir_recent + nir_members"} <= set(tables)
    assert tables["facts"]["rows"] == SIZE
    assert tables["member_versions"]["rows"] == 3
    assert tables["count_cache"]["rows"] > 0  # the summary above cached counts: they are compared too
    assert all(len(t["digest"]) == 64 for t in report["tables"])
    assert report["answers"] is None


def test_replay_with_answers_also_compares_every_answer_one_by_one(ledger):
    result = ledger("audit", "replay", "--answers", "--json")

    assert result.exit_code == 0, result.stderr
    answers = json.loads(result.stdout)["answers"]
    known_on_days = {f["known_on"] for f in STORY} | {"2024-01-01"}
    assert answers["knowledge_times"] == len(known_on_days)
    assert answers["recording_times"] == SIZE
    assert (answers["incidents"], answers["insurers"], answers["members"]) == (1, 2, 3)
    horizons = len(known_on_days) + SIZE
    assert answers["answers"] == horizons * (1 + 2 + 3)  # a summary, two insurers, three members each


def test_a_replay_is_deterministic(ledger):
    first = ledger("audit", "replay", "--json")
    second = ledger("audit", "replay", "--json")

    assert first.exit_code == second.exit_code == 0
    assert first.stdout == second.stdout


def test_the_digests_do_not_depend_on_the_backend_or_on_the_history_of_the_store(ledger, tmp_path):
    inputs = tmp_path / "other-inputs"
    inputs.mkdir()

    def write(name: str, text: str):
        path = inputs / name
        path.write_text(text, encoding="utf-8")
        return path

    other = Cli(tmp_path / "other" / "ledger.db")
    assert other("init", "--timezone", PARIS).exit_code == 0
    build(other, write)

    def digests(cli):
        result = cli("audit", "replay", "--json")
        assert result.exit_code == 0, result.stderr
        return {t["table"]: t["digest"] for t in json.loads(result.stdout)["tables"]}

    mine, theirs = digests(ledger), digests(other)

    assert set(mine) == set(theirs)
    for table in ("member_versions", "member_tallies", "member_findings", "retractions", "nir_recent + nir_members"):
        assert mine[table] == theirs[table], table  # same facts, same rows (facts differ: their recorded_at)


def test_replay_reports_its_progress_table_by_table(ledger):
    seen: list[tuple[str, int, int]] = []

    async def run() -> None:
        async with opened(ledger.path) as store:
            await auditing.replay(store, progress=lambda phase, done, total: seen.append((phase, done, total)))

    asyncio.run(run())

    phases = [phase for phase, _, _ in seen]
    assert phases[0] == "rebuild"
    assert {"facts", "member_versions", "count_cache"} <= set(phases)
    assert ("facts", SIZE, SIZE) in seen


# -- edited projections: the first differing table and row are named ---------------------


def test_a_member_missing_from_the_stored_projections_is_named_by_table_and_key(ledger):
    edit_views(ledger.path, "DELETE FROM member_versions WHERE insurer = 'mh' AND ref = 'm2'")

    assert_fails_at(
        ledger("audit", "replay"),
        "replay differs: table member_versions: row insurer='mh', ref='m2', pos=1 is missing from the store",
    )


def test_a_member_missing_is_also_named_by_the_first_answer_it_changes(ledger):
    edit_views(ledger.path, "DELETE FROM member_versions WHERE insurer = 'mh' AND ref = 'm2'")

    assert_fails_at(
        ledger("audit", "replay", "--answers"),
        "replay differs: member mh/m2 in viamedis-2024-01 as known on 2023-12-31T23:00:00Z is only in the replay",
    )


def test_a_maintained_member_count_that_drifted_is_named(ledger):
    edit_views(ledger.path, "UPDATE member_tallies SET members = members + 1 WHERE insurer = 'mh' AND scope = ''")

    assert_fails_at(
        ledger("audit", "replay"),
        "replay differs: table member_tallies: row insurer='mh', scope='', pos=1: members is 4 in the store, 3 from"
        " the facts",
    )


def test_a_drifted_count_is_also_named_by_the_first_count_it_changes(ledger):
    edit_views(ledger.path, "UPDATE member_tallies SET members = members + 1 WHERE insurer = 'mh' AND scope = ''")

    assert_fails_at(
        ledger("audit", "replay", "--answers"),
        "replay differs: insurer mh in viamedis-2024-01 as known on 2024-01-28T23:00:00Z at members.memberships:"
        " stored 4, replayed 3",
    )


def test_a_member_whose_stored_attributes_changed_is_named_with_the_column(ledger):
    edit_views(ledger.path, "UPDATE member_versions SET contract = 'Z' WHERE ref = 'm3'")

    assert_fails_at(
        ledger("audit", "replay"),
        "table member_versions: row insurer='mh', ref='m3', pos=1: contract is 'Z' in the store, 'B' from the facts",
    )


def test_a_stored_member_finding_that_no_fact_supports_is_caught(ledger):
    edit_views(ledger.path, "UPDATE member_findings SET status = 'ruled-out' WHERE ref = 'm1'")

    assert_fails_at(
        ledger("audit", "replay"),
        "table member_findings: row incident='viamedis-2024-01', insurer='mh', ref='m1', pos=9: status is 'ruled-out'",
    )


def test_a_projected_fact_moved_to_another_day_is_caught(ledger):
    edit_views(ledger.path, "UPDATE facts SET known_us = known_us + 86400000000 WHERE id = 'affected-mh'")

    assert_fails_at(ledger("audit", "replay"), "table facts: row pos=4: known_us is ")
    assert_fails_at(ledger("audit", "replay", "--answers"), "summary of viamedis-2024-01 as known on 2024-01-31T23:00")


def test_a_lost_retraction_is_caught(ledger):
    edit_views(ledger.path, "DELETE FROM retractions")

    assert_fails_at(ledger("audit", "replay"), "table retractions: row target_pos=8, pos=10 is missing from the store")


def test_a_projection_that_misdates_a_recording_is_caught(ledger):
    edit_views(ledger.path, "UPDATE facts SET recorded_us = recorded_us + 1000000000 WHERE pos = 3")

    assert_fails_at(ledger("audit", "replay"), "table facts: row pos=3: recorded_us is ")
    result = ledger("audit", "replay", "--answers")
    assert_fails_at(result, "replay differs: the facts visible as known on")
    assert ", as recorded at " in result.stderr


def test_an_edited_fact_body_in_the_projections_is_caught(ledger):
    edit_views(ledger.path, "UPDATE facts SET body = ? WHERE pos = 3", b'{"kind":"insurer-informed"}')

    assert_fails_at(ledger("audit", "replay"), "table facts: row pos=3: body is x'")


def test_a_forged_member_notice_is_caught(ledger):
    edit_views(
        ledger.path,
        "INSERT INTO member_notices (incident, insurer, ref, pos, known_us, occurred_us) VALUES (?, ?, ?, ?, ?, ?)",
        INCIDENT,
        "mh",
        "m2",
        9,
        1707346800000000,
        1707346800000000,
    )

    assert_fails_at(
        ledger("audit", "replay"),
        "table member_notices: row incident='viamedis-2024-01', insurer='mh', ref='m2', pos=9 is in the store but"
        " not in the facts",
    )


def test_an_edited_cached_count_is_caught_by_recomputing_it(ledger):
    edit_views(ledger.path, "UPDATE count_cache SET counts = replace(counts, '3', '7')")

    result = ledger("audit", "replay")

    assert_fails_at(result, "replay differs: table count_cache: row key=")
    assert "counts is " in result.stderr
    assert "from the facts" in result.stderr


def test_a_cached_count_from_nowhere_is_caught(ledger):
    edit_views(
        ledger.path,
        "INSERT INTO count_cache (key, counts, origin) VALUES (?, ?, ?)",
        "f" * 64,
        '{"memberships": 1000000}',
        json.dumps([INCIDENT, None, 0, 0, True]),
    )

    assert_fails_at(ledger("audit", "replay"), f"table count_cache: row key='{'f' * 64}' is in the store but not")


def test_removed_nir_pseudonyms_are_caught(ledger, write_file):
    roster = write_file("nirs.csv", f"ref,nir\nn1,{NIR_ALICE}\nn2,{NIR_BRUNO}\n")
    imported = ledger("members", "import", "--insurer", "mh", str(roster), "--known-on", "2024-01-02")
    assert imported.exit_code == 0, imported.stderr
    assert ledger("audit", "replay").exit_code == 0
    edit_views(ledger.path, "DELETE FROM nir_recent WHERE ref = 'n2'")

    assert_fails_at(ledger("audit", "replay"), "table nir_recent + nir_members: row nir=")
    assert "ref='n2'" in ledger("audit", "replay").stderr


def test_a_dropped_projection_table_is_caught_by_the_rows_it_held(ledger):
    if is_postgres(ledger.path):
        with psycopg.connect(str(ledger.path)) as conn:
            conn.execute("DROP TABLE member_findings")
    else:
        db = sqlite3.connect(ledger.path)
        db.execute("DROP TABLE member_findings")
        db.commit()
        db.close()

    assert_fails_at(  # opening the store creates the table again, empty
        ledger("audit", "replay"), "table member_findings: row incident='viamedis-2024-01', insurer='mh', ref='m1'"
    )


# -- verify --projections, and what queries say after a failure -----------------------------


def test_verify_projections_compares_every_table_digest(ledger):
    result = ledger("audit", "verify", "--projections", "--json")

    assert result.exit_code == 0, result.stderr
    tables = json.loads(result.stdout)["projections"]
    assert {t["table"] for t in tables} >= {"facts", "member_versions", "count_cache"}


def test_verify_projections_names_the_first_differing_table(ledger):
    edit_views(ledger.path, "UPDATE member_tallies SET members = members + 1 WHERE insurer = 'mh' AND scope = ''")

    assert verify_plain(ledger).exit_code == 0  # the facts are intact
    assert_fails_at(ledger("audit", "verify", "--projections"), "table member_tallies: row insurer='mh'")


def verify_plain(ledger):
    return ledger("audit", "verify")


def test_after_a_failed_verification_queries_warn_until_one_passes(ledger):
    edit_views(ledger.path, "UPDATE member_tallies SET members = members + 1 WHERE insurer = 'mh' AND scope = ''")
    assert ledger("audit", "replay").exit_code == 3

    warned = ledger("summary", "--incident", INCIDENT)
    assert verify_plain(ledger).exit_code == 0  # the facts alone are intact: that does not clear a projections failure
    still = ledger("summary", "--incident", INCIDENT)
    edit_views(ledger.path, "UPDATE member_tallies SET members = members - 1 WHERE insurer = 'mh' AND scope = ''")
    assert ledger("audit", "verify", "--projections").exit_code == 0
    quiet = ledger("summary", "--incident", INCIDENT)

    assert warned.exit_code == 0
    assert "Warning: this store failed its last verification" in warned.stderr
    assert "table member_tallies" in warned.stderr
    assert "exposure audit verify --projections" in warned.stderr
    assert "failed its last verification" in still.stderr
    assert quiet.stderr == ""


def test_facts_that_fail_verification_are_not_replayed(ledger):
    rewrite(ledger.path, 5, b'{"kind"', b'["kind"')

    assert_fails_at(ledger("audit", "replay"), "position 5: the stored fact does not decode")
