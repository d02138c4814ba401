"""The set-wise batch lookups (`member --nir -`, the service's batches) answer as one lookup at a time.

`projections.batch.members_by_nir` builds every answer of a batch in one statement;
`queries.member(nir_pseudonym=...)` answers one NIR. They are compared NIR by NIR on the
history of tests/projections/test_counts.py (shared NIRs, scopes, findings, a re-enrolment
that changes a NIR, notices, a late roster, retractions) at every date and as recorded at
an earlier moment, on both backends; and on every NIR of the demo store.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import msgspec
import pytest

from domain.answers import Member
from domain.nir import pseudonym
from domain.times import from_micros, iso_utc
from projections import batch, lookups, queries
from tests.projections.test_counts import DATES, HISTORY, NIR_DORA, NIR_EMIL, NIR_FRED, NIR_GINA, NIR_LONE
from tests.support import EXPOSURE, NIR_ALICE, NIR_BRUNO, NIR_CORSE, append, opened, valid_nir

pytestmark = pytest.mark.two_backends

NIRS = (NIR_ALICE, NIR_BRUNO, NIR_CORSE, NIR_DORA, NIR_EMIL, NIR_LONE, NIR_FRED, NIR_GINA, valid_nir("1990199000444"))
"""Every NIR of the history, and one enrolled nowhere."""


def as_json(answers: list[Member]) -> list[dict[str, object]]:
    return [json.loads(msgspec.json.encode(a)) for a in answers]


async def one_by_one(db, h, pseudonyms):
    return [msgspec.to_builtins(await queries.member(db, h, nir_pseudonym=p)) for p in pseudonyms]


async def test_a_batch_answers_each_nir_as_a_single_lookup_at_every_date(store_path):
    await append(store_path, *HISTORY)

    async with opened(store_path) as store:
        pseudonyms = [pseudonym(n, store.keys.nir_key) for n in (*NIRS, NIR_ALICE)]  # one asked twice
        compared = 0
        for day in DATES:
            h = await store.horizon(day)

            batched = as_json(await batch.members_by_nir(store.db, h, pseudonyms))

            assert batched == await one_by_one(store.db, h, pseudonyms), day
            compared += sum(len(a["memberships"]) for a in batched)
    assert compared > 100  # memberships with statuses, not empty answers


async def test_a_batch_answers_the_same_typed_member_answers_as_single_lookups(store_path):
    await append(store_path, *HISTORY)

    async with opened(store_path) as store:
        pseudonyms = [pseudonym(n, store.keys.nir_key) for n in NIRS]
        h = await store.horizon("2024-02-20")

        batched = await batch.members_by_nir(store.db, h, pseudonyms)

        assert batched == [await queries.member(store.db, h, nir_pseudonym=p) for p in pseudonyms]
        assert all(isinstance(answer, Member) for answer in batched)


async def test_a_batch_answers_as_recorded_at_an_earlier_moment(store_path):
    await append(store_path, *HISTORY)

    async with opened(store_path) as store:
        pseudonyms = [pseudonym(n, store.keys.nir_key) for n in NIRS]
        recorded = [row[0] for row in await store.db.execute_fetchall("SELECT recorded_us FROM facts ORDER BY pos")]
        middle = iso_utc(from_micros(int(recorded[len(recorded) // 2])))
        h = await store.horizon(None, middle)

        batched = as_json(await batch.members_by_nir(store.db, h, pseudonyms))

        assert batched == await one_by_one(store.db, h, pseudonyms)
        assert all("as_recorded_at" in answer for answer in batched)


async def test_a_batch_before_any_incident_lists_the_memberships_without_statuses(store_path):
    await append(store_path, *HISTORY)

    async with opened(store_path) as store:
        pseudonyms = [pseudonym(n, store.keys.nir_key) for n in NIRS]
        h = await store.horizon("2024-01-05")  # the rosters are known, the attack is not

        batched = as_json(await batch.members_by_nir(store.db, h, pseudonyms))

        assert batched == await one_by_one(store.db, h, pseudonyms)
        assert batched[0]["memberships"][0] == {"insurer": "lmg", "ref": "l1", "incidents": []}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("batch-demo") / "demo"
    done = subprocess.run(
        [str(EXPOSURE), "demo", "--dir", str(folder), "--members", "600", "--json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return folder / "demo.db"


@pytest.mark.parametrize("day", ["2024-01-30", "2024-02-07", None])
async def test_on_the_demo_every_nir_is_answered_in_a_batch_as_one_by_one(demo, day):
    async with opened(demo) as store:
        held = await store.db.execute_fetchall("SELECT nir FROM nir_members UNION SELECT nir FROM nir_recent")
        pseudonyms = sorted(str(row[0]) for row in held)
        h = await store.horizon(day) if day else await store.horizon()

        batched = as_json(await batch.members_by_nir(store.db, h, pseudonyms))

        assert len(pseudonyms) > 200
        assert batched == await one_by_one(store.db, h, pseudonyms)
        assert any(a["memberships"] and a["memberships"][0]["incidents"] for a in batched)


REFS = (
    [("mh", f"m{i}") for i in range(1, 9)]
    + [("lmg", f"l{i}") for i in range(1, 6)]
    + [("alan", f"a{i}") for i in range(1, 5)]
)


async def expected_service_answer(db, h, found: dict[str, object], insurer: str | None) -> list[dict[str, object]]:
    """What the service should answer, from `queries.member` and the export's `notices_by_ref`."""
    memberships = []
    for membership in found["memberships"]:
        if insurer is not None and membership["insurer"] != insurer:
            continue
        incidents = []
        for answer in membership["incidents"]:
            told = await queries.notices_by_ref(db, answer["incident"], h, membership["insurer"])
            at = told.get(membership["ref"])
            incidents.append(
                {
                    "incident": answer["incident"],
                    "status": answer["status"],
                    "fields": answer["fields"],
                    "implied": answer["implied"],
                    "notified_at": iso_utc(from_micros(at)) if at is not None else None,
                }
            )
        memberships.append({"insurer": membership["insurer"], "ref": membership["ref"], "incidents": incidents})
    return memberships


