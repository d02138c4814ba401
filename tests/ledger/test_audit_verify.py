"""`audit verify` under attack: real stores edited behind the ledger's back, checked through the CLI.

Every test runs on an SQLite file edited with sqlite3 and on a PostgreSQL database edited
with psycopg (tests/support/audit_story.py).

Every attack ends in exit 3 with one `Error: position N: ...` line (or, for a
rewrite of history, a failed consistency proof against a kept head); the
untouched ledger exits 0 and prints the head an independent verifier computes.
"""

from __future__ import annotations

import base64
import json
import re
import sqlite3
import subprocess

import psycopg
import pytest

from tests.support import EXPOSURE, INCIDENT, is_postgres
from tests.support.audit_story import (
    SIZE,
    assert_fails_at,
    build,
    independent_root,
    pg_sql,
    rewrite,
    rows,
    state_at,
    tamper,
    verify,
)
from tests.support.independent_verifier import leaf_hash

pytestmark = pytest.mark.two_backends


@pytest.fixture
def ledger(cli, write_file):
    """The CLI on a store holding the audit story (10 facts)."""
    return build(cli, write_file)


@pytest.fixture
def kept_head(ledger, tmp_path):
    """A checkpoint taken now and kept outside the store, as an auditor would."""
    result = ledger("audit", "head")
    assert result.exit_code == 0, result.stderr
    path = tmp_path / "kept" / "head.txt"
    path.parent.mkdir()
    path.write_text(result.stdout, encoding="utf-8")
    return path


# -- the untouched ledger ---------------------------------------------------------------


def test_an_untouched_ledger_verifies_and_prints_the_head_anyone_can_recompute(ledger):
    result = verify(ledger)

    assert result.exit_code == 0, result.stderr
    assert f"size {SIZE}\n" in result.stdout
    assert f"root {independent_root(ledger.path)}\n" in result.stdout
    assert result.stderr == ""


def test_the_head_is_a_checkpoint_naming_this_ledger_size_and_root(ledger):
    result = ledger("audit", "head")

    origin, size, root, *rest = result.stdout.split("\n")
    assert re.fullmatch(r"exposure\.ledger/[0-9a-f-]{36}", origin)
    assert size == str(SIZE)
    assert base64.b64decode(root).hex() == independent_root(ledger.path)
    assert rest == [""]


def test_a_ledger_that_grew_still_extends_a_head_kept_before(ledger, kept_head):
    recorded = ledger(
        "record", "insurer-informed", "--incident", INCIDENT, "--insurer", "harmonie", "--known-on", "2024-02-10"
    )
    assert recorded.exit_code == 0, recorded.stderr

    result = verify(ledger, "--expect", str(kept_head))

    assert result.exit_code == 0, result.stderr
    assert f"size {SIZE + 1}\n" in result.stdout
    assert f"extends the expected head {SIZE}:" in result.stdout


def test_a_head_given_as_size_and_root_works_like_a_checkpoint(ledger):
    head = f"{SIZE}:{independent_root(ledger.path)}"

    assert verify(ledger, "--expect", head).exit_code == 0
    assert_fails_at(verify(ledger, "--expect", f"{SIZE}:{'0' * 64}"), "does not extend the expected head")


def test_an_export_kept_earlier_serves_as_the_expected_head(ledger, tmp_path):
    export = tmp_path / "kept-export.jsonl"
    assert ledger("audit", "export", str(export)).exit_code == 0
    rewrite(ledger.path, 6, b'"insurer":"mgen"', b'"insurer":"mgem"')
    tamper(ledger.path, ("DELETE FROM audit_leaves", ()))

    assert_fails_at(verify(ledger, "--expect", str(export)), f"does not extend the expected head {SIZE}:")


