"""Roster rows as the members projection stores them, on SQLite and on PostgreSQL, where
they travel as COPY text formatted by the projector (`projections/projector/copying.py`)
and a roster's shared NIRs are probed before its NIR rows are copied."""

from __future__ import annotations

import pytest

from projections import projector
from projections.projector import copying
from projections.projector import members as projector_members
from projections.projector.rows import Row
from tests.support import append, fact, opened, valid_nir

pytestmark = pytest.mark.two_backends  # tests/support/__init__.py: on SQLite and on PostgreSQL

AWKWARD = [  # facts refuse control characters: what COPY text escapes is left the backslash, and NULL's spelling
    {"ref": "back\\slash", "role": "holder", "contract": "a\\tb", "nir": valid_nir("1840175123401")},
    {"ref": "\\N", "role": "dependant", "contract": "\\N", "until": "2020-12-31"},
    {"ref": "plain", "role": "dependant", "contract": "\\", "from": "2019-01-01", "until": "2020-12-31"},
]


def roster(fact_id: str, insurer: str, members: list[dict[str, str]]) -> dict[str, object]:
    return fact("members-enrolled", id=fact_id, insurer=insurer, known_on="2024-01-01", members=members)


async def stored_members(store_path: object) -> list[tuple[object, ...]]:
    async with opened(store_path) as store:
        await store.catch_up()
        found = await store.db.execute_fetchall(
            "SELECT insurer, ref, role, contract, from_day, until_day, nir IS NOT NULL FROM member_versions"
        )
    return sorted(tuple(row) for row in found)


async def test_roster_values_holding_backslashes_are_stored_as_given(store_path):
    await append(store_path, roster("awkward", "mh", AWKWARD))

    stored = await stored_members(store_path)

    assert stored == sorted(
        ("mh", m["ref"], m.get("role"), m.get("contract"), m.get("from"), m.get("until"), "nir" in m) for m in AWKWARD
    )
    assert not copying.plain("mh", [Row(ref=m["ref"], role=m.get("role"), contract=m.get("contract")) for m in AWKWARD])


def test_a_roster_value_with_a_character_copy_text_escapes_is_not_plain():
    for value in ("tab\there", "new\nline", "carriage\rreturn", "nul\x00", "back\\slash"):
        assert not copying.plain("mh", [Row(ref="1"), Row(ref="2", contract=value)])
        assert not copying.plain(value, [Row(ref="1")])
    assert copying.plain("mh", [Row(ref="1"), Row(ref="2", contract="C-12 été")])


async def test_plain_rosters_are_stored_as_given_with_their_nulls(store_path):
    members = [
        {"ref": "1", "role": "holder", "contract": "A", "nir": valid_nir("1840175123402")},
        {"ref": "2"},
        {"ref": "3", "contract": "N", "from": "2010-01-01", "until": "2019-12-31"},
    ]
    await append(store_path, roster("plain", "mh", members))

    stored = await stored_members(store_path)

    assert stored == [
        ("mh", "1", "holder", "A", None, None, True),
        ("mh", "2", None, None, None, None, False),
        ("mh", "3", None, "N", "2010-01-01", "2019-12-31", False),
    ]
    assert copying.plain("mh", [Row(ref=m["ref"], contract=m.get("contract")) for m in members])


async def test_a_nir_shared_within_a_roster_across_rosters_and_across_levels_lists_every_holder(
    store_path, monkeypatch
):
    monkeypatch.setattr(projector_members, "PAGE", 1)  # one roster per transaction,
    monkeypatch.setattr(projector_members, "MEMBER_ROWS_PER_TRANSACTION", 1)
    monkeypatch.setattr(projector_members, "NIR_MERGE_ROWS", 1)  # and nir_recent merged after each
    twice, merged, later, alone = (valid_nir(f"18401751234{n:02d}") for n in range(10, 14))
    await append(
        store_path,
        roster("r1", "mh", [{"ref": "a", "nir": twice}, {"ref": "b", "nir": twice}, {"ref": "c", "nir": merged}]),
        roster("r2", "msp", [{"ref": "d", "nir": merged}, {"ref": "e", "nir": later}, {"ref": "f", "nir": alone}]),
        roster("r3", "alan", [{"ref": "g", "nir": later}, {"ref": "h"}]),
    )

    async with opened(store_path) as store:
        await store.catch_up()
        shared = sorted(tuple(r) for r in await store.db.execute_fetchall("SELECT insurer, ref FROM shared_members"))
        levels = dict(await store.db.execute_fetchall("SELECT name, rows FROM nir_levels"))
        groups = await store.db.execute_fetchall("SELECT COUNT(*) FROM nir_groups")

    # Within r1 (a, b); r2's d with r1's c, merged into nir_members by then; r3's g with r2's e.
    assert shared == [("alan", "g"), ("mh", "a"), ("mh", "b"), ("mh", "c"), ("msp", "d"), ("msp", "e")]
    assert levels["members"] > 0
    assert groups[0][0] == 3


async def test_on_postgresql_nir_recent_is_found_by_a_hash_index_on_the_nir(store_path):
    async with opened(store_path) as store:
        db = store.write_db
        if db.dialect != "postgresql":
            pytest.skip("SQLite keeps nir_recent in key order (WITHOUT ROWID)")
        indexes = [
            str(r[0])
            for r in await db.execute_fetchall("SELECT indexdef FROM pg_indexes WHERE tablename = ?", ("nir_recent",))
        ]
        await db.begin(projector.MEMBERS)
        try:
            await db.index_paths_only()
            plan = await db.execute_fetchall("EXPLAIN SELECT insurer, ref FROM nir_recent WHERE nir = ?", ("x",))
        finally:
            await db.rollback()

    assert indexes == ["CREATE INDEX nir_recent_by_nir ON public.nir_recent USING hash (nir)"]
    assert "nir_recent_by_nir" in "\n".join(str(r[0]) for r in plan)