@pytest.mark.parametrize("insurer", [None, "mh", "lmg"])
async def test_the_services_batch_answers_as_member_lookups_with_the_exports_notice_dates(store_path, insurer):
    await append(store_path, *HISTORY)

    async with opened(store_path) as store:
        pseudonyms = [pseudonym(n, store.keys.nir_key) for n in NIRS]
        asked = [lookups.Lookup(nir=p) for p in pseudonyms] + [lookups.Lookup(ref=r, insurer=i) for i, r in REFS]
        checked = 0
        for day in DATES:
            h = await store.horizon(day)
            moments = await lookups.moments(store.db, h)

            answers = await lookups.answer(store.db, [*asked, None], insurer, moments, lookups.prepare(moments), h)

            assert answers[-1] is None
            for lookup, got in zip(asked, answers, strict=False):
                if lookup.nir is not None:
                    one = msgspec.to_builtins(await queries.member(store.db, h, nir_pseudonym=lookup.nir))
                else:
                    one = msgspec.to_builtins(
                        await queries.member(store.db, h, insurer_id=lookup.insurer, ref=lookup.ref)
                    )
                    if insurer is not None and lookup.insurer != insurer:
                        one = {"memberships": []}
                if moments and not any(m["incidents"] for m in one["memberships"]):
                    one = {"memberships": []}  # a member whose current version no longer holds the NIR
                shown = [{k: v for k, v in json.loads(msgspec.json.encode(m)).items() if k != "role"} for m in got]
                assert shown == await expected_service_answer(store.db, h, one, insurer), (day, lookup)
                checked += len(shown)
    assert checked > 50
