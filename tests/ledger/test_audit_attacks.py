"""The attacks of issue 10 on the audit commands, each performed, then checked through the real
`exposure` executable (a subprocess: what a user runs, with the traceback it would print).

Every audit command reads a tampered event table without crashing: exit 3 and one
`Error: ...` line naming the position or what is missing, never a Python traceback.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import subprocess
import time

import psycopg
import pytest

from ledger.guards import GUARDS
from tests.support import EXPOSURE, INCIDENT, Location, is_postgres, key_path
from tests.support.audit_story import SIZE, build, independent_root, rows, tamper
from tests.support.independent_verifier import leaf_hash

pytestmark = pytest.mark.two_backends

AUDIT_COMMANDS = (
    ("audit", "verify"),
    ("audit", "head"),
    ("audit", "replay"),
    ("audit", "log", "--json"),
    ("audit", "export", "-"),
)


@pytest.fixture
def ledger(cli, write_file):
    """The audit story (10 facts), verified once: its leaves are remembered."""
    built = build(cli, write_file)
    assert built("audit", "verify").exit_code == 0
    return built


def exposure(location: Location, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`exposure --store LOCATION ARGS` as a user runs it."""
    return subprocess.run(
        [str(EXPOSURE), "--store", str(location), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


def record_one_more(location: Location) -> subprocess.CompletedProcess[str]:
    """`exposure record` of one more fact, as a user would after the store was tampered with."""
    return exposure(
        location,
        "record",
        "insurer-informed",
        "--incident",
        INCIDENT,
        "--insurer",
        "harmonie",
        "--known-on",
        "2024-02-10",
    )


def assert_refused(result: subprocess.CompletedProcess[str], fragment: str, code: int = 3) -> None:
    """Exit `code`, one `Error:` line holding `fragment` (after any stdout the command streamed), no traceback."""
    assert result.returncode == code, (result.returncode, result.stdout[-500:], result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("Error: "), lines
    assert fragment in lines[0], lines[0]


def raw_sql(location: Location, *statements: str) -> None:
    """Statements run on the store as its owner, triggers untouched (to drop or alter them)."""
    if is_postgres(location):
        with psycopg.connect(str(location), autocommit=True) as conn:
            for statement in statements:
                conn.execute(statement)
        return
    db = sqlite3.connect(location)
    try:
        for statement in statements:
            db.execute(statement)
        db.commit()
    finally:
        db.close()


# -- the natural tamper: replace() makes the stored bytes TEXT ---------------------------------


@pytest.mark.sqlite_only  # SQLite's dynamic types: PostgreSQL's bytea column cannot hold TEXT
def test_a_replace_that_turns_the_stored_bytes_into_text_fails_every_audit_command_cleanly(ledger):
    raw_sql(
        ledger.path,
        "DROP TRIGGER exposure_facts_no_update",
        "UPDATE stored_events SET state = replace(state, 'a', 'b') WHERE originator_version = 4",
    )

    for command in AUDIT_COMMANDS:
        assert_refused(exposure(ledger.path, *command), "position 4: stored row 4: state is TEXT, not BLOB")


@pytest.mark.sqlite_only  # SQLite's dynamic types
@pytest.mark.parametrize(
    ("column", "value", "said"),
    [
        ("originator_version", "'four'", "originator_version is TEXT, not INTEGER"),
        ("originator_version", "4.5", "originator_version is REAL, not INTEGER"),
        ("topic", "NULL", "topic is NULL, not TEXT"),
        ("topic", "CAST(X'FFFE' AS TEXT)", "topic is not UTF-8 text"),
        ("originator_id", "X'00'", "originator_id is BLOB, not TEXT"),
        ("state", "NULL", "state is NULL, not BLOB"),
    ],
)
def test_a_value_of_the_wrong_type_is_named_by_position_and_column(ledger, column, value, said):
    tamper(ledger.path, (f"UPDATE stored_events SET {column} = {value} WHERE originator_version = 4", ()))

    assert_refused(exposure(ledger.path, "audit", "verify"), f"position 4: stored row 4: {said}")


@pytest.mark.sqlite_only  # the SQLite file's own schema
def test_a_missing_column_of_the_event_table_is_named(ledger):
    tamper(ledger.path, ("ALTER TABLE stored_events DROP COLUMN topic", ()))

    assert_refused(exposure(ledger.path, "audit", "verify"), "the event table stored_events has no column topic")


def test_dropped_append_only_triggers_fail_verification_even_with_the_facts_intact(ledger):
    if is_postgres(ledger.path):
        raw_sql(ledger.path, "DROP TRIGGER exposure_events_append_only ON exposure_events")
        missing = "trigger exposure_events_append_only"
    else:
        raw_sql(ledger.path, "DROP TRIGGER exposure_facts_no_delete")
        missing = "trigger exposure_facts_no_delete"

    first = exposure(ledger.path, "audit", "verify")
    again = exposure(ledger.path, "audit", "verify")  # opening the store does not put the trigger back

    assert_refused(
        first, f"the append-only guards were removed (the store was edited outside the ledger): missing {missing}"
    )
    assert_refused(again, missing)


@pytest.mark.sqlite_only  # PostgreSQL: a disabled trigger is the same finding (test below)
def test_a_trigger_replaced_by_one_that_lets_everything_through_is_named(ledger):
    raw_sql(
        ledger.path,
        "DROP TRIGGER exposure_facts_no_update",
        "CREATE TRIGGER exposure_facts_no_update BEFORE UPDATE ON stored_events BEGIN SELECT 1; END",
    )

    assert_refused(exposure(ledger.path, "audit", "verify"), "trigger exposure_facts_no_update (altered)")


def test_a_disabled_trigger_is_named(ledger):
    if not is_postgres(ledger.path):
        pytest.skip("SQLite triggers cannot be disabled, only dropped (test above)")
    raw_sql(ledger.path, "ALTER TABLE exposure_events DISABLE TRIGGER exposure_events_append_only")

    assert_refused(exposure(ledger.path, "audit", "verify"), "trigger exposure_events_append_only (disabled)")


# -- a row outside the sequence ---------------------------------------------------------------


def insert_at_row_zero(location: Location) -> None:
    """Slip a copy of the last fact in at row id 0 (notification id 0), holding the next position."""
    _rowid, originator, _version, topic, state = rows(location)[-1]
    if is_postgres(location):
        with psycopg.connect(str(location)) as conn, conn.transaction():
            conn.execute("ALTER TABLE exposure_events DISABLE TRIGGER exposure_events_append_only")
            conn.execute(
                "INSERT INTO exposure_events (notification_id, originator_id, originator_version, topic, state)"
                " VALUES (0, %s, %s, %s, %s)",
                (originator, SIZE + 1, topic, state),
            )
            conn.execute("ALTER TABLE exposure_events ENABLE TRIGGER exposure_events_append_only")
        return
    tamper(
        location,
        (
            "INSERT INTO stored_events (rowid, originator_id, originator_version, topic, state) VALUES (0, ?, ?, ?, ?)",
            (originator, SIZE + 1, topic, state),
        ),
    )


def test_a_row_slipped_in_at_row_id_zero_is_found_by_verify(ledger):
    insert_at_row_zero(ledger.path)

    assert_refused(
        exposure(ledger.path, "audit", "verify"),
        f"position 1: the row appended there holds position {SIZE + 1} (stored row 0",
    )


def test_a_row_slipped_in_at_row_id_zero_does_not_make_record_hang(ledger):
    insert_at_row_zero(ledger.path)

    started = time.monotonic()
    result = record_one_more(ledger.path)
    elapsed = time.monotonic() - started

    assert_refused(result, f"position {SIZE + 1} is taken by a row the ledger's log does not show", code=1)
    assert "exposure audit verify" in result.stderr
    assert elapsed < 10, elapsed


# -- a recorded_at at the end of time -----------------------------------------------------------


def forge_recorded_at(location: Location, position: int, year: str) -> None:
    """Rewrite the fact at `position` to claim `recorded_at` in `year`, and its remembered leaf with it."""
    _rowid, _originator, version, topic, state = next(r for r in rows(location) if r[2] == position)
    data = json.loads(state)
    data["recorded_at"] = f"{year}-12-31T23:59:59.999999Z"
    forged = json.dumps(data, separators=(",", ":")).encode()
    tamper(
        location,
        ("UPDATE stored_events SET state = ? WHERE originator_version = ?", (forged, version)),
        ("UPDATE audit_leaves SET leaf = ? WHERE position = ?", (leaf_hash(version, topic, forged), version)),
    )


def test_a_recorded_at_in_the_year_9999_fails_verification(ledger):
    forge_recorded_at(ledger.path, SIZE, "9999")

    assert_refused(
        exposure(ledger.path, "audit", "verify"),
        f"position {SIZE}: recorded_at 9999-12-31T23:59:59.999999Z lies in the future",
    )


def test_a_recorded_at_in_the_year_9999_is_a_clear_error_on_the_next_append(ledger):
    forge_recorded_at(ledger.path, SIZE, "9999")
    end_of_time = 253402300799999999  # 9999-12-31T23:59:59.999999Z in microseconds
    raw_sql(ledger.path, f"UPDATE facts SET recorded_us = {end_of_time} WHERE pos = {SIZE}")  # as a rebuild would

    result = record_one_more(ledger.path)

    assert_refused(result, f"the fact at position {SIZE} claims to be recorded at 9999-12-31T23:59:59.999999Z", code=1)
    assert "OverflowError" not in result.stderr


# -- verify's options ----------------------------------------------------------------------------


def test_a_head_of_an_empty_log_with_any_other_root_is_refused(ledger):
    result = exposure(ledger.path, "audit", "verify", "--expect", f"0:{'ab' * 32}")

    assert_refused(result, "the head of an empty log has root e3b0c442", code=1)


def test_a_head_with_digits_of_another_script_is_refused(ledger):
    root = independent_root(ledger.path)

    result = exposure(ledger.path, "audit", "verify", "--expect", f"\u0661\u0660:{root}")  # Arabic-Indic "10"

    assert_refused(result, "--expect: a head is SIZE:ROOT", code=1)


def test_trusted_key_without_a_checkpoint_is_a_usage_error(ledger, tmp_path):
    key = tmp_path / "dpo.key"
    assert exposure(ledger.path, "audit", "keygen", str(key), "--name", "dpo").returncode == 0
    root = independent_root(ledger.path)

    alone = exposure(ledger.path, "audit", "verify", "--trusted-key", f"{key}.pub")
    with_bare_head = exposure(
        ledger.path, "audit", "verify", "--expect", f"{SIZE}:{root}", "--trusted-key", f"{key}.pub"
    )
    head = tmp_path / "head.txt"
    head.write_text(exposure(ledger.path, "audit", "head", "--sign", str(key)).stdout, encoding="utf-8")
    not_a_key = exposure(ledger.path, "audit", "verify", "--expect", str(head), "--trusted-key", "nonsense")

    for result in (alone, with_bare_head, not_a_key):
        assert result.returncode == 2, (result.returncode, result.stderr)
        assert "Traceback" not in result.stderr
    assert "--trusted-key checks the signature of a checkpoint" in alone.stderr
    assert "bare SIZE:ROOT head" in with_bare_head.stderr
    assert "Invalid value for --trusted-key: nonsense: not a public key" in not_a_key.stderr


def test_a_signed_checkpoint_verified_without_a_trusted_key_says_its_signature_was_not_checked(ledger, tmp_path):
    key = tmp_path / "dpo.key"
    created = exposure(ledger.path, "audit", "keygen", str(key), "--name", "dpo")
    signed = exposure(ledger.path, "audit", "head", "--sign", str(key)).stdout
    name_and_signature = base64.b64decode(signed.rsplit(" ", 1)[1])
    broken = name_and_signature[:4] + bytes(64)  # the key id kept, the signature zeroed
    corrupted = signed.rsplit(" ", 1)[0] + " " + base64.b64encode(broken).decode() + "\n"
    head = tmp_path / "head.txt"
    head.write_text(corrupted, encoding="utf-8")

    result = exposure(ledger.path, "audit", "verify", "--expect", str(head))

    assert result.returncode == 0, result.stderr
    fingerprint = created.stdout.split("dpo+", 1)[1][:8]
    assert result.stderr == (
        f"Warning: the checkpoint's signature by dpo+{fingerprint} was NOT checked: give --trusted-key with the"
        " signer's public key (.pub) to check it\n"
    )


def test_two_keys_of_the_same_name_are_told_apart_by_their_fingerprints(ledger, tmp_path):
    ours, theirs = tmp_path / "ours.key", tmp_path / "theirs.key"
    our_key = exposure(ledger.path, "audit", "keygen", str(ours)).stdout
    their_key = exposure(ledger.path, "audit", "keygen", str(theirs)).stdout
    head = tmp_path / "head.txt"
    head.write_text(exposure(ledger.path, "audit", "head", "--sign", str(theirs)).stdout, encoding="utf-8")

    result = exposure(ledger.path, "audit", "verify", "--expect", str(head), "--trusted-key", f"{ours}.pub")

    ours_id = our_key.split("exposure-audit+", 1)[1][:8]
    theirs_id = their_key.split("exposure-audit+", 1)[1][:8]
    assert ours_id != theirs_id
    assert_refused(
        result,
        f"not signed by key 'exposure-audit+{ours_id}' (signed by: exposure-audit+{theirs_id})",
    )


def test_a_failing_replay_prints_one_error_line_and_no_asyncio_traceback(ledger):
    raw_sql(ledger.path, "UPDATE member_versions SET contract = 'Z' WHERE ref = 'm3'")

    for args in (("audit", "replay"), ("audit", "replay", "--answers")):
        assert_refused(exposure(ledger.path, *args), "replay differs: ")


def test_a_store_that_failed_verification_makes_queries_warn(ledger):
    tamper(ledger.path, ("DELETE FROM stored_events WHERE originator_version = 4", ()))
    assert exposure(ledger.path, "audit", "verify").returncode == 3

    result = exposure(ledger.path, "audit", "log")  # the audit's own commands report, they do not warn
    summary = exposure(ledger.path, "timeline", "--incident", INCIDENT)

    assert "Warning:" not in result.stderr
    assert "Warning: this store failed its last verification" in summary.stderr
    assert "position 4" in summary.stderr


def test_guards_cover_every_trigger_the_store_creates(ledger):
    if is_postgres(ledger.path):
        pytest.skip("PostgreSQL's triggers are checked by name in guards.POSTGRES_GUARDS")
    db = sqlite3.connect(ledger.path)
    try:
        names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    finally:
        db.close()

    assert names == set(GUARDS)


# -- copies do not launder tampering ---------------------------------------------------------


def test_a_store_that_fails_verification_is_not_copied(ledger, tmp_path):
    tamper(ledger.path, ("DELETE FROM stored_events WHERE originator_version = 4", ()))
    target = tmp_path / "copy" / "copy.db"

    result = exposure(ledger.path, "store", "copy", "--to", str(target))

    assert_refused(result, "position 4: the row appended there holds position 5")
    assert not target.exists()


def test_a_forced_copy_of_a_tampered_store_fails_verification_like_its_source(ledger, tmp_path):
    changed = json.loads(rows(ledger.path)[2][4])
    changed["insurer"] = "mg"
    tamper(
        ledger.path,
        ("UPDATE stored_events SET state = ? WHERE originator_version = 3", (json.dumps(changed).encode(),)),
    )
    source = exposure(ledger.path, "audit", "verify")
    target = tmp_path / "copy" / "copy.db"

    copied = exposure(ledger.path, "store", "copy", "--to", str(target), "--force")
    copy = exposure(target, "--key-file", str(key_path(ledger.path)), "audit", "verify")

    assert_refused(source, "position 3: the stored fact changed since it was verified")
    assert copied.returncode == 0, copied.stderr
    assert_refused(copy, "position 3: the stored fact changed since it was verified")
