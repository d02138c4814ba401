"""`audit verify` against random tampering: exit 0 on unchanged content or 3, never a traceback.

A demo store is built once; each run edits a fresh copy of it as an intruder with the file
would (a random row, a random column, a random new value of a random SQLite type; deleted,
inserted and swapped rows; dropped triggers and tables; on PostgreSQL the same through
psycopg, plus retyped columns) and runs `audit verify` on it. Every run goes through the
real `main` entry point in-process (the console script calls nothing else) and every tenth
also through the `exposure` executable in a subprocess: both must exit 0 or 3 with nothing
but one `Error:` line on stderr. Exit 0 is allowed only when the facts read back unchanged.

The runs are seeded (`SEED`): a failure names its run, and the run replays exactly.
"""

from __future__ import annotations

import random
import shutil
import sqlite3
import subprocess
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner

from cli.main import main
from ledger.guards import GUARDS
from tests.support import EXPOSURE

SEED = 20240129
SQLITE_RUNS = 200
POSTGRES_RUNS = 30
SUBPROCESS_EVERY = 10
COLUMNS = ("originator_id", "originator_version", "topic", "state")


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small demo store (the Viamedis and Almerys story, a few members per insurer), verified once."""
    folder = tmp_path_factory.mktemp("demo")
    built = subprocess.run(
        [str(EXPOSURE), "demo", "--dir", str(folder / "demo"), "--members", "3", "--json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    store = folder / "demo" / "demo.db"
    code, _, stderr = verify_as_a_user(store)
    assert code == 0, stderr
    return store


def facts_of(store: Path) -> list[tuple[Any, ...]]:
    """The stored facts as verify reads them: every row in row order, values with their types."""
    db = sqlite3.connect(store)
    try:
        return db.execute(
            "SELECT typeof(originator_id), CAST(originator_id AS BLOB), typeof(originator_version),"
            " CAST(originator_version AS BLOB), typeof(topic), CAST(topic AS BLOB), typeof(state), state"
            " FROM stored_events ORDER BY rowid"
        ).fetchall()
    finally:
        db.close()


# -- random values and edits -------------------------------------------------------------------


def random_value(rng: random.Random, original: list[tuple[Any, ...]]) -> tuple[str, tuple[Any, ...]]:
    """A SQL expression and its parameters for a random value of a random SQLite type."""
    sample = rng.choice(original)
    choices: list[tuple[str, tuple[Any, ...]]] = [
        ("NULL", ()),
        ("?", (rng.choice([0, -1, 1, 2**63 - 1, -(2**63), rng.randint(-5, 500)]),)),
        ("?", (rng.choice([0.0, 1.5, -2.25, 1e300, float("nan")]),)),
        ("?", (rng.choice(["", "a", "exposure:attack-discovered", "{}", '{"kind":"x"}', "\u00e9\u20ac"]),)),
        ("CAST(? AS TEXT)", (bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 12))),)),
        ("?", (bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 40))),)),
        ("CAST(? AS TEXT)", (bytes(sample[7]) if isinstance(sample[7], bytes) else b"x",)),
        ("?", (bytes(sample[7]) if isinstance(sample[7], bytes) else b"x",)),
        ("?", (str(uuid.uuid4()),)),
    ]
    return rng.choice(choices)


def mutate_sqlite(store: Path, rng: random.Random, original: list[tuple[Any, ...]]) -> str:
    """One random edit of the store's event table (or its guards); a description of it."""
    db = sqlite3.connect(store)
    try:
        rowids = [r[0] for r in db.execute("SELECT rowid FROM stored_events ORDER BY rowid")]
        kind = rng.choice(["update", "update", "update", "delete", "insert", "swap", "flip", "drop", "schema"])
        for trigger in GUARDS:
            db.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        row = rng.choice(rowids)
        if kind == "update":
            column = rng.choice(COLUMNS)
            expression, params = random_value(rng, original)
            db.execute(f"UPDATE stored_events SET {column} = {expression} WHERE rowid = ?", (*params, row))
            done = f"set {column} of row {row} to {expression} {params!r:.60}"
        elif kind == "delete":
            db.execute("DELETE FROM stored_events WHERE rowid = ?", (row,))
            done = f"deleted row {row}"
        elif kind == "insert":
            new_rowid = rng.choice([0, -1, max(rowids) + 1, max(rowids) + 7])
            version = rng.choice([len(rowids) + 1, 1, rng.randint(1, len(rowids) + 3)])
            db.execute(
                "INSERT OR IGNORE INTO stored_events (rowid, originator_id, originator_version, topic, state)"
                " SELECT ?, originator_id, ?, topic, state FROM stored_events WHERE rowid = ?",
                (new_rowid, version, row),
            )
            done = f"inserted a copy of row {row} at row id {new_rowid} holding position {version}"
        elif kind == "swap":
            other = rng.choice(rowids)
            column = rng.choice(("topic", "state"))
            a = db.execute(f"SELECT {column} FROM stored_events WHERE rowid = ?", (row,)).fetchone()[0]
            b = db.execute(f"SELECT {column} FROM stored_events WHERE rowid = ?", (other,)).fetchone()[0]
            db.execute(f"UPDATE stored_events SET {column} = ? WHERE rowid = ?", (b, row))
            db.execute(f"UPDATE stored_events SET {column} = ? WHERE rowid = ?", (a, other))
            done = f"swapped the {column} of rows {row} and {other}"
        elif kind == "flip":
            state = bytearray(db.execute("SELECT state FROM stored_events WHERE rowid = ?", (row,)).fetchone()[0])
            if state:
                state[rng.randrange(len(state))] ^= 1 << rng.randrange(8)
            db.execute("UPDATE stored_events SET state = ? WHERE rowid = ?", (bytes(state), row))
            done = f"flipped a bit of the state of row {row}"
        elif kind == "drop":
            done = "dropped the append-only triggers"
        else:
            statement = rng.choice(
                [
                    "ALTER TABLE stored_events DROP COLUMN topic",
                    "ALTER TABLE stored_events RENAME COLUMN state TO payload",
                    "DROP TABLE audit_leaves",
                    "DROP TABLE stored_events",
                    "DELETE FROM audit_leaves WHERE position > 3",
                    "UPDATE audit_leaves SET leaf = 'x' WHERE position = 2",
                ]
            )
            db.execute(statement)
            done = statement
        if kind != "drop" and rng.random() < 0.8:  # most intruders put the triggers back
            for table, statement in GUARDS.values():
                if db.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (table,)).fetchone():
                    db.execute(statement)
        db.commit()
        return done
    finally:
        db.close()


