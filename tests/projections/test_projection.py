"""The read side: catch-up exactly once, disposable projections, several writers.

Interruptions are real: an exception raised inside the projector's transaction,
and a process killed with SIGKILL in the middle of a batch. Every test runs on SQLite
and on PostgreSQL (where the projections live in the store's database).
"""

from __future__ import annotations

import itertools
import json
import sqlite3
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from typing import Any

import msgspec
import psycopg
import pytest

from ledger import roster
from projections import projector, queries
from projections.projector import facts as projector_facts
from projections.projector import members as projector_members
from tests.support import (
    INCIDENT,
    NIR_ALICE,
    NIR_CORSE,
    Location,
    append,
    fact,
    is_postgres,
    labelled,
    ledger_size,
    opened,
    opening,
)

pytestmark = pytest.mark.two_backends

DATES = ("2024-01-31", "2024-02-01", "2024-02-08", "2024-02-16")


def many_facts() -> list[dict[str, Any]]:
    """About a hundred facts of most kinds: more than one projector page (64)."""
    refs = [f"m{n}" for n in range(20)]
    facts = [
        opening(),
        fact(
            "members-enrolled",
            id="roster-1",
            insurer="mh",
            known_on="2024-01-01",
            members=[{"ref": r, "nir": NIR_ALICE if r == "m0" else None} for r in refs[:10]],
        ),
        fact(
            "members-enrolled",
            id="roster-2",
            insurer="mh",
            known_on="2024-01-02",
            members=[{"ref": r, "contract": "A"} for r in refs[5:]],
        ),
        fact(
            "members-enrolled",
            id="roster-lmg",
            insurer="lmg",
            known_on="2024-01-01",
            members=[{"ref": "g1", "nir": NIR_ALICE}, {"ref": "g2", "nir": NIR_CORSE}],
        ),
        fact("insurer-confirmed-affected", id="mh-in", incident=INCIDENT, insurer="mh", known_on="2024-02-01"),
        fact("insurer-informed", id="lmg-told", incident=INCIDENT, insurer="lmg", known_on="2024-02-01"),
        fact(
            "field-ruled-in", id="fields", incident=INCIDENT, categories=["nir", "civil_status"], known_on="2024-02-01"
        ),
    ]
    for n in range(40):
        facts.append(
            fact(
                "insurer-informed", id=f"told-{n}", incident=INCIDENT, insurer=f"insurer-{n:02d}", known_on="2024-02-02"
            )
        )
    for n in range(20):
        kind = "members-confirmed-affected" if n % 2 else "members-ruled-out"
        facts.append(
            fact(
                kind,
                id=f"finding-{n}",
                incident=INCIDENT,
                insurer="mh",
                refs=refs[n : n + 3],
                known_on=f"2024-02-{10 + n % 7:02d}",
            )
        )
    for n in range(20):
        facts.append(
            fact(
                "field-suspected",
                id=f"maybe-{n}",
                incident=INCIDENT,
                insurer=f"insurer-{n:02d}",
                categories=["email"],
                known_on="2024-02-03",
            )
        )
    facts += [
        fact(
            "members-notified", id="told-members", incident=INCIDENT, insurer="mh", refs=refs[:4], known_on="2024-02-12"
        ),
        fact("fact-retracted", id="retract-5", fact="finding-5", known_on="2024-02-15"),
        fact("insurer-confirmed-affected", id="lmg-in", incident=INCIDENT, insurer="lmg", known_on="2024-02-08"),
    ]
    return facts


def table_counts(path: Location) -> dict[str, int]:
    if is_postgres(path):
        with psycopg.connect(str(path)) as conn:
            return _counts(conn)
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        counts = _counts(db)
    db.close()
    return counts


def _counts(db: Any) -> dict[str, int]:
    counts = {
        table: int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
        for table in ("facts", "retractions", "member_versions", "member_findings", "member_notices")
    }
    counts["distinct fact ids"] = int(db.execute("SELECT COUNT(DISTINCT id) FROM facts").fetchone()[0])
    return counts