def test_verify_json_reports_the_head_and_what_was_checked(ledger, kept_head):
    result = verify(ledger, "--expect", str(kept_head), "--json")

    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert (report["size"], report["root"]) == (SIZE, independent_root(ledger.path))
    assert report["expected"] == {"size": SIZE, "root": independent_root(ledger.path)}
    assert report["remembered"] == SIZE  # `audit head` verified and remembered every leaf
    assert report["signed_by"] is None


def test_an_unreadable_expected_head_is_bad_input_not_a_verification_failure(ledger):
    result = verify(ledger, "--expect", "yesterday's head")

    assert result.exit_code == 1
    assert result.stderr.startswith("Error: --expect: ")


# -- edits of stored bytes --------------------------------------------------------------


def test_editing_one_byte_of_a_verified_fact_names_its_position(ledger):
    assert verify(ledger).exit_code == 0

    rewrite(ledger.path, 2, b"Viamedis", b"Viamedix")

    assert_fails_at(verify(ledger), "position 2: the stored fact changed since it was verified")


def test_a_byte_that_breaks_the_encoding_is_caught_without_any_earlier_verification(ledger):
    rewrite(ledger.path, 4, b'{"kind"', b'["kind"')

    assert_fails_at(verify(ledger), "position 4: the stored fact does not decode")


def test_a_fact_whose_kind_no_longer_matches_its_topic_is_caught(ledger):
    rewrite(ledger.path, 8, b'"kind":"field-ruled-out"', b'"kind":"field-ruled-in"')

    assert_fails_at(verify(ledger), "position 8: stored topic 'exposure:field-ruled-out'")


def test_an_edit_is_caught_by_a_kept_head_even_when_the_remembered_leaves_are_gone(ledger, kept_head):
    tamper(ledger.path, ("DELETE FROM audit_leaves", ()))
    rewrite(ledger.path, 3, b'"insurer":"mh"', b'"insurer":"mg"')

    assert_fails_at(verify(ledger, "--expect", str(kept_head)), f"does not extend the expected head {SIZE}:")


# -- deleted, inserted, duplicated, swapped facts ---------------------------------------


def test_deleting_a_fact_names_the_position_that_is_missing(ledger):
    tamper(ledger.path, ("DELETE FROM stored_events WHERE originator_version = 4", ()))

    assert_fails_at(verify(ledger), "position 4: the row appended there holds position 5")


def test_inserting_a_forged_fact_in_the_middle_is_caught(ledger):
    forged = state_at(ledger.path, 4).replace(b'"id":"affected-mh"', b'"id":"forged"')
    statements = [
        (
            "UPDATE stored_events SET originator_version = originator_version + 1 WHERE originator_version = ?",
            (version,),
        )
        for version in range(SIZE, 3, -1)
    ]
    originator = rows(ledger.path)[0][1]
    statements.append(
        ("INSERT INTO stored_events VALUES (?, 4, 'exposure:insurer-confirmed-affected', ?)", (originator, forged))
    )
    tamper(ledger.path, *statements)

    assert_fails_at(verify(ledger), "position 4: the row appended there holds position 5")


def test_a_forged_insertion_that_rebuilds_the_table_in_order_is_caught_by_the_remembered_leaves(ledger):
    assert verify(ledger).exit_code == 0
    original = rows(ledger.path)
    forged = original[3][4].replace(b'"id":"affected-mh"', b'"id":"forged"')
    rebuilt = [
        *original[:3],
        (0, original[3][1], 4, original[3][3], forged),
        *[(0, o, v + 1, t, s) for _, o, v, t, s in original[3:]],
    ]
    tamper(
        ledger.path,
        ("DELETE FROM stored_events", ()),
        *[("INSERT INTO stored_events VALUES (?, ?, ?, ?)", (o, v, t, s)) for _, o, v, t, s in rebuilt],
    )

    assert_fails_at(verify(ledger), "position 4: the stored fact changed since it was verified")


def test_duplicating_a_fact_names_the_copy_and_the_original(ledger):
    _, originator, _, topic, state = rows(ledger.path)[2]
    tamper(ledger.path, ("INSERT INTO stored_events VALUES (?, ?, ?, ?)", (originator, SIZE + 1, topic, state)))

    assert_fails_at(verify(ledger), f"position {SIZE + 1}: fact id 'informed-mh' was already recorded at position 3")