# -- running verify ----------------------------------------------------------------------------


def verify_in_process(store: Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--store", str(store), "audit", "verify"], catch_exceptions=True)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"audit verify raised {type(result.exception).__name__}: {result.exception}")
    return result.exit_code, result.stdout, result.stderr


def verify_as_a_user(store: Path | str, *options: str) -> tuple[int, str, str]:
    """`exposure --store STORE [OPTIONS] audit verify` in a subprocess: (exit code, stdout, stderr)."""
    done = subprocess.run(
        [str(EXPOSURE), "--store", str(store), *options, "audit", "verify"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    return done.returncode, done.stdout, done.stderr


def check_outcome(what: str, outcome: tuple[int, str, str], unchanged: bool) -> None:
    code, stdout, stderr = outcome
    assert "Traceback" not in stderr, f"{what}: {stderr}"
    assert code in (0, 3), f"{what}: exit {code}: {stderr}"
    if code == 3:
        lines = [line for line in stderr.splitlines() if line.strip()]
        assert len(lines) == 1, f"{what}: {lines}"
        assert lines[0].startswith("Error: "), f"{what}: {lines}"
        assert stdout == "", f"{what}: {stdout}"
    else:
        assert unchanged, f"{what}: verify passed, but the stored facts changed"


@pytest.mark.slow
def test_random_tampering_of_a_sqlite_store_never_crashes_verify(demo_store, tmp_path):
    rng = random.Random(SEED)  # noqa: S311 - reproducible tampering, not a secret
    original = facts_of(demo_store)
    key = demo_store.with_suffix(".key")
    codes = {0: 0, 3: 0}
    for run in range(SQLITE_RUNS):
        folder = tmp_path / f"run-{run}"
        folder.mkdir()
        store = folder / "demo.db"
        shutil.copy(demo_store, store)
        shutil.copy(key, store.with_suffix(".key"))
        done = mutate_sqlite(store, rng, original)
        try:
            unchanged = facts_of(store) == original
        except sqlite3.Error:
            unchanged = False
        what = f"run {run} ({done})"
        outcome = verify_in_process(store)
        check_outcome(what, outcome, unchanged)
        if run % SUBPROCESS_EVERY == 0:
            as_user = verify_as_a_user(store)
            check_outcome(f"{what}, as a user", as_user, unchanged)
            assert as_user[0] == outcome[0], what
        codes[outcome[0]] += 1
        shutil.rmtree(folder)
    assert codes[3] > SQLITE_RUNS // 2, codes  # most edits are findings (a few leave the facts as they were)


# -- PostgreSQL --------------------------------------------------------------------------------


def mutate_postgres(url: str, rng: random.Random) -> str:
    """One random edit of a PostgreSQL store's event table as its owner (triggers disabled, then not always enabled)."""
    with psycopg.connect(url, autocommit=True) as conn:
        ids = [int(r[0]) for r in conn.execute("SELECT notification_id FROM exposure_events ORDER BY 1").fetchall()]
        row = rng.choice(ids)
        conn.execute("ALTER TABLE exposure_events DISABLE TRIGGER exposure_events_append_only")
        kind = rng.choice(["state", "topic", "version", "originator", "delete", "insert", "swap", "retype", "drop"])
        if kind == "state":
            value = rng.choice([None, b"", bytes(rng.getrandbits(8) for _ in range(20)), b'{"kind":"x"}'])
            conn.execute("UPDATE exposure_events SET state = %s WHERE notification_id = %s", (value, row))
        elif kind == "topic":
            value = rng.choice([None, "", "exposure:attack-discovered", "\u00e9"])
            conn.execute("UPDATE exposure_events SET topic = %s WHERE notification_id = %s", (value, row))
        elif kind == "version":
            value = rng.choice([0, -1, 2**62, rng.randint(1, len(ids) + 2)])
            conn.execute(
                "UPDATE exposure_events SET originator_version = %s WHERE notification_id = %s AND NOT EXISTS"
                " (SELECT 1 FROM exposure_events e WHERE e.originator_version = %s)",
                (value, row, value),
            )
        elif kind == "originator":
            conn.execute(
                "UPDATE exposure_events SET originator_id = %s WHERE notification_id = %s", (uuid.uuid4(), row)
            )
        elif kind == "delete":
            conn.execute("DELETE FROM exposure_events WHERE notification_id = %s", (row,))
        elif kind == "insert":
            conn.execute(
                "INSERT INTO exposure_events (notification_id, originator_id, originator_version, topic, state)"
                " SELECT %s, originator_id, %s, topic, state FROM exposure_events WHERE notification_id = %s",
                (rng.choice([0, -1]), len(ids) + 1, row),
            )
        elif kind == "swap":
            other = rng.choice(ids)
            conn.execute(
                "UPDATE exposure_events e SET state = o.state FROM exposure_events o"
                " WHERE e.notification_id = %s AND o.notification_id = %s",
                (row, other),
            )
        elif kind == "retype":
            conn.execute("ALTER TABLE exposure_events ALTER COLUMN state TYPE text USING encode(state, 'escape')")
        if kind != "drop" and rng.random() < 0.8:
            conn.execute("ALTER TABLE exposure_events ENABLE TRIGGER exposure_events_append_only")
        return f"{kind} at notification {row}"


def pg_facts(url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return [
            tuple(r)
            for r in conn.execute(
                "SELECT originator_id::text, originator_version, topic, state::text FROM exposure_events"
                " ORDER BY notification_id"
            ).fetchall()
        ]


@pytest.fixture(scope="module")
def pg_template(pg_server: str, demo_store: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """The demo store copied into a PostgreSQL database (verified once), used as a template; and its key file."""
    folder = tmp_path_factory.mktemp("pg-template")
    key = folder / "demo.key"
    shutil.copy(demo_store.with_suffix(".key"), key)
    name = "fuzz_template"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    url = pg_server.replace("/ledger?", f"/{name}?")
    copied = subprocess.run(
        [str(EXPOSURE), "--store", str(demo_store), "--key-file", str(key), "store", "copy", "--to", url],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert copied.returncode == 0, copied.stderr
    code, _, stderr = verify_as_a_user(url, "--key-file", str(key))
    assert code == 0, stderr
    return name, key


@pytest.mark.slow
def test_random_tampering_of_a_postgresql_store_never_crashes_verify(pg_server, pg_template):
    rng = random.Random(SEED)  # noqa: S311 - reproducible tampering, not a secret
    template, key = pg_template
    for run in range(POSTGRES_RUNS):
        name = f"fuzz{run}"
        url = pg_server.replace("/ledger?", f"/{name}?")
        with psycopg.connect(pg_server, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
        original = pg_facts(url)
        done = mutate_postgres(url, rng)
        try:
            unchanged = pg_facts(url) == original
        except psycopg.Error:
            unchanged = False
        check_outcome(f"run {run} ({done})", verify_as_a_user(url, "--key-file", str(key)), unchanged)
        with psycopg.connect(pg_server, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