def expected_counts(facts: list[dict[str, Any]]) -> dict[str, int]:
    findings = ("members-confirmed-affected", "members-ruled-out")
    return {
        "facts": len(facts),
        "retractions": sum(f["kind"] == "fact-retracted" for f in facts),
        "member_versions": sum(len(f["members"]) for f in facts if f["kind"] == "members-enrolled"),
        "member_findings": sum(len(f["refs"]) for f in facts if f["kind"] in findings),
        "member_notices": sum(len(f.get("refs") or ()) for f in facts if f["kind"] == "members-notified"),
        "distinct fact ids": len(facts),
    }


async def every_answer(store) -> dict[str, Any]:
    """summary, insurer, member and export answers at several dates, as JSON text."""
    answers: dict[str, Any] = {}
    for day in DATES:
        h = await store.horizon(day)
        answers[f"summary {day}"] = msgspec.to_builtins(await queries.summary(store.db, INCIDENT, h))
        for insurer in ("mh", "lmg"):
            answers[f"insurer {insurer} {day}"] = msgspec.to_builtins(
                await queries.insurer(store.db, INCIDENT, insurer, h)
            )
        for ref in ("m0", "m5", "m12"):
            answers[f"member {ref} {day}"] = msgspec.to_builtins(
                await queries.member(store.db, h, insurer_id="mh", ref=ref)
            )
        answers[f"export {day}"] = [row async for row in queries.affected_members(store.db, INCIDENT, h)]
    return json.loads(json.dumps(answers))


# -- exactly once ---------------------------------------------------------------------


async def test_catch_up_resumes_exactly_once_after_an_exception_mid_batch(store_path, monkeypatch):
    facts = many_facts()
    await append(store_path, *facts)
    async with opened(store_path) as store:
        answers_before = await every_answer(store)
        await projector.drop_tables(store.db)
        await projector.create_tables(store.db)
        real = projector.process_event

        async def crash_at_70(db, pos, item):
            if pos == 70:
                raise RuntimeError("disk unplugged")
            await real(db, pos, item)

        monkeypatch.setattr(projector_facts, "process_event", crash_at_70)
        with pytest.raises(RuntimeError, match="disk unplugged"):
            await store.catch_up()
        interrupted = await projector.position(store.db)
        monkeypatch.setattr(projector_facts, "process_event", real)

        assert interrupted[1] == projector.PAGE  # the first page was committed, the second not at all
        assert table_counts(store_path)["facts"] == projector.PAGE

        await store.catch_up()
        answers_after = await every_answer(store)

    assert table_counts(store_path) == expected_counts(facts)
    assert ledger_size(store_path) == len(facts)
    assert answers_after == answers_before


async def test_the_roster_projection_resumes_exactly_once_after_an_exception(store_path, monkeypatch):
    facts = many_facts()
    await append(store_path, *facts)
    monkeypatch.setattr(projector_members, "PAGE", 1)  # one roster per transaction
    monkeypatch.setattr(projector_members, "MEMBER_ROWS_PER_TRANSACTION", 1)
    async with opened(store_path) as store:
        await projector.drop_tables(store.db)
        await projector.create_tables(store.db)
        real = projector.project_members
        seen: list[str] = []

        async def crash_on_third_roster(db, pos, item, *rest):
            seen.append(item.id)
            if len(seen) == 3:
                raise RuntimeError("out of memory")
            return await real(db, pos, item, *rest)

        monkeypatch.setattr(projector_members, "project_members", crash_on_third_roster)
        with pytest.raises(RuntimeError, match="out of memory"):
            await store.catch_up()
        monkeypatch.setattr(projector_members, "project_members", real)
        partial = table_counts(store_path)["member_versions"]

        await store.catch_up()

    assert partial == 10 + 15  # the first two rosters, one transaction each
    assert table_counts(store_path) == expected_counts(facts)