def test_swapping_two_facts_is_caught_by_their_recording_order(ledger):
    (_, _, _, topic4, state4), (_, _, _, topic5, state5) = rows(ledger.path)[3:5]
    tamper(
        ledger.path,
        ("UPDATE stored_events SET topic = ?, state = ? WHERE originator_version = 4", (topic5, state5)),
        ("UPDATE stored_events SET topic = ?, state = ? WHERE originator_version = 5", (topic4, state4)),
    )

    assert_fails_at(verify(ledger), "position 5: recorded_at")


def test_swapping_two_verified_facts_names_the_first_of_them(ledger):
    assert verify(ledger).exit_code == 0
    (_, _, _, topic4, state4), (_, _, _, topic5, state5) = rows(ledger.path)[3:5]
    tamper(
        ledger.path,
        ("UPDATE stored_events SET topic = ?, state = ? WHERE originator_version = 4", (topic5, state5)),
        ("UPDATE stored_events SET topic = ?, state = ? WHERE originator_version = 5", (topic4, state4)),
    )

    assert_fails_at(verify(ledger), "position 4: the stored fact changed since it was verified")


# -- truncation -------------------------------------------------------------------------


def test_truncating_a_verified_log_names_the_first_missing_position(ledger):
    assert verify(ledger).exit_code == 0

    tamper(ledger.path, ("DELETE FROM stored_events WHERE originator_version > ?", (SIZE - 2,)))

    assert_fails_at(verify(ledger), f"position {SIZE - 1}: the log holds {SIZE - 2} facts but {SIZE} were verified")


def test_truncating_the_log_and_its_remembered_leaves_is_caught_by_a_kept_head(ledger, kept_head):
    tamper(
        ledger.path,
        ("DELETE FROM stored_events WHERE originator_version > ?", (SIZE - 2,)),
        ("DELETE FROM audit_leaves", ()),
    )

    assert_fails_at(
        verify(ledger, "--expect", str(kept_head)),
        f"position {SIZE - 1}: the log holds {SIZE - 2} facts but the expected head has {SIZE}",
    )


# -- a rewrite of history with every hash recomputed ------------------------------------


def test_a_rewrite_with_every_hash_recomputed_is_caught_only_against_a_kept_head(ledger, kept_head):
    assert verify(ledger).exit_code == 0
    changed = rewrite(ledger.path, 3, b'"insurer":"mh"', b'"insurer":"mg"')
    new_leaf = leaf_hash(3, "exposure:insurer-informed", changed)
    tamper(ledger.path, ("UPDATE audit_leaves SET leaf = ? WHERE position = 3", (new_leaf,)))

    self_consistent = verify(ledger)
    against_kept_head = verify(ledger, "--expect", str(kept_head))

    assert self_consistent.exit_code == 0, "the forger recomputed every hash the store keeps"
    assert_fails_at(against_kept_head, f"does not extend the expected head {SIZE}:")


