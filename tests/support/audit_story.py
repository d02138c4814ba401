"""A small ledger for the audit tests, and the tools of an attacker who holds the store.

The attacker edits eventsourcing's `stored_events` table with sqlite3 directly,
after dropping the append-only triggers, exactly as someone with write access
to the file could. On PostgreSQL the same statements (written for SQLite, translated
by `pg_sql`) edit the `exposure_events` table with psycopg, with the append-only triggers
disabled for the time of the edit, as the tables' owner can.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from ledger.guards import GUARDS
from tests.support import INCIDENT, Cli, Location, fact, is_postgres, opening
from tests.support.independent_verifier import leaf_hash, mth

STORY: list[dict[str, Any]] = [
    opening(source="FSPF"),
    fact("insurer-informed", id="informed-mh", incident=INCIDENT, insurer="mh", known_on="2024-02-01"),
    fact("insurer-confirmed-affected", id="affected-mh", incident=INCIDENT, insurer="mh", known_on="2024-02-01"),
    fact("field-ruled-in", id="exposed", incident=INCIDENT, categories=["nir", "birth_date"], known_on="2024-02-01"),
    fact("insurer-informed", id="informed-mgen", incident=INCIDENT, insurer="mgen", known_on="2024-02-02"),
    fact("insurer-ruled-out", id="ruled-out-mgen", incident=INCIDENT, insurer="mgen", known_on="2024-02-05"),
    fact("field-ruled-out", id="not-bank", incident=INCIDENT, categories=["bank"], known_on="2024-02-07"),
    fact(
        "members-confirmed-affected",
        id="m1-confirmed",
        incident=INCIDENT,
        insurer="mh",
        refs=["m1"],
        known_on="2024-02-08",
    ),
    fact("fact-retracted", id="retract-not-bank", fact="not-bank", known_on="2024-02-09"),
]
ROSTER = "ref,role,contract,from,until,nir\nm1,holder,A,2015-01-01,,\nm2,dependant,A,2015-01-01,,\nm3,holder,B,,,\n"
SIZE = len(STORY) + 1
"""The roster comes first (one members-enrolled fact), then the story."""


def build(cli: Cli, write_file: Callable[[str, str], Path]) -> Cli:
    """The roster of insurer mh (known on 2024-01-01), then the story: 10 facts."""
    roster = write_file("mh.csv", ROSTER)
    result = cli("members", "import", "--insurer", "mh", str(roster), "--known-on", "2024-01-01")
    assert result.exit_code == 0, result.stderr
    story = write_file("story.jsonl", "".join(json.dumps(f) + "\n" for f in STORY))
    result = cli("import", str(story))
    assert result.exit_code == 0, result.stderr
    return cli


def pg_sql(sql: str) -> str:
    """An attacker's SQLite statement on PostgreSQL's events table."""
    sql = sql.replace("stored_events", "exposure_events").replace("rowid", "notification_id").replace("?", "%s")
    return re.sub(r"X'([0-9A-Fa-f]*)'", lambda m: f"'\\x{m.group(1)}'::bytea", sql)


PG_TRIGGERS = (("exposure_events", "exposure_events_append_only"), ("audit_leaves", "audit_leaves_append_only"))


def rows(path: Location) -> list[tuple[int, str, int, str, bytes]]:
    """(rowid, originator_id, version, topic, state) of the stored events, in rowid order."""
    if is_postgres(path):
        with psycopg.connect(str(path)) as conn:
            sql = "SELECT rowid, originator_id, originator_version, topic, state FROM stored_events ORDER BY rowid"
            found = conn.execute(pg_sql(sql)).fetchall()
        return [(int(r[0]), str(r[1]), int(r[2]), str(r[3]), bytes(r[4])) for r in found]
    db = sqlite3.connect(path)
    try:
        return [
            (int(r[0]), str(r[1]), int(r[2]), str(r[3]), bytes(r[4]))
            for r in db.execute(
                "SELECT rowid, originator_id, originator_version, topic, state FROM stored_events ORDER BY rowid"
            )
        ]
    finally:
        db.close()


def independent_root(path: Location) -> str:
    """The root of the stored facts, computed by the standard-library verifier's functions."""
    return mth([leaf_hash(version, topic, state) for _, _, version, topic, state in rows(path)]).hex()


def tamper(path: Location, *statements: tuple[str, tuple[Any, ...]]) -> None:
    """Drop the append-only triggers, run `statements`, put the triggers back, commit: what a forger
    with the file can do (a forger who left the triggers dropped is caught by that alone)."""
    if is_postgres(path):
        with psycopg.connect(str(path)) as conn, conn.transaction():
            for table, trigger in PG_TRIGGERS:
                conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}")
            for sql, params in statements:
                conn.execute(pg_sql(sql), params)
            for table, trigger in PG_TRIGGERS:
                conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER {trigger}")
        return
    db = sqlite3.connect(path)
    try:
        for trigger in GUARDS:
            db.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        for sql, params in statements:
            db.execute(sql, params)
        for _table, statement in GUARDS.values():
            db.execute(statement)
        db.commit()
    finally:
        db.close()


def state_at(path: Location, position: int) -> bytes:
    """The exact stored bytes of the fact at `position`."""
    return next(state for _, _, version, _, state in rows(path) if version == position)


def rewrite(path: Location, position: int, old: bytes, new: bytes) -> bytes:
    """Replace `old` by `new` inside the stored bytes at `position`; return the new bytes."""
    state = state_at(path, position)
    assert old in state, (old, state)
    changed = state.replace(old, new, 1)
    tamper(path, ("UPDATE stored_events SET state = ? WHERE originator_version = ?", (changed, position)))
    return changed


def verify(cli: Cli, *args: str) -> Any:
    """`exposure audit verify ARGS`."""
    return cli("audit", "verify", *args)


def assert_fails_at(result: Any, fragment: str) -> None:
    """Exit 3, nothing on stdout, one `Error:` line holding `fragment`, no traceback."""
    assert result.exit_code == 3, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("Error: ")
    assert fragment in lines[0], lines[0]