KILL_MID_BATCH = textwrap.dedent(
    """
    import asyncio, os, signal, sys
    from projections import projector
    from projections.projector import facts as projector_facts
    from ledger.store import Store

    async def main():
        store = await Store.open(sys.argv[1])
        await projector.drop_tables(store.db)
        await projector.create_tables(store.db)
        real = projector_facts.process_event

        async def killed_at_70(db, pos, fact):
            if pos == 70:
                os.kill(os.getpid(), signal.SIGKILL)
            await real(db, pos, fact)

        projector_facts.process_event = killed_at_70
        await store.catch_up()

    asyncio.run(main())
    """
)


async def test_catch_up_resumes_exactly_once_after_the_process_is_killed(store_path):
    facts = many_facts()
    await append(store_path, *facts)
    async with opened(store_path) as store:
        answers_before = await every_answer(store)

    killed = subprocess.run(
        [sys.executable, "-c", KILL_MID_BATCH, str(store_path)], capture_output=True, timeout=60, check=False
    )

    assert killed.returncode == -9, killed.stderr
    assert table_counts(store_path)["facts"] == projector.PAGE
    async with opened(store_path) as store:
        answers_after = await every_answer(store)
    assert table_counts(store_path) == expected_counts(facts)
    assert answers_after == answers_before


async def test_facts_the_projection_ignores_still_advance_its_position(store_path):
    await append(store_path, fact("category-defined", category="medical_transport", label="Invoices"))

    async with opened(store_path) as store:
        position = await store.catch_up()
        _, facts_position = await projector.position(store.db, projector.FACTS)

    assert position == facts_position == 1


# -- disposable projections -----------------------------------------------------------


async def test_rebuilding_the_projections_gives_identical_answers(store_path, tmp_path):
    facts = many_facts()
    await append(store_path, *facts)
    async with opened(store_path) as store:
        before = await every_answer(store)
        counts_before = table_counts(store_path)

        position = await store.rebuild()
        after = await every_answer(store)

    assert position == len(facts)
    assert after == before
    assert table_counts(store_path) == counts_before == expected_counts(facts)


async def test_rebuilding_keeps_the_roster_import_answers(store_path, tmp_path):
    csv = tmp_path / "roster.csv"
    csv.write_text("ref,role,contract,nir\n" + "".join(f"r{n},holder,A,\n" for n in range(30)), encoding="utf-8")
    await append(
        store_path,
        opening(),
        fact("insurer-confirmed-affected", incident=INCIDENT, insurer="mh", known_on="2024-02-01"),
    )
    async with opened(store_path) as store:
        await roster.import_roster(store, "mh", str(csv), known_on="2024-01-01", batch_size=7)
        h = await store.horizon("2024-02-01")
        before = [row async for row in queries.affected_members(store.db, INCIDENT, h)]

        await store.rebuild()
        h = await store.horizon("2024-02-01")
        after = [row async for row in queries.affected_members(store.db, INCIDENT, h)]

    assert len(before) == 30
    assert after == before


# -- several stores on one file -------------------------------------------------------


async def test_a_second_store_on_the_same_file_sees_the_first_ones_appends(store_path):
    async with opened(store_path) as first, opened(store_path) as second:
        await first.append([("", opening())])
        await second.append(
            [("", fact("insurer-confirmed-affected", incident=INCIDENT, insurer="mh", known_on="2024-02-01"))]
        )
        await first.append(
            [("", fact("field-ruled-in", incident=INCIDENT, insurer="mh", categories=["nir"], known_on="2024-02-01"))]
        )

        seen_by_second = msgspec.to_builtins(
            await queries.summary(second.db, INCIDENT, await second.horizon("2024-02-01"))
        )
        seen_by_first = msgspec.to_builtins(
            await queries.summary(first.db, INCIDENT, await first.horizon("2024-02-01"))
        )

    assert seen_by_second == seen_by_first
    assert seen_by_second["insurers"]["affected"] == ["mh"]
    assert seen_by_second["fields"]["exposed"] == ["nir"]
    assert ledger_size(store_path) == 3