def test_a_tampered_ledger_exits_3_from_the_real_entry_point(ledger):
    tamper(ledger.path, ("DELETE FROM stored_events WHERE originator_version = 2", ()))

    result = subprocess.run(
        [str(EXPOSURE), "--store", str(ledger.path), "audit", "verify"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )

    assert result.returncode == 3
    assert result.stdout == ""
    assert result.stderr == (
        "Error: position 2: the row appended there holds position 3"
        " (stored row 3: a fact was deleted, inserted or moved)\n"
    )


# -- checkpoints ------------------------------------------------------------------------


def test_a_checkpoint_signed_by_the_trusted_key_verifies(ledger, tmp_path):
    key = tmp_path / "dpo.key"
    assert ledger("audit", "keygen", str(key), "--name", "dpo.example.org").exit_code == 0
    head = tmp_path / "signed-head.txt"
    head.write_text(ledger("audit", "head", "--sign", str(key)).stdout, encoding="utf-8")

    result = verify(ledger, "--expect", str(head), "--trusted-key", f"{key}.pub")

    assert result.exit_code == 0, result.stderr
    assert "checkpoint signed by dpo.example.org" in result.stdout


def test_a_checkpoint_signed_by_another_key_is_rejected(ledger, tmp_path):
    ours, theirs = tmp_path / "ours.key", tmp_path / "theirs.key"
    assert ledger("audit", "keygen", str(ours), "--name", "dpo").exit_code == 0
    assert ledger("audit", "keygen", str(theirs), "--name", "dpo").exit_code == 0
    head = tmp_path / "head.txt"
    head.write_text(ledger("audit", "head", "--sign", str(theirs)).stdout, encoding="utf-8")

    assert_fails_at(verify(ledger, "--expect", str(head), "--trusted-key", f"{ours}.pub"), "not signed by key 'dpo+")


def test_a_signed_checkpoint_edited_after_signing_is_rejected(ledger, tmp_path):
    key = tmp_path / "dpo.key"
    assert ledger("audit", "keygen", str(key), "--name", "dpo").exit_code == 0
    signed = ledger("audit", "head", "--sign", str(key)).stdout
    forged = signed.replace(f"\n{SIZE}\n", f"\n{SIZE - 1}\n", 1)
    head = tmp_path / "head.txt"
    head.write_text(forged, encoding="utf-8")

    assert_fails_at(verify(ledger, "--expect", str(head), "--trusted-key", f"{key}.pub"), "does not match")


def test_a_checkpoint_of_another_ledger_is_rejected(ledger, kept_head):
    text = kept_head.read_text(encoding="utf-8")
    kept_head.write_text(re.sub(r"^exposure\.ledger/\S+", "exposure.ledger/someone-else", text), encoding="utf-8")

    assert_fails_at(
        verify(ledger, "--expect", str(kept_head)), "the checkpoint is for ledger 'exposure.ledger/someone-else'"
    )


# -- append-only triggers ---------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE stored_events SET state = X'7B7D' WHERE originator_version = 1",
        "DELETE FROM stored_events WHERE originator_version = 1",
        "DELETE FROM stored_events",
        "UPDATE audit_leaves SET leaf = X'00' WHERE position = 1",
        "DELETE FROM audit_leaves",
    ],
)
def test_the_store_refuses_to_update_or_delete_facts_and_verified_leaves(ledger, statement):
    assert verify(ledger).exit_code == 0
    before = rows(ledger.path)

    if is_postgres(ledger.path):
        with (
            psycopg.connect(str(ledger.path), autocommit=True) as conn,
            pytest.raises(psycopg.errors.RaiseException, match="append-only"),
        ):
            conn.execute(pg_sql(statement))
    else:
        db = sqlite3.connect(ledger.path)
        try:
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                db.execute(statement)
        finally:
            db.close()

    assert rows(ledger.path) == before
    assert verify(ledger).exit_code == 0


def test_the_audit_reads_large_stored_facts_a_few_at_a_time() -> None:
    from ledger.stored_events import PAGE, PAGE_BYTES, _next_size  # noqa: PLC0415

    roster_fact = (1, "text", b"x" * (700 * 1024))  # a roster fact of ~5,000 members
    small_fact = (1, "text", b"x" * 300)

    # A page of 16 roster facts (11 MB) is followed by pages of about PAGE_BYTES, never 512 such facts.
    assert _next_size([roster_fact] * 16) == PAGE_BYTES // (700 * 1024 + 4)
    assert _next_size([roster_fact] * 16) * 700 * 1024 <= PAGE_BYTES
    # Small facts grow the page up to PAGE rows.
    assert _next_size([small_fact] * 16) == PAGE
    assert _next_size([(1, "t", b"x" * (64 * 1024 * 1024))]) == 1
