"""The same ledger on a real PostgreSQL server: same answers as SQLite, concurrent writers, append-only,
projections in the same database, `follow`, `store copy`.

The server is started by the tests (tests/support/postgres_server.py, once per session through the
`pg_server` fixture of tests/support/__init__.py); with CI=true a missing PostgreSQL fails the run
instead of skipping. The ledger, projection, CLI and audit modules also run on PostgreSQL
(the `two_backends` marker); this module covers what only a shared server shows.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner

from cli.main import main
from tests.support.postgres_server import fresh_database

STORY = [
    {
        "kind": "attack-discovered",
        "id": "a",
        "incident": "vm",
        "operator": "Viamedis",
        "occurred_on": "2024-01-22",
        "known_on": "2024-01-29",
    },
    {
        "kind": "members-enrolled",
        "id": "r1",
        "insurer": "mh",
        "known_on": "2024-01-01",
        "members": [
            {"ref": "1", "role": "holder", "contract": "A", "nir": "2 95 10 99 126 111 93"},
            {"ref": "2", "role": "dependant", "contract": "B"},
            {"ref": "3", "role": "holder", "contract": "B", "from": "2010-01-01", "until": "2019-12-31"},
        ],
    },
    {
        "kind": "members-enrolled",
        "id": "r2",
        "insurer": "msp",
        "known_on": "2024-01-01",
        "members": [{"ref": "9", "nir": "295109912611193"}],
    },
    {"kind": "insurer-confirmed-affected", "id": "b", "incident": "vm", "insurer": "mh", "known_on": "2024-02-01"},
    {"kind": "insurer-confirmed-affected", "id": "c", "incident": "vm", "insurer": "msp", "known_on": "2024-02-06"},
    {
        "kind": "field-ruled-in",
        "id": "d",
        "incident": "vm",
        "categories": ["nir", "civil_status"],
        "known_on": "2024-02-01",
    },
    {
        "kind": "scope-defined",
        "id": "e",
        "incident": "vm",
        "insurer": "mh",
        "contracts": ["B"],
        "known_on": "2024-02-03",
    },
    {"kind": "fact-retracted", "id": "f", "fact": "e", "known_on": "2024-02-05"},
    {
        "kind": "members-ruled-out",
        "id": "g",
        "incident": "vm",
        "insurer": "mh",
        "refs": ["2"],
        "known_on": "2024-02-06",
    },
]
DATES = ["2024-01-30", "2024-02-01", "2024-02-03", "2024-02-05", "2024-02-06", "2024-02-07"]


@pytest.fixture
def pg_store(pg_server: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[str, dict[str, str]]]:
    name = "t_" + request.node.name.lower().replace("[", "_").replace("]", "")[:40]
    url = fresh_database(pg_server, name)
    env = {**os.environ, "EXPOSURE_KEY_FILE": str(tmp_path / "pg.key")}
    yield url, env
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def projection_state(url: str) -> dict[str, int]:
    """Each projection's ledger position, read from the database itself."""
    with psycopg.connect(url) as conn:
        return {str(n): int(p) for n, p in conn.execute("SELECT name, position FROM projection_state").fetchall()}