async def test_a_store_opened_earlier_validates_against_facts_appended_since(store_path):
    async with opened(store_path) as stale:
        await append(store_path, opening(), fact("insurer-informed", id="told", incident=INCIDENT, insurer="mh"))

        result = await stale.append([("", fact("insurer-informed", id="told", incident=INCIDENT, insurer="mh"))])

    assert result.appended == []
    assert result.unchanged == ["told"]
    assert ledger_size(store_path) == 2


async def test_positions_and_recorded_at_follow_the_append_order(store_path):
    await append(store_path, opening())
    await append(
        store_path,
        fact("insurer-informed", incident=INCIDENT, insurer="mh", known_on="2024-02-01"),
        fact("insurer-informed", incident=INCIDENT, insurer="lmg", known_on="2024-01-30"),
    )

    async with opened(store_path) as store:
        recorded = list(store.facts())

    assert [r.position for r in recorded] == [1, 2, 3]
    assert all(a.timestamp < b.timestamp for a, b in itertools.pairwise(recorded))
    assert all(r.fact.recorded_at == r.timestamp for r in recorded)


async def test_a_roster_appended_while_another_store_answers_is_never_half_seen(store_path):
    # Store.horizon is catch_up + queries.horizon; another writer's roster lands in between.
    # Its fact row is projected by the writer, its member rows are not yet.
    async with opened(store_path) as reader, opened(store_path) as writer:
        await reader.append(
            labelled(
                opening(), fact("insurer-confirmed-affected", incident=INCIDENT, insurer="mh", known_on="2024-02-01")
            )
        )
        await reader.catch_up()
        await writer.append(
            labelled(
                fact(
                    "members-enrolled",
                    id="late-roster",
                    insurer="mh",
                    known_on="2024-01-01",
                    members=[{"ref": "m1"}, {"ref": "m2"}],
                )
            )
        )

        racing = msgspec.to_builtins(
            await queries.summary(reader.db, INCIDENT, await queries.horizon(reader.db, datetime.now(UTC), None))
        )
        settled = msgspec.to_builtins(await queries.summary(reader.db, INCIDENT, await reader.horizon()))

    assert racing["members"]["presumed"] in (0, 2)  # before or after the roster, never between
    assert settled["members"]["presumed"] == 2


WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from ledger.store import Store

    async def main(path, name, count):
        store = await Store.open(path)
        try:
            for n in range(count):
                fact = {"kind": "insurer-informed", "id": f"{name}-{n}", "incident": "viamedis-2024-01",
                        "insurer": f"{name}-insurer-{n}", "known_on": "2024-02-01"}
                await store.append([("", fact)])
        finally:
            await store.close()

    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
    """
)


async def test_writers_in_several_processes_append_every_fact_once_in_a_dense_order(store_path):
    await append(store_path, opening())
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(store_path), name, "15"], stderr=subprocess.PIPE)
        for name in ("a", "b", "c")
    ]
    errors = [w.communicate(timeout=120)[1] for w in writers]

    assert [w.returncode for w in writers] == [0, 0, 0], errors
    async with opened(store_path) as store:
        recorded = list(store.facts())
        summary = msgspec.to_builtins(await queries.summary(store.db, INCIDENT, await store.horizon("2024-02-01")))
    assert [r.position for r in recorded] == list(range(1, 47))
    assert len({r.fact.id for r in recorded}) == 46
    assert all(a.timestamp < b.timestamp for a, b in itertools.pairwise(recorded))
    assert len(summary["insurers"]["informed"]) == 45
    assert table_counts(store_path)["facts"] == 46
