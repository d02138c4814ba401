"""Maintained counts against a count over every member row (issue 14).

One history with shared NIRs (across insurers, within one insurer, in a group of three),
scopes, findings, a re-enrolment that changes a NIR, a roster recorded late and
retractions. At every date, the cold summary (no cached count), the warm one (cached) and
`diff` between dates give what evaluating every member row gives.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from typing import Any

import msgspec
import pytest

from domain.obligations import DEFAULT_RULE, rule
from projections import history, queries
from projections.history import notices
from projections.queries import duplicates
from tests.support import INCIDENT, NIR_ALICE, NIR_BRUNO, NIR_CORSE, append, fact, opened, opening, valid_nir

pytestmark = pytest.mark.two_backends

NIR_DORA = valid_nir("2900575123456")
NIR_EMIL = valid_nir("1881275000111")
NIR_LONE = valid_nir("2010101000001")
NIR_FRED = valid_nir("1770633000222")
NIR_GINA = valid_nir("2650813000333")
DATES = (
    "2024-01-10",
    "2024-01-21",
    "2024-01-30",
    "2024-02-01",
    "2024-02-02",
    "2024-02-03",
    "2024-02-04",
    "2024-02-05",
    "2024-02-06",
    "2024-02-07",
    "2024-02-08",
    "2024-02-09",
    "2024-02-10",
)


def member(ref: str, role: str, contract: str, nir: str | None = None) -> dict[str, Any]:
    return {"ref": ref, "role": role, "contract": contract, **({"nir": nir} if nir else {})}


def roster(fact_id: str, insurer: str, known_on: str, *members: dict[str, Any]) -> dict[str, Any]:
    return fact("members-enrolled", id=fact_id, insurer=insurer, known_on=known_on, members=list(members))


def affected(insurer: str, day: str) -> dict[str, Any]:
    return fact(
        "insurer-confirmed-affected", id=f"{insurer}-affected", incident=INCIDENT, insurer=insurer, known_on=day
    )


HISTORY = (
    opening(),
    roster(
        "r-mh",
        "mh",
        "2024-01-01",
        member("m1", "holder", "A", NIR_ALICE),
        member("m2", "dependant", "A", NIR_BRUNO),
        member("m3", "holder", "B", NIR_CORSE),
        member("m4", "dependant", "B", NIR_CORSE),
        member("m5", "holder", "C"),
        member("m6", "holder", "A", NIR_FRED),
        member("m7", "holder", "B", NIR_GINA),
        member("m8", "holder", "C", NIR_GINA),
    ),
    roster(
        "r-lmg",
        "lmg",
        "2024-01-01",
        member("l1", "holder", "X", NIR_ALICE),
        member("l2", "holder", "X", NIR_BRUNO),
        member("l3", "holder", "Y", NIR_DORA),
        member("l4", "dependant", "Y", NIR_LONE),
        member("l5", "holder", "X", NIR_FRED),
    ),
    roster(
        "r-alan",
        "alan",
        "2024-01-20",
        member("a1", "dependant", "P", NIR_ALICE),
        member("a2", "holder", "P", NIR_EMIL),
        member("a4", "holder", "P", NIR_FRED),
    ),
    affected("mh", "2024-02-01"),
    affected("lmg", "2024-02-01"),
    fact("field-ruled-in", id="fields", incident=INCIDENT, categories=["nir"], known_on="2024-02-01"),
    fact("scope-defined", id="mh-holders", incident=INCIDENT, insurer="mh", roles=["holder"], known_on="2024-02-02"),
    affected("alan", "2024-02-03"),
    fact("members-ruled-out", id="l1-out", incident=INCIDENT, insurer="lmg", refs=["l1"], known_on="2024-02-04"),
    fact("members-confirmed-affected", id="m2-in", incident=INCIDENT, insurer="mh", refs=["m2"], known_on="2024-02-04"),
    roster("r-lmg-2", "lmg", "2024-02-05", member("l3", "holder", "Y", NIR_EMIL)),
    fact("scope-defined", id="lmg-x", incident=INCIDENT, insurer="lmg", contracts=["X", "Y"], known_on="2024-02-06"),
    fact(
        "field-ruled-in",
        id="lmg-fields",
        incident=INCIDENT,
        insurer="lmg",
        categories=["birth_date"],
        known_on="2024-02-07",
    ),
    fact("members-notified", id="alan-told", incident=INCIDENT, insurer="alan", refs=["a1"], known_on="2024-02-03"),
    fact("members-notified", id="mh-told", incident=INCIDENT, insurer="mh", known_on="2024-02-04"),
    fact("members-notified", id="alan-told-a4", incident=INCIDENT, insurer="alan", refs=["a4"], known_on="2024-02-06"),
    fact("members-notified", id="lmg-told", incident=INCIDENT, insurer="lmg", known_on="2024-02-05"),
    fact("fact-retracted", id="alan-wrong", fact="alan-affected", known_on="2024-02-08"),
    roster("r-alan-late", "alan", "2024-01-25", member("a3", "holder", "P", NIR_BRUNO)),
    fact("fact-retracted", id="late-wrong", fact="r-alan-late", known_on="2024-02-09"),
)


async def every_row(db, view, h) -> dict[tuple[str, str], tuple[str, str | None]]:
    """(insurer, ref) -> (status, NIR) of every current member row, one row at a time."""
    sql = f"SELECT insurer, ref, status, nir FROM ({queries.member_status_sql('1 = 1')}) AS m"
    params = {"incident": INCIDENT, "scopes": queries.scopes_json(view), **h.params()}
    async with db.execute(sql, params) as cursor:
        return {(str(i), str(r)): (str(s), n) for i, r, s, n in await cursor.fetchall()}


def counted(rows: dict[tuple[str, str], tuple[str, str | None]]) -> dict[str, int]:
    statuses = Counter(status for status, _ in rows.values())
    hit = [nir for status, nir in rows.values() if status in queries.AFFECTED]
    people = len({n for n in hit if n is not None}) + sum(1 for n in hit if n is None)
    return {
        "confirmed": statuses["confirmed"],
        "presumed": statuses["presumed"],
        "ruled_out": statuses["ruled-out"],
        "affected": len(hit),
        "people": people,
    }


async def test_cold_and_warm_summaries_equal_a_count_of_every_row_at_every_date(store_path):
    await append(store_path, *HISTORY)
    maintained_at = []

    async with opened(store_path) as store:
        for day in DATES:
            h = await store.horizon(day)
            view = await queries.incident_view(store.db, INCIDENT, h)
            await store.db.execute("DELETE FROM count_cache")
            await store.db.commit()

            cold = msgspec.to_builtins(await queries.summary(store.db, INCIDENT, h))
            warm = msgspec.to_builtins(await queries.summary(store.db, INCIDENT, h))
            expected = counted(await every_row(store.db, view, h))

            if cold.get("known") is False:  # asked before the incident was known: no counts to compare
                assert warm == cold
                assert expected["affected"] == 0, day
                continue
            assert cold["members"] == warm["members"] == expected, day
            insurers = await queries.roster_insurers(store.db, h)
            if await duplicates._maintained_repeats(store.db, view, h, insurers) is not None:
                maintained_at.append(day)

    assert "2024-02-05" in maintained_at  # every roster visible: the people tallies answered
    assert "2024-02-10" not in maintained_at  # a retracted roster: counted over the shared rows


@pytest.mark.sqlite_only  # SQLite's query plan; PostgreSQL's planner chooses by its statistics
async def test_a_cold_people_count_finds_the_groups_its_shapes_cannot_count_without_scanning_every_group(
    store_path,
):
    await append(store_path, *HISTORY)

    async with opened(store_path) as store:
        rows = await store.db.execute_fetchall(
            "EXPLAIN QUERY PLAN " + duplicates.UNCOUNTED_GROUPS, {"incident": INCIDENT}
        )
    plan = [str(row[-1]) for row in rows]

    assert "SCAN nir_groups USING INDEX nir_groups_unshaped" in plan
    assert not [step for step in plan if step.startswith("SCAN") and "USING" not in step], plan


async def test_the_maintained_repeats_equal_the_repeats_counted_over_the_shared_rows(store_path):
    await append(store_path, *HISTORY)

    async with opened(store_path) as store:
        for day in DATES:
            h = await store.horizon(day)
            view = await queries.incident_view(store.db, INCIDENT, h)
            for insurers in (["alan", "lmg", "mh"], ["lmg"], ["alan", "mh"]):
                shared = "v.insurer = :insurer AND v.ref IN (SELECT ref FROM shared_members WHERE insurer = :insurer)"
                wheres = {name: (shared, {}) for name in insurers}
                expected = duplicates._repeats(await duplicates._affected_nirs(store.db, view, h, wheres))

                maintained = await duplicates._maintained_repeats(store.db, view, h, insurers)

                assert maintained in (None, expected), (day, insurers)


async def test_diff_counts_equal_a_comparison_of_every_row(store_path):
    await append(store_path, *HISTORY)
    pairs = [*itertools.pairwise(DATES), ("2024-01-10", "2024-02-10"), ("2024-02-02", "2024-02-07")]

    async with opened(store_path) as store:
        for start, end in pairs:
            before, after = await store.horizon(start), await store.horizon(end)
            old = await queries.incident_view(store.db, INCIDENT, before)
            new = await queries.incident_view(store.db, INCIDENT, after)
            was, now = await every_row(store.db, old, before), await every_row(store.db, new, after)
            expected = Counter()
            for key in set(was) | set(now):
                a = was.get(key, ("", None))[0] in queries.AFFECTED
                b = now.get(key, ("", None))[0] in queries.AFFECTED
                if b and not a:
                    expected["newly_affected"] += 1
                elif a and not b:
                    expected["no_longer_affected"] += 1
                elif a and b and old.exposed_fields(key[0]) != new.exposed_fields(key[0]):
                    expected["fields_changed"] += 1

            found = msgspec.to_builtins(await history.diff(store.db, INCIDENT, before, after))

            assert found["members"] == {k: expected[k] for k in history.MEMBER_CHANGES}, (start, end)
            assert json.dumps(found)  # plain data


async def test_obligations_from_the_counts_equal_obligations_from_every_row(store_path, monkeypatch):
    """Notice counts taken from the maintained counts (no notice, or notices to every affected
    member while the answers were those of now) equal the member-by-member comparison."""
    await append(store_path, *HISTORY)
    shortcut = notices._notice_counts_from_counts
    taken = []

    async def counted(*args):
        found = await shortcut(*args)
        taken.append(found is not None)
        return found

    async def every_member(*_args):
        return None

    async with opened(store_path) as store:
        for day in DATES:
            h = await store.horizon(day)
            monkeypatch.setattr(notices, "_notice_counts_from_counts", counted)
            fast = msgspec.to_builtins(await history.obligations(store.db, INCIDENT, h, rule(DEFAULT_RULE)))
            monkeypatch.setattr(notices, "_notice_counts_from_counts", every_member)
            slow = msgspec.to_builtins(await history.obligations(store.db, INCIDENT, h, rule(DEFAULT_RULE)))

            assert fast == slow, day

    assert any(taken)
    assert not all(taken)
