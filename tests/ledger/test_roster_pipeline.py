"""Rosters imported in a row (`import_roster(..., catch_up=False)`, as `demo` and the
benchmark do): each roster is projected while the next file is checked by worker
processes. The projections must be exactly those of projecting every fact afresh."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.errors import InvalidFact
from ledger import roster
from ledger.roster import importer
from ledger.store import Store
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
