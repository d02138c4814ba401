"""Many rosters in a row (`ledger.roster.import_rosters`, as the benchmark imports them):
the next files are checked while this one is appended and the earlier ones projected. The
facts must be those of importing each file alone, the projections those of a rebuild, and a
bad file must stop the import where importing the files one by one would have."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from domain.errors import InvalidFact
from ledger import roster
from ledger.roster import pipeline
from projections import projector
from tests.ledger.test_roster_pipeline import ROWS, projection, write_roster
from tests.support import opened

pytestmark = pytest.mark.two_backends  # tests/support/__init__.py: on SQLite and on PostgreSQL

INSURERS = ("ins-a", "ins-b", "ins-c")


async def test_rosters_imported_in_a_pipeline_give_the_facts_of_one_by_one_and_the_projections_of_a_rebuild(
    store_path, tmp_path, monkeypatch
):
    monkeypatch.setattr(pipeline, "BESIDE_FACTS", 3)  # each roster of three batches is projected beside the next
    files = [write_roster(tmp_path, insurer, n) for n, insurer in enumerate(INSURERS)]
    phases: dict[str, float] = {}
    async with opened(store_path) as store:
        results = await roster.import_rosters(
            store, [(f.stem, str(f)) for f in files], known_on="2024-01-01", phases=phases
        )
        assert [(r["insurer"], r["rows"], r["facts"], r["appended"]) for r in results] == [
            (insurer, ROWS, 3, 3) for insurer in INSURERS
        ]
        assert not await store.members_behind()  # caught up at the end
        piped = await projection(store)

        for file in files:  # the same facts, ids and contents as importing each file alone
            again = await roster.import_roster(store, file.stem, str(file), known_on="2024-01-01")
            assert (again["appended"], again["unchanged"]) == (0, 3)
        await store.rebuild()

        assert await projection(store) == piped
    assert set(phases) == {"check", "append", "catch_up"}
    assert len(piped["member_versions"]) == 3 * ROWS


async def test_a_bad_roster_in_the_pipeline_stops_it_with_the_rosters_before_it_appended(store_path, tmp_path):
    good = write_roster(tmp_path, "ins-a", 0)
    bad = write_roster(tmp_path, "ins-b", 1, bad_line=7_000)
    after = write_roster(tmp_path, "ins-c", 2)
    async with opened(store_path) as store:
        with pytest.raises(InvalidFact, match="line 7000"):
            await roster.import_rosters(store, [(f.stem, str(f)) for f in (good, bad, after)], known_on="2024-01-01")

        await store.catch_up()
        counted = await store.db.execute_fetchall("SELECT insurer, COUNT(*) FROM member_versions GROUP BY insurer")
        assert [tuple(r) for r in counted] == [("ins-a", ROWS)]
        rosters = await store.db.execute_fetchall(
            "SELECT insurer, COUNT(*) FROM facts WHERE kind = 'members-enrolled' GROUP BY insurer"
        )
        assert [tuple(r) for r in rosters] == [("ins-a", 3)]


async def test_the_pipeline_warns_about_each_roster_when_it_is_appended(store_path, tmp_path):
    plain = write_roster(tmp_path, "ins-a", 0)
    odd = tmp_path / "ins-b.csv"
    odd.write_text("ref,email,nir\nb-1,x@example.org,\nb-2,y@example.org,\nb-1,z@example.org,\n", encoding="utf-8")
    again = tmp_path / "ins-c.csv"  # 12 refs repeated across batches checked by different workers
    refs = [f"c-{n - 5_500 if n % 1_000 == 999 else n:06d}" for n in range(ROWS)]
    again.write_text("ref\n" + "".join(f"{ref}\n" for ref in refs), encoding="utf-8")
    heard: list[tuple[str, dict[str, object]]] = []
    told: list[tuple[int, str]] = []
    async with opened(store_path) as store:
        await roster.import_rosters(
            store,
            [("ins-a", str(plain)), ("ins-b", str(odd)), ("ins-c", str(again))],
            warn=lambda kind, **values: heard.append((kind, values)),
            progress=lambda number, phase, _done, _total: told.append((number, phase)),
        )
    kinds = [kind for kind, _ in heard]
    assert kinds.count("new_insurer") == 3
    assert ("ignored_columns", {"columns": ["email"]}) in heard
    assert [values for kind, values in heard if kind == "repeated_rows"] == [{"count": 1}, {"count": 7}]
    assert kinds.index("ignored_columns") > kinds.index("new_insurer")  # ins-b's, said when ins-b is appended
    assert {(0, "check"), (0, "append"), (1, "check"), (1, "append")} <= set(told)


async def test_on_postgresql_the_pipeline_projects_on_its_own_connection_through_the_next_rosters_appends(
    store_path, tmp_path, monkeypatch
):
    monkeypatch.setattr(pipeline, "BESIDE_FACTS", 3)
    files = [write_roster(tmp_path, insurer, n) for n, insurer in enumerate(INSURERS)]
    async with opened(store_path) as store:
        if not store.projects_aside:
            pytest.skip("SQLite has one writer: its projection ends before the next roster is appended")
        appended: list[str] = []
        seen: list[list[str]] = []
        original_append, original_catch_up = store.append_parsed, projector.catch_up_members

        async def append_parsed(parsed: Any, labels: Any) -> Any:
            appended.append(parsed[0].fact.insurer)
            return await original_append(parsed, labels)

        async def catch_up_members(db: Any, *args: Any, **kwargs: Any) -> int:
            if db is not store.write_db:  # aside: the next roster's appends go on meanwhile
                before = len(appended)  # (after the last roster's append, none is left to wait for)
                await asyncio.wait_for(
                    _until(lambda: len(appended) > before or appended[-1] == INSURERS[-1]), timeout=60
                )
                if len(appended) > before:
                    seen.append(list(appended))
            return await original_catch_up(db, *args, **kwargs)

        monkeypatch.setattr(store, "append_parsed", append_parsed)
        monkeypatch.setattr(projector, "catch_up_members", catch_up_members)
        await roster.import_rosters(store, [(f.stem, str(f)) for f in files], known_on="2024-01-01")

        assert seen  # a projection ran on a connection of its own, and a later roster was appended meanwhile
        assert not await store.members_behind()
        counted = await store.db.execute_fetchall("SELECT COUNT(*) FROM member_versions")
        assert [tuple(r) for r in counted] == [(3 * ROWS,)]


async def _until(done: Callable[[], bool]) -> None:
    while not done():
        await asyncio.sleep(0.01)


async def test_rosters_are_checked_several_files_ahead_of_their_appends_up_to_the_bound(
    store_path, tmp_path, monkeypatch
):
    monkeypatch.setattr(pipeline, "CHECKS_AHEAD", 2)
    insurers = [f"ins-{n}" for n in range(5)]
    files = [write_roster(tmp_path, insurer, n) for n, insurer in enumerate(insurers)]
    checked: list[str] = []
    seen_at_first_append: list[int] = []
    real_check, real_append = pipeline._check, pipeline.append_ready

    def check(store: Any, insurer: str, *args: Any) -> Any:
        ready = real_check(store, insurer, *args)
        checked.append(insurer)
        return ready

    async def append_ready(store: Any, ready: Any, *args: Any) -> Any:
        if ready.insurer == insurers[0]:  # taken: two more checked and waiting, then the checks stop
            await asyncio.wait_for(_until(lambda: len(checked) == 3), timeout=120)
            await asyncio.sleep(0.5)
            seen_at_first_append.append(len(checked))
        return await real_append(store, ready, *args)

    monkeypatch.setattr(pipeline, "_check", check)
    monkeypatch.setattr(pipeline, "append_ready", append_ready)
    async with opened(store_path) as store:
        results = await roster.import_rosters(store, [(f.stem, str(f)) for f in files], known_on="2024-01-01")
        counted = await store.db.execute_fetchall("SELECT COUNT(*) FROM member_versions")

    assert seen_at_first_append == [3]
    assert checked == insurers
    assert [r["insurer"] for r in results] == insurers
    assert [tuple(r) for r in counted] == [(5 * ROWS,)]