def exposure(store: str, env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", "from cli.main import main; main()", "--store", store, *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, input=stdin, check=False, timeout=120)


def load_story(store: str, env: dict[str, str], folder: Path) -> None:
    story = folder / "story.jsonl"
    story.write_text("\n".join(json.dumps(f) for f in STORY) + "\n")
    assert exposure(store, env, "init", "--timezone", "Europe/Paris").returncode == 0
    result = exposure(store, env, "import", str(story))
    assert result.returncode == 0, result.stderr


def answers(store: str, env: dict[str, str]) -> list[object]:
    """Summary, member by NIR and insurer answers at each date, in-process through the real CLI."""
    runner = CliRunner()
    out: list[object] = []
    for day in DATES:
        for args in (
            ["summary", "--incident", "vm"],
            ["member", "--nir", "295109912611193"],
            ["insurer", "--incident", "vm", "--insurer", "mh"],
        ):
            result = runner.invoke(main, ["--store", store, *args, "--as-known-on", day, "--json"], env=env)
            assert result.exit_code == 0, result.output
            data = json.loads(result.stdout)
            data.pop("as_known_on")
            out.append(data)
    return out


def test_postgresql_store_gives_the_same_answers_as_sqlite(
    pg_store: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    url, env = pg_store
    sqlite_folder = tmp_path / "lite"
    sqlite_folder.mkdir()
    sqlite_env = {k: v for k, v in os.environ.items() if k != "EXPOSURE_KEY_FILE"}
    load_story(url, env, tmp_path)
    load_story(str(sqlite_folder / "x.db"), sqlite_env, sqlite_folder)

    on_postgres = answers(url, env)
    on_sqlite = answers(str(sqlite_folder / "x.db"), sqlite_env)

    # Pseudonyms differ (each store has its own key) but every answer is the same.
    assert on_postgres == on_sqlite
    assert on_postgres[0]["members"]["affected"] == 0  # type: ignore[index]


def test_init_is_idempotent_and_a_second_init_keeps_the_facts(
    pg_store: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    url, env = pg_store
    load_story(url, env, tmp_path)

    again = exposure(url, env, "init", "--json")

    assert again.returncode == 0
    assert json.loads(again.stdout)["created"] is False
    log = exposure(url, env, "audit", "log", "--json")
    assert len(log.stdout.splitlines()) == len(STORY)


def test_the_projections_live_in_the_database_beside_the_facts(
    pg_store: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    url, env = pg_store
    load_story(url, env, tmp_path)
    before = answers(url, env)

    with psycopg.connect(url) as conn:
        tables = {str(r[0]) for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        (projected,) = conn.execute("SELECT COUNT(DISTINCT id) FROM facts").fetchone() or (0,)
        (members,) = conn.execute("SELECT COUNT(*) FROM member_versions").fetchone() or (0,)
    elsewhere = tmp_path / "another-machine"
    elsewhere.mkdir()
    from_elsewhere = subprocess.run(
        [
            sys.executable,
            "-c",
            "from cli.main import main; main()",
            "--store",
            url,
            "summary",
            "--incident",
            "vm",
            "--as-known-on",
            DATES[-1],
            "--json",
        ],
        capture_output=True,
        text=True,
        env={**env, "HOME": str(elsewhere)},
        cwd=elsewhere,
        check=False,
        timeout=120,
    )

    assert {
        "exposure_events",
        "exposure_settings",
        "projection_state",
        "facts",
        "member_versions",
        "audit_leaves",
    } <= tables
    assert (projected, members) == (len(STORY), 4)
    assert projection_state(url) == {"facts": len(STORY), "members": 7}  # members: the last roster or scope
    assert from_elsewhere.returncode == 0, from_elsewhere.stderr
    assert {**json.loads(from_elsewhere.stdout), "as_known_on": None} == {**before[-3], "as_known_on": None}
    assert not list(elsewhere.iterdir()), "a PostgreSQL store keeps nothing on the machine that reads it"


def test_the_events_table_refuses_update_and_delete(pg_store: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    url, env = pg_store
    load_story(url, env, tmp_path)

    with psycopg.connect(url, autocommit=True) as conn:
        for statement in (
            "DELETE FROM exposure_events",
            "UPDATE exposure_events SET state = 'x'",
            "TRUNCATE exposure_events",
        ):
            with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                conn.execute(statement)
        (count,) = conn.execute("SELECT COUNT(*) FROM exposure_events").fetchone() or (0,)

    assert count == len(STORY)


def test_rejected_input_writes_nothing_on_postgresql(pg_store: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    url, env = pg_store
    load_story(url, env, tmp_path)

    result = exposure(url, env, "record", "members-ruled-out", "--incident", "vm", "--insurer", "mh", "--refs", "404")

    assert result.returncode == 1
    assert result.stderr.startswith("Error: member ref '404' not enrolled")
    assert len(exposure(url, env, "audit", "log", "--json").stdout.splitlines()) == len(STORY)


PER_WRITER = int(os.environ.get("EXPOSURE_TEST_PER_WRITER", "50"))

WRITER = """
import asyncio, os, sys
from pathlib import Path
from typing import Any
from ledger.store import Store
async def main(store, n, who):
    s = await Store.open(store, Path(os.environ["EXPOSURE_KEY_FILE"]))
    try:
        for i in range(n):
            fact = {"kind": "insurer-informed", "incident": "vm", "insurer": f"ins-{who}-{i}"}
            await s.append([("", fact)], by=f"writer-{who}")
    finally:
        await s.close()
asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
"""


def test_eight_concurrent_writers_lose_nothing(pg_store: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    url, env = pg_store
    load_story(url, env, tmp_path)
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, url, str(PER_WRITER), str(n)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(8)
    ]

    results = []
    for writer in writers:
        _, errors = writer.communicate(timeout=300)
        results.append((writer.returncode, errors))

    assert results == [(0, "")] * 8, results[0][1][-1500:]
    lines = exposure(url, env, "audit", "log", "--json").stdout.splitlines()
    facts = [json.loads(line) for line in lines]
    assert len(facts) == len(STORY) + 8 * PER_WRITER
    assert [f["position"] for f in facts] == list(range(1, len(facts) + 1))
    assert [f["recorded_at"] for f in facts] == sorted(f["recorded_at"] for f in facts)
    assert len({f["recorded_at"] for f in facts}) == len(facts)
    summary = json.loads(exposure(url, env, "summary", "--incident", "vm", "--json").stdout)
    assert len(summary["insurers"]["informed"]) == 8 * PER_WRITER
    # Nine processes caught the shared projections up, each fact exactly once.
    with psycopg.connect(url) as conn:
        (rows, ids, last) = conn.execute("SELECT COUNT(*), COUNT(DISTINCT id), MAX(pos) FROM facts").fetchone() or ()
    assert rows == ids == last == len(facts)
    assert projection_state(url)["facts"] == len(facts)


def test_store_copy_moves_the_demo_ledger_to_postgresql_with_the_same_answers_and_hashes(
    pg_store: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    url, env = pg_store
    lite_env = {k: v for k, v in os.environ.items() if k != "EXPOSURE_KEY_FILE"}
    demo = exposure(str(tmp_path / "unused.db"), lite_env, "demo", "--dir", str(tmp_path / "demo"), "--members", "20")
    assert demo.returncode == 0, demo.stderr
    source = str(tmp_path / "demo" / "demo.db")
    key = str(tmp_path / "demo" / "demo.key")
    copy_env = {**env, "EXPOSURE_KEY_FILE": key}

    copied = exposure(source, {**lite_env, "EXPOSURE_KEY_FILE": key}, "store", "copy", "--to", url, "--json")

    assert copied.returncode == 0, copied.stderr
    assert json.loads(copied.stdout)["facts"] > 50
    for args in (
        ["audit", "log", "--json"],
        ["audit", "head"],
        ["summary", "--incident", "viamedis-2024-01", "--as-known-on", "2024-02-08", "--json"],
        ["member", "--insurer", "alan", "--ref", "AL-000001", "--as-known-on", "2024-02-16", "--json"],
    ):
        before = exposure(source, {**lite_env, "EXPOSURE_KEY_FILE": key}, *args)
        after = exposure(url, copy_env, *args)
        assert after.returncode == 0, after.stderr
        assert after.stdout == before.stdout
    again = exposure(source, {**lite_env, "EXPOSURE_KEY_FILE": key}, "store", "copy", "--to", url)
    assert again.returncode == 1
    assert "already holds a ledger" in again.stderr


ROSTER_WRITER = """
import asyncio, os, sys
from pathlib import Path
from typing import Any
from ledger.store import Store
async def main(store):
    s = await Store.open(store, Path(os.environ["EXPOSURE_KEY_FILE"]))
    try:  # Store.append catches up the light `facts` projection only: the roster rows are left to others
        roster = {"kind": "members-enrolled", "id": "late-roster", "insurer": "msp", "known_on": "2024-01-01",
                  "members": [{"ref": f"n{i}"} for i in range(25)]}
        await s.append([("", roster)])
    finally:
        await s.close()
asyncio.run(main(sys.argv[1]))
"""


def test_follow_keeps_the_shared_projections_current_through_listen_notify(
    pg_store: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    url, env = pg_store
    load_story(url, env, tmp_path)
    command = [sys.executable, "-c", "from cli.main import main; main()", "--store", url, "follow"]
    follower = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not _listening(url):
            time.sleep(0.1)
        written = subprocess.run(
            [sys.executable, "-c", ROSTER_WRITER, url],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert written.returncode == 0, written.stderr

        while time.monotonic() < deadline and projection_state(url)["members"] != len(STORY) + 1:
            time.sleep(0.1)
        with psycopg.connect(url) as conn:
            (rows,) = conn.execute("SELECT COUNT(*) FROM member_versions WHERE insurer = 'msp'").fetchone() or (0,)
    finally:
        follower.send_signal(signal.SIGINT)
        _, errors = follower.communicate(timeout=30)

    assert projection_state(url)["members"] == len(STORY) + 1, errors
    assert rows == 1 + 25
    assert follower.returncode == 0, errors


def _listening(url: str) -> bool:
    """Whether a session of this database is waiting on LISTEN (the follower's subscription)."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'LISTEN%'"
        ).fetchone()
    return bool(row and row[0])


@contextlib.asynccontextmanager
async def opened_story(pg_store: tuple[str, dict[str, str]], folder: Path) -> AsyncIterator[Any]:
    """The Viamedis story loaded through the command line, its store opened in process."""
    from ledger.store import Store  # noqa: PLC0415

    url, env = pg_store
    load_story(url, env, folder)
    store = await Store.open(url, Path(env["EXPOSURE_KEY_FILE"]))
    try:
        yield store
    finally:
        await store.close()


async def cursors_open(db: Any) -> list[str]:
    """The names of the server-side cursors open on this connection now."""
    return [str(r[0]) for r in await db.execute_fetchall("SELECT name FROM pg_cursors")]


async def test_an_export_streams_through_a_server_side_cursor(
    pg_store: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    from projections import queries  # noqa: PLC0415

    open_cursors: list[str] = []
    async with opened_story(pg_store, tmp_path) as store:
        h = await store.horizon("2024-02-10")
        chunks = queries.affected_chunks(store.db, "vm", h)
        async for _insurer, _fields, _implied, rows in chunks:
            assert rows
            open_cursors += await cursors_open(store.db)

    # The rows came from a named cursor kept on the server, not a result set held by the client.
    assert "exposure_stream" in open_cursors


async def test_a_replay_reads_the_stored_projections_through_a_server_side_cursor(
    pg_store: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    from ledger import replay  # noqa: PLC0415

    open_cursors: list[str] = []
    read = 0
    async with opened_story(pg_store, tmp_path) as store:
        await store.catch_up()
        fresh = await replay.fresh_projections(await store.scratch_db(tmp_path / "replay.db"), store.ledger)
        try:
            members = next(v for v in await replay.views(fresh) if v.name == "member_versions")
            async for _row in replay.rows(store.db, members, "the stored projections"):
                read += 1
                open_cursors += await cursors_open(store.db)
        finally:
            await fresh.close()

    # Every member row came through a named cursor kept on the server, not a client-side result set.
    assert read > 0
    assert set(open_cursors) == {"exposure_stream"}
    assert len(open_cursors) == read
