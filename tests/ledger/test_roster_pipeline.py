"""Rosters imported in a row (`import_roster(..., catch_up=False)`, as `demo` and the
benchmark do): each roster is projected while the next file is checked by worker
processes. The projections must be exactly those of projecting every fact afresh."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from domain.errors import InvalidFact
from ledger import roster
from ledger.roster import importer
from ledger.store import Store
from projections import projector
from tests.support import opened, valid_nir

pytestmark = pytest.mark.two_backends  # tests/support/__init__.py: on SQLite and on PostgreSQL

ROWS = 12_000
"""Three batches of 5,000 rows: the check pass splits the file between its workers."""
TABLES = (
    "member_versions",
    "nir_recent",
    "nir_members",
    "shared_members",
    "member_tallies",
    "multi_members",
    "nir_groups",
    "people_tallies",
)


def write_roster(folder: Path, insurer: str, offset: int, *, bad_line: int | None = None) -> Path:
    """ROWS members; every third one shares its NIR with the same row of the other insurers."""
    lines = ["ref,role,contract,from,until,nir"]
    for n in range(ROWS):
        nir = valid_nir(f"18401{n % 100:02d}{n:06d}") if n % 3 == 0 else valid_nir(f"2{offset:02d}01{n:08d}")
        start = "2019-13-01" if n + 2 == bad_line else f"2019-0{1 + n % 9}-01"
        lines.append(f"{insurer}-{n:06d},{'holder' if n % 4 else 'dependant'},C{n // 4:05d},{start},,{nir}")
    path = folder / f"{insurer}.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


async def projection(store: Store) -> dict[str, list[tuple[object, ...]]]:
    """Every row of the member projections, sorted."""
    tables: dict[str, list[tuple[object, ...]]] = {}
    for table in TABLES:
        found = await store.db.execute_fetchall(f"SELECT * FROM {table}")
        tables[table] = sorted(tuple(row) for row in found)
    return tables


async def test_rosters_imported_in_a_row_are_projected_while_the_next_is_checked(store_path, tmp_path, monkeypatch):
    monkeypatch.setattr(importer, "BESIDE_FACTS", 3)  # one roster of three batches waits, then is projected
    files = [write_roster(tmp_path, insurer, n) for n, insurer in enumerate(("ins-a", "ins-b", "ins-c"))]
    async with opened(store_path) as store:
        for number, file in enumerate(files):
            await roster.import_roster(store, file.stem, str(file), known_on="2024-01-01", catch_up=False)
            assert await store.members_behind()  # this roster waits for the next import
            projected = await store.db.execute_fetchall("SELECT DISTINCT insurer FROM member_versions")
            assert sorted(str(r[0]) for r in projected) == [f.stem for f in files[:number]]
        await store.catch_up()
        piped = await projection(store)

        await store.rebuild()

        assert await projection(store) == piped
    assert len(piped["member_versions"]) == 3 * ROWS
    assert len(piped["nir_groups"]) == ROWS // 3


async def test_small_rosters_wait_to_be_projected_together(store_path, tmp_path):
    files = [write_roster(tmp_path, insurer, n) for n, insurer in enumerate(("ins-a", "ins-b", "ins-c"))]
    async with opened(store_path) as store:
        for file in files:
            await roster.import_roster(store, file.stem, str(file), known_on="2024-01-01", catch_up=False)

        assert await store.members_behind() == 9 < roster.BESIDE_FACTS  # three rosters of three batches
        assert list(await store.db.execute_fetchall("SELECT 1 FROM member_versions LIMIT 1")) == []
        await store.catch_up()
        counted = await store.db.execute_fetchall("SELECT COUNT(*) FROM member_versions")
        assert [tuple(r) for r in counted] == [(3 * ROWS,)]


async def test_a_bad_file_next_in_line_still_leaves_the_roster_before_it_projected(store_path, tmp_path, monkeypatch):
    monkeypatch.setattr(importer, "BESIDE_FACTS", 1)
    good = write_roster(tmp_path, "ins-a", 0)
    bad = write_roster(tmp_path, "ins-b", 1, bad_line=7_000)
    async with opened(store_path) as store:
        await roster.import_roster(store, "ins-a", str(good), known_on="2024-01-01", catch_up=False)
        assert await store.members_behind()

        with pytest.raises(InvalidFact, match="line 7000"):
            await roster.import_roster(store, "ins-b", str(bad), known_on="2024-01-01", catch_up=False)

        assert not await store.members_behind()
        counted = await store.db.execute_fetchall("SELECT insurer, COUNT(*) FROM member_versions GROUP BY insurer")
        assert [tuple(r) for r in counted] == [("ins-a", ROWS)]


async def test_on_postgresql_the_rosters_before_are_projected_on_their_own_connection_while_the_next_is_appended(
    store_path, tmp_path, monkeypatch
):
    monkeypatch.setattr(importer, "BESIDE_FACTS", 1)
    first, second = (write_roster(tmp_path, insurer, n) for n, insurer in enumerate(("ins-a", "ins-b")))
    async with opened(store_path) as store:
        if not store.projects_aside:
            pytest.skip("SQLite has one writer: its catch-up runs beside the check pass only")
        await roster.import_roster(store, "ins-a", str(first), known_on="2024-01-01", catch_up=False)
        appending = asyncio.Event()
        connections: list[int] = []
        original_append, original_catch_up = store.append_parsed, projector.catch_up_members

        async def append_parsed(*args: Any) -> Any:
            appending.set()
            return await original_append(*args)

        async def catch_up_members(db: Any, *args: Any, **kwargs: Any) -> int:
            connections.append(int(next(iter(await db.execute_fetchall("SELECT pg_backend_pid()")))[0]))
            await asyncio.wait_for(appending.wait(), timeout=60)  # the next roster is being appended meanwhile
            return await original_catch_up(db, *args, **kwargs)

        monkeypatch.setattr(store, "append_parsed", append_parsed)
        monkeypatch.setattr(projector, "catch_up_members", catch_up_members)
        await roster.import_roster(store, "ins-b", str(second), known_on="2024-01-01", catch_up=False)

        own = int(next(iter(await store.write_db.execute_fetchall("SELECT pg_backend_pid()")))[0])
        assert connections
        assert own not in connections
        projected = await store.db.execute_fetchall("SELECT DISTINCT insurer FROM member_versions")
        assert [str(r[0]) for r in projected] == ["ins-a"]
        assert await store.members_behind()  # ins-b waits for the next import


async def test_a_catch_up_on_postgresql_joins_by_index_lookups_and_compiles_no_statement(store_path):
    async with opened(store_path) as store:
        db = store.write_db
        if db.dialect != "postgresql":
            pytest.skip("SQLite plans these joins as index lookups by itself")
        regroup = (  # the NIR-group join of the members projection, on tables without statistics
            "EXPLAIN (ANALYZE, FORMAT TEXT) SELECT t.nir, v.multi FROM json_each(?) j"
            " JOIN nir_recent t ON t.nir = j.value"
            " JOIN member_versions v ON v.insurer = t.insurer AND v.ref = t.ref AND v.pos = t.pos"
        )
        scopes = "EXPLAIN (ANALYZE, FORMAT TEXT) SELECT matcher FROM tallied_scopes WHERE insurer = ? ORDER BY pos"

        await db.begin(projector.MEMBERS)
        try:
            await db.index_paths_only()
            joined = "\n".join(str(r[0]) for r in await db.execute_fetchall(regroup, ('["a", "b"]',)))
            scanned = "\n".join(str(r[0]) for r in await db.execute_fetchall(scopes, ("ins-a",)))
        finally:
            await db.rollback()

        assert "Index" in joined
        assert "Seq Scan" not in joined
        assert "Hash Join" not in joined
        assert "Seq Scan" in scanned  # no index on `insurer`: the scan stays, JIT does not follow it
        assert "JIT" not in scanned
